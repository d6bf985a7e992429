package colibri

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

type iqResult struct {
	resp *ConferenceModified
	raw  []byte
	err  *StanzaErrorInfo
}

func newTestHandler(t *testing.T, mod func(*Config)) (*Handler, *fakeBridge) {
	t.Helper()
	fb := newFakeBridge()
	cfg := Config{Bridge: fb, Logger: slog.New(slog.DiscardHandler)}
	if mod != nil {
		mod(&cfg)
	}
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h, fb
}

// send passes payload to HandleIQ and returns a channel that gets the decoded reply.
func send(t *testing.T, h *Handler, payload string) <-chan iqResult {
	t.Helper()
	ch := make(chan iqResult, 1)
	h.HandleIQ(context.Background(), []byte(payload), func(result, errElem []byte) {
		var r iqResult
		if errElem != nil {
			info, err := ParseStanzaError(errElem)
			if err != nil {
				panic(fmt.Sprintf("unparsable error element %s: %v", errElem, err))
			}
			r.err = info
			r.raw = errElem
		} else {
			resp, err := ParseConferenceModified(result)
			if err != nil {
				panic(fmt.Sprintf("unparsable result %s: %v", result, err))
			}
			r.resp, r.raw = resp, result
		}
		ch <- r
	})
	return ch
}

func wait(t *testing.T, ch <-chan iqResult) iqResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no reply within 5 s")
		return iqResult{}
	}
}

func do(t *testing.T, h *Handler, payload string) iqResult {
	t.Helper()
	return wait(t, send(t, h, payload))
}

func ok(t *testing.T, r iqResult) *ConferenceModified {
	t.Helper()
	if r.err != nil {
		t.Fatalf("unexpected error reply %s", r.raw)
	}
	return r.resp
}

func wantErr(t *testing.T, r iqResult, cond Condition, reason Reason, textPart string) {
	t.Helper()
	if r.err == nil {
		t.Fatalf("want %s/%s, got result %s", cond, reason, r.raw)
	}
	if r.err.Condition != cond || r.err.Reason != reason || !strings.Contains(r.err.Text, textPart) {
		t.Fatalf("want %s/%s %q, got %+v (%s)", cond, reason, textPart, r.err, r.raw)
	}
}

// Requests shaped the way jicofo's Colibri2Session builds them (spec section 3).

const jicofoMedia = `<media type='audio'><payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='111' name='opus' clockrate='48000' channels='2'><parameter name='minptime' value='10'/><rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='transport-cc'/></payload-type><rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='1' uri='urn:ietf:params:rtp-hdrext:ssrc-audio-level'/><extmap-allow-mixed xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0'/></media>` +
	`<media type='video'><payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='100' name='VP8' clockrate='90000'><rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='nack' subtype='pli'/></payload-type><payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='96' name='rtx' clockrate='90000'><parameter name='apt' value='100'/></payload-type><payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='127' name='x-unknown-codec' clockrate='90000'/><rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='99' uri='urn:example:unknown-ext'/></media>`

func allocate(meeting, ep string, confCreate bool, extra string) string {
	conf := ""
	if confCreate {
		conf = ` create='true' name='room@conference.meet.jitsi' rtcstats-enabled='false'`
	}
	return `<conference-modify xmlns='jitsi:colibri2' meeting-id='` + meeting + `'` + conf + `>` +
		`<endpoint id='` + ep + `' create='true' stats-id='` + ep + `-stats'>` + jicofoMedia +
		`<transport ice-controlling='true'><sctp/></transport><sources/>` +
		`<capability name='source-names'/><capability name='ssrc-rewriting'/>` + extra +
		`</endpoint></conference-modify>`
}

