package bwe

import "time"

// Defaults of RateMeter, GoogleCc2's (jmt.bwe.estimator.GoogleCc2.default-window-size and
// default-bucket-size), which is how JVB measures layer bitrates.
const (
	DefaultRateWindow = time.Second
	DefaultRateBucket = 20 * time.Millisecond
)

// allocMaxRateBuckets bounds a RateMeter's memory whatever window and bucket it is given.
const allocMaxRateBuckets = 1000

// RateMeter measures a bitrate over a sliding window kept as a ring of fixed-width buckets:
// Add counts bytes into the bucket of now, Rate sums the window. Pure logic: times are unix
// nanoseconds passed in, time going backwards counts into the newest bucket, and Add does not
// allocate. Until a whole window has passed since the first Add the sum is divided by the time
// since then (at least one bucket), so a new layer's rate is neither zero nor a wild spike for
// its first second. Not safe for concurrent use.
type RateMeter struct {
	buckets []uint64 // bytes per bucket, a ring
	width   int64    // bucket width in ns
	head    int64    // bucket number (time / width) of the newest bucket
	first   int64    // bucket number of the first Add
	started bool
}

// NewRateMeter is a meter over window in buckets of bucket (DefaultRateWindow and
// DefaultRateBucket when not positive; the bucket is widened when the window would need more
// than 1000).
func NewRateMeter(window, bucket time.Duration) *RateMeter {
	if bucket <= 0 {
		bucket = DefaultRateBucket
	}
	if window <= 0 {
		window = DefaultRateWindow
	}
	if window < bucket {
		window = bucket
	}
	if window/bucket > allocMaxRateBuckets {
		bucket = (window + allocMaxRateBuckets - 1) / allocMaxRateBuckets
	}
	n := int((window + bucket - 1) / bucket)
	return &RateMeter{buckets: make([]uint64, n), width: int64(bucket)}
}

// advance moves the ring to the bucket of now, clearing the buckets it passes, and returns the
// index of now's bucket.
func (m *RateMeter) advance(now int64) int {
	b := now / m.width
	n := int64(len(m.buckets))
	if !m.started {
		m.started, m.head, m.first = true, b, b
		return int(allocMod(b, n))
	}
	if b <= m.head {
		return int(allocMod(m.head, n))
	}
	if b-m.head >= n {
		clear(m.buckets)
	} else {
		for i := m.head + 1; i <= b; i++ {
			m.buckets[allocMod(i, n)] = 0
		}
	}
	m.head = b
	return int(allocMod(b, n))
}

// Add counts size bytes received at now.
func (m *RateMeter) Add(now int64, size int) {
	if size <= 0 {
		return
	}
	i := m.advance(now)
	m.buckets[i] += uint64(size)
}

// Rate is the bitrate in bits per second over the window ending at now; 0 before any Add and
// once a whole window has passed without one.
func (m *RateMeter) Rate(now int64) uint64 {
	if !m.started {
		return 0
	}
	m.advance(now)
	var sum uint64
	for _, v := range m.buckets {
		sum += v
	}
	spanBuckets := min(m.head-m.first+1, int64(len(m.buckets)))
	span := spanBuckets * m.width
	return uint64(float64(sum) * 8 * float64(time.Second) / float64(span))
}

// Reset forgets everything, as if the meter were new.
func (m *RateMeter) Reset() {
	clear(m.buckets)
	m.started, m.head, m.first = false, 0, 0
}

// allocMod is the non-negative remainder (times before 1970 still map into the ring).
func allocMod(a, n int64) int64 {
	r := a % n
	if r < 0 {
		r += n
	}
	return r
}
