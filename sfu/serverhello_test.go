package sfu

import "testing"

// The soak's join/leave cycles saw an endpoint's first bridge-channel message be
// ForwardedSources, not ServerHello: another endpoint's join woke its sender goroutine between
// the channel counting as open and the greeting. ServerHello must leave while nothing else can
// be sent on the channel yet.
func TestServerHelloLeavesBeforeTheChannelCountsAsOpen(t *testing.T) {
	tb, _, a, _, _ := threeParty(t)
	tr := tb.transport("a")
	var openAtHello []bool
	tr.mu.Lock()
	tr.onSend = func(msg []byte) {
		if string(msg) == `{"colibriClass":"ServerHello"}` {
			openAtHello = append(openAtHello, a.ep.chanOpen.Load())
		}
	}
	tr.mu.Unlock()
	endpointHandler{a.ep}.HandleDataChannelOpen()
	if len(openAtHello) != 1 {
		t.Fatalf("%d ServerHellos sent, want 1", len(openAtHello))
	}
	if openAtHello[0] {
		t.Error("the channel counted as open (other senders allowed) before ServerHello was sent")
	}
	if !a.ep.chanOpen.Load() {
		t.Error("the channel is not open after HandleDataChannelOpen")
	}
	if m := tr.take(); len(m) == 0 || string(m[0]) != `{"colibriClass":"ServerHello"}` {
		t.Fatalf("first message %q, want ServerHello", m)
	}
	if st := a.ep.Stats(); st.DataChannelMessagesSent == 0 {
		t.Error("ServerHello not counted as sent")
	}
}
