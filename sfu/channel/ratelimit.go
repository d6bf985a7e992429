package channel

import "time"

// RateLimiter is a token bucket for one endpoint's incoming messages: it holds up to burst
// tokens, refilled at perSecond tokens per second, and each allowed message takes one. Time is
// passed in, so it is deterministic under test. It is not safe for concurrent use: each endpoint
// owns one and calls it from its own message loop.
type RateLimiter struct {
	rate   float64 // tokens per second; <= 0 means no refill
	burst  float64
	tokens float64
	last   time.Time
	primed bool
}

// NewRateLimiter returns a limiter that starts full, allows burst messages at once and perSecond
// messages per second on average. burst < 1 is raised to 1; perSecond <= 0 allows only the
// initial burst, ever.
func NewRateLimiter(perSecond float64, burst int) *RateLimiter {
	b := float64(max(burst, 1))
	return &RateLimiter{rate: perSecond, burst: b, tokens: b}
}

// Allow reports whether a message arriving at now may be handled, and takes a token if so.
// A clock that goes backwards adds no tokens (the bucket keeps the latest time seen).
func (r *RateLimiter) Allow(now time.Time) bool {
	if !r.primed {
		r.primed, r.last = true, now
	} else if elapsed := now.Sub(r.last); elapsed > 0 {
		r.last = now
		if r.rate > 0 {
			r.tokens = min(r.burst, r.tokens+elapsed.Seconds()*r.rate)
		}
	}
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
}
