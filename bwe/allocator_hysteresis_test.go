package bwe

import (
	"slices"
	"testing"
	"time"
)

// allocTrace drives one allocator the way the receiver's control goroutine does: every 100 ms
// it reads the estimate and the source's layers at time t and runs the allocation when
// ShouldRun says so (or every tick when always is set, as bursts of settings changes would).
// It returns the times at which the source's target changed, and the target at the end.
type allocTraceStep struct {
	at     time.Duration
	target int
	reason string
}

func allocTrace(cfg AllocatorConfig, d time.Duration, always bool,
	bwe func(t time.Duration) uint64, src func(t time.Duration) LayeredSource) []allocTraceStep {
	a := NewAllocator(cfg)
	s := allocSettings(Update{Default: &Constraints{MaxHeight: 360, MaxFrameRate: -1}})
	var steps []allocTraceStep
	prev := -2
	for t := time.Duration(0); t < d; t += 100 * time.Millisecond {
		b := bwe(t)
		if !always && !a.ShouldRun(b, int64(t)) {
			continue
		}
		la := a.Allocate(int64(t), b, []string{"a"}, []LayeredSource{src(t)}, s)
		if sl := la.Sources[0]; sl.Target != prev {
			steps = append(steps, allocTraceStep{t, sl.Target, sl.Reason})
			prev = sl.Target
		}
	}
	return steps
}

// allocSquare alternates between hi and lo every second, starting high.
func allocSquare(hi, lo uint64) func(time.Duration) uint64 {
	return func(t time.Duration) uint64 {
		if (t/time.Second)%2 == 0 {
			return hi
		}
		return lo
	}
}

func allocSteadyCamera(time.Duration) LayeredSource { return allocCamera("a-v0", "a") }

// The camera's 360p/30 layer costs 500k; a receiver limited to 360p needs more than 500k for it.

func TestAllocatorHysteresisEstimateWobble(t *testing.T) {
	const minute = time.Minute
	jvb := DefaultAllocatorConfig()
	jvb.Hysteresis = Hysteresis{}
	// ±10 % around the layer's bitrate: JVB flips every second.
	if steps := allocTrace(jvb, minute, false, allocSquare(550_000, 450_000), allocSteadyCamera); len(steps) < 50 {
		t.Fatalf("without hysteresis only %d target changes in a minute; the trace does not exercise flapping", len(steps))
	}
	steps := allocTrace(DefaultAllocatorConfig(), minute, false, allocSquare(550_000, 450_000), allocSteadyCamera)
	// 360p/30 at first (no history), down to 180p/30 once, and it stays there: +10 % is inside
	// the 15 % margin.
	if len(steps) != 2 || steps[0].target != 5 || steps[1].target != 2 {
		t.Fatalf("target changes %+v, want 360p/30 then one drop to 180p/30", steps)
	}
}

func TestAllocatorHysteresisLargeSwingsBackOff(t *testing.T) {
	cfg := DefaultAllocatorConfig()
	// ±30 %: beyond the margin, so the hold alone limits the flapping. Each recovery waits
	// at least the hold in force, which doubles from 2 s to 16 s.
	steps := allocTrace(cfg, time.Minute, false, allocSquare(650_000, 350_000), allocSteadyCamera)
	if len(steps) < 4 {
		t.Fatalf("target changes %+v: the source never recovered on a link that comes back", steps)
	}
	hold := cfg.Hysteresis.Hold
	for i := 2; i < len(steps); i += 2 {
		if steps[i].target <= steps[i-1].target {
			t.Fatalf("target changes %+v do not alternate up and down", steps)
		}
		if waited := steps[i].at - steps[i-1].at; waited < hold {
			t.Errorf("upgrade at %v only %v after the downgrade at %v, hold %v", steps[i].at, waited, steps[i-1].at, hold)
		}
		hold = min(2*hold, cfg.Hysteresis.MaxHold)
	}
	// JVB flips 60 times; here 0 up, 1 down, then up/down pairs after 2, 4, 8, 16, 16 s.
	if len(steps) > 12 {
		t.Errorf("%d target changes in a minute, want at most 12: %+v", len(steps), steps)
	}
	// A quiet period of 2×MaxHold resets the backoff: the next dip costs Hold again.
	a := NewAllocator(cfg)
	s := allocSettings(Update{Default: &Constraints{MaxHeight: 360, MaxFrameRate: -1}})
	src := []LayeredSource{allocCamera("a-v0", "a")}
	at := func(d time.Duration, bwe uint64) int {
		return a.Allocate(int64(d), bwe, []string{"a"}, src, s).Sources[0].Target
	}
	at(0, 650_000)
	at(time.Second, 350_000)   // hold 2 s
	at(4*time.Second, 650_000) // up
	at(5*time.Second, 350_000) // hold 4 s
	if got := at(8*time.Second, 650_000); got != 2 {
		t.Errorf("3 s after the second dip: %s, want still 180p/30 (4 s hold)", allocLayerName(got))
	}
	at(9*time.Second, 650_000) // up
	at(50*time.Second, 350_000)
	if got := at(52*time.Second, 650_000); got != 5 {
		t.Errorf("2 s after a dip following 41 s of calm: %s, want 360p/30 (hold back to 2 s)", allocLayerName(got))
	}
}