func sessionAccept(meeting, ep string) string {
	return `<conference-modify xmlns='jitsi:colibri2' meeting-id='` + meeting + `'><endpoint id='` + ep + `' stats-id='s'>` +
		`<transport><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='cl' pwd='clientpwd0123456789abcd'>` +
		`<rtcp-mux/><fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='active'>BB:50:EE</fingerprint>` +
		`<candidate component='1' foundation='1' generation='0' id='x1' network='0' priority='2122260223' protocol='udp' type='host' ip='127.0.0.1' port='50000'/>` +
		`</transport></transport>` +
		`<sources><media-source type='audio' id='` + ep + `-a0'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1111' name='` + ep + `-a0'/></media-source>` +
		`<media-source type='video' id='` + ep + `-v0'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='2221' name='` + ep + `-v0' videoType='camera'/>` +
		`<source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='2222' name='` + ep + `-v0'/>` +
		`<ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='FID'><source ssrc='2221'/><source ssrc='2222'/></ssrc-group></media-source></sources>` +
		`<initial-last-n value='10'/></endpoint></conference-modify>`
}

func trickle(meeting, ep string, port int) string {
	return fmt.Sprintf(`<conference-modify xmlns='jitsi:colibri2' meeting-id='%s'><endpoint id='%s' stats-id='s'><transport><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='cl' pwd='clientpwd0123456789abcd'><candidate component='1' foundation='2' generation='0' id='x2' network='0' priority='1686052607' protocol='udp' type='srflx' ip='192.0.2.9' port='%d' rel-addr='127.0.0.1' rel-port='50000'/></transport></transport></endpoint></conference-modify>`, meeting, ep, port)
}

func expireEPs(meeting string, eps ...string) string {
	s := `<conference-modify xmlns='jitsi:colibri2' meeting-id='` + meeting + `'>`
	for _, e := range eps {
		s += `<endpoint id='` + e + `' expire='true'/>`
	}
	return s + `</conference-modify>`
}

