package bwe

import "math"

// AIMD rate control of the delay-based estimate (libwebrtc AimdRateControl with its
// LinkCapacityEstimator), rates in bps, times in ns.

const (
	gccBackoff             = 0.85          // multiplicative decrease factor
	gccDefaultRTT          = 200_000_000   // before any RTT is known
	gccMinIncreaseRate     = 4000          // bps per second, additive floor
	gccMultiplicativeAlpha = 1.08          // per second
	gccMinMultiplicative   = 1000          // bps
	gccIncreaseLimitGain   = 1.5           // the estimate may exceed the acked rate by this
	gccIncreaseLimitOffset = 10_000        // ... plus this (bps)
	gccFrameRate           = 30.0          // assumed for the additive increase
	gccExpectedPacketBits  = 1200 * 8      // assumed packet size for the additive increase
	gccResponseExtra       = 100_000_000   // ns added to the RTT for the response time
	gccMinReduceInterval   = 10_000_000    // ns
	gccMaxReduceInterval   = 200_000_000   // ns
	gccSecond              = 1_000_000_000 // ns
)

const (
	gccHold uint8 = iota
	gccIncrease
	gccDecrease
)

// gccLinkCapacity tracks the throughput seen at overuse: the link's capacity, with a
// normalised deviation, so increases near it are additive.
type gccLinkCapacity struct {
	estimate  float64 // kbps, valid if has
	deviation float64 // normalised variance, kbps
	has       bool
}

func (l *gccLinkCapacity) reset() { l.has = false }

func (l *gccLinkCapacity) upperBound() float64 {
	if !l.has {
		return math.Inf(1)
	}
	return (l.estimate + 3*math.Sqrt(l.deviation*l.estimate)) * 1000
}

func (l *gccLinkCapacity) update(bps, alpha float64) {
	kbps := bps / 1000
	if !l.has {
		l.estimate, l.deviation, l.has = kbps, 0.4, true
	} else {
		l.estimate = (1-alpha)*l.estimate + alpha*kbps
	}
	norm := max(l.estimate, 1)
	e := l.estimate - kbps
	l.deviation = (1-alpha)*l.deviation + alpha*e*e/norm
	l.deviation = min(max(l.deviation, 0.4), 2.5)
}

type gccAIMD struct {
	bitrate, minRate, maxRate float64
	throughput                float64 // last acknowledged rate given, bps
	state                     uint8
	lastChange                int64
	hasChange                 bool
	lastDecrease              int64
	rtt                       int64
	link                      gccLinkCapacity
}

func (a *gccAIMD) init(initial, minRate, maxRate float64) {
	*a = gccAIMD{bitrate: initial, minRate: minRate, maxRate: maxRate, throughput: initial, rtt: gccDefaultRTT}
}

func (a *gccAIMD) clamp(bps float64) float64 { return min(max(bps, a.minRate), a.maxRate) }

func (a *gccAIMD) setEstimate(bps float64, now int64) {
	a.bitrate = a.clamp(bps)
	a.lastChange, a.hasChange = now, true
}

// timeToReduceFurther says whether another decrease is due: an RTT (10..200 ms) after the last
// change, or at once if the acknowledged rate is under half the estimate.
func (a *gccAIMD) timeToReduceFurther(now int64, acked float64) bool {
	interval := min(max(a.rtt, gccMinReduceInterval), gccMaxReduceInterval)
	if !a.hasChange || now-a.lastChange >= interval {
		return true
	}
	return acked < 0.5*a.bitrate
}

// update applies one detector state with the acknowledged rate (acked <= 0: unknown).
func (a *gccAIMD) update(u gccUsage, acked float64, now int64) {
	if acked > 0 {
		a.throughput = acked
	}
	switch u {
	case gccNormal:
		if a.state == gccHold {
			a.lastChange, a.hasChange = now, true
			a.state = gccIncrease
		}
	case gccOverusing:
		a.state = gccDecrease
	case gccUnderusing:
		a.state = gccHold
	}
	rate := a.bitrate
	switch a.state {
	case gccIncrease:
		if a.throughput > a.link.upperBound() {
			a.link.reset()
		}
		limit := gccIncreaseLimitGain*a.throughput + gccIncreaseLimitOffset
		if rate < limit {
			var inc float64
			if a.link.has {
				inc = a.additive(now)
			} else {
				inc = a.multiplicative(now)
			}
			rate = min(rate+inc, limit)
		}
		a.lastChange, a.hasChange = now, true
	case gccDecrease:
		dec := gccBackoff * a.throughput
		if dec > a.bitrate && a.link.has {
			dec = gccBackoff * a.link.estimate * 1000
		}
		if dec < a.bitrate {
			rate = dec
		}
		a.link.update(a.throughput, 0.05)
		a.state = gccHold
		a.lastChange, a.hasChange = now, true
		a.lastDecrease = now
	}
	a.bitrate = a.clamp(rate)
}

