package bench

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gojvb/colibri"
	"gojvb/xmppcomp/prosodytest"
)

// The XMPP path sends the same requests as REST, converted to XML: nothing of what the load
// test sets may be lost on the way.
func TestRequestsConvertToJicofoShapedXML(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var n uint32
	e := newSimEndpoint("ep1", true, true, func() uint32 { n++; return 1000 + n }, rng)
	ctrl := true
	alloc := c2Request{MeetingID: "m-1", Create: true, Name: "bench0@conference.bench.invalid", Endpoints: []c2Endpoint{{
		ID: "ep1", StatsID: "bench-ep1", Create: true,
		Transport:    &c2Transport{ICEControlling: &ctrl, SCTP: &c2SCTP{}},
		Medias:       mediaOffer(true),
		Capabilities: []string{"source-names"},
		InitialLastN: &c2InitialLast{Value: 2},
	}}}
	raw, err := c2RequestXML(alloc)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<conference-modify xmlns="jitsi:colibri2"`, `meeting-id="m-1"`, `create="true"`,
		`<transport ice-controlling="true">`, `<sctp`, `name="opus"`, `<capability name="source-names"`} {
		if !strings.Contains(raw, want) {
			t.Errorf("allocation XML lacks %s:\n%s", want, raw)
		}
	}
	m, err := colibri.ParseConferenceModify([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if m.MeetingID != "m-1" || !bool(m.Create) || m.Name != alloc.Name || len(m.Endpoints) != 1 {
		t.Fatalf("conference attributes lost: %+v", m)
	}
	ep := m.Endpoints[0]
	if ep.ID != "ep1" || ep.StatsID != "bench-ep1" || !bool(ep.Create) || !ep.HasCapability("source-names") ||
		ep.InitialLastN == nil || ep.InitialLastN.Value != 2 {
		t.Fatalf("endpoint attributes lost: %+v", ep)
	}
	if ep.Transport == nil || ep.Transport.ICEControlling == nil || !bool(*ep.Transport.ICEControlling) || ep.Transport.SCTP == nil {
		t.Fatalf("transport lost: %+v", ep.Transport)
	}
	if len(ep.Media) != 2 || len(ep.Media[0].PayloadTypes) != 1 || len(ep.Media[1].PayloadTypes) != 2 ||
		len(ep.Media[0].HeaderExtensions) != 2 {
		t.Fatalf("media lost: %+v", ep.Media)
	}

	upd := c2Request{MeetingID: "m-1", Endpoints: []c2Endpoint{{
		ID: "ep1", Sources: e.sources(),
		Transport: &c2Transport{Transport: &c2ICEUDP{Ufrag: "uf", Pwd: "pw", RTCPMux: true,
			Fingerprints: []c2Fingerprint{{Fingerprint: "AA:BB", Hash: "sha-256", Setup: "active"}},
			Candidates:   []c2Candidate{{Component: 1, Foundation: "1", Priority: 2130706431, Protocol: "udp", Type: "host", IP: "127.0.0.1", Port: 40000}}}},
	}}}
	raw, err = c2RequestXML(upd)
	if err != nil {
		t.Fatal(err)
	}
	m, err = colibri.ParseConferenceModify([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	tr := m.Endpoints[0].Transport
	if tr == nil || tr.ICEUDP == nil || tr.ICEUDP.Ufrag != "uf" || !bool(tr.ICEUDP.RTCPMux) || len(tr.ICEUDP.Fingerprints) != 1 ||
		len(tr.ICEUDP.Candidates) != 1 || tr.ICEUDP.Candidates[0].Port != 40000 {
		t.Fatalf("ICE-UDP transport lost:\n%s", raw)
	}
	srcs := m.Endpoints[0].Sources
	if srcs == nil || len(srcs.MediaSources) != len(e.sources()) {
		t.Fatalf("sources lost:\n%s", raw)
	}
	var groups []string
	for _, ms := range srcs.MediaSources {
		for _, g := range ms.SSRCGroups {
			groups = append(groups, g.Semantics)
		}
	}
	if !slices.Contains(groups, "SIM") || !slices.Contains(groups, "FID") {
		t.Fatalf("simulcast groups lost (got %v):\n%s", groups, raw)
	}
}

func TestModifiedIQAnswers(t *testing.T) {
	const result = `<iq xmlns="jabber:client" type="result" id="focus-1" from="jvbbrewery@internal-muc.meet.jitsi/jvb1">` +
		`<conference-modified xmlns="jitsi:colibri2" meeting-id="m-1"><endpoint id="ep1"><transport>` +
		`<transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="u" pwd="p"><rtcp-mux/>` +
		`<fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" hash="sha-256" setup="actpass">AA:BB</fingerprint>` +
		`<candidate component="1" foundation="1" generation="0" id="c1" network="0" priority="2130706431" protocol="udp" type="host" ip="127.0.0.1" port="10000"/>` +
		`</transport><sctp port="5000" role="server"/></transport></endpoint></conference-modified></iq>`
	r, err := parseModifiedIQ("result", result)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Endpoints) != 1 || r.Endpoints[0].Transport == nil || r.Endpoints[0].Transport.Transport == nil {
		t.Fatalf("no transport in %+v", r)
	}
	ice := r.Endpoints[0].Transport.Transport
	if ice.Ufrag != "u" || ice.Pwd != "p" || len(ice.Candidates) != 1 || ice.Candidates[0].Port != 10000 ||
		ice.Candidates[0].IP != "127.0.0.1" || len(ice.Fingerprints) != 1 || ice.Fingerprints[0].Setup != "actpass" {
		t.Fatalf("transport %+v", ice)
	}

	const notFound = `<iq xmlns="jabber:client" type="error" id="focus-2"><error type="cancel">` +
		`<item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>` +
		`<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">Conference not found for ID: m-2</text>` +
		`<error xmlns="jitsi:colibri2" reason="conference_not_found"/></error></iq>`
	_, err = parseModifiedIQ("error", notFound)
	if err == nil || !strings.Contains(err.Error(), "item-not-found") || !strings.Contains(err.Error(), "reason=conference_not_found") ||
		!strings.Contains(err.Error(), "Conference not found for ID: m-2") {
		t.Fatalf("error IQ gave %v", err)
	}
	// The bridge's own error element, as colibri builds it, round-trips through the bench's reader.
	unknown := &colibri.Error{Condition: colibri.CondItemNotFound, Reason: colibri.ReasonUnknownEndpoint,
		Text: "no endpoint ep9", EndpointID: "ep9"}
	_, err = parseModifiedIQ("error", `<iq xmlns="jabber:client" type="error" id="focus-3">`+string(unknown.StanzaError())+`</iq>`)
	if err == nil || !strings.Contains(err.Error(), "reason=unknown_endpoint") || !strings.Contains(err.Error(), "endpoint=ep9") ||
		!strings.Contains(err.Error(), "no endpoint ep9") {
		t.Fatalf("unknown-endpoint error IQ gave %v", err)
	}
	for _, bad := range []struct{ typ, raw string }{
		{"result", `<iq type="result" id="x"/>`},                                  // jicofo: not a conference-modified = failure
		{"result", `<iq type="result"><conference-modified xmlns="other"/></iq>`}, // wrong namespace
		{"error", `<iq type="error"/>`},
		{"result", `<iq type="result"><conference-modified xmlns="jitsi:colibri2">`}, // truncated
	} {
		if r, err := parseModifiedIQ(bad.typ, bad.raw); err == nil {
			t.Errorf("%s accepted: %+v", bad.raw, r)
		}
	}
}

