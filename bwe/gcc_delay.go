package bwe

import "math"

// Delay-based detection: packets grouped into send bursts (libwebrtc InterArrivalDelta), the
// per-group one-way delay variation smoothed and fitted with a trend line over a window
// (TrendlineEstimator), and the slope compared with an adaptive threshold (the detector inside
// TrendlineEstimator). All times are ns; the trendline works in ms as libwebrtc does.

const (
	gccGroupLength             = 5_000_000     // a send-time group spans at most 5 ms
	gccBurstDelta              = 5_000_000     // arrivals closer than this may join a burst
	gccMaxBurstDuration        = 100_000_000   // a burst lasts at most 100 ms at the receiver
	gccArrivalOffsetThreshold  = 3_000_000_000 // arrival vs. system clock jump that resets
	gccReorderedResetThreshold = 3             // consecutive reordered groups that reset
	gccStreamTimeout           = 2_000_000_000 // feedback gap that resets the detector

	gccTrendWindow        = 20
	gccTrendSmoothing     = 0.9
	gccTrendThresholdGain = 4.0
	gccMinNumDeltas       = 60
	gccDeltaCounterMax    = 1000

	gccInitialThresholdMs     = 12.5
	gccMinThresholdMs         = 6
	gccMaxThresholdMs         = 600
	gccMaxAdaptOffsetMs       = 15
	gccMaxThresholdTimeDelta  = 100 // ms
	gccThresholdUp            = 0.0087
	gccThresholdDown          = 0.039
	gccOverusingTimeThreshold = 10 // ms
)

type gccUsage uint8

const (
	gccNormal gccUsage = iota
	gccUnderusing
	gccOverusing
)

func (u gccUsage) String() string {
	switch u {
	case gccUnderusing:
		return "underusing"
	case gccOverusing:
		return "overusing"
	}
	return "normal"
}

type gccGroup struct {
	firstSend, lastSend  int64
	firstArrival, arrive int64 // arrive: the group's completion (latest arrival)
	system               int64 // our clock when its last packet's feedback came
	size                 int64
	valid                bool
}

type gccInterArrival struct {
	cur, prev gccGroup
	reordered int
}

func (ia *gccInterArrival) reset() { *ia = gccInterArrival{} }

// add feeds one packet; when it closes a group it returns the send and arrival deltas between
// the two previous complete groups.
func (ia *gccInterArrival) add(send, arrival, system int64, size int32) (sendDelta, arrivalDelta int64, ok bool) {
	switch {
	case !ia.cur.valid:
		ia.cur = gccGroup{firstSend: send, lastSend: send, firstArrival: arrival, arrive: arrival, valid: true}
	case send < ia.cur.firstSend:
		return 0, 0, false // out of order: older than the current group
	case ia.newGroup(send, arrival):
		if ia.prev.valid {
			sendDelta = ia.cur.lastSend - ia.prev.lastSend
			arrivalDelta = ia.cur.arrive - ia.prev.arrive
			systemDelta := ia.cur.system - ia.prev.system
			if arrivalDelta-systemDelta >= gccArrivalOffsetThreshold {
				ia.reset()
				return 0, 0, false
			}
			if arrivalDelta < 0 {
				ia.reordered++
				if ia.reordered >= gccReorderedResetThreshold {
					ia.reset()
				}
				return 0, 0, false
			}
			ia.reordered = 0
			ok = true
		}
		ia.prev = ia.cur
		ia.cur = gccGroup{firstSend: send, lastSend: send, firstArrival: arrival, arrive: arrival, valid: true}
	default:
		ia.cur.lastSend = max(ia.cur.lastSend, send)
	}
	ia.cur.size += int64(size)
	ia.cur.arrive = max(ia.cur.arrive, arrival)
	ia.cur.system = system
	return sendDelta, arrivalDelta, ok
}

func (ia *gccInterArrival) newGroup(send, arrival int64) bool {
	if ia.belongsToBurst(send, arrival) {
		return false
	}
	return send-ia.cur.firstSend > gccGroupLength
}

func (ia *gccInterArrival) belongsToBurst(send, arrival int64) bool {
	arrivalDelta := arrival - ia.cur.arrive
	sendDelta := send - ia.cur.lastSend
	if sendDelta == 0 {
		return true
	}
	propagationDelta := arrivalDelta - sendDelta
	return propagationDelta < 0 && arrivalDelta <= gccBurstDelta &&
		arrival-ia.cur.firstArrival < gccMaxBurstDuration
}