func (a *gccAIMD) multiplicative(now int64) float64 {
	alpha := gccMultiplicativeAlpha
	if a.hasChange {
		dt := float64(min(max(now-a.lastChange, 0), gccSecond)) / gccSecond
		alpha = math.Pow(alpha, dt)
	}
	return max(a.bitrate*(alpha-1), gccMinMultiplicative)
}

func (a *gccAIMD) additive(now int64) float64 {
	frameBits := a.bitrate / gccFrameRate
	packets := math.Ceil(frameBits / gccExpectedPacketBits)
	avgPacketBits := frameBits / max(packets, 1)
	response := float64(a.rtt+gccResponseExtra) / gccSecond
	rate := max(avgPacketBits/response, gccMinIncreaseRate)
	dt := float64(max(now-a.lastChange, 0)) / gccSecond
	return rate * dt
}

// gccAckedBitrate is the acknowledged (received) bitrate: bytes per window at the receiver's
// clock, smoothed with a Bayesian update whose sample variance grows with the distance from
// the estimate (libwebrtc BitrateEstimator: windows 500 ms, then 150 ms; uncertainty scale 10;
// variance increase 5 per sample; initial variance 50). Unlike libwebrtc, an arrival earlier
// than the previous one (reordered feedback) is counted in the current window instead of
// restarting it.
type gccAckedBitrate struct {
	sum      int64 // bytes in the current window
	window   int64 // ns covered by the current window
	prevTime int64
	hasPrev  bool
	estimate float64 // kbps, < 0 none
	variance float64

	lastSample   float64 // kbps, the latest raw window
	lastSampleAt int64
}

const (
	gccInitialRateWindow = 500_000_000
	gccRateWindow        = 150_000_000
	gccUncertaintyScale  = 10.0
)

func (b *gccAckedBitrate) reset() { *b = gccAckedBitrate{estimate: -1, variance: 50} }

func (b *gccAckedBitrate) add(at int64, size int32) {
	win := int64(gccRateWindow)
	if b.estimate < 0 {
		win = gccInitialRateWindow
	}
	sample := b.updateWindow(at, int64(size), win)
	if sample < 0 {
		return
	}
	b.lastSample, b.lastSampleAt = sample, at
	if b.estimate < 0 {
		b.estimate = sample
		return
	}
	u := gccUncertaintyScale * math.Abs(b.estimate-sample) / max(b.estimate, 1e-3)
	sampleVar := u * u
	predVar := b.variance + 5
	b.estimate = (sampleVar*b.estimate + predVar*sample) / (sampleVar + predVar)
	b.estimate = max(b.estimate, 0)
	b.variance = sampleVar * predVar / (sampleVar + predVar)
}

func (b *gccAckedBitrate) updateWindow(at, bytes, win int64) float64 {
	if b.hasPrev && at < b.prevTime {
		// reordered feedback: the bytes did arrive, count them in the current window
		at = b.prevTime
	}
	if b.hasPrev {
		d := at - b.prevTime
		b.window += d
		if d > win {
			b.sum = 0
			b.window %= win
		}
	}
	b.prevTime, b.hasPrev = at, true
	sample := -1.0
	if b.window >= win {
		sample = float64(8*b.sum) / float64(win/1_000_000) // kbps: bits per ms
		b.window -= win
		b.sum = 0
	}
	b.sum += bytes
	return sample
}

// recentSample is the latest raw window's rate in bps if it ended within 500 ms of at (the
// receiver's clock), else 0.
func (b *gccAckedBitrate) recentSample(at int64) float64 {
	if b.lastSampleAt == 0 || at-b.lastSampleAt > gccInitialRateWindow || at < b.lastSampleAt {
		return 0
	}
	return b.lastSample * 1000
}

// bps is the estimate, 0 if none yet.
func (b *gccAckedBitrate) bps() float64 {
	if b.estimate < 0 {
		return 0
	}
	return b.estimate * 1000
}
