package simulcast

import (
	"math/rand/v2"
	"testing"
)

// TestSeqMapKeepsOrderAndClosesDroppedGaps feeds random streams (deliberate drops by sequence
// number, loss, reordering, duplicates, wrap-around) through a seqMap and checks that output
// numbers are unique, follow input order, and without loss or reordering run without a gap.
func TestSeqMapKeepsOrderAndClosesDroppedGaps(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		loss, reorder, dup     float64
		dropEvery              int // every n-th packet (by hash) is dropped on purpose
		wantContiguous, wrapOK bool
	}{
		{name: "drops only", dropEvery: 3, wantContiguous: true},
		{name: "no drops", dropEvery: 0, wantContiguous: true},
		{name: "most dropped", dropEvery: 1, wantContiguous: true},
		{name: "loss", loss: 0.05, dropEvery: 2},
		{name: "heavy loss", loss: 0.2, dropEvery: 3},
		{name: "reordering", reorder: 0.2, dropEvery: 3},
		{name: "reordering loss and duplicates", loss: 0.05, reorder: 0.2, dup: 0.05, dropEvery: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			var first uint16 // the first packet to arrive starts the stream: never dropped
			dropped := func(seq uint16) bool {
				if seq == first {
					return false
				}
				switch tc.dropEvery {
				case 0:
					return false
				case 1:
					return seq%5 != 0
				}
				return (uint32(seq)*2654435761)>>16%uint32(tc.dropEvery) == 0
			}
			// Arrival order: 3000 packets from 64000 (wrapping), each late by up to 40.
			const n = 3000
			start := uint16(64000)
			var order []uint16
			for i := range n {
				if rng.Float64() < tc.loss {
					continue
				}
				order = append(order, start+uint16(i))
				if rng.Float64() < tc.dup {
					order = append(order, start+uint16(i))
				}
			}
			for i := range order {
				if rng.Float64() < tc.reorder {
					j := min(len(order)-1, i+1+rng.IntN(40))
					order[i], order[j] = order[j], order[i]
				}
			}
			first = order[0]
			var m seqMap
			out := map[uint16]uint16{}  // input -> output
			used := map[uint16]uint16{} // output -> input
			m.reset(order[0], 100)
			out[order[0]], used[order[0]+100] = order[0]+100, order[0]
			var sentOrder []uint16
			sentOrder = append(sentOrder, order[0]+100)
			for _, s := range order[1:] {
				if dropped(s) {
					m.drop(s)
					continue
				}
				o, ok := m.forward(s)
				if !ok {
					if int16(s-order[0]) > 0 && tc.reorder == 0 {
						t.Fatalf("in-order packet %d dropped", s)
					}
					continue
				}
				if prev, seen := out[s]; seen && prev != o {
					t.Fatalf("packet %d numbered %d, before %d", s, o, prev)
				}
				if in, seen := used[o]; seen && in != s {
					t.Fatalf("output %d given to %d and %d", o, in, s)
				}
				out[s], used[o] = o, s
				sentOrder = append(sentOrder, o)
			}
			// Order: sorted by input, outputs increase.
			var prevIn, prevOut uint16
			firstOut := true
			for i := range n {
				s := start + uint16(i)
				o, ok := out[s]
				if !ok {
					continue
				}
				if !firstOut && int16(o-prevOut) <= 0 {
					t.Fatalf("input %d -> %d after input %d -> %d", s, o, prevIn, prevOut)
				}
				if !firstOut && tc.wantContiguous && o != prevOut+1 {
					t.Fatalf("gap: input %d -> %d after input %d -> %d", s, o, prevIn, prevOut)
				}
				prevIn, prevOut, firstOut = s, o, false
			}
			if len(out) < n/10 {
				t.Fatalf("only %d packets forwarded", len(out))
			}
		})
	}
}

// TestSeqMapForgetsOldRuns checks that a packet older than the oldest remembered run of drops
// is dropped rather than numbered with an offset that is no longer known.
func TestSeqMapForgetsOldRuns(t *testing.T) {
	var m seqMap
	m.reset(1000, 0)
	// Forward odd, drop even: one run per dropped packet; 1001 and 1003 are "lost" for now.
	for s := uint16(1002); s < 1002+2*seqRuns+10; s += 2 {
		m.drop(s)
		if s != 1002 {
			if _, ok := m.forward(s + 1); !ok {
				t.Fatalf("%d not forwarded", s+1)
			}
		}
	}
	if _, ok := m.forward(1003); ok {
		t.Error("packet older than every remembered run forwarded")
	}
	o, ok := m.forward(1002 + 2*seqRuns + 3)
	if !ok {
		t.Fatal("late packet within the remembered runs dropped")
	}
	want := uint16(1002+2*seqRuns+3) - uint16(seqRuns+2)
	if o != want {
		t.Errorf("late packet numbered %d, want %d", o, want)
	}
}
