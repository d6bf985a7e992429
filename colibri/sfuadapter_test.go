package colibri

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"gojvb/sfu"
	"gojvb/sfu/transport"
)

// newSFUHandler runs a real media core on 127.0.0.1, port 0, behind the adapter.
func newSFUHandler(t *testing.T) (*Handler, *sfu.Bridge) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	b, err := sfu.New(sfu.Config{
		Transport: transport.Config{Port: 0, BindAddr: netip.MustParseAddr("127.0.0.1"), Readers: 1, Logger: log},
		Logger:    log,
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(Config{Bridge: NewSFUBridge(b), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = h.Close()
		_ = b.Close()
	})
	return h, b
}

func TestRequestsThroughAdapterToRealBridge(t *testing.T) {
	h, b := newSFUHandler(t)

	c1 := send(t, h, allocate("m", "alice", true, ""))
	c2 := send(t, h, allocate("m", "bob", false, ""))
	r1, r2 := ok(t, wait(t, c1)), ok(t, wait(t, c2))

	conf := b.Conference("m")
	if conf == nil || conf.Name() != "room@conference.meet.jitsi" {
		t.Fatalf("conference %v", conf)
	}
	a, v := conf.FeedbackSSRCs()
	if got := r1.Sources.MediaSources; got[0].Sources[0].SSRC != a || got[1].Sources[0].SSRC != v {
		t.Fatalf("feedback sources %+v, conference has %d/%d", got, a, v)
	}
	port := int(b.LocalAddr().Port())
	for _, r := range []*ConferenceModified{r1, r2} {
		ice := r.Endpoints[0].Transport.ICEUDP
		if ice.Ufrag == "" || len(ice.Pwd) < 22 || !bool(ice.RTCPMux) {
			t.Fatalf("ice credentials %+v", ice)
		}
		if len(ice.Fingerprints) != 1 || ice.Fingerprints[0].Hash != "sha-256" || ice.Fingerprints[0].Setup != "actpass" ||
			len(ice.Fingerprints[0].Value) != 95 {
			t.Fatalf("fingerprint %+v", ice.Fingerprints)
		}
		found := false
		for _, c := range ice.Candidates {
			if c.IP == "127.0.0.1" && c.Port == port && c.Type == "host" && c.Protocol == "udp" && c.Component == 1 {
				found = true
			}
		}
		if !found {
			t.Fatalf("no host candidate for 127.0.0.1:%d in %+v", port, ice.Candidates)
		}
		if s := r.Endpoints[0].Transport.SCTP; s == nil || s.Port != 5000 {
			t.Fatalf("sctp %+v", s)
		}
	}
	alice := conf.Endpoint("alice")
	pts, exts := alice.PayloadTypes()
	if len(pts) != 4 || len(exts) != 2 {
		t.Fatalf("payload types %+v exts %+v", pts, exts)
	}
	for _, pt := range pts {
		if pt.ID == 96 && (pt.Media != sfu.MediaVideo || pt.Params["apt"] != "100") {
			t.Fatalf("rtx %+v", pt)
		}
	}
	if cfg := alice.Config(); !cfg.ICEControlling || !cfg.SCTP || !cfg.SSRCRewriting || cfg.StatsID != "alice-stats" {
		t.Fatalf("config %+v", cfg)
	}

	// Media in an update adds payload types (jicofo only sends media at create; JVB accepts it).
	ok(t, do(t, h, `<conference-modify xmlns='jitsi:colibri2' meeting-id='m'><endpoint id='alice'><media type='video'>`+
		`<payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='101' name='VP9' clockrate='90000'/></media></endpoint></conference-modify>`))
	if pts, _ := alice.PayloadTypes(); len(pts) != 5 {
		t.Fatalf("payload types after update: %+v", pts)
	}
	ok(t, do(t, h, sessionAccept("m", "alice")))
	ok(t, do(t, h, trickle("m", "alice", 40000)))
	srcs := alice.Sources()
	if len(srcs) != 2 || srcs[1].Type != sfu.MediaVideo || srcs[1].Name != "alice-v0" || len(srcs[1].Groups) != 1 ||
		srcs[1].Groups[0].Semantics != "FID" || srcs[1].Sources[0].VideoType != "camera" {
		t.Fatalf("sources %+v", srcs)
	}
	// Bob signalling Alice's SSRCs is refused by the bridge; the request still succeeds
	// (an error would make jicofo re-invite everyone) and Bob keeps his previous sources.
	ok(t, do(t, h, strings.ReplaceAll(sessionAccept("m", "alice"), "endpoint id='alice'", "endpoint id='bob'")))
	if got := conf.Endpoint("bob").Sources(); len(got) != 0 {
		t.Fatalf("conflicting sources applied to bob: %+v", got)
	}

	ok(t, do(t, h, `<conference-modify xmlns='jitsi:colibri2' meeting-id='m'><endpoint id='alice'><force-mute audio='true' video='false'/></endpoint><endpoint id='bob'><force-mute audio='false' video='true'/></endpoint></conference-modify>`))
	if am, vm := alice.ForceMuted(); !am || vm {
		t.Fatalf("alice force-mute %v/%v", am, vm)
	}
	if am, vm := conf.Endpoint("bob").ForceMuted(); am || !vm {
		t.Fatalf("bob force-mute %v/%v", am, vm)
	}

	bob := conf.Endpoint("bob")
	r := ok(t, do(t, h, expireEPs("m", "bob")))
	if !bool(r.Endpoints[0].Expire) || conf.Endpoint("bob") != nil {
		t.Fatal("bob not expired")
	}
	<-bob.Done()
	ok(t, do(t, h, `<conference-modify xmlns='jitsi:colibri2' meeting-id='m' expire='true'/>`))
	if b.Conference("m") != nil || !conf.Expired() {
		t.Fatal("conference not expired")
	}
	<-alice.Done()
	wantErr(t, do(t, h, trickle("m", "alice", 1)), CondItemNotFound, ReasonConferenceNotFound, "")
}

func TestExpiryThroughAdapter(t *testing.T) {
	h, b := newSFUHandler(t)
	ok(t, do(t, h, allocate("m", "a", true, "")))
	ep := b.Conference("m").Endpoint("a")
	clk := newFakeClock(ep.CreatedAt())
	clk.tick(t, h, 119*time.Second, "m")
	if ep.Expired() {
		t.Fatal("endpoint expired before 2 min without media")
	}
	clk.tick(t, h, time.Second, "m")
	<-ep.Done()
	if b.Conference("m") == nil {
		t.Fatal("conference expired in the same pass as its endpoint")
	}
	clk.tick(t, h, time.Second, "m")
	if b.Conference("m") != nil {
		t.Fatal("empty conference older than 20 s not expired")
	}
}

// TestVisitorRoleThroughAdapter: the media core remembers the visitor role, so sources for a
// visitor are refused on a later request too.
func TestVisitorRoleThroughAdapter(t *testing.T) {
	h, b := newSFUHandler(t)
	visitor := strings.Replace(allocate("m", "v", true, ""), `stats-id='v-stats'`, `stats-id='v-stats' muc-role='visitor'`, 1)
	ok(t, do(t, h, visitor))
	ok(t, do(t, h, allocate("m", "p", false, "")))
	wantErr(t, do(t, h, sessionAccept("m", "v")), CondBadRequest, ReasonNone, "visitor")
	ok(t, do(t, h, sessionAccept("m", "p")))
	if !b.Conference("m").Endpoint("v").Config().Visitor {
		t.Fatal("muc-role visitor not passed on to the media core")
	}
}
