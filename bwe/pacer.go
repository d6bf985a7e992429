package bwe

import (
	"math"
	"time"
)

// Pacer spreads what the bridge sends one receiver over time, so a keyframe (or several
// sources' keyframes at once) does not reach a shallow bottleneck as one burst: a token bucket
// filled at Factor × the estimate, holding at most Burst's worth of bytes (and at least
// MinBurst). The caller asks Allow before each packet it takes off the receiver's queue and
// reports what it sent with Sent; when Allow says no, it leaves the rest queued and comes back
// after Delay. A packet may overdraw the bucket (tokens go negative), so a packet larger than
// the bucket still goes, and the debt is paid before the next one.
//
// Probe padding does not go through the pacer: the probe cluster has its own rate (WantProbe).
// Without an estimate (rate 0) nothing is held.
//
// Pure logic: times are unix ns passed in; one goroutine (the receiver's sender) owns it.
type Pacer struct {
	cfg    PacerConfig
	rate   float64 // bytes per ns; 0 = not pacing
	burst  float64 // bytes
	tokens float64
	last   int64
	hasRun bool
}

// PacerConfig shapes a Pacer. Zero fields take DefaultPacerConfig's values.
type PacerConfig struct {
	Factor   float64       // pacing rate / estimate
	Burst    time.Duration // bucket size as time at the pacing rate
	MinBurst int           // bytes: the bucket holds at least this
}

// DefaultPacerConfig is libwebrtc's pacing factor 2.5 with a 5 ms bucket of at least two full
// packets.
func DefaultPacerConfig() PacerConfig {
	return PacerConfig{Factor: 2.5, Burst: 5 * time.Millisecond, MinBurst: 2400}
}

// NewPacer returns a pacer that does not pace until SetEstimate gives it a rate.
func NewPacer(cfg PacerConfig) Pacer {
	d := DefaultPacerConfig()
	if !(cfg.Factor > 0) {
		cfg.Factor = d.Factor
	}
	if cfg.Burst <= 0 {
		cfg.Burst = d.Burst
	}
	if cfg.MinBurst <= 0 {
		cfg.MinBurst = d.MinBurst
	}
	return Pacer{cfg: cfg}
}

// SetEstimate sets the pacing rate to Factor × bps; 0 turns pacing off.
func (p *Pacer) SetEstimate(bps uint64, now int64) {
	p.refill(now)
	p.rate = p.cfg.Factor * float64(bps) / 8 / 1e9
	p.burst = max(p.rate*float64(p.cfg.Burst), float64(p.cfg.MinBurst))
	if p.rate == 0 {
		p.tokens = 0
	}
	p.tokens = min(p.tokens, p.burst)
}

// Pacing reports whether the pacer holds anything back at all (it has a rate).
func (p *Pacer) Pacing() bool { return p.rate > 0 }

// RateBps is the pacing rate in bps (0 = not pacing).
func (p *Pacer) RateBps() uint64 { return uint64(p.rate * 8 * 1e9) }

func (p *Pacer) refill(now int64) {
	if !p.hasRun {
		p.last, p.hasRun = now, true
		p.tokens = p.burst
		return
	}
	if dt := now - p.last; dt > 0 {
		p.tokens = min(p.tokens+p.rate*float64(dt), p.burst)
		p.last = now
	}
}

// Allow says whether a packet may be sent now.
func (p *Pacer) Allow(now int64) bool {
	if p.rate == 0 {
		return true
	}
	p.refill(now)
	return p.tokens > 0
}

// Sent takes n bytes sent at now out of the bucket.
func (p *Pacer) Sent(n int, now int64) {
	if p.rate == 0 || n <= 0 {
		return
	}
	p.refill(now)
	p.tokens -= float64(n)
}

// Delay is how long after now the next packet may go (0: at once).
func (p *Pacer) Delay(now int64) time.Duration {
	if p.rate == 0 {
		return 0
	}
	p.refill(now)
	if p.tokens > 0 {
		return 0
	}
	// rounded up, and a nanosecond more, so the bucket is above 0 by then despite rounding
	return time.Duration(math.Ceil(-p.tokens/p.rate)) + 1
}
