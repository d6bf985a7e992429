package sfu

import (
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gojvb/sfu/transport"
)

// stallingWriter blocks Flush while stall holds a channel, like a send that never returns.
type stallingWriter struct {
	captureWriter
	stall   atomic.Pointer[chan struct{}]
	stalled chan struct{}
}

func (w *stallingWriter) Flush() error {
	if ch := w.stall.Load(); ch != nil {
		w.stalled <- struct{}{}
		<-*ch
	}
	return nil
}

func TestAliveFailsWhileASenderGoroutineIsStuck(t *testing.T) {
	writers := map[string]*stallingWriter{}
	br := newBridge(slog.New(slog.NewTextHandler(io.Discard, nil)), func(_ transport.Options, h transport.Handler) (endpointTransport, datagramWriter, error) {
		w := &stallingWriter{stalled: make(chan struct{}, 1)}
		writers[h.(endpointHandler).e.id] = w
		return &fakeTransport{}, w, nil
	})
	c, err := br.CreateConference("live", "")
	if err != nil {
		t.Fatal(err)
	}
	a := joinSecure(t, c, "a", gcm)
	joinSecure(t, c, "b", gcm)
	if err := a.ep.SetSources([]MediaSource{videoSource("a-v0", 1)}); err != nil {
		t.Fatal(err)
	}
	if err := br.Alive(); err != nil {
		t.Fatalf("idle bridge: %v", err)
	}

	release := make(chan struct{})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
		_ = br.Close()
	}()
	writers["b"].stall.Store(&release)
	a.ep.receiveOne(a.protect(t, a.rtpPacket(1, 100, 100)), false)
	select {
	case <-writers["b"].stalled:
	case <-time.After(5 * time.Second):
		t.Fatal("b's sender never flushed")
	}
	start := time.Now()
	err = br.Alive()
	if err == nil || !strings.Contains(err.Error(), "endpoint b") {
		t.Fatalf("Alive with b's sender stuck = %v, want an error naming endpoint b", err)
	}
	if waited := time.Since(start); waited > 3*senderReply {
		t.Errorf("Alive took %v, want about %v", waited, senderReply)
	}

	writers["b"].stall.Store(nil)
	close(release)
	if err := br.Alive(); err != nil {
		t.Fatalf("after the sender recovered: %v", err)
	}
}

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
