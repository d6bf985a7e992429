package bwe

import (
	"testing"
	"time"
)

// A keyframe of 30 packets handed to a pacer at once goes out over about its size at 2.5 × the
// estimate, never more than the bucket ahead of that rate.
func TestPacerSpreadsABurst(t *testing.T) {
	p := NewPacer(PacerConfig{})
	now := int64(1_700_000_000) * int64(time.Second)
	p.SetEstimate(1_000_000, now)
	const packets, size = 30, 1200
	sent, start := 0, now
	for sent < packets {
		if !p.Allow(now) {
			d := p.Delay(now)
			if d <= 0 {
				t.Fatalf("held back with no delay at %d bytes", sent*size)
			}
			now += int64(d)
			continue
		}
		p.Sent(size, now)
		sent++
		// never ahead of the pacing rate by more than the bucket and one packet
		ahead := float64(sent*size) - 2.5e6/8*float64(now-start)/1e9
		if ahead > float64(2400+size) {
			t.Fatalf("%d bytes ahead of the pacing rate after %d packets", int(ahead), sent)
		}
	}
	took := time.Duration(now - start)
	want := time.Duration(float64((packets*size-2400)*8) / 2.5e6 * 1e9)
	t.Logf("%d bytes paced in %v (2.5 Mbit/s: %v after the bucket)", packets*size, took, want)
	if took < want-2*time.Millisecond || took > want+5*time.Millisecond {
		t.Fatalf("took %v, want about %v", took, want)
	}
}

func TestPacerWithoutEstimateHoldsNothing(t *testing.T) {
	p := NewPacer(PacerConfig{})
	for i := range 1000 {
		if !p.Allow(int64(i)) || p.Delay(int64(i)) != 0 {
			t.Fatalf("held back packet %d without an estimate", i)
		}
		p.Sent(1200, int64(i))
	}
	p.SetEstimate(500_000, 1000)
	p.SetEstimate(0, 2000)
	if !p.Allow(2000) || p.Pacing() {
		t.Fatalf("still pacing after the estimate went away")
	}
}

func BenchmarkPacer(b *testing.B) {
	p := NewPacer(PacerConfig{})
	now := int64(0)
	p.SetEstimate(2_000_000, now)
	b.ReportAllocs()
	for range b.N {
		now += 100_000
		if p.Allow(now) {
			p.Sent(1200, now)
		} else {
			_ = p.Delay(now)
		}
	}
}
