package colibri

import (
	"strings"
	"testing"
)

func TestCreatedEndpointAdvertisesOneWebSocketPerDomain(t *testing.T) {
	h, _ := newTestHandler(t, func(c *Config) {
		c.WebSockets = WebSockets{Domains: []string{"meet.example.com:443", "https://alt.example.com/"}, ServerID: "10.0.0.5", TLS: true}
	})
	r := wait(t, send(t, h, allocate("m1", "alice", true, "")))
	resp := ok(t, r)
	got := resp.Endpoints[0].Transport.ICEUDP.WebSockets
	want := []string{
		"wss://meet.example.com:443/colibri-ws/10.0.0.5/conf-m1/alice?pwd=pw-alice",
		"wss://alt.example.com/colibri-ws/10.0.0.5/conf-m1/alice?pwd=pw-alice",
	}
	if len(got) != len(want) {
		t.Fatalf("web-sockets %+v, want %v", got, want)
	}
	for i := range want {
		if got[i].URL != want[i] {
			t.Errorf("url %d = %q, want %q", i, got[i].URL, want[i])
		}
	}
	// On the wire: inside the ICE-UDP transport, in the colibri namespace.
	raw := string(r.raw)
	if !strings.Contains(raw, `<web-socket xmlns="http://jitsi.org/protocol/colibri" url="wss://meet.example.com:443/colibri-ws/10.0.0.5/conf-m1/alice?pwd=pw-alice"`) {
		t.Errorf("response lacks the web-socket element: %s", raw)
	}
	ice := strings.Index(raw, `<transport xmlns="urn:xmpp:jingle:transports:ice-udp:1"`)
	if i, j := strings.Index(raw, "<web-socket"), strings.Index(raw, "</transport>"); ice < 0 || i < ice || j < i {
		t.Errorf("web-socket not inside the ICE-UDP transport: %s", raw)
	}

	// Updates carry no transport, hence no URL.
	upd := ok(t, wait(t, send(t, h, sessionAccept("m1", "alice"))))
	if len(upd.Endpoints) > 0 && upd.Endpoints[0].Transport != nil {
		t.Errorf("update answered with a transport: %+v", upd.Endpoints[0].Transport)
	}
}

func TestNoWebSocketWithoutDomains(t *testing.T) {
	for _, ws := range []WebSockets{{}, {ServerID: "x", TLS: true}} {
		h, _ := newTestHandler(t, func(c *Config) { c.WebSockets = ws })
		r := wait(t, send(t, h, allocate("m1", "alice", true, "")))
		if got := ok(t, r).Endpoints[0].Transport.ICEUDP.WebSockets; len(got) != 0 {
			t.Errorf("%+v: web-sockets %+v, want none", ws, got)
		}
		if strings.Contains(string(r.raw), "web-socket") {
			t.Errorf("%+v: response mentions web-socket: %s", ws, r.raw)
		}
	}
}

func TestWebSocketURLEscapesAndPlainScheme(t *testing.T) {
	got := WebSockets{Domains: []string{"h:8080", ""}, ServerID: "a/b"}.urls("c d", "e?f", "p&q")
	if len(got) != 1 || got[0].URL != "ws://h:8080/colibri-ws/a%2Fb/c%20d/e%3Ff?pwd=p%26q" {
		t.Errorf("urls %+v", got)
	}
}
