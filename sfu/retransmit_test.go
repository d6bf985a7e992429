package sfu

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"
)

// sentVideo returns a packet as a receiver's projection would leave it: seq and SSRC in place.
func sentVideo(seq uint16) (*packet, []byte) {
	p := getPacket()
	p.meta.PayloadOffset = 12
	out := make([]byte, 100)
	out[0] = 0x80
	binary.BigEndian.PutUint16(out[2:4], seq)
	binary.BigEndian.PutUint32(out[8:12], 1234)
	return p, out
}

// The history keeps a packet for historyKeep after it was sent, then lets go of it (and of its
// reference to the shared packet), whether more video comes or only the tick runs.
func TestHistoryForgetsPacketsOlderThanItsAge(t *testing.T) {
	var h history
	keep := historyKeep(0)
	ms := int64(time.Millisecond)
	var pkts []*packet
	for i := range 10 {
		p, out := sentVideo(uint16(i))
		h.remember(p, out, int64(i)*10*ms, keep)
		pkts = append(pkts, p)
	}
	if h.len() != 10 || h.find(1234, 0) == nil || h.find(1234, 9) == nil {
		t.Fatalf("history holds %d packets, want the 10 sent", h.len())
	}
	// 5 ms after the first packet's age ran out, more video: only the first has gone.
	p, out := sentVideo(10)
	h.remember(p, out, keep+5*ms, keep)
	pkts = append(pkts, p)
	if h.find(1234, 0) != nil || h.find(1234, 1) == nil || h.len() != 10 {
		t.Errorf("after %v: seq 0 found %v, seq 1 found %v, %d kept; want only seq 0 gone",
			time.Duration(keep+5*ms), h.find(1234, 0) != nil, h.find(1234, 1) != nil, h.len())
	}
	if r := pkts[0].refs.Load(); r != 1 {
		t.Errorf("expired packet has %d references, want only the test's", r)
	}
	// The tick expires the rest without new video.
	h.expire(keep + 100*ms + 1)
	if h.len() != 0 || h.find(1234, 10) != nil {
		t.Errorf("%d packets kept after every age ran out", h.len())
	}
	for i, p := range pkts {
		if r := p.refs.Load(); r != 1 {
			t.Errorf("packet %d has %d references after expiry, want 1", i, r)
		}
		p.release()
	}
}

// A round trip lengthens the age by two RTTs, up to historyMaxAge.
func TestHistoryKeepFollowsRTT(t *testing.T) {
	for _, tc := range []struct{ rtt, want time.Duration }{
		{0, historyAge},
		{100 * time.Millisecond, historyAge + 200*time.Millisecond},
		{2 * time.Second, historyMaxAge},
	} {
		if got := time.Duration(historyKeep(tc.rtt)); got != tc.want {
			t.Errorf("rtt %v: keep %v, want %v", tc.rtt, got, tc.want)
		}
	}
}

// Within its age the history grows, in order, up to historyMax packets; beyond that the oldest
// go first. A receiver that got no video holds no ring at all.
func TestHistoryGrowsToMaxThenDropsOldest(t *testing.T) {
	var h history
	if h.ring != nil || h.find(1234, 0) != nil {
		t.Fatal("an empty history holds a ring")
	}
	const n = historyMax + 88
	var pkts []*packet
	var sizes []int
	for i := range n {
		p, out := sentVideo(uint16(i))
		h.remember(p, out, int64(i), int64(time.Second))
		pkts = append(pkts, p)
		if len(sizes) == 0 || sizes[len(sizes)-1] != len(h.ring) {
			sizes = append(sizes, len(h.ring))
		}
	}
	// Doubling up to 256, then by half: a receiver needing 400 gets 384+128, not 2×256.
	if want := []int{64, 128, 256, 384, 512}; !slices.Equal(sizes, want) {
		t.Errorf("ring sizes %v, want %v", sizes, want)
	}
	if h.len() != historyMax || len(h.ring) != historyMax {
		t.Fatalf("history holds %d packets in a ring of %d, want %d", h.len(), len(h.ring), historyMax)
	}
	for i := range n {
		sp := h.find(1234, uint16(i))
		if kept := i >= n-historyMax; kept != (sp != nil) || sp != nil && (sp.p != pkts[i] || sp.sentAt != int64(i)) {
			t.Fatalf("seq %d: found %v (want %v), or another packet", i, sp != nil, kept)
		}
	}
	h.release()
	for i, p := range pkts {
		if r := p.refs.Load(); r != 1 {
			t.Fatalf("packet %d has %d references after release, want 1", i, r)
		}
		p.release()
	}
}

// A ring that has wrapped many times (packets expiring as new ones come) and then grows keeps
// every packet findable, in order.
func TestHistoryWrapsAndGrowsInOrder(t *testing.T) {
	var h history
	ms := int64(time.Millisecond)
	keep := 50 * ms
	var pkts []*packet
	at := int64(0)
	for i := range 1000 { // 1 packet per ms for 50 ms of age: about 50 kept in a ring of 64
		p, out := sentVideo(uint16(i))
		h.remember(p, out, at, keep)
		pkts = append(pkts, p)
		at += ms
	}
	if len(h.ring) != historyInitial {
		t.Fatalf("ring of %d with ~50 packets kept, want %d", len(h.ring), historyInitial)
	}
	for i := 1000; i < 1300; i++ { // 10 packets per ms: grows past 64 while wrapped
		p, out := sentVideo(uint16(i))
		h.remember(p, out, at, keep)
		pkts = append(pkts, p)
		if i%10 == 9 {
			at += ms
		}
	}
	for i := 1000; i < 1300; i++ {
		if sp := h.find(1234, uint16(i)); sp == nil || sp.p != pkts[i] {
			t.Fatalf("seq %d lost after the ring wrapped and grew to %d", i, len(h.ring))
		}
	}
	for k := 1; k < h.len(); k++ {
		if a, b := h.at(k-1), h.at(k); a.sentAt > b.sentAt {
			t.Fatalf("packets %d and %d out of order after growing", k-1, k)
		}
	}
	h.release()
	for _, p := range pkts {
		p.release()
	}
}
