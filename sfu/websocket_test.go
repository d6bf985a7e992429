package sfu

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"gojvb/sfu/channel"
)

// fakeWebSocket records what the media core sends on an endpoint's WebSocket.
type fakeWebSocket struct {
	mu     sync.Mutex
	msgs   []string
	code   int
	reason string
	closes int
}

func (w *fakeWebSocket) WriteText(msg []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closes > 0 {
		return errors.New("closed")
	}
	w.msgs = append(w.msgs, string(msg))
	return nil
}

func (w *fakeWebSocket) Close(code int, reason string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closes++
	if w.closes == 1 {
		w.code, w.reason = code, reason
	}
	return nil
}

func (w *fakeWebSocket) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.msgs
	w.msgs = nil
	return m
}

func (w *fakeWebSocket) closed() (code int, reason string, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.code, w.reason, w.closes
}

func classOf(t *testing.T, msg string) string {
	t.Helper()
	var v struct {
		ColibriClass string
		From         string
	}
	if err := json.Unmarshal([]byte(msg), &v); err != nil {
		t.Fatalf("bad message %q: %v", msg, err)
	}
	return v.ColibriClass
}

func classes(t *testing.T, msgs []string) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, classOf(t, m))
	}
	return out
}

func TestWebSocketPasswordIsRandomAlphanumericAndStable(t *testing.T) {
	_, _, a, b, _ := threeParty(t)
	pa := a.ep.WebSocketPassword()
	if len(pa) != 24 || strings.Trim(pa, webSocketAlphabet) != "" {
		t.Fatalf("password %q: want 24 characters of [a-zA-Z0-9]", pa)
	}
	if a.ep.WebSocketPassword() != pa {
		t.Error("password changed during the endpoint's life")
	}
	if b.ep.WebSocketPassword() == pa {
		t.Error("two endpoints share a password")
	}
	seen := map[byte]bool{}
	for range 200 {
		for _, c := range []byte(newWebSocketPassword()) {
			seen[c] = true
		}
	}
	if len(seen) != len(webSocketAlphabet) {
		t.Errorf("4800 random characters used %d of the %d letters", len(seen), len(webSocketAlphabet))
	}
}

