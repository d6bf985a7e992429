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

// PeakWindows is how many windows back RateMeter.Peak looks: the highest window rate seen in
// the current window and the PeakWindows-1 before it (about 4 to 5 s with 1 s windows).
const PeakWindows = 5

// RateMeter measures a bitrate over a sliding window kept as a ring of fixed-width buckets:
// Add counts bytes into the bucket of now, Rate sums the window. Pure logic: times are unix
// nanoseconds passed in, time going backwards counts into the newest bucket, and Add does not
// allocate. Until a whole window has passed since the first Add the sum is divided by the time
// since then (at least one bucket), so a new layer's rate is neither zero nor a wild spike for
// its first second. Not safe for concurrent use.
//
// Peak is the conservative rate to allocate with: the highest window rate the meter showed over
// the last few windows, so a layer whose encoder swings (a real browser's simulcast layers go
// from 200 to 385 kbit/s and back within seconds, keyframes on top) is not chosen at a low
// moment and then overflows a link at its next high one.
type RateMeter struct {
	buckets []uint64 // bytes per bucket, a ring
	sum     uint64   // bytes in the window (the buckets' sum)
	width   int64    // bucket width in ns
	head    int64    // bucket number (time / width) of the newest bucket
	first   int64    // bucket number of the first Add
	started bool

	// peaks[slot mod PeakWindows] is the highest window rate (bps) measured at a bucket of
	// that slot (slot = bucket number / len(buckets), one window long); peakSlot the newest.
	peaks    [PeakWindows]uint64
	peakSlot int64
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
		m.peakSlot = allocFloorDiv(b, n)
		return int(allocMod(b, n))
	}
	if b <= m.head {
		return int(allocMod(m.head, n))
	}
	// The window ending at the old head is complete: remember its rate before moving on.
	m.foldPeak(m.head, m.windowRate())
	if b-m.head >= n {
		clear(m.buckets)
		m.sum = 0
	} else {
		for i := m.head + 1; i <= b; i++ {
			j := allocMod(i, n)
			m.sum -= m.buckets[j]
			m.buckets[j] = 0
		}
	}
	m.head = b
	m.rollPeaks(allocFloorDiv(b, n))
	return int(allocMod(b, n))
}

// windowRate is the bitrate of the window ending at the head bucket.
func (m *RateMeter) windowRate() uint64 {
	spanBuckets := min(m.head-m.first+1, int64(len(m.buckets)))
	span := spanBuckets * m.width
	return uint64(float64(m.sum) * 8 * float64(time.Second) / float64(span))
}

// foldPeak records rate as measured at bucket b, once the meter has seen a whole window (the
// rates of the first window are divided by a shorter span and spike on a first keyframe).
func (m *RateMeter) foldPeak(b int64, rate uint64) {
	n := int64(len(m.buckets))
	if b-m.first+1 < n {
		return
	}
	s := allocFloorDiv(b, n)
	m.rollPeaks(s)
	if s <= m.peakSlot-PeakWindows {
		return
	}
	i := allocMod(s, PeakWindows)
	m.peaks[i] = max(m.peaks[i], rate)
}

// rollPeaks moves the newest peak slot to s, forgetting the slots that fall out.
func (m *RateMeter) rollPeaks(s int64) {
	if s <= m.peakSlot {
		return
	}
	if s-m.peakSlot >= PeakWindows {
		clear(m.peaks[:])
	} else {
		for i := m.peakSlot + 1; i <= s; i++ {
			m.peaks[allocMod(i, PeakWindows)] = 0
		}
	}
	m.peakSlot = s
}

// Add counts size bytes received at now.
func (m *RateMeter) Add(now int64, size int) {
	if size <= 0 {
		return
	}
	i := m.advance(now)
	m.buckets[i] += uint64(size)
	m.sum += uint64(size)
}

// Rate is the bitrate in bits per second over the window ending at now; 0 before any Add and
// once a whole window has passed without one.
func (m *RateMeter) Rate(now int64) uint64 {
	if !m.started {
		return 0
	}
	m.advance(now)
	return m.windowRate()
}

// Peak is the rate to allocate with at now: 0 when Rate is 0 (the layer is inactive), else the
// highest window rate measured over the current window and the PeakWindows-1 before it, and
// at least Rate. Before a whole window has passed it is Rate.
func (m *RateMeter) Peak(now int64) uint64 {
	r := m.Rate(now)
	if r == 0 {
		return 0
	}
	m.foldPeak(m.head, r)
	for _, p := range m.peaks {
		r = max(r, p)
	}
	return r
}

// Reset forgets everything, as if the meter were new.
func (m *RateMeter) Reset() {
	clear(m.buckets)
	clear(m.peaks[:])
	m.sum = 0
	m.started, m.head, m.first, m.peakSlot = false, 0, 0, 0
}

// allocFloorDiv is a / n rounded down (n > 0).
func allocFloorDiv(a, n int64) int64 {
	q := a / n
	if a%n < 0 {
		q--
	}
	return q
}

// allocMod is the non-negative remainder (times before 1970 still map into the ring).
func allocMod(a, n int64) int64 {
	r := a % n
	if r < 0 {
		r += n
	}
	return r
}

// LiftLayerRates raises each active layer's Bitrate to at least that of every active layer it
// builds on or improves upon (no higher encoding, spatial and temporal layer): a higher layer
// measured at a low moment (an encoder's dip, a layer just resumed) must not look cheaper than
// the one beneath it, or the allocator moves up exactly when the link can least carry it.
// Inactive layers (Bitrate 0) stay inactive. It changes layers in place.
func LiftLayerRates(layers []Layer) {
	for i := range layers {
		b := &layers[i]
		if b.Bitrate == 0 {
			continue
		}
		for _, a := range layers {
			if a.Encoding <= b.Encoding && a.Spatial <= b.Spatial && a.Temporal <= b.Temporal {
				b.Bitrate = max(b.Bitrate, a.Bitrate)
			}
		}
	}
}
