package bwe

import (
	"math"
	"time"
)

// Layer is one forwardable layer of a source (a simulcast encoding, or a spatial/temporal layer
// within one): what a receiver may be sent for that source.
type Layer struct {
	Encoding, Temporal, Spatial int
	Height                      int     // frame height in pixels
	FrameRate                   float64 // frames per second; <= 0 (or NaN) = unknown
	// Bitrate is the measured rate in bits per second of this layer together with the layers it
	// depends on (the bridge passes RateMeter.Peak, lifted by LiftLayerRates); 0 means the layer
	// is inactive (nothing received lately).
	Bitrate uint64
}

// LayeredSource is a source with its layers, ordered by quality, lowest first. Source.Heights
// is not used by the Allocator.
type LayeredSource struct {
	Source
	Layers []Layer
}

// Hysteresis keeps a receiver's layers from flapping on a steady link, where JVB recomputes
// from scratch and flips a source between two layers (or between a layer and suspension)
// every time the estimate or the measured layer bitrate wobbles around a layer's bitrate.
//
// When a run gives a source a lower layer than the previous run did although that layer was
// still allowed (a downgrade for bandwidth, which always takes effect at once), the source
// remembers the first layer above its new one. Going back to that layer or any higher one then
// needs, in addition to JVB's rule:
//
//   - a hold: some time since the downgrade. It is Hold after a first downgrade, and doubles,
//     up to MaxHold, with every further downgrade less than 2×MaxHold after the previous one;
//     so a single dip costs Hold, and a link that keeps crossing a layer's bitrate flips the
//     source with growing pauses and then at most once per MaxHold;
//   - headroom: the layer's bitrate times 1+UpgradeMargin must fit where JVB only needs the
//     bitrate, so a wobble smaller than the margin never brings it back.
//
// Reaching that layer again forgets the downgrade (not the backoff). An on-stage source held
// back this way does not hold up the thumbnails (JVB's stop-at-the-stage rule): they get the
// bandwidth meanwhile, and the stage, served first, takes it back when it may. Sources seen for
// the first time, layers below the remembered one, and runs with an unknown (unlimited) budget
// are not affected. The zero value disables hysteresis, which is JVB's behaviour.
type Hysteresis struct {
	UpgradeMargin float64
	Hold          time.Duration
	MaxHold       time.Duration // below Hold counts as Hold
}

// AllocatorConfig is the bandwidth allocator's part of videobridge.cc.
type AllocatorConfig struct {
	Config
	BWEChangeThreshold         float64       // videobridge.cc.bwe-change-threshold (0.15)
	MaxTimeBetweenCalculations time.Duration // videobridge.cc.max-time-between-calculations (5 s)
	AllowOversendOnstage       bool          // videobridge.cc.allow-oversend-onstage (true)
	MaxOversendBitrate         uint64        // videobridge.cc.max-oversend-bitrate in bps (500 kbps)
	// DistrustBWE is videobridge.cc.trust-bwe inverted (so the zero value is JVB's default):
	// when set, Allocate treats every estimate as unknown (unlimited).
	DistrustBWE bool
	Hysteresis  Hysteresis // ours, not JVB's; zero = off
}

// DefaultAllocatorConfig is JVB's reference.conf with our hysteresis on: a 15 % margin (the
// same as the estimate-change threshold) and holds from 2 s up to 16 s.
func DefaultAllocatorConfig() AllocatorConfig {
	return AllocatorConfig{
		Config:                     DefaultConfig(),
		BWEChangeThreshold:         0.15,
		MaxTimeBetweenCalculations: 5 * time.Second,
		AllowOversendOnstage:       true,
		MaxOversendBitrate:         500_000,
		Hysteresis:                 Hysteresis{UpgradeMargin: 0.15, Hold: 2 * time.Second, MaxHold: 16 * time.Second},
	}
}

// Reasons a source is not at its ideal layer, for SourceLayers.Reason, the Summary and
// metrics labels. They are a closed set.
const (
	ReasonVideoDisabled  = "video-disabled"         // video type none or disabled
	ReasonOutsideLastN   = "outside-last-n"         // beyond the effective lastN
	ReasonConstraints    = "receiver-constraints"   // the receiver asked for nothing (height or fps 0)
	ReasonNoLayers       = "no-layers"              // no layer known, or none of its type applies
	ReasonBandwidth      = "insufficient-bandwidth" // the next layer does not fit in what is left
	ReasonStagePriority  = "stage-priority"         // waiting for an on-stage source to reach its preferred layer
	ReasonHysteresisHold = "hysteresis"             // would fit, but was lost to bandwidth recently (Hysteresis)
)