func TestWebSocketGreetsAndRepliesFollowTheLastActiveChannel(t *testing.T) {
	tb, _, a, b, c := threeParty(t)
	for _, cl := range []*client{a, b, c} {
		endpointHandler{cl.ep}.HandleDataChannelOpen()
		tb.transport(cl.ep.id).take()
	}
	ws := &fakeWebSocket{}
	if err := a.ep.AttachWebSocket(ws); err != nil {
		t.Fatal(err)
	}
	if got := ws.take(); len(got) == 0 || got[0] != `{"colibriClass":"ServerHello"}` {
		t.Fatalf("WebSocket got %q first, want ServerHello", got)
	}
	if got := tb.transport("a").take(); len(got) != 0 {
		t.Errorf("data channel got %q while the new WebSocket is the active channel", got)
	}

	// b's message to a goes to the WebSocket (attached last), with from set by the bridge.
	endpointHandler{b.ep}.HandleDataChannelMessage([]byte(`{"colibriClass":"EndpointMessage","to":"a","msgPayload":{"n":1}}`), true)
	got := ws.take()
	if len(got) != 1 || !strings.Contains(got[0], `"from":"b"`) {
		t.Fatalf("WebSocket got %q, want b's EndpointMessage with from b", got)
	}

	// A message on the data channel makes it the active one again.
	endpointHandler{a.ep}.HandleDataChannelMessage([]byte(`{"colibriClass":"ClientHello"}`), true)
	if dc := tb.transport("a").take(); len(dc) != 0 {
		t.Errorf("ClientHello on the greeted data channel answered with %q, want nothing more", dc)
	}
	endpointHandler{b.ep}.HandleDataChannelMessage([]byte(`{"colibriClass":"EndpointMessage","to":"a","msgPayload":{"n":2}}`), true)
	if dc := tb.transport("a").take(); len(dc) != 1 || !strings.Contains(string(dc[0]), `"n":2`) {
		t.Errorf("data channel got %q, want b's second message", dc)
	}
	if got := ws.take(); len(got) != 0 {
		t.Errorf("WebSocket got %q after the data channel became active", got)
	}

	// A message over the WebSocket acts like one over the data channel, and flips back.
	a.ep.ReceiveWebSocket(ws, []byte(`{"colibriClass":"EndpointMessage","to":"","from":"c","msgPayload":{"n":3}}`), true)
	for _, r := range []string{"b", "c"} {
		m := tb.transport(r).take()
		if len(m) != 1 || !strings.Contains(string(m[0]), `"from":"a"`) || !strings.Contains(string(m[0]), `"n":3`) {
			t.Errorf("%s got %q, want a's broadcast with from a", r, m)
		}
	}
	a.ep.ReceiveWebSocket(ws, []byte(`{"colibriClass":"ClientHello"}`), true)
	if got := classes(t, ws.take()); len(got) != 0 {
		t.Errorf("ClientHello on the greeted WebSocket answered with %v, want nothing more", got)
	}
	a.ep.ReceiveWebSocket(ws, []byte{1, 2}, false)
	s := a.ep.Stats()
	// Counted by the channel that carried them (one ClientHello on the data channel, three
	// messages on the WebSocket); malformed whichever carried it.
	if s.DataChannelMessagesReceived != 1 || s.ColibriWebSocketMessagesReceived != 3 || s.DataChannelMessagesMalformed != 1 {
		t.Errorf("received %d on the data channel and %d on the WebSocket, malformed %d; want 1, 3 and 1 (the binary one)",
			s.DataChannelMessagesReceived, s.ColibriWebSocketMessagesReceived, s.DataChannelMessagesMalformed)
	}

	// Once the WebSocket is gone, the data channel carries everything.
	a.ep.DetachWebSocket(ws)
	endpointHandler{b.ep}.HandleDataChannelMessage([]byte(`{"colibriClass":"EndpointMessage","to":"a","msgPayload":{"n":4}}`), true)
	if dc := tb.transport("a").take(); len(dc) != 1 {
		t.Errorf("data channel got %q after the WebSocket left", dc)
	}
}

func TestWebSocketOnlyEndpointGetsGreetingsAndMessages(t *testing.T) {
	tb, _, a, b, _ := threeParty(t)
	if a.ep.sendMessage(&channel.ServerHello{}) {
		t.Fatal("a message left with neither a data channel nor a WebSocket")
	}
	ws := &fakeWebSocket{}
	if err := a.ep.AttachWebSocket(ws); err != nil {
		t.Fatal(err)
	}
	a.ep.drain() // the sender goroutine's greeting (ForwardedSources)
	got := classes(t, ws.take())
	if len(got) < 2 || got[0] != "ServerHello" || !contains(got, "ForwardedSources") {
		t.Errorf("WebSocket got %v, want ServerHello then ForwardedSources", got)
	}
	b.ep.ReceiveWebSocket(ws, []byte(`{"colibriClass":"EndpointMessage","to":"a","msgPayload":{}}`), true)
	if len(ws.take()) != 0 {
		t.Error("a WebSocket that is not b's delivered a message as b")
	}
	endpointHandler{b.ep}.HandleDataChannelMessage([]byte(`{"colibriClass":"EndpointMessage","to":"a","msgPayload":{}}`), true)
	if got := ws.take(); len(got) != 1 {
		t.Errorf("WebSocket got %q, want b's message", got)
	}
	if len(tb.transport("a").take()) != 0 {
		t.Error("the closed data channel was written to")
	}
}