func TestJicofoConferenceLifecycle(t *testing.T) {
	h, fb := newTestHandler(t, nil)

	// 2. Two participants invited concurrently: the second create arrives before the first reply.
	c1 := send(t, h, allocate("m1", "alice", true, ""))
	c2 := send(t, h, allocate("m1", "bob", false, ""))
	r1, r2 := ok(t, wait(t, c1)), ok(t, wait(t, c2))
	for _, r := range []*ConferenceModified{r1, r2} {
		if len(r.Endpoints) != 1 || r.Endpoints[0].Transport == nil || r.Endpoints[0].Transport.ICEUDP == nil {
			t.Fatalf("allocation response without ICE-UDP transport: %+v", r)
		}
		tr := r.Endpoints[0].Transport
		if tr.SCTP == nil || tr.SCTP.Role != "server" || tr.SCTP.Port != 5000 {
			t.Fatalf("sctp requested but answered %+v", tr.SCTP)
		}
		if !bool(tr.ICEUDP.RTCPMux) || tr.ICEUDP.Fingerprints[0].Setup != "actpass" || len(tr.ICEUDP.Candidates) == 0 {
			t.Fatalf("ice-udp %+v", tr.ICEUDP)
		}
		// Feedback sources on every endpoint create.
		if r.Sources == nil || len(r.Sources.MediaSources) != 2 {
			t.Fatalf("no feedback sources: %s", normalize(t, r))
		}
	}
	conf := fb.conf("m1")
	a, v := conf.FeedbackSSRCs()
	fbs := r1.Sources.MediaSources
	if fbs[0].Type != "audio" || fbs[0].ID != "jvb-a0" || fbs[0].Sources[0].SSRC != a || fbs[0].Sources[0].Name != "jvb-a0" ||
		fbs[1].Type != "video" || fbs[1].ID != "jvb-v0" || fbs[1].Sources[0].SSRC != v {
		t.Fatalf("feedback sources %+v, want ssrcs %d/%d", fbs, a, v)
	}
	if r1.Endpoints[0].ID != "alice" || r2.Endpoints[0].ID != "bob" || r1.Endpoints[0].Transport.ICEUDP.Ufrag != "uf-alice" {
		t.Fatal("responses mixed up")
	}
	alice := conf.ep("alice")
	if !alice.cfg.ICEControlling || !alice.cfg.SCTP || !alice.cfg.SSRCRewriting || alice.cfg.Visitor ||
		alice.cfg.StatsID != "alice-stats" || alice.cfg.InitialLastN != -1 || len(alice.cfg.Media) != 2 {
		t.Fatalf("endpoint config %+v", alice.cfg)
	}
	// The empty <sources/> at allocation is a full replacement with nothing.
	if alice.sourceSets != 1 || len(alice.sources) != 0 {
		t.Fatalf("sources at create: %d sets %v", alice.sourceSets, alice.sources)
	}

	// 3. session-accept: transport + full sources; no transport, no feedback sources in the answer.
	r := ok(t, do(t, h, sessionAccept("m1", "alice")))
	if len(r.Endpoints) != 1 || r.Endpoints[0].ID != "alice" || r.Endpoints[0].Transport != nil || r.Sources != nil {
		t.Fatalf("session-accept response %s", normalize(t, r))
	}
	if len(alice.remote) != 1 || alice.remote[0].Ufrag != "cl" || alice.remote[0].Fingerprints[0].Setup != "active" ||
		alice.remote[0].Candidates[0].Port != 50000 {
		t.Fatalf("remote transport %+v", alice.remote)
	}
	if len(alice.sources) != 2 || alice.sources[1].SSRCGroups[0].Semantics != "FID" || alice.sources[1].Sources[0].VideoType != "camera" {
		t.Fatalf("sources %+v", alice.sources)
	}

	// 4. trickled candidate.
	ok(t, do(t, h, trickle("m1", "alice", 40000)))
	if len(alice.remote) != 2 || alice.remote[1].Candidates[0].Port != 40000 || alice.remote[1].Candidates[0].RelPort != 50000 {
		t.Fatalf("trickle %+v", alice.remote)
	}

	// 5. source-add: full replacement.
	ok(t, do(t, h, `<conference-modify xmlns='jitsi:colibri2' meeting-id='m1'><endpoint id='alice' stats-id='s'><sources>`+
		`<media-source type='video' id='alice-v1'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='3333' name='alice-v1' videoType='desktop'/></media-source>`+
		`</sources></endpoint></conference-modify>`))
	if len(alice.sources) != 1 || alice.sources[0].ID != "alice-v1" || alice.sources[0].Sources[0].SSRC != 3333 {
		t.Fatalf("replaced sources %+v", alice.sources)
	}

	// 6. force-mute for several endpoints in one IQ, including one the bridge no longer knows.
	r = ok(t, do(t, h, `<conference-modify xmlns='jitsi:colibri2' meeting-id='m1'>`+
		`<endpoint id='alice'><force-mute audio='true' video='false'/></endpoint>`+
		`<endpoint id='bob'><force-mute audio='true' video='true'/></endpoint>`+
		`<endpoint id='gone'><force-mute audio='true' video='true'/></endpoint></conference-modify>`))
	bob := conf.ep("bob")
	if !alice.muteA || alice.muteV || !bob.muteA || !bob.muteV || len(r.Endpoints) != 2 {
		t.Fatalf("force-mute alice %v/%v bob %v/%v resp %s", alice.muteA, alice.muteV, bob.muteA, bob.muteV, normalize(t, r))
	}

	// Unsupported things are accepted and ignored: connects, initial-last-n update, unknown children.
	ok(t, do(t, h, `<conference-modify xmlns='jitsi:colibri2' meeting-id='m1'><connects><connect url='wss://x' protocol='mediajson' type='transcriber' audio='true'/></connects>`+
		`<endpoint id='bob'><initial-last-n value='3'/><whatever xmlns='urn:x'/></endpoint></conference-modify>`))

	// ICE restart: answered without a transport, nothing applied.
	r = ok(t, do(t, h, `<conference-modify xmlns='jitsi:colibri2' meeting-id='m1'><endpoint id='bob' stats-id='s'><transport ice-restart='true'/></endpoint></conference-modify>`))
	if r.Endpoints[0].Transport != nil || len(bob.remote) != 0 {
		t.Fatalf("ice-restart answered with %s, remote %v", r.raw(), bob.remote)
	}

	// 7. participant leaves: expire echoed.
	r = ok(t, do(t, h, expireEPs("m1", "bob")))
	if len(r.Endpoints) != 1 || !bool(r.Endpoints[0].Expire) || r.Endpoints[0].ID != "bob" || conf.ep("bob") != nil {
		t.Fatalf("expire response %s", normalize(t, r))
	}
	// Expiring an unknown endpoint is not an error.
	ok(t, do(t, h, expireEPs("m1", "bob", "never-existed")))

	// Re-invite with the same endpoint id.
	ok(t, do(t, h, allocate("m1", "bob", false, "")))

	// 8. conference expire: replied, then expired.
	r = ok(t, do(t, h, `<conference-modify xmlns='jitsi:colibri2' meeting-id='m1' expire='true'/>`))
	if len(r.Endpoints) != 0 || fb.conf("m1") != nil {
		t.Fatal("conference not expired")
	}
	wantErr(t, do(t, h, trickle("m1", "alice", 1)), CondItemNotFound, ReasonConferenceNotFound, "m1")

	// A new conference with the same meeting id (jicofo re-invite) works.
	ok(t, do(t, h, allocate("m1", "alice", true, "")))
}

