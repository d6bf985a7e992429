package bwe

import (
	"testing"
	"time"
)

func TestRateMeterSteadyStream(t *testing.T) {
	m := NewRateMeter(DefaultRateWindow, DefaultRateBucket)
	ms := int64(time.Millisecond)
	// 1250 bytes every 10 ms = 1 Mbps.
	var now int64
	for now = 0; now < int64(3*time.Second); now += 10 * ms {
		m.Add(now, 1250)
		if now == 100*ms {
			// Before a full window: divided by the time since the first packet, not by 1 s.
			if r := m.Rate(now); r < 900_000 || r > 1_200_000 {
				t.Errorf("rate after 100 ms %d, want about 1 Mbps", r)
			}
		}
	}
	if r := m.Rate(now); r < 970_000 || r > 1_030_000 {
		t.Errorf("steady rate %d, want 1 Mbps ± 3 %%", r)
	}
	// Half the rate for a second: the window forgets the old rate.
	end := now + int64(time.Second)
	for ; now < end; now += 20 * ms {
		m.Add(now, 1250)
	}
	if r := m.Rate(now); r < 480_000 || r > 520_000 {
		t.Errorf("rate after halving %d, want 500 kbps ± 4 %%", r)
	}
	if r := m.Rate(now + int64(1100*time.Millisecond)); r != 0 {
		t.Errorf("rate after 1.1 s of silence %d, want 0", r)
	}
	m.Add(now+int64(5*time.Second), 1000)
	m.Add(now, 1000) // time going backwards counts into the newest bucket; the window is full since long ago
	if r := m.Rate(now + int64(5*time.Second)); r != 16000 {
		t.Errorf("rate of two packets in one bucket after a gap %d", r)
	}
	m.Reset()
	if r := m.Rate(now); r != 0 {
		t.Errorf("rate after Reset %d", r)
	}
}

func TestRateMeterHostileSettings(t *testing.T) {
	for _, tc := range []struct{ window, bucket time.Duration }{
		{0, 0}, {-time.Second, -1}, {time.Millisecond, time.Second}, {time.Hour, time.Nanosecond},
	} {
		m := NewRateMeter(tc.window, tc.bucket)
		if len(m.buckets) == 0 || len(m.buckets) > allocMaxRateBuckets || m.width <= 0 {
			t.Errorf("NewRateMeter(%v, %v): %d buckets of %d ns", tc.window, tc.bucket, len(m.buckets), m.width)
		}
		m.Add(-5, 100)
		m.Add(1<<62, 100)
		m.Add(0, -3)
		_ = m.Rate(1 << 62)
	}
}

func TestRateMeterAddDoesNotAllocate(t *testing.T) {
	m := NewRateMeter(DefaultRateWindow, DefaultRateBucket)
	now := int64(0)
	if n := testing.AllocsPerRun(1000, func() {
		now += int64(time.Millisecond)
		m.Add(now, 1200)
	}); n != 0 {
		t.Errorf("Add allocates %v times", n)
	}
}

func BenchmarkRateMeterAdd(b *testing.B) {
	m := NewRateMeter(DefaultRateWindow, DefaultRateBucket)
	now := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		now += int64(time.Millisecond)
		m.Add(now, 1200)
	}
}