func TestNewWebSocketReplacesTheOldOneWithNormalClose(t *testing.T) {
	tb, _, a, b, _ := threeParty(t)
	endpointHandler{b.ep}.HandleDataChannelOpen()
	tb.transport("b").take()
	old, ws := &fakeWebSocket{}, &fakeWebSocket{}
	if err := a.ep.AttachWebSocket(old); err != nil {
		t.Fatal(err)
	}
	if err := a.ep.AttachWebSocket(ws); err != nil {
		t.Fatal(err)
	}
	if code, reason, n := old.closed(); code != 1000 || reason != "replaced" || n != 1 {
		t.Errorf("old WebSocket closed %d times, first with %d %q; want once with 1000 replaced", n, code, reason)
	}
	if _, _, n := ws.closed(); n != 0 {
		t.Error("the new WebSocket was closed")
	}
	a.ep.ReceiveWebSocket(old, []byte(`{"colibriClass":"EndpointMessage","to":"b","msgPayload":{}}`), true)
	if got := tb.transport("b").take(); len(got) != 0 {
		t.Errorf("a message from the replaced WebSocket was relayed: %q", got)
	}
	a.ep.DetachWebSocket(old) // the old connection ending must not drop the new one
	ws.take()
	endpointHandler{b.ep}.HandleDataChannelMessage([]byte(`{"colibriClass":"EndpointMessage","to":"a","msgPayload":{}}`), true)
	if got := ws.take(); len(got) != 1 {
		t.Errorf("new WebSocket got %q after the old one detached", got)
	}
}

func TestExpireClosesTheWebSocketGoingAway(t *testing.T) {
	_, _, a, _, _ := threeParty(t)
	ws := &fakeWebSocket{}
	if err := a.ep.AttachWebSocket(ws); err != nil {
		t.Fatal(err)
	}
	a.ep.Expire()
	if code, reason, n := ws.closed(); code != 1001 || reason != "endpoint closed" || n != 1 {
		t.Errorf("WebSocket closed %d times, first with %d %q; want once with 1001 endpoint closed", n, code, reason)
	}
	if err := a.ep.AttachWebSocket(&fakeWebSocket{}); !errors.Is(err, ErrExpired) {
		t.Errorf("attach after expiry: %v, want ErrExpired", err)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestReceiverConstraintsOverWebSocketActLikeOverDataChannel(t *testing.T) {
	tb, c := jvbBridge(t, nil)
	a := joinMeet(t, c, "a", false)
	r := joinMeet(t, c, "r", false)
	if err := a.ep.SetSources([]MediaSource{audioSource("a-a0", 1), videoSource("a-v0", 2)}); err != nil {
		t.Fatal(err)
	}
	settle(a, r)
	tb.transport("a").take()
	tb.transport("r").take()
	ws := &fakeWebSocket{}
	if err := r.ep.AttachWebSocket(ws); err != nil {
		t.Fatal(err)
	}
	settle(r)
	r.ep.ReceiveWebSocket(ws, []byte(`{"colibriClass":"ReceiverVideoConstraints","lastN":-1}`), true)
	settle(r)
	a.ep.receiveOne(a.protect(t, a.vp8(2, 2, 6000, true)), false)
	if got := r.rtpOut(t, tb); len(got) != 1 || got[0].ssrc != 2 {
		t.Fatalf("after constraints over the WebSocket r got %v, want a's video", got)
	}
	var last string
	for _, m := range ws.take() {
		if classOf(t, m) == "ForwardedSources" {
			last = m
		}
	}
	if !strings.Contains(last, `"forwardedSources":["a-v0"]`) {
		t.Errorf("last ForwardedSources on the WebSocket %q, want [a-v0]", last)
	}
	if dc := tb.transport("r").take(); len(dc) != 0 {
		t.Errorf("r's data channel got %q while its WebSocket is the active channel", dc)
	}
	sc := messages(tb, a, "SenderSourceConstraints")
	if len(sc) == 0 || sc[len(sc)-1]["maxHeight"] != float64(180) {
		t.Errorf("SenderSourceConstraints to a = %v, want a-v0 180", sc)
	}
}