type gccTrendline struct {
	numDeltas    int
	firstArrival float64 // ms
	haveFirst    bool
	accumulated  float64
	smoothed     float64

	x, y      [gccTrendWindow]float64 // arrival ms since first, smoothed delay ms
	head, n   int
	prevTrend float64

	threshold      float64
	lastThreshold  float64 // ms, -1 none
	prevModified   float64
	timeOverUsing  float64 // ms, -1 none
	overuseCounter int
	usage          gccUsage
}

func (t *gccTrendline) reset() {
	*t = gccTrendline{threshold: gccInitialThresholdMs, lastThreshold: -1, timeOverUsing: -1}
}

func (t *gccTrendline) update(recvDeltaMs, sendDeltaMs, arrivalMs float64) {
	t.numDeltas = min(t.numDeltas+1, gccDeltaCounterMax)
	if !t.haveFirst {
		t.firstArrival, t.haveFirst = arrivalMs, true
	}
	t.accumulated += recvDeltaMs - sendDeltaMs
	t.smoothed = gccTrendSmoothing*t.smoothed + (1-gccTrendSmoothing)*t.accumulated

	i := (t.head + t.n) % gccTrendWindow
	if t.n == gccTrendWindow {
		i = t.head
		t.head = (t.head + 1) % gccTrendWindow
	} else {
		t.n++
	}
	t.x[i], t.y[i] = arrivalMs-t.firstArrival, t.smoothed

	trend := t.prevTrend
	if t.n == gccTrendWindow {
		if s, ok := t.slope(); ok {
			trend = s
		}
	}
	t.detect(trend, sendDeltaMs, arrivalMs)
}

// slope is the least-squares slope of the window.
func (t *gccTrendline) slope() (float64, bool) {
	var sx, sy float64
	for i := 0; i < t.n; i++ {
		sx += t.x[i]
		sy += t.y[i]
	}
	mx, my := sx/float64(t.n), sy/float64(t.n)
	var num, den float64
	for i := 0; i < t.n; i++ {
		dx := t.x[i] - mx
		num += dx * (t.y[i] - my)
		den += dx * dx
	}
	if den == 0 || math.IsNaN(num) || math.IsInf(num/den, 0) {
		return 0, false
	}
	return num / den, true
}

func (t *gccTrendline) detect(trend, tsDeltaMs, nowMs float64) {
	if t.numDeltas < 2 {
		t.usage = gccNormal
		return
	}
	modified := float64(min(t.numDeltas, gccMinNumDeltas)) * trend * gccTrendThresholdGain
	t.prevModified = modified
	switch {
	case modified > t.threshold:
		if t.timeOverUsing == -1 {
			t.timeOverUsing = tsDeltaMs / 2
		} else {
			t.timeOverUsing += tsDeltaMs
		}
		t.overuseCounter++
		if t.timeOverUsing > gccOverusingTimeThreshold && t.overuseCounter > 1 && trend >= t.prevTrend {
			t.timeOverUsing = 0
			t.overuseCounter = 0
			t.usage = gccOverusing
		}
	case modified < -t.threshold:
		t.timeOverUsing = -1
		t.overuseCounter = 0
		t.usage = gccUnderusing
	default:
		t.timeOverUsing = -1
		t.overuseCounter = 0
		t.usage = gccNormal
	}
	t.prevTrend = trend
	t.updateThreshold(modified, nowMs)
}

func (t *gccTrendline) updateThreshold(modified, nowMs float64) {
	if t.lastThreshold == -1 {
		t.lastThreshold = nowMs
	}
	abs := math.Abs(modified)
	if abs > t.threshold+gccMaxAdaptOffsetMs {
		// a spike: do not let it move the threshold
		t.lastThreshold = nowMs
		return
	}
	k := gccThresholdUp
	if abs < t.threshold {
		k = gccThresholdDown
	}
	dt := min(max(nowMs-t.lastThreshold, 0), gccMaxThresholdTimeDelta)
	t.threshold += k * (abs - t.threshold) * dt
	t.threshold = min(max(t.threshold, gccMinThresholdMs), gccMaxThresholdMs)
	t.lastThreshold = nowMs
}