func (r *ConferenceModified) raw() string { b, _ := r.Marshal(); return string(b) }

func TestAutoExpireWhenLastEndpointLeaves(t *testing.T) {
	h, fb := newTestHandler(t, nil)
	ok(t, do(t, h, allocate("m", "a", true, "")))
	ok(t, do(t, h, allocate("m", "b", false, "")))
	ok(t, do(t, h, expireEPs("m", "a")))
	if fb.conf("m") == nil {
		t.Fatal("conference expired with an endpoint left")
	}
	ok(t, do(t, h, expireEPs("m", "b")))
	if fb.conf("m") != nil {
		t.Fatal("conference with 0 endpoints after a non-create request was not expired")
	}
	// A conference create without endpoints is kept (the create request is exempt).
	ok(t, do(t, h, `<conference-modify xmlns='jitsi:colibri2' meeting-id='m2' create='true'/>`))
	if fb.conf("m2") == nil {
		t.Fatal("conference created without endpoints was expired at once")
	}
}

func TestVisitorEndpoint(t *testing.T) {
	h, fb := newTestHandler(t, nil)
	visitor := strings.Replace(allocate("m", "v", true, ""), `stats-id='v-stats'`, `stats-id='v-stats' muc-role='visitor'`, 1)
	ok(t, do(t, h, visitor))
	if !fb.conf("m").ep("v").cfg.Visitor {
		t.Fatal("muc-role visitor not passed on")
	}
	wantErr(t, do(t, h, sessionAccept("m", "v")), CondBadRequest, ReasonNone, "visitor")
	// An empty <sources/> is fine for a visitor.
	ok(t, do(t, h, `<conference-modify xmlns='jitsi:colibri2' meeting-id='m'><endpoint id='v'><sources/></endpoint></conference-modify>`))
	// Visitor create that already carries sources is refused before anything is created.
	withSources := strings.Replace(visitor, `<sources/>`, `<sources><media-source type='audio' id='w-a0'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='5'/></media-source></sources>`, 1)
	withSources = strings.Replace(withSources, `id='v'`, `id='w'`, 1)
	withSources = strings.Replace(withSources, ` create='true' name='room@conference.meet.jitsi' rtcstats-enabled='false'`, ``, 1)
	wantErr(t, do(t, h, withSources), CondBadRequest, ReasonNone, "visitor")
	if fb.conf("m").ep("w") != nil {
		t.Fatal("visitor with sources was created")
	}
}

