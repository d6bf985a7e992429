package bwe

import (
	"testing"
	"time"
)

// TestEstimatorTailDropLayers is the capped-link integration test in simulation: a sender
// limited to three simulcast layers (as the allocator picks them under the target) behind a
// kernel-tbf-like bottleneck (a 4 KB token bucket and 50 ms of queue, so the delay detector sees
// little and loss does the telling) of 500 kbit/s, then 3 Mbit/s, then 500 kbit/s again. In each
// phase the layer must settle on the one that fits within 8 s, then hold it with under 2 % of
// the media lost.
func TestEstimatorTailDropLayers(t *testing.T) {
	s := newGCCSim(500e3, 65000)
	s.frames = true
	s.layers = []float64{150e3, 515e3, 1550e3}
	s.link.tbf(500e3, 4000, 50*time.Millisecond)
	for _, ph := range []struct {
		capacity float64
		want     int
	}{{500e3, 0}, {3e6, 2}, {500e3, 0}} {
		s.link.capacity = ph.capacity
		from := len(s.chosen)
		s.run(t, 15*time.Second)
		// the sample from which the layer stays at want to the end of the phase
		conv := len(s.chosen)
		for i := len(s.chosen) - 1; i >= from && s.chosen[i] == ph.want; i-- {
			conv = i
		}
		settle := time.Duration(conv-from) * 100 * time.Millisecond
		sent0, lost0 := s.sent, s.lost
		var changes int
		for i := from + 1; i < len(s.chosen); i++ {
			if s.chosen[i] != s.chosen[i-1] {
				changes++
			}
		}
		t.Logf("%.0f kbit/s: layer %d for good after %v (%d layer changes in the phase), target %d kbit/s",
			ph.capacity/1e3, ph.want, settle, changes, s.est.Target()/1000)
		if settle > 8*time.Second {
			t.Fatalf("%.0f kbit/s: layer %d only after %v (layers %v)", ph.capacity/1e3, ph.want, settle, s.chosen[from:])
		}
		// loss once settled: run on and count
		s.run(t, 10*time.Second)
		for _, l := range s.chosen[len(s.chosen)-100:] {
			if l != ph.want {
				t.Fatalf("%.0f kbit/s: left layer %d after settling: %v", ph.capacity/1e3, ph.want, s.chosen[len(s.chosen)-100:])
			}
		}
		loss := float64(s.lost-lost0) / float64(max(s.sent-sent0, 1))
		t.Logf("%.0f kbit/s: %.2f %% of the media lost in the next 10 s", ph.capacity/1e3, 100*loss)
		if loss >= 0.02 {
			t.Fatalf("%.0f kbit/s: %.1f %% of the media lost once settled", ph.capacity/1e3, 100*loss)
		}
	}
}
