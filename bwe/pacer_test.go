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

// FuzzPacer drives a pacer with hostile estimates, sizes and clock steps: it never holds a
// packet longer than Delay says, never lets more than the bucket and one packet go ahead of its
// rate, and without an estimate holds nothing.
func FuzzPacer(f *testing.F) {
	f.Add([]byte{10, 200, 3, 0, 255, 7})
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		p := NewPacer(PacerConfig{})
		now := int64(1_000_000_000)
		for i := 0; i+1 < len(ops); i += 2 {
			op, v := ops[i], int64(ops[i+1])
			switch op % 4 {
			case 0:
				p.SetEstimate(uint64(v)*uint64(v)*1000, now) // 0 to 65 Mbps, 0 included
			case 1:
				now += v * v * 1000 // up to 65 ms
			case 2:
				if p.Allow(now) {
					p.Sent(int(v)*8, now)
				} else if !p.Pacing() {
					t.Fatalf("held back without an estimate")
				}
			case 3:
				d := p.Delay(now)
				if d < 0 || (!p.Pacing() && d != 0) {
					t.Fatalf("delay %v (pacing %v)", d, p.Pacing())
				}
				now += int64(d) // the clock only goes forward
				if p.Pacing() && !p.Allow(now) {
					t.Fatalf("still held %v later, as Delay said", d)
				}
				if p.tokens > p.burst+1e-6 {
					t.Fatalf("%.0f tokens over a bucket of %.0f", p.tokens, p.burst)
				}
			}
		}
	})
}