func TestAllocatorHysteresisLayerBitrateWobble(t *testing.T) {
	// A steady 520k link and a 360p/30 layer whose measured bitrate swings ±10 % around it,
	// with the allocation re-run every 100 ms (as a stream of layering changes would).
	wobble := func(t time.Duration) LayeredSource {
		src := allocCamera("a-v0", "a")
		if (t/time.Second)%2 == 0 {
			src.Layers[5].Bitrate = 470_000
		} else {
			src.Layers[5].Bitrate = 570_000
		}
		return src
	}
	steady := func(time.Duration) uint64 { return 520_000 }
	jvb := DefaultAllocatorConfig()
	jvb.Hysteresis = Hysteresis{}
	if steps := allocTrace(jvb, time.Minute, true, steady, wobble); len(steps) < 50 {
		t.Fatalf("without hysteresis only %d target changes; the trace does not exercise flapping", len(steps))
	}
	if steps := allocTrace(DefaultAllocatorConfig(), time.Minute, true, steady, wobble); len(steps) > 2 {
		t.Errorf("target changes %+v, want at most the first allocation and one drop", steps)
	}
}

func TestAllocatorHysteresisRecoversAfterHold(t *testing.T) {
	cfg := DefaultAllocatorConfig()
	bwe := func(t time.Duration) uint64 {
		switch {
		case t < time.Second:
			return 550_000
		case t < 2500*time.Millisecond:
			return 450_000
		default:
			return 2_000_000
		}
	}
	steps := allocTrace(cfg, 30*time.Second, false, bwe, allocSteadyCamera)
	// 360p at 0, 180p at 1 s; the rise at 2.5 s is held (the run then says why), and the end of
	// the 2 s hold (at 3 s) re-runs the allocation at once, which brings 360p back (not the
	// periodic run 5 s after the last one).
	want := []allocTraceStep{{0, 5, ""}, {time.Second, 2, ReasonBandwidth},
		{time.Second + cfg.Hysteresis.Hold, 5, ""}}
	if !slices.Equal(steps, want) {
		t.Fatalf("target changes %+v, want %+v", steps, want)
	}

	a := NewAllocator(cfg)
	s := allocSettings(Update{Default: &Constraints{MaxHeight: 360, MaxFrameRate: -1}})
	src := []LayeredSource{allocCamera("a-v0", "a")}
	a.Allocate(0, 550_000, []string{"a"}, src, s)
	a.Allocate(int64(time.Second), 450_000, []string{"a"}, src, s)
	sl := a.Allocate(int64(2*time.Second), 2_000_000, []string{"a"}, src, s).Sources[0]
	if sl.Target != 2 || sl.Reason != ReasonHysteresisHold {
		t.Errorf("during the hold: target %s reason %q, want 180p/30 and %q", allocLayerName(sl.Target), sl.Reason, ReasonHysteresisHold)
	}
	// An unknown estimate is not a congested link: no hold.
	if sl := a.Allocate(int64(2*time.Second), 0, []string{"a"}, src, s).Sources[0]; sl.Target != 5 {
		t.Errorf("unknown estimate during the hold: target %s, want 360p/30", allocLayerName(sl.Target))
	}
}

func TestAllocatorHysteresisIgnoresReceiverDowngrades(t *testing.T) {
	a := NewAllocator(DefaultAllocatorConfig())
	src := []LayeredSource{allocCamera("a-v0", "a")}
	at360 := allocSettings(Update{Default: &Constraints{MaxHeight: 360, MaxFrameRate: -1}})
	at180 := allocSettings(Update{Default: &Constraints{MaxHeight: 180, MaxFrameRate: -1}})
	off := allocSettings(Update{Default: &Constraints{MaxHeight: 0, MaxFrameRate: -1}})
	const bwe = 520_000 // carries 360p/30 without the 15 % margin
	a.Allocate(0, bwe, []string{"a"}, src, at360)
	a.Allocate(1, bwe, []string{"a"}, src, at180)
	if got := a.Allocate(2, bwe, []string{"a"}, src, at360).Sources[0].Target; got != 5 {
		t.Errorf("back to 360p after the receiver lowered and raised its limit: target %s, want 360p/30", allocLayerName(got))
	}
	a.Allocate(3, bwe, []string{"a"}, src, off)
	if got := a.Allocate(4, bwe, []string{"a"}, src, at360).Sources[0].Target; got != 5 {
		t.Errorf("after the receiver turned the source off and on: target %s, want 360p/30", allocLayerName(got))
	}
}