func TestBridgeEnvPointsTheBridgeAtProsody(t *testing.T) {
	x := DefaultXMPPConfig()
	x.Server = "127.0.0.1:35222"
	env := x.bridgeEnv("jvb7")
	for _, want := range []string{"XMPP_SERVER=127.0.0.1", "XMPP_PORT=35222", "XMPP_AUTH_DOMAIN=auth.meet.jitsi",
		"XMPP_INTERNAL_MUC_DOMAIN=internal-muc.meet.jitsi", "JVB_AUTH_USER=jvb", "JVB_AUTH_PASSWORD=jvbpass",
		"JVB_BREWERY_MUC=jvbbrewery", "JVB_MUC_NICKNAME=jvb7", "JVB_DISABLE_XMPP=false", "COLIBRI_REST_ENABLED=false"} {
		if !slices.Contains(env, want) {
			t.Errorf("bridge env lacks %s: %v", want, env)
		}
	}
	if x.BreweryJID() != "jvbbrewery@internal-muc.meet.jitsi" {
		t.Errorf("brewery %s", x.BreweryJID())
	}
}

func TestStatsPresenceDetection(t *testing.T) {
	for raw, want := range map[string]bool{
		`<presence from="r@m/jvb"><stats xmlns="http://jitsi.org/protocol/colibri"><stat name="stress_level" value="0"/></stats></presence>`: true,
		`<presence from="r@m/jvb"><x xmlns="http://jabber.org/protocol/muc#user"/></presence>`:                                               false,
		`<presence from="r@m/jvb"><stats xmlns="other"/></presence>`:                                                                         false,
		`<presence`: false,
	} {
		if got := hasStats(prosodytest.Stanza{Name: "presence", Raw: raw}); got != want {
			t.Errorf("hasStats(%s) = %v, want %v", raw, got, want)
		}
	}
}

