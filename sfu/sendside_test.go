package sfu

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"
)

// Two readers deliver two senders' packets at the same time, each ending every batch by waking
// the shared receiver's sender goroutine: every packet reaches it exactly once and each sender's
// in order.
func TestConcurrentBatchesSendEveryPacketOnceInOrder(t *testing.T) {
	tb := newTestBridge(t, false, false)
	c, err := tb.CreateConference("concurrent", "")
	if err != nil {
		t.Fatal(err)
	}
	senders := []*client{joinSecure(t, c, "a", gcm), joinSecure(t, c, "b", gcm)}
	r := joinSecure(t, c, "r", gcm)
	for i, s := range senders {
		if err := s.ep.SetSources([]MediaSource{videoSource(s.ep.ID()+"-v0", uint32(10+i))}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range senders {
		waitWanted(t, r.ep, uint32(10+i))
	}
	const each = queueSize/2 - 10 // both senders together stay below the queue size: no queue-full drops even if r drains late
	pkts := make([][][]byte, len(senders))
	for i, s := range senders {
		for range each {
			pkts[i] = append(pkts[i], s.protect(t, s.rtpPacket(uint32(10+i), 100, 100)))
		}
	}
	var wg sync.WaitGroup
	for i, s := range senders {
		wg.Go(func() {
			for _, p := range pkts[i] {
				s.ep.receiveOne(p, false)
			}
		})
	}
	wg.Wait()

	var got [][]byte
	for deadline := time.Now().Add(5 * time.Second); len(got) < len(senders)*each && time.Now().Before(deadline); {
		got = append(got, tb.writer("r").take()...)
		time.Sleep(time.Millisecond)
	}
	if len(got) != len(senders)*each {
		t.Fatalf("receiver got %d datagrams, want %d", len(got), len(senders)*each)
	}
	last := map[uint32]uint16{}
	for _, d := range got {
		plain := r.unprotect(t, d)
		ssrc, seq := binary.BigEndian.Uint32(plain[8:12]), binary.BigEndian.Uint16(plain[2:4])
		if seq != last[ssrc]+1 {
			t.Fatalf("SSRC %d: seq %d after %d", ssrc, seq, last[ssrc])
		}
		last[ssrc] = seq
	}
	if s := r.ep.Stats(); s.PacketsSent != uint64(len(got)) || s.DroppedQueueFull != 0 {
		t.Errorf("receiver stats %+v", s)
	}
}