// SourceLayers is what one receiver gets of one source. Layer indexes are into the source's
// LayeredSource.Layers; -1 is none.
type SourceLayers struct {
	Name, Owner string
	Type        VideoType
	OnStage     bool
	Selected    bool
	Constraints Constraints // effective: after video type and lastN
	Target      int         // the layer to forward
	Ideal       int         // the layer it would get with unlimited bandwidth
	TargetBps   uint64
	IdealBps    uint64
	// NextBps is the bitrate of the next layer it would step up to (0 at its ideal layer).
	NextBps uint64
	// Suspended is JVB's definition: the source has active layers to offer but got none.
	Suspended bool
	// Reason says why Target is below Ideal (or why there is no layer at all); "" when the
	// source gets its ideal layer.
	Reason string

	// For the Summary: the first layer considered (the one a suspended source needs), the
	// cheapest and the oversend layer's bitrate, and the budget left when the source was last
	// served (negative while oversending).
	Required    Layer
	CheapestBps uint64
	OversendBps uint64
	Available   int64
}

// LayerAllocation is one receiver's allocation: every considered source in priority order.
type LayerAllocation struct {
	Sources   []SourceLayers
	Forwarded []string // names of the sources with a Target, in priority order
	TargetBps uint64   // sum of the targets' bitrates
	IdealBps  uint64   // sum of the ideal layers' bitrates
	// NextBps is what the allocation's next step up would take in all: TargetBps with the
	// first source below its ideal layer (in priority order) at its next layer; TargetBps when
	// every source is at its ideal. What probing needs to prove before anything improves.
	NextBps     uint64
	Oversending bool   // the budget went negative for an on-stage screenshare
	BWE         uint64 // the estimate allocated against; 0 = unknown (unlimited)
	Remaining   int64  // budget left over; meaningless when BWE is 0
	MaxOversend uint64 // the oversend allowance in force
}

// Allocator is one receiver's bandwidth allocator: JVB's allocation loop plus Hysteresis and
// screenshare priority. Pure logic: the caller passes the time and serialises calls (the
// receiver's control goroutine). It keeps scratch buffers between runs, so a run allocates
// little beyond Prioritize and its result.
type Allocator struct {
	cfg AllocatorConfig

	ran     bool
	lastRun int64  // unix ns of the last Allocate
	lastBWE uint64 // estimate of the last Allocate
	holdEnd int64  // unix ns when the earliest Hysteresis hold still running ends; 0 none

	hist map[string]allocHistory // by source name
	gen  uint32                  // run counter, marks live hist entries

	// scratch
	plain  []Source
	byName map[string]int
	work   []allocSource
	order  []int
	layers []int // considered layer indexes of all sources, back to back
}

// allocHistory is what the allocator remembers of a source between runs.
type allocHistory struct {
	target int           // layer given by the previous run, -1 none
	capAt  int           // first layer above a bandwidth downgrade (needs margin and hold); -1 none
	downAt int64         // when the last downgrade happened
	hold   time.Duration // the hold since downAt; 0 before any downgrade
	gen    uint32        // last run that saw the source
}

// NewAllocator is an allocator that has not run yet. Hostile config values are tamed: a
// negative or NaN threshold or margin counts as 0.
func NewAllocator(cfg AllocatorConfig) *Allocator {
	if !(cfg.BWEChangeThreshold >= 0) {
		cfg.BWEChangeThreshold = 0
	}
	if !(cfg.Hysteresis.UpgradeMargin >= 0) || math.IsInf(cfg.Hysteresis.UpgradeMargin, 1) {
		cfg.Hysteresis.UpgradeMargin = 0
	}
	cfg.MaxOversendBitrate = min(cfg.MaxOversendBitrate, allocMaxBps)
	return &Allocator{
		cfg:    cfg,
		hist:   make(map[string]allocHistory),
		byName: make(map[string]int),
	}
}

