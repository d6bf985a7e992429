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

// newRelayHandler runs a real media core with relays enabled and the given relay id.
func newRelayHandler(t *testing.T, relayID string) (*Handler, *sfu.Bridge) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	b, err := sfu.New(sfu.Config{
		Transport: transport.Config{Port: 0, BindAddr: netip.MustParseAddr("127.0.0.1"), Readers: 1, Logger: log},
		Logger:    log,
		RelayID:   relayID,
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(Config{Bridge: NewSFUBridge(b), Logger: log, Relays: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = h.Close()
		_ = b.Close()
	})
	return h, b
}

// Relay requests shaped the way jicofo's Colibri2Session.Relay builds them (spec 3 item 11).

func relayCreate(meeting, id string, initiator bool, endpoints string) string {
	tr := `<transport><sctp role='server'/></transport>`
	if initiator {
		tr = `<transport use-unique-port='true' ice-controlling='true'><sctp role='client'/></transport>`
	}
	return `<conference-modify xmlns='jitsi:colibri2' meeting-id='` + meeting + `'><relay id='` + id +
		`' mesh-id='0' create='true'>` + jicofoMedia + tr + `<endpoints>` + endpoints + `</endpoints></relay></conference-modify>`
}

func relayEndpoint(id, attrs, sources string) string {
	return `<endpoint id='` + id + `' stats-id='` + id + `-stats'` + attrs + `><capability name='source-names'/>` + sources + `</endpoint>`
}

func relayUpdate(meeting, id, inner string) string {
	return `<conference-modify xmlns='jitsi:colibri2' meeting-id='` + meeting + `'><relay id='` + id + `'>` + inner + `</relay></conference-modify>`
}

func sourcesOf(ep string, audio, video uint32) string {
	return `<sources><media-source type='audio' id='` + ep + `-a0'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='` + itoa(audio) + `' name='` + ep + `-a0'/></media-source>` +
		`<media-source type='video' id='` + ep + `-v0'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='` + itoa(video) + `' name='` + ep + `-v0' videoType='camera'/></media-source></sources>`
}

func itoa(v uint32) string {
	var b [10]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		if v /= 10; v == 0 {
			return string(b[i:])
		}
	}
}

