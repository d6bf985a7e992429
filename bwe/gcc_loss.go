package bwe

// Loss-based bound (libwebrtc SendSideBandwidthEstimation, the classic "v1" controller): below
// the low-loss threshold the rate grows to 1.08 × the minimum of the last second + 1 kbps;
// between the thresholds it holds (capped at the acknowledged rate, see update); above the high one it is cut by (1 - loss/2), at most once
// per loss sample and once per 300 ms + RTT. It is always capped by the delay-based estimate
// (or REMB) and the configured maximum, so it is the final target.

const (
	gccLossIncreaseInterval = 1_000_000_000 // the min-history window
	gccLossDecreaseInterval = 300_000_000   // plus RTT between decreases
	gccLossStartPhase       = 2_000_000_000 // follow the delay-based/REMB bound at start if loss free
	gccLossIncreaseFactor   = 1.08
	gccLossIncreaseOffset   = 1000        // bps
	gccLossMinPackets       = 20          // expected packets per TCC loss sample ...
	gccLossMinInterval      = 500_000_000 // ... and at least this long (ns)
	gccLossHistoryLen       = 64
	gccLossAppLimited       = 1.05 // bound / sent rate above which the sender is application limited
	gccLossCeilingValidity  = 5_000_000_000
)

type gccRateAt struct {
	at   int64
	rate float64
}

type gccLossBased struct {
	rate    float64
	hist    [gccLossHistoryLen]gccRateAt // monotonic deque: rates increase front to back
	head, n int

	loss        float64
	samples     uint64 // loss samples seen
	decreasedAt uint64 // sample count at the last decrease
	cappedAt    uint64 // sample count at the last cap to the acknowledged rate
	// ceiling is the acknowledged rate at that cap (or a saturated probe's result): the link
	// carried no more while losing, so growth stops there until a probe proves more or
	// gccLossCeilingValidity passes; 0 none.
	ceiling   float64
	ceilingAt int64
	lastDecr  int64
	hasDecr   bool

	// TCC loss accumulator
	expected, lost int
	since          int64
	hasSince       bool
}

func (l *gccLossBased) addLossSample(fraction float64) {
	l.loss = min(max(fraction, 0), 1)
	l.samples++
}

// accumulate adds one feedback's counts and emits a sample once it covers gccLossMinPackets
// packets and gccLossMinInterval (a sample of 20 packets alone is too noisy: 5 % random loss
// would often read as over 10 %).
func (l *gccLossBased) accumulate(c gccFeedbackCounts, now int64) {
	if !l.hasSince {
		l.since, l.hasSince = now, true
	}
	l.expected += c.expected
	l.lost = max(l.lost+c.lost-c.recovered, 0)
	if l.expected >= gccLossMinPackets && now-l.since >= gccLossMinInterval {
		l.addLossSample(float64(min(l.lost, l.expected)) / float64(l.expected))
		l.expected, l.lost = 0, 0
		l.since = now
	}
}

func (l *gccLossBased) minHistory(now int64) float64 {
	for l.n > 0 && now-l.hist[l.head].at > gccLossIncreaseInterval {
		l.head = (l.head + 1) % gccLossHistoryLen
		l.n--
	}
	if l.n == 0 {
		return l.rate
	}
	return l.hist[l.head].rate
}

func (l *gccLossBased) pushHistory(now int64) {
	for l.n > 0 && l.hist[(l.head+l.n-1)%gccLossHistoryLen].rate >= l.rate {
		l.n--
	}
	if l.n == gccLossHistoryLen {
		l.head = (l.head + 1) % gccLossHistoryLen
		l.n--
	}
	l.hist[(l.head+l.n)%gccLossHistoryLen] = gccRateAt{at: now, rate: l.rate}
	l.n++
}

