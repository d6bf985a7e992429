package colibriws

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/websocket"

	"gojvb/sfu"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeEndpoint records what the server does with an endpoint.
type fakeEndpoint struct {
	pwd       string
	attachErr error
	attached  chan sfu.MessageConn
	detached  chan sfu.MessageConn
	got       chan string
}

func newFakeEndpoint(pwd string) *fakeEndpoint {
	return &fakeEndpoint{pwd: pwd, attached: make(chan sfu.MessageConn, 4), detached: make(chan sfu.MessageConn, 4),
		got: make(chan string, 16)}
}

func (e *fakeEndpoint) WebSocketPassword() string { return e.pwd }

func (e *fakeEndpoint) AttachWebSocket(c sfu.MessageConn) error {
	if e.attachErr != nil {
		return e.attachErr
	}
	_ = c.WriteText([]byte(`{"colibriClass":"ServerHello"}`))
	e.attached <- c
	return nil
}

func (e *fakeEndpoint) ReceiveWebSocket(c sfu.MessageConn, msg []byte, text bool) {
	if !text {
		e.got <- "binary:" + string(msg)
		return
	}
	e.got <- string(msg)
}

func (e *fakeEndpoint) DetachWebSocket(c sfu.MessageConn) { e.detached <- c }

type testServer struct {
	*Server
	http *httptest.Server
	ep   *fakeEndpoint
}

func newTestServer(t *testing.T, mod func(*Config)) *testServer {
	t.Helper()
	ep := newFakeEndpoint("secretsecretsecretsecret")
	cfg := Config{
		ServerID: "jvb1",
		Lookup: func(conf, id string) (Endpoint, bool) {
			if conf == "c0ffee" && id == "ep1" {
				return ep, true
			}
			return nil, false
		},
		Logger: slog.New(slog.DiscardHandler),
	}
	if mod != nil {
		mod(&cfg)
	}
	s := NewServer(cfg)
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		hs.Close()
	})
	return &testServer{Server: s, http: hs, ep: ep}
}

func (s *testServer) url(path string) string {
	return "ws" + strings.TrimPrefix(s.http.URL, "http") + path
}

func (s *testServer) dial(t *testing.T, path string) *websocket.Conn {
	t.Helper()
	ws, err := websocket.Dial(s.url(path), "", "http://localhost/")
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

const goodPath = "/colibri-ws/jvb1/c0ffee/ep1?pwd=secretsecretsecretsecret"

// nextFrame reads one frame as the server sent it (pings included), within d.
func nextFrame(t *testing.T, ws *websocket.Conn, d time.Duration) (byte, []byte) {
	t.Helper()
	if err := ws.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	fr, err := ws.NewFrameReader()
	if err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	b, err := io.ReadAll(fr)
	if err != nil {
		t.Fatalf("reading a frame's payload: %v", err)
	}
	return fr.PayloadType(), b
}

// closeFrame reads frames (skipping pings) until a close frame, and returns its code and reason.
func awaitClose(t *testing.T, ws *websocket.Conn, d time.Duration) (int, string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		kind, b := nextFrame(t, ws, time.Until(deadline))
		if kind != websocket.CloseFrame {
			continue
		}
		if len(b) < 2 {
			t.Fatalf("close frame without a code: %q", b)
		}
		return int(binary.BigEndian.Uint16(b)), string(b[2:])
	}
}