// forwardTransport is what jicofo sends one bridge with the other's relay transport: the ICE
// transport with setup rewritten (active to the initiator, passive to the other).
func forwardTransport(t *testing.T, meeting, id string, ice *ICEUDPTransport, setup string) string {
	t.Helper()
	fwd := *ice
	fwd.Fingerprints = append([]Fingerprint(nil), ice.Fingerprints...)
	for i := range fwd.Fingerprints {
		fwd.Fingerprints[i].Setup = setup
	}
	req := &ConferenceModify{MeetingID: meeting, Relays: []Relay{{ID: id, Transport: &Transport{ICEUDP: &fwd}}}}
	raw, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRelayLifecycleAsJicofoDrivesIt runs jicofo's relay sequence against two real bridges:
// create on both (the initiator ICE controlling and SCTP client), answers with our transport and
// the opposite SCTP role, the transports forwarded with setup rewritten until the relay is
// secure, endpoints behind each bridge mirrored (create, sources, expire), the relay keeping a
// conference with no endpoints alive, and relay expiry cleaning up both sides.
func TestRelayLifecycleAsJicofoDrivesIt(t *testing.T) {
	hA, bA := newRelayHandler(t, "A")
	hB, bB := newRelayHandler(t, "B")
	ok(t, do(t, hA, allocate("m", "a1", true, "")))
	ok(t, do(t, hB, allocate("m", "b1", true, "")))

	// Pipelined like jicofo: the creates and the first mirror updates go out together.
	cA := send(t, hA, relayCreate("m", "B", true, relayEndpoint("b1", " create='true'", "<sources/>")))
	cB := send(t, hB, relayCreate("m", "A", false, relayEndpoint("a1", " create='true'", "<sources/>")))
	uA := send(t, hA, relayUpdate("m", "B", `<endpoints>`+relayEndpoint("b1", "", sourcesOf("b1", 1001, 1002))+`</endpoints>`))
	rA, rB := ok(t, wait(t, cA)), ok(t, wait(t, cB))
	ok(t, wait(t, uA))
	for _, tc := range []struct {
		name string
		r    *ConferenceModified
		id   string
		role string
	}{{"A", rA, "B", "server"}, {"B", rB, "A", "client"}} {
		if len(tc.r.Relays) != 1 || tc.r.Relays[0].ID != tc.id || tc.r.Relays[0].Transport == nil {
			t.Fatalf("bridge %s: relay response %s", tc.name, tc.r.raw())
		}
		tr := tc.r.Relays[0].Transport
		ice := tr.ICEUDP
		if ice == nil || ice.Ufrag == "" || len(ice.Candidates) == 0 || len(ice.Fingerprints) != 1 || ice.Fingerprints[0].Setup != "actpass" {
			t.Fatalf("bridge %s: relay ICE transport %s", tc.name, tc.r.raw())
		}
		if tr.SCTP == nil || tr.SCTP.Role != tc.role || tr.SCTP.Port != SCTPPort {
			t.Fatalf("bridge %s: relay sctp %+v, want role %s port 5000", tc.name, tr.SCTP, tc.role)
		}
		if tc.r.Sources != nil {
			t.Errorf("bridge %s: feedback sources in a relay response", tc.name)
		}
	}
	ok(t, do(t, hA, forwardTransport(t, "m", "B", rB.Relays[0].Transport.ICEUDP, "active")))
	ok(t, do(t, hB, forwardTransport(t, "m", "A", rA.Relays[0].Transport.ICEUDP, "passive")))
	relA, relB := bA.Conference("m").Relay("B"), bB.Conference("m").Relay("A")
	waitUntil(t, "both relays secure", func() bool {
		return relA.State() == transport.StateSecure && relB.State() == transport.StateSecure
	})

	// b1's sources arrived behind A's relay.
	b1 := bA.Conference("m").RemoteEndpoint("b1")
	if b1 == nil || len(b1.Sources()) != 2 || b1.Sources()[1].Sources[0].SSRC != 1002 {
		t.Fatalf("b1 behind A's relay: %+v", b1)
	}
	// b2 joins B and leaves again; jicofo mirrors both to A.
	ok(t, do(t, hB, allocate("m", "b2", false, "")))
	ok(t, do(t, hA, relayUpdate("m", "B", `<endpoints>`+relayEndpoint("b2", " create='true'", sourcesOf("b2", 2001, 2002))+`</endpoints>`)))
	if bA.Conference("m").RemoteEndpoint("b2") == nil {
		t.Fatal("b2 not behind A's relay")
	}
	ok(t, do(t, hB, expireEPs("m", "b2")))
	ok(t, do(t, hA, relayUpdate("m", "B", `<endpoints><endpoint id='b2' expire='true'/></endpoints>`)))
	if bA.Conference("m").RemoteEndpoint("b2") != nil {
		t.Fatal("b2 still behind A's relay after its expire")
	}
	if got := bA.Stats().Relay; got.Relays != 1 || got.Endpoints != 1 || got.Conferences != 1 || got.Created != 1 {
		t.Errorf("bridge A relay totals %+v", got)
	}

	// Relay rows of the error table, with relays enabled.
	wantErr(t, do(t, hA, relayUpdate("m", "nope", `<endpoints/>`)), CondBadRequest, ReasonNone, "Unknown relay nope")
	wantErr(t, do(t, hA, relayCreate("m", "B", true, "")), CondConflict, ReasonNone, "Relay with ID B already exists")
	wantErr(t, do(t, hA, strings.Replace(relayCreate("m", "C", true, ""), `<transport use-unique-port='true' ice-controlling='true'><sctp role='client'/></transport>`, ``, 1)),
		CondBadRequest, ReasonNone, "no <transport>")
	wantErr(t, do(t, hA, strings.Replace(relayCreate("m", "C", true, ""), `role='client'`, `role='client' port='5001'`, 1)),
		CondBadRequest, ReasonNone, "SCTP port")
	// Expiring a relay the bridge does not know is not an error (shouldIgnoreUnknownEndpoints).
	ok(t, do(t, hA, `<conference-modify xmlns='jitsi:colibri2' meeting-id='m'><relay id='ghost' expire='true'/></conference-modify>`))

	// The last local endpoint leaves A: the relay keeps the conference.
	ok(t, do(t, hA, expireEPs("m", "a1")))
	if bA.Conference("m") == nil {
		t.Fatal("conference on A expired while it still has a relay")
	}
	// jicofo expires the relay on both sides; A's conference goes with its last relay.
	r := ok(t, do(t, hA, `<conference-modify xmlns='jitsi:colibri2' meeting-id='m'><relay id='B' expire='true'/></conference-modify>`))
	if len(r.Relays) != 1 || !bool(r.Relays[0].Expire) {
		t.Fatalf("relay expire response %s", r.raw())
	}
	ok(t, do(t, hB, `<conference-modify xmlns='jitsi:colibri2' meeting-id='m'><relay id='A' expire='true'/></conference-modify>`))
	ok(t, do(t, hB, `<conference-modify xmlns='jitsi:colibri2' meeting-id='m'><relay id='A' expire='true'/></conference-modify>`))
	if bA.Conference("m") != nil {
		t.Error("conference on A survived its last relay")
	}
	if c := bB.Conference("m"); c == nil || len(c.Relays()) != 0 || c.RemoteEndpoint("a1") != nil {
		t.Errorf("B after relay expire: %+v", c)
	}
	<-relA.Done()
	<-relB.Done()
}
