package main

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"gojvb/cmd/jvb/internal/config"
)

// freePort returns a loopback port nothing listens on right now (the advertised URL must name
// the public server's port before the bridge binds it).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startWebSocketBridge runs the bridge with websockets on, as the docker variables turn them
// on, with the public server on a loopback port; it returns the bridge and that address.
func startWebSocketBridge(t *testing.T) (*bridge, string) {
	t.Helper()
	pub := freePort(t)
	env := map[string]string{
		"ENABLE_COLIBRI_WEBSOCKET": "1",
		"JVB_WS_DOMAIN":            pub,
		"JVB_WS_SERVER_ID":         "jvb-test",
		"JVB_WS_TLS":               "0",
	}
	for k, v := range restEnv {
		env[k] = v
	}
	b := startBridge(t, env, func(c *config.Config) { c.PublicHTTPAddr = pub })
	return b, pub
}

// webSocketURLs creates endpoint id (and the conference with the first) over COLIBRI2 REST and
// returns the web-socket URLs of its transport.
func (b *bridge) webSocketURLs(t *testing.T, meeting, id string, create bool) []string {
	t.Helper()
	code, body := b.do(t, "POST", "/colibri/v2/conferences", createEndpoint(meeting, id, create))
	if code != 200 {
		t.Fatalf("create %s: %d %s", id, code, body)
	}
	var resp struct {
		Endpoints []struct {
			Transport struct {
				Transport struct {
					WebSockets []string `json:"web-sockets"`
				} `json:"transport"`
			} `json:"transport"`
		} `json:"endpoints"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil || len(resp.Endpoints) != 1 {
		t.Fatalf("create %s: %v %s", id, err, body)
	}
	return resp.Endpoints[0].Transport.Transport.WebSockets
}

func dialWS(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ws, err := websocket.Dial(url, "", "http://localhost/")
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

// readText returns the next text message, skipping pings, within d.
func readText(t *testing.T, ws *websocket.Conn, d time.Duration) string {
	t.Helper()
	kind, b := readFrame(t, ws, d, websocket.TextFrame, websocket.CloseFrame)
	if kind != websocket.TextFrame {
		t.Fatalf("got a close frame %v, want a text message", b)
	}
	return string(b)
}

// readClose reads until the bridge's close frame and returns its code and reason.
func readClose(t *testing.T, ws *websocket.Conn, d time.Duration) (int, string) {
	t.Helper()
	_, b := readFrame(t, ws, d, websocket.CloseFrame)
	if len(b) < 2 {
		t.Fatalf("close frame without code: %v", b)
	}
	return int(binary.BigEndian.Uint16(b)), string(b[2:])
}

// awaitClass returns the next message of colibriClass class, skipping others (what the bridge
// tells an endpoint on connect: ForwardedSources and the like).
func awaitClass(t *testing.T, ws *websocket.Conn, class string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m := readText(t, ws, time.Until(deadline))
		var v struct{ ColibriClass string }
		if err := json.Unmarshal([]byte(m), &v); err != nil {
			t.Fatalf("bad message %q", m)
		}
		if v.ColibriClass == class {
			return m
		}
	}
}

func readFrame(t *testing.T, ws *websocket.Conn, d time.Duration, kinds ...byte) (byte, []byte) {
	t.Helper()
	if err := ws.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	for {
		fr, err := ws.NewFrameReader()
		if err != nil {
			t.Fatalf("reading a frame: %v", err)
		}
		b, err := io.ReadAll(fr)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range kinds {
			if fr.PayloadType() == k {
				return k, b
			}
		}
	}
}

func TestColibriWebSocketBridgeChannel(t *testing.T) {
	b, pub := startWebSocketBridge(t)
	urlsA := b.webSocketURLs(t, "m1", "a", true)
	urlsB := b.webSocketURLs(t, "m1", "b", false)
	c := b.sfu.Conference("m1")
	if c == nil {
		t.Fatal("no conference m1")
	}
	epA := c.Endpoint("a")
	want := "ws://" + pub + "/colibri-ws/jvb-test/" + c.ID() + "/a?pwd=" + epA.WebSocketPassword()
	if len(urlsA) != 1 || urlsA[0] != want || len(urlsB) != 1 {
		t.Fatalf("web-sockets %v / %v, want [%s]", urlsA, urlsB, want)
	}

	a, bb := dialWS(t, urlsA[0]), dialWS(t, urlsB[0])
	for name, ws := range map[string]*websocket.Conn{"a": a, "b": bb} {
		if m := readText(t, ws, 5*time.Second); m != `{"colibriClass":"ServerHello"}` {
			t.Fatalf("%s: first message %q, want ServerHello", name, m)
		}
	}

	// An EndpointMessage over the WebSocket is relayed like one over the data channel: to the
	// addressee, with from set by the bridge whatever the sender claimed.
	if err := websocket.Message.Send(bb, `{"colibriClass":"EndpointMessage","to":"a","from":"mallory","msgPayload":{"hi":1}}`); err != nil {
		t.Fatal(err)
	}
	if m := awaitClass(t, a, "EndpointMessage"); !strings.Contains(m, `"from":"b"`) || !strings.Contains(m, `"hi":1`) {
		t.Fatalf("a got %s, want b's message with from b", m)
	}
	// a's own message over its WebSocket reaches b the same way.
	if err := websocket.Message.Send(a, `{"colibriClass":"EndpointMessage","to":"b","msgPayload":{"yo":2}}`); err != nil {
		t.Fatal(err)
	}
	if m := awaitClass(t, bb, "EndpointMessage"); !strings.Contains(m, `"from":"a"`) {
		t.Fatalf("b got %s, want a's message with from a", m)
	}
	// Counted by the channel that carried them, as JVB does: a's one message came on its
	// WebSocket, and every message to it (ServerHello first) went out there too.
	if s := epA.Stats(); s.ColibriWebSocketMessagesReceived != 1 || s.DataChannelMessagesReceived != 0 {
		t.Errorf("a's messages received: %d over the WebSocket, %d over the data channel; want 1 and 0",
			s.ColibriWebSocketMessagesReceived, s.DataChannelMessagesReceived)
	}
	if s := epA.Stats(); s.ColibriWebSocketMessagesSent < 2 || s.DataChannelMessagesSent != 0 {
		t.Errorf("a's messages sent: %d over the WebSocket, %d over the data channel; want at least 2 (ServerHello, b's message) and 0",
			s.ColibriWebSocketMessagesSent, s.DataChannelMessagesSent)
	}

	// Wrong password or unknown endpoint: 403; another bridge's server id: 404.
	base := "http://" + pub + "/colibri-ws/"
	for path, wantCode := range map[string]int{
		"jvb-test/" + c.ID() + "/a?pwd=wrong":                       403,
		"jvb-test/" + c.ID() + "/zz?pwd=" + epA.WebSocketPassword(): 403,
		"other-jvb/" + c.ID() + "/a?pwd=" + epA.WebSocketPassword(): 404,
		"jvb-test/" + "m1" + "/a?pwd=" + epA.WebSocketPassword():    403, // the meeting id is not the conference id
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != wantCode {
			t.Errorf("%s: %d %q, want %d", path, resp.StatusCode, body, wantCode)
		}
	}

	// A second WebSocket for a replaces the first (closed with 1000 "replaced") and is greeted.
	a2 := dialWS(t, urlsA[0])
	if code, reason := readClose(t, a, 5*time.Second); code != 1000 || reason != "replaced" {
		t.Errorf("old WebSocket closed with %d %q, want 1000 replaced", code, reason)
	}
	if m := readText(t, a2, 5*time.Second); m != `{"colibriClass":"ServerHello"}` {
		t.Errorf("new WebSocket's first message %q", m)
	}

	// Expiring the endpoint closes its WebSocket with 1001 "endpoint closed".
	if code, body := b.do(t, "POST", "/colibri/v2/conferences", expireEndpoint("m1", "a")); code != 200 {
		t.Fatalf("expire: %d %s", code, body)
	}
	if code, reason := readClose(t, a2, 5*time.Second); code != 1001 || reason != "endpoint closed" {
		t.Errorf("expired endpoint's WebSocket closed with %d %q, want 1001 endpoint closed", code, reason)
	}
	if _, err := websocket.Dial(urlsA[0], "", "http://localhost/"); err == nil {
		t.Error("the expired endpoint's URL still accepts WebSockets")
	}
}

func TestNoWebSocketURLByDefault(t *testing.T) {
	b := startBridge(t, restEnv, nil)
	if urls := b.webSocketURLs(t, "m1", "a", true); len(urls) != 0 {
		t.Fatalf("web-sockets %v advertised with websockets off", urls)
	}
}