func TestAllocatorHysteresisHeldStageLetsThumbnailsThrough(t *testing.T) {
	a := NewAllocator(DefaultAllocatorConfig())
	speakers := []string{"a", "b", "c"}
	src := []LayeredSource{allocCamera("a-v0", "a"), allocCamera("b-v0", "b"), allocCamera("c-v0", "c")}
	s := allocSettings(Update{OnStage: []string{"a-v0"}, HasOnStage: true,
		PerSource: map[string]Constraints{"a-v0": HeightOnly(360)}})
	sec := int64(time.Second)
	// 700k: stage at 360p/30, thumbnails share the rest. A dip to 450k: stage at 180p/30,
	// thumbnails wait for it (JVB's rule).
	if got := allocTargets(a.Allocate(0, 700_000, speakers, src, s)); got["a-v0"] != 5 || got["b-v0"] < 0 {
		t.Fatalf("at 700k: %v, want a at 360p/30 and thumbnails", got)
	}
	if got := allocTargets(a.Allocate(sec, 450_000, speakers, src, s)); got["a-v0"] != 2 || got["b-v0"] != -1 {
		t.Fatalf("at 450k: %v, want a at 180p/30 and no thumbnails", got)
	}
	// 560k after the hold: 360p/30 (500k) would fit, but not with the 15 % margin (575k). The
	// stage stays at 180p/30 and the thumbnails get the rest instead of waiting.
	la := a.Allocate(4*sec, 560_000, speakers, src, s)
	if got := allocTargets(la); got["a-v0"] != 2 || got["b-v0"] != 2 || got["c-v0"] != 2 {
		t.Fatalf("at 560k: %v, want a held at 180p/30 and both thumbnails at 180p/30", got)
	}
	if la.Sources[0].Reason != ReasonHysteresisHold {
		t.Errorf("held stage reason %q, want %q", la.Sources[0].Reason, ReasonHysteresisHold)
	}
	// With the margin available the stage, served first, takes 360p/30 back.
	if got := allocTargets(a.Allocate(5*sec, 700_000, speakers, src, s)); got["a-v0"] != 5 {
		t.Errorf("at 700k: %v, want a at 360p/30", got)
	}
}

// videobridge.cc.trust-bwe = false: the estimate is ignored, as if unknown.
func TestAllocatorDistrustBWE(t *testing.T) {
	cfg := DefaultAllocatorConfig()
	cfg.DistrustBWE = true
	a := NewAllocator(cfg)
	s := allocSettings(Update{Default: &Constraints{MaxHeight: 360, MaxFrameRate: -1}})
	la := a.Allocate(0, 100_000, []string{"a"}, []LayeredSource{allocCamera("a-v0", "a")}, s)
	if sl := la.Sources[0]; sl.Target != sl.Ideal || la.BWE != 0 {
		t.Fatalf("distrusted 100 kbps estimate: target %d ideal %d, BWE %d; want the ideal layer, BWE 0", sl.Target, sl.Ideal, la.BWE)
	}
	if a.ShouldRun(50_000, int64(time.Second)) {
		t.Fatalf("a distrusted estimate's change re-ran the allocation")
	}
}

// NextBps tells probing what the next step up needs: a camera limited to 180p/30 by the budget
// next goes to 360p/30 (pruned 360p/7.5 and 360p/15 skipped); at its ideal layer nothing.
func TestAllocationNextStep(t *testing.T) {
	a := NewAllocator(DefaultAllocatorConfig())
	s := allocSettings(Update{Default: &Constraints{MaxHeight: 360, MaxFrameRate: -1}})
	src := []LayeredSource{allocCamera("a-v0", "a")}
	la := a.Allocate(0, allocCamBps[5]-1, []string{"a"}, src, s)
	if sl := la.Sources[0]; sl.Target != 2 || la.NextBps != allocCamBps[5] || sl.NextBps != allocCamBps[5] {
		t.Fatalf("target %s, next %d (source %d), want 180p/30 and next %d", allocLayerName(sl.Target), la.NextBps, sl.NextBps, allocCamBps[5])
	}
	if la := a.Allocate(int64(time.Minute), 0, []string{"a"}, src, s); la.NextBps != la.TargetBps || la.Sources[0].NextBps != 0 {
		t.Fatalf("at the ideal layer: next %d, target %d", la.NextBps, la.TargetBps)
	}
}
