package bwe

import (
	"math"
	"time"
)

// allocThumbnailHeight is the height at or below which a camera has no preferred layer: JVB
// favours frame rate over resolution only for sources allowed more than a thumbnail.
const allocThumbnailHeight = 180

// allocSource is one source during a run of the Allocator. Positions (target, preferred,
// oversend) index its considered layers, which are Allocator.layers[lo:hi] and hold indexes
// into src.Layers in quality order.
type allocSource struct {
	src         *LayeredSource
	constraints Constraints
	onStage     bool
	selected    bool
	reason      string // set before the loop for sources with nothing to allocate

	lo, hi    int
	preferred int // up to where an on-stage source jumps; -1 none
	oversend  int // the layer an on-stage screenshare may oversend to; -1 none
	target    int // -1 none

	capAt  int           // from the history: first layer index needing margin and hold, -1 none
	downAt int64         // when that downgrade happened
	hold   time.Duration // how long upgrades to capAt and above wait after downAt

	visited   bool  // served in the current pass
	blocked   bool  // in this run, Hysteresis kept it from improving at some point
	available int64 // budget left when it was last served
}

func (w *allocSource) isScreenshare() bool {
	return w.src.Type == VideoDesktop || w.src.Type == VideoDesktopHighFPS
}

// priorityScreenshare reports an on-stage or selected screenshare, served before all else.
func (w *allocSource) priorityScreenshare() bool {
	return w.isScreenshare() && (w.onStage || w.selected)
}

// stageLike sources jump to their preferred layer and hold up the pass until they reach it.
func (w *allocSource) stageLike() bool { return w.onStage || w.priorityScreenshare() }

func (w *allocSource) reachedPreferred() bool { return w.target >= w.preferred }

// bps is the bitrate of considered position pos (0 for none), bounded by allocMaxBps.
func (w *allocSource) bps(layers []int, pos int) int64 {
	if pos < 0 {
		return 0
	}
	return int64(min(w.src.Layers[layers[w.lo+pos]].Bitrate, allocMaxBps))
}

// considers reports whether layer index idx of the source is among its considered layers.
func (w *allocSource) considers(layers []int, idx int) bool {
	for _, l := range layers[w.lo:w.hi] {
		if l == idx {
			return true
		}
	}
	return false
}

func allocKnownFPS(fps float64) bool { return fps > 0 && !math.IsInf(fps, 1) }

// selectLayers appends the indexes of the layers worth considering to buf and sets lo, hi,
// preferred and oversend (JVB's selectLayersForCamera / selectLayersForScreensharing).
func (w *allocSource) selectLayers(buf []int, cfg AllocatorConfig) []int {
	w.lo, w.hi, w.preferred, w.oversend, w.target = len(buf), len(buf), -1, -1, -1
	if w.reason != "" || len(w.src.Layers) == 0 {
		return buf
	}
	switch {
	case w.src.Type == VideoCamera:
		buf = w.selectCamera(buf, cfg)
	case w.isScreenshare():
		buf = w.selectScreenshare(buf, cfg)
	}
	w.hi = len(buf)
	return buf
}

// selectCamera keeps, among active layers (all when none is active yet): those below the
// preferred height that fit maxHeight, those up to maxHeight with at least the preferred frame
// rate (capped at the source's best), and those at the source's lowest height. The preferred
// layer is the last kept one not above the preferred height. Unlike JVB, a layer below the
// preferred height but above maxHeight is not kept: the receiver's limit holds.
func (w *allocSource) selectCamera(buf []int, cfg AllocatorConfig) []int {
	layers := w.src.Layers
	minHeight, maxFPS, anyActive := math.MaxInt, 0.0, false
	for _, l := range layers {
		minHeight = min(minHeight, l.Height)
		if allocKnownFPS(l.FrameRate) {
			maxFPS = max(maxFPS, l.FrameRate)
		}
		anyActive = anyActive || l.Bitrate > 0
	}
	maxH := w.constraints.MaxHeight
	prefHeight, prefFPS := Unlimited, float64(Unlimited)
	if maxH < 0 || maxH > allocThumbnailHeight {
		prefHeight, prefFPS = cfg.OnstagePreferredHeight, cfg.OnstagePreferredFramerate
	}
	if maxFPS > 0 {
		prefFPS = min(prefFPS, maxFPS)
	}
	effPrefHeight := max(prefHeight, minHeight)
	for i, l := range layers {
		if anyActive && l.Bitrate == 0 {
			continue
		}
		fits := maxH < 0 || l.Height <= maxH
		fastEnough := !allocKnownFPS(l.FrameRate) || l.FrameRate >= prefFPS
		if (fits && l.Height < prefHeight) || (fits && fastEnough) || l.Height == minHeight {
			buf = append(buf, i)
			if l.Height <= effPrefHeight {
				w.preferred = len(buf) - 1 - w.lo
			}
		}
	}
	return buf
}