// ShouldRun reports whether the allocation should be recomputed now because of the estimate or
// the time (the caller also runs it on any settings, speaker-order or source change): before
// the first run, when bwe differs from the estimate of the last run by more than
// BWEChangeThreshold of it (any change to or from 0, unknown, counts), when
// MaxTimeBetweenCalculations has passed since the last run, or when a Hysteresis hold that was
// running at the last run has ended (the source it held back may go up again).
func (a *Allocator) ShouldRun(bwe uint64, now int64) bool {
	if a.cfg.DistrustBWE {
		bwe = 0
	}
	if !a.ran {
		return true
	}
	if now-a.lastRun >= int64(a.cfg.MaxTimeBetweenCalculations) {
		return true
	}
	if a.holdEnd != 0 && now >= a.holdEnd {
		return true
	}
	diff := float64(bwe) - float64(a.lastBWE)
	return math.Abs(diff) > a.cfg.BWEChangeThreshold*float64(a.lastBWE)
}

// allocMaxBps bounds every bitrate and the budget so sums cannot overflow; allocUnlimited is
// the budget when the estimate is unknown.
const (
	allocMaxBps    = 1 << 50
	allocUnlimited = 1 << 60
)

// Allocate runs JVB's allocation loop for the receiver whose settings are s, against the
// estimate bwe (0 when unknown or untrusted: unlimited), at time now (unix ns):
//
//   - sources are ordered by Prioritize; effective constraints are those of Allocate (video
//     type, lastN, the receiver's per-source or default constraint);
//   - each source's layers are narrowed to those worth considering (camera: all below the
//     preferred 360p, the 30 fps ones up to maxHeight, and the lowest height; screenshare:
//     those up to maxHeight, else the lowest), with a preferred and an oversend layer;
//   - passes over the sources repeat until one changes nothing: an on-stage source with no
//     layer jumps to the best layer up to its preferred one that fits; any other source steps
//     one layer up when that layer's bitrate is strictly below its current one plus what is
//     left; then it skips to any higher layer that costs no more; an on-stage screenshare
//     first in line may oversend by up to MaxOversendBitrate; a pass stops at an on-stage
//     source that has not reached its preferred layer, so thumbnails wait for the stage.
//
// Better than JVB: an on-stage or selected screenshare is served before every other source,
// gets the on-stage treatment (jump, stops the pass) even when only selected, and may oversend
// when it is first; oversend never exceeds MaxOversendBitrate (JVB lets a single-layer stream
// oversend without bound); Hysteresis; and a Reason for every source below its ideal layer.
func (a *Allocator) Allocate(now int64, bwe uint64, speakerOrder []string, sources []LayeredSource, s Settings) LayerAllocation {
	if a.cfg.DistrustBWE {
		bwe = 0
	}
	a.gen++
	a.ran, a.lastRun, a.lastBWE = true, now, bwe

	a.plain = a.plain[:0]
	clear(a.byName)
	for i := range sources {
		a.plain = append(a.plain, sources[i].Source)
		if _, dup := a.byName[sources[i].Name]; !dup {
			a.byName[sources[i].Name] = i
		}
	}
	ordered := Prioritize(speakerOrder, a.plain, s)
	lastN := EffectiveLastN(a.cfg.Config, s)

	a.work = a.work[:0]
	a.layers = a.layers[:0]
	counted := 0
	for _, src := range ordered {
		ls := &sources[a.byName[src.Name]]
		w := allocSource{src: ls, constraints: nothing, reason: ReasonVideoDisabled}
		switch {
		case !src.Type.Enabled():
		case lastN >= 0 && counted >= lastN:
			w.reason = ReasonOutsideLastN
		default:
			w.constraints = s.ConstraintsFor(src.Name)
			w.reason = ReasonConstraints
			if !w.constraints.Disabled() {
				counted++
				w.reason = ""
			}
		}
		w.onStage = allocContains(s.OnStage, src.Name)
		w.selected = allocContains(s.Selected, src.Name)
		a.layers = w.selectLayers(a.layers, a.cfg)
		if w.reason == "" && w.hi == w.lo {
			w.reason = ReasonNoLayers
		}
		a.work = append(a.work, w)
	}

	// Loop order: on-stage or selected screenshares first, then the priority order.
	a.order = a.order[:0]
	for i := range a.work {
		if a.work[i].priorityScreenshare() {
			a.order = append(a.order, i)
		}
	}
	for i := range a.work {
		if !a.work[i].priorityScreenshare() {
			a.order = append(a.order, i)
		}
	}

	budget := int64(allocUnlimited)
	limited := bwe > 0
	if limited {
		budget = int64(min(bwe, allocMaxBps))
	}
	hyst := a.cfg.Hysteresis
	if !limited {
		hyst = Hysteresis{}
	}
	for i := range a.work {
		w := &a.work[i]
		w.capAt = -1
		if h, ok := a.hist[w.src.Name]; ok && h.capAt < len(w.src.Layers) {
			w.capAt, w.downAt, w.hold = h.capAt, h.downAt, h.hold
		}
	}

	remaining := budget
	oversending := false
	// Targets only move up the considered layers, so a pass that changes something raises at
	// least one and the number of considered layers bounds the passes; the bound only guards
	// against a mistake.
	for pass := 0; pass <= len(a.layers)+1; pass++ {
		changed := false
		for i := range a.work {
			a.work[i].visited = false
		}
		for k, i := range a.order {
			w := &a.work[i]
			if w.hi == w.lo {
				continue
			}
			w.visited = true
			w.available = remaining
			before := w.target
			remaining -= w.improve(a.layers, remaining, k == 0, now, hyst, a.cfg.MaxOversendBitrate)
			if remaining < 0 {
				oversending = true
			}
			if w.target != before {
				changed = true
			}
			// Thumbnails wait for the stage, unless only Hysteresis holds the stage back: then
			// they may use the bandwidth until the hold ends, when the stage, served first,
			// takes it back.
			if w.stageLike() && !w.reachedPreferred() && !w.blocked {
				break
			}
		}
		if !changed {
			break
		}
	}

	return a.finish(bwe, remaining, oversending, now, limited)
}