// FuzzModifiedIQ: whatever the bridge answers over XMPP is an error or a response, never a panic.
func FuzzModifiedIQ(f *testing.F) {
	f.Add("result", `<iq type="result"><conference-modified xmlns="jitsi:colibri2"><endpoint id="a"><transport><transport xmlns="urn:xmpp:jingle:transports:ice-udp:1"><candidate port="99999999999"/></transport></transport></endpoint></conference-modified></iq>`)
	f.Add("error", `<iq type="error"><error><error xmlns="jitsi:colibri2" reason=""/><text/></error></iq>`)
	f.Fuzz(func(t *testing.T, typ, raw string) {
		r, err := parseModifiedIQ(typ, raw)
		if err == nil && r == nil {
			t.Fatal("nil response without error")
		}
	})
}

// BenchmarkXMPPConversion is the load generator's own cost per XMPP allocation: the request to
// XML and a typical answer back.
func BenchmarkXMPPConversion(b *testing.B) {
	ctrl := true
	req := c2Request{MeetingID: "m-1", Endpoints: []c2Endpoint{{
		ID: "ep1", StatsID: "bench-ep1", Create: true,
		Transport: &c2Transport{ICEControlling: &ctrl, SCTP: &c2SCTP{}}, Medias: mediaOffer(true),
		Capabilities: []string{"source-names"},
	}}}
	const answer = `<iq xmlns="jabber:client" type="result" id="focus-1"><conference-modified xmlns="jitsi:colibri2" meeting-id="m-1">` +
		`<endpoint id="ep1"><transport><transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="u" pwd="p"><rtcp-mux/>` +
		`<fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" hash="sha-256" setup="actpass">AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99</fingerprint>` +
		`<candidate component="1" foundation="1" generation="0" id="c1" network="0" priority="2130706431" protocol="udp" type="host" ip="127.0.0.1" port="10000"/>` +
		`</transport><sctp port="5000" role="server"/></transport></endpoint></conference-modified></iq>`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c2RequestXML(req); err != nil {
			b.Fatal(err)
		}
		if _, err := parseModifiedIQ("result", answer); err != nil {
			b.Fatal(err)
		}
	}
}