// update runs the controller at now; limit is the delay-based (or REMB) bound and the maximum,
// acked the acknowledged rate (0 unknown), sent what the sender sent lately (media, not probe
// padding; 0 unknown), startPhase says whether the estimator is in its
// first seconds.
func (l *gccLossBased) update(now int64, limit, acked, sent float64, cfg *EstimatorConfig, rtt int64, startPhase bool) {
	switch {
	case startPhase && l.loss == 0:
		l.rate = max(l.rate, limit)
	case l.rate < float64(cfg.LossBitrateThreshold) || l.loss <= cfg.LowLossThreshold:
		grown := l.minHistory(now)*gccLossIncreaseFactor + gccLossIncreaseOffset
		if l.ceiling > 0 && now-l.ceilingAt < gccLossCeilingValidity {
			grown = min(grown, max(l.ceiling, l.rate))
		}
		l.rate = max(l.rate, grown)
	case l.loss <= cfg.HighLossThreshold:
		// Hold, but not above what the receiver acknowledged while the sender uses clearly
		// less than the bound: on a tail-drop bottleneck with a shallow queue (tbf, policers)
		// the delay detector sees no gradient, and when the allocator's layers take a little
		// more than the link, loss settles between the thresholds with the target well above
		// the link; the acknowledged rate is what the link carries. A sender that fills the
		// bound (sent ≈ acked / (1 - loss)) sees random loss, which the cap would only
		// ratchet down. Once per loss sample, like a decrease.
		l.capToAcked(now, acked, sent, startPhase)
	case l.decreasedAt != l.samples && (!l.hasDecr || now-l.lastDecr >= gccLossDecreaseInterval+rtt):
		l.rate *= 1 - 0.5*l.loss
		l.decreasedAt = l.samples
		l.lastDecr, l.hasDecr = now, true
		// The same cap above the high threshold: a cut by (1 - loss/2) per sample takes
		// seconds to come down to a tail-drop link the allocator's layers overshoot.
		l.capToAcked(now, acked, sent, startPhase)
	}
	l.rate = min(max(min(l.rate, limit), float64(cfg.MinBitrate)), float64(cfg.MaxBitrate))
	l.pushHistory(now)
}

// capToAcked lowers the rate to the acknowledged rate (and makes that the ceiling) once per
// loss sample when the sender is application limited: sending clearly less than the rate.
func (l *gccLossBased) capToAcked(now int64, acked, sent float64, startPhase bool) {
	if sent <= 0 {
		sent = acked / (1 - min(l.loss, 0.99))
	}
	// Not in the first seconds: the acknowledged rate is still catching up.
	if acked > 0 && !startPhase && l.cappedAt != l.samples && l.rate > gccLossAppLimited*sent {
		l.rate = min(l.rate, acked)
		l.cappedAt = l.samples
		l.ceiling, l.ceilingAt = acked, now
	}
}

// set is used after a successful probe (libwebrtc SetSendBitrate): the history restarts there.
// A probe that saturated the link (saturated) makes its result the ceiling; one above the
// ceiling lifts it.
func (l *gccLossBased) set(bps float64, now int64, saturated bool) {
	switch {
	case saturated:
		l.ceiling, l.ceilingAt = bps, now
	case bps > l.ceiling:
		l.ceiling = 0
	}
	l.rate = bps
	l.n = 0
	l.pushHistory(now)
}

// gccSentRate is what the sender sent (media and retransmissions, not probe padding) over
// windows of 500 ms: the rate the loss-based bound compares itself with to tell an application
// limited sender (one that sends clearly less than the bound) from one that fills it.
type gccSentRate struct {
	bytes, since int64
	rate         float64 // bps of the last full window
	started      bool
}

const gccSentWindow = 500_000_000

func (s *gccSentRate) add(size int, now int64) {
	if !s.started {
		s.since, s.started = now, true
	}
	s.roll(now)
	s.bytes += int64(max(size, 0))
}

func (s *gccSentRate) roll(now int64) {
	if d := now - s.since; d >= gccSentWindow {
		s.rate = float64(s.bytes*8) * gccSecond / float64(d)
		s.bytes, s.since = 0, now
	}
}

// bps is the last window's rate (0 before one has passed); a window with nothing sent reads 0.
func (s *gccSentRate) bps(now int64) float64 {
	if !s.started {
		return 0
	}
	s.roll(now)
	return s.rate
}