// finish builds the result and updates each source's history.
func (a *Allocator) finish(bwe uint64, remaining int64, oversending bool, now int64, limited bool) LayerAllocation {
	out := LayerAllocation{
		Sources:     make([]SourceLayers, len(a.work)),
		Oversending: oversending,
		BWE:         bwe,
		Remaining:   remaining,
		MaxOversend: a.cfg.MaxOversendBitrate,
	}
	nFwd := 0
	var step uint64
	for i := range a.work {
		if a.work[i].target >= 0 {
			nFwd++
		}
	}
	if nFwd > 0 {
		out.Forwarded = make([]string, 0, nFwd)
	}
	for i := range a.work {
		w := &a.work[i]
		sl := w.result(a.layers)
		out.Sources[i] = sl
		out.TargetBps += sl.TargetBps
		out.IdealBps += sl.IdealBps
		if step == 0 && sl.NextBps > sl.TargetBps {
			step = sl.NextBps - sl.TargetBps
		}
		if sl.Target >= 0 {
			out.Forwarded = append(out.Forwarded, sl.Name)
		}
		a.remember(w, sl.Target, now, limited)
	}
	a.holdEnd = 0
	out.NextBps = out.TargetBps + step
	for name, h := range a.hist {
		if h.gen != a.gen {
			delete(a.hist, name)
			continue
		}
		if end := h.downAt + int64(h.hold); h.capAt >= 0 && end > now && (a.holdEnd == 0 || end < a.holdEnd) {
			a.holdEnd = end
		}
	}
	// Keep no pointers into the caller's sources between runs.
	clear(a.work)
	clear(a.plain)
	return out
}

// remember records the run's target of w and notes a downgrade for bandwidth: a lower layer
// than the previous run's while that one was still considered and the budget was limited.
func (a *Allocator) remember(w *allocSource, target int, now int64, limited bool) {
	h, ok := a.hist[w.src.Name]
	if !ok {
		h = allocHistory{target: -1, capAt: -1}
	}
	if w.hi == w.lo {
		// Nothing to allocate for reasons other than bandwidth: start afresh later.
		h.target, h.capAt = -1, -1
	} else {
		if h.capAt >= 0 && target >= h.capAt {
			h.capAt = -1
		}
		if limited && ok && target < h.target && w.considers(a.layers, h.target) {
			hy := a.cfg.Hysteresis
			maxHold := max(hy.MaxHold, hy.Hold)
			if h.hold == 0 || now-h.downAt >= 2*int64(maxHold) {
				h.hold = hy.Hold
			} else {
				h.hold = min(2*h.hold, maxHold)
			}
			h.capAt, h.downAt = target+1, now
		}
		h.target = target
	}
	h.gen = a.gen
	a.hist[w.src.Name] = h
}

func allocContains(list []string, name string) bool {
	for _, n := range list {
		if n == name {
			return true
		}
	}
	return false
}
