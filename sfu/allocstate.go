package sfu

import (
	"context"
	"log/slog"
	"strconv"

	"gojvb/bwe"
)

// This file publishes each receiver's latest bandwidth allocation for readers on other
// goroutines: the bridge's gauges (JVB's endpoints_with_suspended_sources and
// num_eps_oversending), /debug, and a debug log line with every source's reason when the
// allocation changes. The sender goroutine builds a new immutable AllocationState after each
// allocation run (not per packet) and stores it in an atomic pointer.

// AllocationState is what a receiver's last allocation gave it, and why.
type AllocationState struct {
	Estimate    uint64             `json:"estimate_bps"` // what the allocation ran against; 0 = unknown (unlimited)
	Pacing      uint64             `json:"pacing_bps"`   // the pacer's rate; 0 = not pacing
	TargetBps   uint64             `json:"target_bps"`
	IdealBps    uint64             `json:"ideal_bps"`
	Oversending bool               `json:"oversending"`
	Suspended   int                `json:"suspended_sources"`
	Sources     []SourceAllocation `json:"sources"`
}

// SourceAllocation is one source's share: the layer it gets and would get with unlimited
// bandwidth (encoding/spatial/temporal, "" none) and the reason it is below that (bwe.Reason*).
type SourceAllocation struct {
	Name      string `json:"name"`
	Target    string `json:"target,omitempty"`
	Ideal     string `json:"ideal,omitempty"`
	TargetBps uint64 `json:"target_bps"`
	Suspended bool   `json:"suspended,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// AllocationReasons are the reasons a source can be below its ideal layer (bwe.Reason*), in
// the order the bridge's metrics list them.
var AllocationReasons = []string{bwe.ReasonBandwidth, bwe.ReasonHysteresisHold, bwe.ReasonStagePriority,
	bwe.ReasonOutsideLastN, bwe.ReasonConstraints, bwe.ReasonVideoDisabled, bwe.ReasonNoLayers}

// Allocation is the receiver's last allocation, or nil before its first.
func (e *Endpoint) Allocation() *AllocationState { return e.allocState.Load() }

// publishAllocation stores alloc (with the layers it indexes) for other goroutines, and logs
// every source's reason at debug level when targets or reasons changed.
func (e *Endpoint) publishAllocation(alloc *bwe.LayerAllocation, layersOf map[string][]bwe.Layer) {
	st := &AllocationState{Estimate: alloc.BWE, Pacing: e.rs.pacer.RateBps(), TargetBps: alloc.TargetBps,
		IdealBps: alloc.IdealBps, Oversending: alloc.Oversending, Sources: make([]SourceAllocation, 0, len(alloc.Sources))}
	for _, sl := range alloc.Sources {
		layers := layersOf[sl.Name]
		st.Sources = append(st.Sources, SourceAllocation{Name: sl.Name, Target: layerName(layers, sl.Target),
			Ideal: layerName(layers, sl.Ideal), TargetBps: sl.TargetBps, Suspended: sl.Suspended, Reason: sl.Reason})
		if sl.Suspended {
			st.Suspended++
		}
	}
	prev := e.allocState.Swap(st)
	if e.log.Enabled(context.Background(), slog.LevelDebug) && (prev == nil || !sameSources(prev.Sources, st.Sources)) {
		attrs := make([]any, 0, 2*len(st.Sources)+4)
		attrs = append(attrs, "bwe", st.Estimate, "oversending", st.Oversending)
		for _, s := range st.Sources {
			attrs = append(attrs, s.Name, s.Target+"/"+s.Ideal+" "+s.Reason)
		}
		e.log.Debug("allocation changed", attrs...)
	}
}

func sameSources(a, b []SourceAllocation) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Target != b[i].Target || a[i].Reason != b[i].Reason {
			return false
		}
	}
	return true
}

// layerName is "E<encoding>S<spatial>T<temporal>" of layers[i], "" for none.
func layerName(layers []bwe.Layer, i int) string {
	if i < 0 || i >= len(layers) {
		return ""
	}
	l := layers[i]
	return "E" + strconv.Itoa(l.Encoding) + "S" + strconv.Itoa(max(l.Spatial, 0)) + "T" + strconv.Itoa(max(l.Temporal, 0))
}
