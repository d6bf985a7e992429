package sfu

import (
	"fmt"
	"testing"
	"time"

	"gojvb/sfu/transport"
)

// inlineParty returns a conference of a (sending video 222) and receivers b and c with sender
// goroutines running, once both chose to receive a's video and got its first packet (which
// makes them re-run their choice, on their goroutines).
func inlineParty(t *testing.T) (*testBridge, *client, *client, *client) {
	t.Helper()
	tb := newTestBridge(t, false, false)
	conf, err := tb.CreateConference("m1", "room@conference")
	if err != nil {
		t.Fatal(err)
	}
	a := joinSecure(t, conf, "a", gcm)
	b := joinSecure(t, conf, "b", gcm)
	c := joinSecure(t, conf, "c", gcm)
	if err := a.ep.SetSources([]MediaSource{videoSource("a-v0", 222)}); err != nil {
		t.Fatal(err)
	}
	waitWanted(t, b.ep, 222)
	waitWanted(t, c.ep, 222)
	a.ep.receiveOne(a.protect(t, a.rtpPacket(222, 100, 1000)), false)
	for _, r := range []*client{b, c} {
		awaitDatagrams(t, tb.writer(r.ep.id), 1)
		waitFor(t, r.ep.id+"'s re-selection after the first packet", func() bool { return !r.ep.ctlDirty.Load() })
	}
	return tb, a, b, c
}

// awaitDatagrams waits until w holds n datagrams.
func awaitDatagrams(t *testing.T, w *captureWriter, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d datagrams", n), func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.datagrams) >= n
	})
}

// The reader that received a packet sends it to the receivers itself before it goes back to
// its socket: the datagrams are written when its batch ends, without a sender goroutine.
func TestReaderSendsInlineAtTheEndOfItsBatch(t *testing.T) {
	tb, a, b, c := inlineParty(t)
	for _, r := range []*client{b, c} {
		tb.writer(r.ep.id).take()
	}
	a.ep.receiveOne(a.protect(t, a.rtpPacket(222, 110, 1000)), false)
	for _, r := range []*client{b, c} {
		if got := tb.writer(r.ep.id).take(); len(got) != 1 {
			t.Errorf("%s: %d datagrams when the batch ended, want 1 sent by the reader", r.ep.id, len(got))
		}
	}
}

// A reader never waits for a receiver whose send side is taken (its goroutine is busy), and
// past the batch's budget it hands receivers to their goroutines: the packets still arrive.
func TestReaderHandsOffWhenTheSendSideIsBusyOrTheBudgetIsSpent(t *testing.T) {
	tb, a, b, _ := inlineParty(t)
	tb.writer("b").take()
	tb.writer("c").take()

	b.ep.sendMu.Lock() // as if b's goroutine were in the middle of a drain
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.ep.receiveOne(a.protect(t, a.rtpPacket(222, 101, 1000)), false)
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("the reader waited for a receiver whose send side was taken")
	}
	if got := len(tb.writer("c").take()); got != 1 {
		t.Errorf("c: %d datagrams, want 1 sent inline", got)
	}
	b.ep.sendMu.Unlock()
	awaitDatagrams(t, tb.writer("b"), 1) // b's goroutine sends it

	tb.writer("b").take()
	var batch transport.Batch
	batch.Start(time.Now().UnixNano())
	batch.Spend(inlineSendBudget)
	a.ep.handleSRTP(&batch, a.protect(t, a.rtpPacket(222, 102, 1000)), false)
	batch.Finish()
	awaitDatagrams(t, tb.writer("b"), 1)
	awaitDatagrams(t, tb.writer("c"), 1)
}

// batchEndFunc runs as a batch's EndBatch handler.
type batchEndFunc func(*transport.Batch)

func (f batchEndFunc) EndBatch(b *transport.Batch) { f(b) }

// A reader that sent to a receiver inline keeps the receiver's send side until the batch's
// gathered datagrams are out: the receiver's goroutine cannot send it newer packets first.
func TestReaderKeepsTheSendSideUntilItsBatchIsSent(t *testing.T) {
	tb, a, b, _ := inlineParty(t)
	tb.writer("b").take()
	var batch transport.Batch
	batch.Start(time.Now().UnixNano())
	a.ep.handleSRTP(&batch, a.protect(t, a.rtpPacket(222, 103, 1000)), false)
	heldAfterInlineSend := false
	batch.AtEnd(batchEndFunc(func(*transport.Batch) { // runs after b's inline send
		if b.ep.sendMu.TryLock() {
			b.ep.sendMu.Unlock()
			return
		}
		heldAfterInlineSend = true
	}))
	batch.Finish()
	if got := len(tb.writer("b").take()); got != 1 {
		t.Fatalf("b: %d datagrams when the batch ended, want 1 sent inline", got)
	}
	if !heldAfterInlineSend {
		t.Error("the reader gave b's send side back before its batch was sent")
	}
	waitFor(t, "b's send side free after the batch", func() bool {
		if b.ep.sendMu.TryLock() {
			b.ep.sendMu.Unlock()
			return true
		}
		return false
	})
}