func TestGracefulShutdownRefusesCreatesOnly(t *testing.T) {
	var graceful bool
	h, _ := newTestHandler(t, func(c *Config) { c.GracefulShutdown = func() bool { return graceful } })
	ok(t, do(t, h, allocate("m", "a", true, "")))
	graceful = true
	wantErr(t, do(t, h, allocate("m2", "a", true, "")), CondServiceUnavailable, ReasonGracefulShutdown, "")
	// Existing conferences keep working, including new endpoints in them.
	ok(t, do(t, h, allocate("m", "b", false, "")))
	ok(t, do(t, h, sessionAccept("m", "a")))
}

// TestErrorTable pins every row of spec 2.3 that the bridge can produce.
func TestErrorTable(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	ok(t, do(t, h, allocate("m", "a", true, "")))
	ok(t, do(t, h, allocate("m", "b", false, "")))

	noSourceNames := strings.Replace(allocate("m", "c", false, ""), `<capability name='source-names'/>`, ``, 1)
	noTransport := strings.Replace(allocate("m", "c", false, ""), `<transport ice-controlling='true'><sctp/></transport>`, ``, 1)
	sctpRole := strings.Replace(allocate("m", "c", false, ""), `<sctp/>`, `<sctp role='client'/>`, 1)
	sctpPort := strings.Replace(allocate("m", "c", false, ""), `<sctp/>`, `<sctp port='5001'/>`, 1)
	twoCreates := strings.Replace(allocate("m", "c", false, ""), `</conference-modify>`,
		`<endpoint id='d' create='true'><transport/><capability name='source-names'/></endpoint></conference-modify>`, 1)
	epAndRelay := `<conference-modify xmlns='jitsi:colibri2' meeting-id='m'><endpoint id='a'><force-mute audio='true'/></endpoint><relay id='r' expire='true'/></conference-modify>`
	twoRelays := `<conference-modify xmlns='jitsi:colibri2' meeting-id='m'><relay id='r1' expire='true'/><relay id='r2' expire='true'/></conference-modify>`
	relay := `<conference-modify xmlns='jitsi:colibri2' meeting-id='m'><relay id='10.0.0.2:4096' create='true' mesh-id='1'><transport use-unique-port='true' ice-controlling='true'><sctp role='client'/></transport></relay></conference-modify>`

	for _, tc := range []struct {
		name   string
		req    string
		cond   Condition
		reason Reason
		text   string
		ep     string
	}{
		{"meeting unknown", trickle("nope", "a", 1), CondItemNotFound, ReasonConferenceNotFound, "nope", ""},
		{"create existing meeting", allocate("m", "z", true, ""), CondConflict, ReasonConferenceAlreadyExists, "m", ""},
		{"unknown endpoint", trickle("m", "ghost", 1), CondItemNotFound, ReasonUnknownEndpoint, "ghost", "ghost"},
		{"two heavy endpoints", twoCreates, CondFeatureNotImplemented, ReasonFeatureNotImplemented, "", ""},
		{"endpoint and relay", epAndRelay, CondFeatureNotImplemented, ReasonFeatureNotImplemented, "", ""},
		{"two relays", twoRelays, CondFeatureNotImplemented, ReasonFeatureNotImplemented, "", ""},
		{"create without transport", noTransport, CondBadRequest, ReasonNone, "transport", ""},
		{"create without source-names", noSourceNames, CondBadRequest, ReasonNone, "Source name support is mandatory.", ""},
		{"create existing endpoint", allocate("m", "a", false, ""), CondConflict, ReasonNone, "a", ""},
		{"sctp role client", sctpRole, CondFeatureNotImplemented, ReasonNone, "SCTP", ""},
		{"sctp port", sctpPort, CondBadRequest, ReasonNone, "SCTP port", ""},
		{"relay disabled", relay, CondFeatureNotImplemented, ReasonNone, "Octo", ""},
		{"name not a JID", strings.Replace(allocate("m9", "a", true, ""), "room@conference.meet.jitsi", "room@conf/res", 1), CondBadRequest, ReasonNone, "Invalid conference name (not a JID)", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, h, tc.req)
			wantErr(t, r, tc.cond, tc.reason, tc.text)
			if r.err.EndpointID != tc.ep {
				t.Fatalf("endpoint child %q, want %q", r.err.EndpointID, tc.ep)
			}
			if tc.reason == ReasonNone && strings.Contains(string(r.raw), `jitsi:colibri2' reason`) {
				t.Fatalf("unexpected colibri2 reason in %s", r.raw)
			}
		})
	}
	// The raw shape of the unknown_endpoint error, which jicofo handles specially.
	r := do(t, h, trickle("m", "ghost", 1))
	want := `<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
		`<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Unknown endpoint ghost</text>` +
		`<error xmlns='jitsi:colibri2' reason='unknown_endpoint'/><endpoint xmlns='jitsi:colibri2' id='ghost'/></error>`
	if string(r.raw) != want {
		t.Fatalf("got %s\nwant %s", r.raw, want)
	}
	// None of the failed requests changed the conference.
	ok(t, do(t, h, sessionAccept("m", "a")))
}

func TestICEControllingDefaultsToFalse(t *testing.T) {
	h, fb := newTestHandler(t, nil)
	ok(t, do(t, h, strings.Replace(allocate("m", "a", true, ""), `<transport ice-controlling='true'>`, `<transport>`, 1)))
	ok(t, do(t, h, allocate("m", "b", false, "")))
	if fb.conf("m").ep("a").cfg.ICEControlling || !fb.conf("m").ep("b").cfg.ICEControlling {
		t.Fatal("ice-controlling: absent must mean false (Transport.ICE_CONTROLLING_DEFAULT), 'true' true")
	}
}

func TestSCTPDisabled(t *testing.T) {
	h, _ := newTestHandler(t, func(c *Config) { c.DisableSCTP = true })
	wantErr(t, do(t, h, allocate("m", "a", true, "")), CondFeatureNotImplemented, ReasonNone, "SCTP")
	noSCTP := strings.Replace(allocate("m", "b", false, ""), `<sctp/>`, ``, 1)
	r := ok(t, do(t, h, noSCTP))
	if r.Endpoints[0].Transport.SCTP != nil {
		t.Fatal("sctp answered though not requested")
	}
}

// TestModifyTypedError checks the Go-level API used by the standalone focus.
func TestModifyTypedError(t *testing.T) {
	h, fb := newTestHandler(t, nil)
	ctx := context.Background()
	req, err := ParseConferenceModify([]byte(allocate("m", "a", true, "<initial-last-n value='4'/>")))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h.Modify(ctx, req)
	if err != nil || resp.Endpoints[0].Transport.ICEUDP.Pwd != "pwd-a-0123456789abcdef" {
		t.Fatalf("modify: %v %+v", err, resp)
	}
	if fb.conf("m").ep("a").cfg.InitialLastN != 4 {
		t.Fatal("initial-last-n not applied at create")
	}
	_, err = h.Modify(ctx, req)
	var ce *Error
	if !asErrorTarget(err, &ce) || ce.Condition != CondConflict || ce.Reason != ReasonConferenceAlreadyExists {
		t.Fatalf("second create: %v", err)
	}
	if _, err := h.Modify(ctx, nil); !asErrorTarget(err, &ce) || ce.Condition != CondBadRequest {
		t.Fatalf("nil request: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := h.Modify(cctx, &ConferenceModify{MeetingID: "m", Expire: true}); err == nil {
		t.Fatal("cancelled context: no error")
	}
}

func asErrorTarget(err error, target **Error) bool {
	e, ok := err.(*Error)
	if ok {
		*target = e
	}
	return ok
}