// selectScreenshare keeps the active layers (all when none is active yet) up to maxHeight, or
// when none fits, those at the lowest height (only the first of them when their frame rate is
// unknown and the source is not on stage or selected: a VP9-like structure). The preferred
// layer is the best one; an on-stage or selected screenshare may oversend to the cheapest layer
// at the highest kept resolution.
func (w *allocSource) selectScreenshare(buf []int, cfg AllocatorConfig) []int {
	layers := w.src.Layers
	anyActive := false
	for _, l := range layers {
		anyActive = anyActive || l.Bitrate > 0
	}
	maxH := w.constraints.MaxHeight
	minHeight := math.MaxInt
	for i, l := range layers {
		if anyActive && l.Bitrate == 0 {
			continue
		}
		minHeight = min(minHeight, l.Height)
		if maxH < 0 || l.Height <= maxH {
			buf = append(buf, i)
		}
	}
	if len(buf) == w.lo {
		for i, l := range layers {
			if (anyActive && l.Bitrate == 0) || l.Height != minHeight {
				continue
			}
			buf = append(buf, i)
			if len(buf)-w.lo == 1 && !allocKnownFPS(l.FrameRate) && !w.stageLike() {
				break
			}
		}
	}
	n := len(buf) - w.lo
	w.preferred = n - 1
	if cfg.AllowOversendOnstage && w.stageLike() {
		topHeight := math.MinInt
		for _, idx := range buf[w.lo:] {
			topHeight = max(topHeight, layers[idx].Height)
		}
		for pos, idx := range buf[w.lo:] {
			if layers[idx].Height != topHeight {
				continue
			}
			if w.oversend < 0 || layers[idx].Bitrate < layers[buf[w.lo+w.oversend]].Bitrate {
				w.oversend = pos
			}
		}
	}
	return buf
}

// upgradeAllowed applies Hysteresis to moving to position pos of bitrate b when maxBps is what
// the source may use; margin says whether the headroom rule applies (not for oversend).
func (w *allocSource) upgradeAllowed(layers []int, pos int, b, maxBps, now int64, h Hysteresis, margin bool) bool {
	if w.capAt < 0 || layers[w.lo+pos] < w.capAt {
		return true
	}
	if h != (Hysteresis{}) && now-w.downAt < int64(w.hold) {
		return false
	}
	return !margin || h.UpgradeMargin == 0 || float64(b)*(1+h.UpgradeMargin) <= float64(maxBps)
}

// improve is one step of the loop for this source with remaining bps left over, and returns
// how much more the source now uses (negative when it moved to a better, cheaper layer).
func (w *allocSource) improve(layers []int, remaining int64, allowOversend bool, now int64, h Hysteresis, maxOversend uint64) int64 {
	n := w.hi - w.lo
	initial := w.bps(layers, w.target)
	maxBps := remaining + initial
	if w.target < 0 && w.preferred >= 0 && w.stageLike() {
		// Jump straight to the best layer up to the preferred one that fits.
		for pos := 0; pos <= w.preferred; pos++ {
			b := w.bps(layers, pos)
			if b > maxBps {
				break
			}
			if !w.upgradeAllowed(layers, pos, b, maxBps, now, h, true) {
				w.blocked = true
				break
			}
			w.target = pos
		}
	} else if w.target+1 < n {
		// One step, only if strictly below what is available.
		if b := w.bps(layers, w.target+1); b < maxBps {
			if w.upgradeAllowed(layers, w.target+1, b, maxBps, now, h, true) {
				w.target++
			} else {
				w.blocked = true
			}
		}
	}
	if w.target >= 0 {
		// A better layer that costs no more is taken at once (the best such one).
		cur := w.bps(layers, w.target)
		for pos := n - 1; pos > w.target; pos-- {
			if w.bps(layers, pos) <= cur {
				w.target = pos
				break
			}
		}
	}
	if allowOversend && w.oversend > w.target {
		limit := maxBps + int64(maxOversend)
		for pos := w.oversend; pos > w.target; pos-- {
			b := w.bps(layers, pos)
			if b <= limit && w.upgradeAllowed(layers, pos, b, limit, now, h, false) {
				w.target = pos
				break
			}
		}
	}
	return w.bps(layers, w.target) - initial
}

// result is the source's SourceLayers, with the reason it is below its ideal layer.
func (w *allocSource) result(layers []int) SourceLayers {
	sl := SourceLayers{
		Name: w.src.Name, Owner: w.src.Owner, Type: w.src.Type,
		OnStage: w.onStage, Selected: w.selected, Constraints: w.constraints,
		Target: -1, Ideal: -1, Reason: w.reason, Available: w.available,
	}
	n := w.hi - w.lo
	if n == 0 {
		return sl
	}
	sl.Required = w.src.Layers[layers[w.lo]]
	sl.Ideal, sl.IdealBps = layers[w.lo+n-1], uint64(w.bps(layers, n-1))
	sl.CheapestBps = uint64(w.bps(layers, 0))
	for pos := 1; pos < n; pos++ {
		sl.CheapestBps = min(sl.CheapestBps, uint64(w.bps(layers, pos)))
	}
	if w.oversend >= 0 {
		sl.OversendBps = uint64(w.bps(layers, w.oversend))
	}
	if w.target >= 0 {
		sl.Target, sl.TargetBps = layers[w.lo+w.target], uint64(w.bps(layers, w.target))
	}
	if w.target+1 < n {
		sl.NextBps = uint64(w.bps(layers, w.target+1))
	}
	sl.Suspended = w.target < 0 && sl.Required.Bitrate > 0
	switch {
	case w.target == n-1:
	case w.blocked:
		sl.Reason = ReasonHysteresisHold
	case !w.visited:
		sl.Reason = ReasonStagePriority
	default:
		sl.Reason = ReasonBandwidth
	}
	return sl
}
