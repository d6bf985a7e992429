package channel

import (
	"testing"
	"time"
)

func TestRateLimiterAllowsBurstThenRefills(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := NewRateLimiter(10, 3) // one token per 100 ms
	steps := []struct {
		at   time.Duration
		want bool
	}{
		{0, true}, {0, true}, {0, true}, // the burst
		{0, false},                      // empty
		{50 * time.Millisecond, false},  // half a token
		{100 * time.Millisecond, true},  // one token
		{100 * time.Millisecond, false}, // spent
		{10 * time.Second, true},        // long idle refills to burst, not beyond
		{10 * time.Second, true},
		{10 * time.Second, true},
		{10 * time.Second, false},
	}
	for i, s := range steps {
		if got := r.Allow(t0.Add(s.at)); got != s.want {
			t.Fatalf("step %d (t+%v): Allow = %v, want %v", i, s.at, got, s.want)
		}
	}
}

func TestRateLimiterSustainedRate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := NewRateLimiter(50, 10)
	allowed := 0
	// A flood of 1000 messages per second for 10 s gets the burst plus 50/s.
	for i := range 10000 {
		if r.Allow(t0.Add(time.Duration(i) * time.Millisecond)) {
			allowed++
		}
	}
	if allowed < 500 || allowed > 511 {
		t.Fatalf("allowed %d of 10000 over 10 s, want 10 + ~500", allowed)
	}
}

func TestRateLimiterClockGoingBackwardsAddsNothing(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := NewRateLimiter(1, 1)
	if !r.Allow(t0) {
		t.Fatal("first message refused")
	}
	if r.Allow(t0.Add(-time.Hour)) {
		t.Fatal("going back in time refilled the bucket")
	}
	if r.Allow(t0.Add(500 * time.Millisecond)) {
		t.Fatal("refilled from the earlier time instead of the latest")
	}
	if !r.Allow(t0.Add(time.Second)) {
		t.Fatal("one second later should allow one")
	}
}

func TestRateLimiterDegenerateSettings(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := NewRateLimiter(0, 0) // burst raised to 1, never refilled
	if !r.Allow(t0) || r.Allow(t0.Add(time.Hour)) {
		t.Fatal("rate 0 burst 0 should allow exactly one message ever")
	}
	z := NewRateLimiter(5, 2)
	if !z.Allow(time.Time{}) || !z.Allow(time.Time{}) || z.Allow(time.Time{}) {
		t.Fatal("zero time should behave like any other start time")
	}
}
