package bwe

import (
	"testing"
	"time"
)

// allocSwing is a browser-like simulcast encoding: 30 frames a second whose size follows a
// rate that alternates between hi and lo every period (starting at phase), with a keyframe
// of four frames' size every 3 s, the way Chromium's layers swing under a steady link.
type allocSwing struct {
	lo, hi uint64 // bps
	period time.Duration
	phase  time.Duration
}

// frame is the size in bytes of the frame sent at t.
func (s allocSwing) frame(t time.Duration) int {
	rate := s.hi
	if ((t+s.phase)/s.period)%2 == 1 {
		rate = s.lo
	}
	size := int(rate / 8 / 30)
	if t%(3*time.Second) < time.Second/30 {
		size *= 4
	}
	return size
}

// allocSwingTrace feeds three swinging encodings (180p, 360p, 720p, with the rates Chromium's
// layers showed behind a 500 kbit/s cap) into RateMeters, runs the allocator every 100 ms for
// d with the layers' bitrates read by read at a fixed estimate, and returns every target the
// source had after the first 2 s.
func allocSwingTrace(t *testing.T, bwe uint64, d time.Duration, read func(*RateMeter, int64) uint64) []int {
	t.Helper()
	encs := []allocSwing{
		{lo: 120_000, hi: 160_000, period: 1500 * time.Millisecond},
		{lo: 200_000, hi: 385_000, period: 2 * time.Second, phase: 700 * time.Millisecond},
		{lo: 410_000, hi: 780_000, period: 2500 * time.Millisecond, phase: 1300 * time.Millisecond},
	}
	meters := make([]*RateMeter, len(encs))
	for i := range meters {
		meters[i] = NewRateMeter(DefaultRateWindow, DefaultRateBucket)
	}
	a := NewAllocator(DefaultAllocatorConfig())
	s := allocSettings(Update{Default: &Constraints{MaxHeight: 720, MaxFrameRate: -1}})
	var targets []int
	frame := time.Second / 30
	for now := time.Duration(0); now < d; now += frame {
		for i, e := range encs {
			m := meters[i]
			// A frame goes out as packets of at most 1200 bytes over a few milliseconds.
			for size, off := e.frame(now), time.Duration(0); size > 0; size, off = size-1200, off+time.Millisecond {
				m.Add(int64(now+off), min(size, 1200))
			}
		}
		if now%(100*time.Millisecond) >= frame {
			continue
		}
		ls := LayeredSource{Source: Source{Name: "a-v0", Owner: "a", Type: VideoCamera}}
		for i, h := range []int{180, 360, 720} {
			ls.Layers = append(ls.Layers, Layer{Encoding: i, Temporal: -1, Spatial: -1, Height: h,
				FrameRate: 30, Bitrate: read(meters[i], int64(now))})
		}
		la := a.Allocate(int64(now), bwe, []string{"a"}, []LayeredSource{ls}, s)
		if now >= 2*time.Second {
			targets = append(targets, la.Sources[0].Target)
		}
	}
	return targets
}

// A layer chosen at a low moment of its swing overflows the link at its next high one: with
// the 1 s rate (JVB's), a 520 kbit/s estimate takes the 720p encoding (410 to 780 kbit/s)
// whenever it dips; with Peak it never does and keeps the 360p one (200 to 385 kbit/s).
func TestAllocatorSwingingLayersUsePeakRate(t *testing.T) {
	const bwe = 520_000
	rate := func(m *RateMeter, now int64) uint64 { return m.Rate(now) }
	peak := func(m *RateMeter, now int64) uint64 { return m.Peak(now) }
	top := 0
	for _, tg := range allocSwingTrace(t, bwe, 30*time.Second, rate) {
		top = max(top, tg)
	}
	if top != 2 {
		t.Fatalf("with the 1 s rate the trace never chose 720p (top target %d): it does not exercise the swing", top)
	}
	targets := allocSwingTrace(t, bwe, 30*time.Second, peak)
	at360 := 0
	for i, tg := range targets {
		if tg == 2 {
			t.Fatalf("with Peak the 720p encoding was chosen at %v under a %d bps estimate", 2*time.Second+time.Duration(i)*100*time.Millisecond, bwe)
		}
		if tg == 1 {
			at360++
		}
	}
	if at360 < len(targets)*9/10 {
		t.Errorf("with Peak 360p (fits at its peak) for %d of %d ticks, want at least 90 %%", at360, len(targets))
	}
}

// Peak holds the highest window rate of the last few windows, is at least Rate, follows a
// layer down after PeakWindows windows, and is 0 for an inactive layer.
func TestRateMeterPeak(t *testing.T) {
	m := NewRateMeter(DefaultRateWindow, DefaultRateBucket)
	ms := int64(time.Millisecond)
	var now int64
	// 1 Mbps for 2 s, then 250 kbps.
	for ; now < 2000*ms; now += 10 * ms {
		m.Add(now, 1250)
	}
	for ; now < 4000*ms; now += 10 * ms {
		m.Add(now, 312)
	}
	if r, p := m.Rate(now), m.Peak(now); r > 260_000 || p < 970_000 {
		t.Errorf("2 s after dropping to 250 kbps: rate %d, peak %d; want ~250k and ~1M", r, p)
	}
	for ; now < int64(PeakWindows+3)*1000*ms; now += 10 * ms {
		m.Add(now, 312)
	}
	if p := m.Peak(now); p < 240_000 || p > 260_000 {
		t.Errorf("peak %d after %d windows at 250 kbps, want ~250k", p, PeakWindows+1)
	}
	if p := m.Peak(now + 1100*ms); p != 0 {
		t.Errorf("peak %d after 1.1 s of silence, want 0 (inactive)", p)
	}
	// A first keyframe is divided by the short time since it while the first window fills (a
	// spike of megabits): that is not remembered as a peak, only its real 1 s rate is.
	m.Reset()
	m.Add(0, 30_000)
	for now = 20 * ms; now < 3000*ms; now += 33 * ms {
		m.Add(now, 600)
		if now == 119*ms {
			if p := m.Peak(now); p < 1_500_000 {
				t.Fatalf("peak %d 120 ms after a 30 KB keyframe, want the spike (Rate) while the first window fills", p)
			}
		}
	}
	if p := m.Peak(now); p > 400_000 {
		t.Errorf("peak %d 3 s after a first keyframe, want at most its 1 s rate (~380 kbps)", p)
	}
}

func TestLiftLayerRates(t *testing.T) {
	layers := []Layer{
		{Encoding: 0, Temporal: 0, Spatial: -1, Bitrate: 100},
		{Encoding: 0, Temporal: 1, Spatial: -1, Bitrate: 150},
		{Encoding: 1, Temporal: 0, Spatial: -1, Bitrate: 120},
		{Encoding: 1, Temporal: 1, Spatial: -1, Bitrate: 65}, // a dip: below 180p's 150
		{Encoding: 2, Temporal: 0, Spatial: -1, Bitrate: 0},  // inactive
		{Encoding: 2, Temporal: 1, Spatial: -1, Bitrate: 400},
	}
	LiftLayerRates(layers)
	want := []uint64{100, 150, 120, 150, 0, 400}
	for i, l := range layers {
		if l.Bitrate != want[i] {
			t.Errorf("layer %d (E%dT%d): %d, want %d", i, l.Encoding, l.Temporal, l.Bitrate, want[i])
		}
	}
}
