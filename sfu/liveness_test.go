package sfu

import (
	"strings"
	"testing"
	"time"
)

func TestAliveOnAListeningBridge(t *testing.T) {
	b := newLoopbackBridge(t)
	if err := b.Alive(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Alive(); err == nil {
		t.Fatal("closed bridge reported alive")
	}
}

func TestAliveFailsWhileASocketReaderIsStuck(t *testing.T) {
	b := newLoopbackBridge(t)
	b.readerSilence = 1500 * time.Millisecond
	conf, err := b.CreateConference("stuck-reader", "")
	if err != nil {
		t.Fatal(err)
	}
	peers := []*peer{joinPeer(t, conf, 0), joinPeer(t, conf, 1)}
	connectAll(t, peers)
	stop := sendMedia(t, peers)
	defer stop()
	waitFlow(t, peers, peers, 10, nil)
	if err := b.Alive(); err != nil {
		t.Fatalf("forwarding bridge: %v", err)
	}

	// The reader that delivers p0's SRTP blocks on p0's receive lock.
	ep := peers[0].ep
	ep.recvMu.Lock()
	locked := true
	defer func() {
		if locked {
			ep.recvMu.Unlock()
		}
	}()
	deadline := time.Now().Add(b.readerSilence + 5*time.Second)
	for b.Alive() == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if err := b.Alive(); err == nil || !strings.Contains(err.Error(), "silent") {
		t.Fatalf("Alive with a stuck reader = %v, want a silent reader", err)
	}
	ep.recvMu.Unlock()
	locked = false
	deadline = time.Now().Add(5 * time.Second)
	for b.Alive() != nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := b.Alive(); err != nil {
		t.Fatalf("after the reader recovered: %v", err)
	}
}

// A receiver whose sender goroutine leaves packets queued (stands in: a manual bridge nobody
// drains) makes Alive fail once the stall limit has passed, and draining clears it.
func TestStalledSenderMakesAliveFail(t *testing.T) {
	tb, _, a, b, _ := threeParty(t)
	a.ep.receiveOne(a.protect(t, a.rtpPacket(222, 100, 10)), false)
	if err := tb.Alive(); err != nil {
		t.Fatalf("fresh queue: %v", err)
	}
	b.ep.lastDrain.Store(time.Now().Add(-2 * senderStall).UnixNano())
	if err := tb.Alive(); err == nil || !strings.Contains(err.Error(), "endpoint b") {
		t.Fatalf("stalled sender: Alive() = %v", err)
	}
	b.ep.drain()
	if err := tb.Alive(); err != nil {
		t.Fatalf("after drain: %v", err)
	}
}

// The first packet for an endpoint whose sender has been parked for longer than the stall limit
// (a receiver in a quiet room) is fresh work, not a stall: Alive stays green until the sender has
// left that packet queued for the limit.
func TestIdleThenSendKeepsAliveGreen(t *testing.T) {
	tb, _, a, b, _ := threeParty(t)
	// b's sender drained long ago and parked, as sendLoop does after an idle drain.
	b.ep.lastDrain.Store(time.Now().Add(-10 * senderStall).UnixNano())
	b.ep.senderIdle.Store(true)
	if err := tb.Alive(); err != nil {
		t.Fatalf("idle sender, nothing queued: %v", err)
	}
	a.ep.receiveOne(a.protect(t, a.rtpPacket(222, 100, 10)), false)
	if !b.ep.queue.pending() {
		t.Fatal("the packet was not queued for b")
	}
	if err := tb.Alive(); err != nil {
		t.Fatalf("first packet after an idle period: %v", err)
	}
	// The sender woke (it is no longer idle) but leaves the packet queued past the limit.
	b.ep.lastDrain.Store(time.Now().Add(-2 * senderStall).UnixNano())
	if err := tb.Alive(); err == nil || !strings.Contains(err.Error(), "endpoint b") {
		t.Fatalf("packet queued past the stall limit: Alive() = %v", err)
	}
	b.ep.drain()
	if err := tb.Alive(); err != nil {
		t.Fatalf("after drain: %v", err)
	}
}