func TestRefusalsNameTheProblemLikeJVB(t *testing.T) {
	s := newTestServer(t, nil)
	for _, c := range []struct {
		path string
		code int
		body string
	}{
		{"/colibri-ws/other/c0ffee/ep1?pwd=secretsecretsecretsecret", 404, "server ID mismatch"},
		{"/colibri-ws/jvb1/c0ffee/ep1?pwd=wrong", 403, "authentication failed"},
		{"/colibri-ws/jvb1/c0ffee/ep1", 403, "authentication failed"},
		{"/colibri-ws/jvb1/c0ffee/nobody?pwd=secretsecretsecretsecret", 403, "authentication failed"},
		{"/colibri-ws/jvb1/nothere/ep1?pwd=secretsecretsecretsecret", 403, "authentication failed"},
		{"/colibri-relay-ws/jvb1/c0ffee/ep1?pwd=secretsecretsecretsecret", 403, "authentication failed"},
		{"/colibri-ws/jvb1/c0ffee", 404, "not found"},
	} {
		resp, err := http.Get(s.http.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || strings.TrimSpace(string(body)) != c.body {
			t.Errorf("%s: %d %q, want %d %q", c.path, resp.StatusCode, body, c.code, c.body)
		}
		// A real WebSocket client fails the same way.
		if _, err := websocket.Dial(s.url(c.path), "", "http://localhost/"); err == nil {
			t.Errorf("%s: WebSocket accepted", c.path)
		}
	}
	if st := s.Stats(); st.Rejected != 14 || st.Accepted != 0 {
		t.Errorf("stats %+v, want 14 rejected", st)
	}
}

func TestMessagesFlowBothWays(t *testing.T) {
	s := newTestServer(t, nil)
	ws := s.dial(t, goodPath)
	if kind, b := nextFrame(t, ws, 5*time.Second); kind != websocket.TextFrame || string(b) != `{"colibriClass":"ServerHello"}` {
		t.Fatalf("first frame %d %q, want the endpoint's ServerHello", kind, b)
	}
	if err := websocket.Message.Send(ws, `{"colibriClass":"ClientHello"}`); err != nil {
		t.Fatal(err)
	}
	if err := websocket.Message.Send(ws, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`{"colibriClass":"ClientHello"}`, "binary:\x01\x02"} {
		select {
		case got := <-s.ep.got:
			if got != want {
				t.Errorf("endpoint got %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("endpoint never got %q", want)
		}
	}
	c := <-s.ep.attached
	if err := c.WriteText([]byte("two")); err != nil {
		t.Fatal(err)
	}
	if _, b := nextFrame(t, ws, 5*time.Second); string(b) != "two" {
		t.Errorf("client got %q", b)
	}
}

func TestBridgeCloseSendsCodeAndReason(t *testing.T) {
	s := newTestServer(t, nil)
	ws := s.dial(t, goodPath)
	c := <-s.ep.attached
	_ = c.Close(sfu.WebSocketCloseNormal, "replaced")
	if code, reason := awaitClose(t, ws, 5*time.Second); code != 1000 || reason != "replaced" {
		t.Errorf("close %d %q, want 1000 replaced", code, reason)
	}
	if err := c.WriteText([]byte("late")); !errors.Is(err, errClosed) {
		t.Errorf("WriteText after Close: %v", err)
	}
	_ = ws.Close() // the client's answer
	select {
	case d := <-s.ep.detached:
		if d != c {
			t.Error("another connection detached")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("connection not detached after the close handshake")
	}
}

func TestClientCloseIsAnsweredWithItsCode(t *testing.T) {
	s := newTestServer(t, nil)
	ws := s.dial(t, goodPath)
	<-s.ep.attached
	nextFrame(t, ws, 5*time.Second) // ServerHello
	if err := frameCodec(websocket.CloseFrame).Send(ws, binary.BigEndian.AppendUint16(nil, 4321)); err != nil {
		t.Fatal(err)
	}
	if code, _ := awaitClose(t, ws, 5*time.Second); code != 4321 {
		t.Errorf("answered %d, want 4321", code)
	}
	<-s.ep.detached
}

func TestKeepalivePingsAndIdleTimeout(t *testing.T) {
	s := newTestServer(t, func(c *Config) {
		c.PingInterval = 20 * time.Millisecond
		c.IdleTimeout = 300 * time.Millisecond
	})

	// A client that answers pings stays connected well past the idle timeout.
	alive := s.dial(t, goodPath)
	<-s.ep.attached
	pings := 0
	end := time.Now().Add(time.Second)
	for time.Now().Before(end) {
		if err := alive.SetReadDeadline(end); err != nil {
			t.Fatal(err)
		}
		fr, err := alive.NewFrameReader()
		if err != nil {
			break // the deadline
		}
		switch fr.PayloadType() {
		case websocket.CloseFrame:
			t.Fatal("a client answering pings was closed")
		case websocket.PingFrame:
			pings++
		}
		if _, err := alive.HandleFrame(fr); err != nil { // answers pings with pongs
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, fr)
	}
	if pings < 10 {
		t.Errorf("%d pings in 1 s at a 20 ms interval", pings)
	}

	// One that never answers is closed with 1001 once the idle timeout passes.
	silent := s.dial(t, goodPath)
	<-s.ep.attached
	start := time.Now()
	if code, reason := awaitClose(t, silent, 5*time.Second); code != 1001 || reason != "idle timeout" {
		t.Errorf("silent client closed with %d %q, want 1001 idle timeout", code, reason)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("closed after %v, before the 300 ms idle timeout", d)
	}
}

func TestOversizedMessageCloses1009(t *testing.T) {
	s := newTestServer(t, nil)
	ws := s.dial(t, goodPath)
	<-s.ep.attached
	if err := websocket.Message.Send(ws, strings.Repeat("x", 65<<10)); err != nil {
		t.Fatal(err)
	}
	if code, _ := awaitClose(t, ws, 5*time.Second); code != 1009 {
		t.Errorf("close %d, want 1009", code)
	}
	select {
	case m := <-s.ep.got:
		t.Errorf("oversized message delivered (%d bytes)", len(m))
	default:
	}
}

func TestFullQueueDropsInsteadOfBlocking(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.QueueSize = 1 })
	ws := s.dial(t, goodPath)
	c := <-s.ep.attached
	var full error
	for i := 0; i < 100000 && full == nil; i++ { // the client reads nothing meanwhile
		full = c.WriteText([]byte(strings.Repeat("y", 1000)))
	}
	if !errors.Is(full, errQueueFull) || s.Stats().Dropped == 0 {
		t.Fatalf("never dropped (err %v, stats %+v)", full, s.Stats())
	}
	_ = ws
}

func TestEndpointGoneClosesGoingAway(t *testing.T) {
	s := newTestServer(t, nil)
	s.ep.attachErr = errors.New("expired")
	ws := s.dial(t, goodPath)
	if code, reason := awaitClose(t, ws, 5*time.Second); code != 1001 || reason != "endpoint closed" {
		t.Errorf("close %d %q, want 1001 endpoint closed", code, reason)
	}
}

func TestServerCloseEndsConnections(t *testing.T) {
	s := newTestServer(t, nil)
	ws := s.dial(t, goodPath)
	<-s.ep.attached
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	if code, reason := awaitClose(t, ws, 5*time.Second); code != 1001 || reason != "shutting down" {
		t.Errorf("close %d %q, want 1001 shutting down", code, reason)
	}
	_ = ws.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	if st := s.Stats(); st.Active != 0 || st.Accepted != 1 {
		t.Errorf("stats after Close %+v", st)
	}
}
