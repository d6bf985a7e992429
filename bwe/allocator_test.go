package bwe

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// allocSettings is a receiver's settings after one ReceiverVideoConstraints message.
func allocSettings(u Update) Settings {
	cfg := DefaultConfig()
	s := NewSettings(cfg, -1)
	s.Apply(cfg, u)
	return s
}

// allocThumbs are n simulcast cameras t0-v0 … owned by t0 …, and their owners in speaker order.
func allocThumbs(n int) ([]string, []LayeredSource) {
	speakers := make([]string, n)
	sources := make([]LayeredSource, n)
	for i := range n {
		speakers[i] = fmt.Sprintf("t%d", i)
		sources[i] = allocCamera(speakers[i]+"-v0", speakers[i])
	}
	return speakers, sources
}

// allocTargets is name -> target layer of an allocation.
func allocTargets(la LayerAllocation) map[string]int {
	m := make(map[string]int, len(la.Sources))
	for _, sl := range la.Sources {
		m[sl.Name] = sl.Target
	}
	return m
}

// allocCheckSums checks that TargetBps and IdealBps are the sums of the sources'.
func allocCheckSums(t *testing.T, la LayerAllocation) {
	t.Helper()
	var target, ideal uint64
	for _, sl := range la.Sources {
		target += sl.TargetBps
		ideal += sl.IdealBps
	}
	if target != la.TargetBps || ideal != la.IdealBps {
		t.Errorf("TargetBps %d IdealBps %d, sources sum to %d and %d", la.TargetBps, la.IdealBps, target, ideal)
	}
}

func TestAllocatorLoop(t *testing.T) {
	stage := Update{OnStage: []string{"a-v0"}, HasOnStage: true,
		PerSource: map[string]Constraints{"a-v0": HeightOnly(720)}}
	abc := []string{"a", "b", "c"}
	threeCams := []LayeredSource{allocCamera("a-v0", "a"), allocCamera("b-v0", "b"), allocCamera("c-v0", "c")}
	screen := allocScreen("s-v0", "s", Layer{Height: 1080, FrameRate: 5, Bitrate: 1_200_000})
	screenFirst := append([]LayeredSource{screen}, threeCams[1:]...)
	screenStage := Update{OnStage: []string{"s-v0"}, HasOnStage: true}
	noOversend := DefaultAllocatorConfig()
	noOversend.AllowOversendOnstage = false
	muted := allocCamera("m-v0", "m")
	muted.Type = VideoDisabled

	for _, tc := range []struct {
		name       string
		cfg        *AllocatorConfig // nil: default without hysteresis
		bwe        uint64
		speakers   []string
		sources    []LayeredSource
		u          Update
		want       map[string]int    // name -> target layer
		reasons    map[string]string // name -> reason ("" = at ideal)
		oversend   bool
		remaining  int64 // checked when not 0
		suspension bool  // Summary is not empty
	}{
		{
			// The on-stage source jumps to 360p/30 at once; thumbnails then step round-robin,
			// each step needing a bitrate strictly below what is left: c stops at 15 fps with
			// exactly 100k needed and 100k available.
			name: "on stage jumps to preferred, thumbnails step", bwe: 700_000,
			speakers: abc, sources: threeCams, u: stage,
			want:    map[string]int{"a-v0": 5, "b-v0": 2, "c-v0": 1},
			reasons: map[string]string{"a-v0": ReasonBandwidth, "b-v0": "", "c-v0": ReasonBandwidth},
		},
		{
			// 450k cannot carry 360p/30: a stays at 180p/30 and nothing is left for thumbnails,
			// even though 350k would carry them: the stage is served first.
			name: "on stage below preferred blocks thumbnails", bwe: 450_000,
			speakers: abc, sources: threeCams, u: stage,
			want:       map[string]int{"a-v0": 2, "b-v0": -1, "c-v0": -1},
			reasons:    map[string]string{"a-v0": ReasonBandwidth, "b-v0": ReasonStagePriority, "c-v0": ReasonStagePriority},
			suspension: true,
		},
		{
			name: "unknown budget: every source at its constraint", bwe: 0,
			speakers: abc, sources: threeCams, u: stage,
			want:    map[string]int{"a-v0": 8, "b-v0": 2, "c-v0": 2},
			reasons: map[string]string{"a-v0": "", "b-v0": "", "c-v0": ""},
		},
		{
			name: "lastN follows speaker order", bwe: 0,
			speakers: []string{"c", "b", "a"}, sources: threeCams, u: Update{LastN: intp(2)},
			want:    map[string]int{"c-v0": 2, "b-v0": 2, "a-v0": -1},
			reasons: map[string]string{"a-v0": ReasonOutsideLastN},
		},
		{
			// 180k: all three at 7.5 fps (150k), then only the first in line steps to 15 fps.
			name: "tile view serves in priority order", bwe: 180_000,
			speakers: []string{"c", "b", "a"}, sources: threeCams, u: Update{},
			want: map[string]int{"c-v0": 1, "b-v0": 0, "a-v0": 0},
		},
		{
			name: "strictly below: exact fit is not taken", bwe: 100_000,
			speakers: abc[:1], sources: threeCams[:1], u: Update{},
			want: map[string]int{"a-v0": 1},
		},
		{
			name: "strictly below: one bps more is", bwe: 100_001,
			speakers: abc[:1], sources: threeCams[:1], u: Update{},
			want: map[string]int{"a-v0": 2},
		},
		{
			// 1.2M at 900k: the on-stage screenshare oversends by 300k; nothing else fits.
			name: "on-stage screenshare oversends", bwe: 900_000,
			speakers: []string{"s", "b", "c"}, sources: screenFirst, u: screenStage,
			want:     map[string]int{"s-v0": 0, "b-v0": -1, "c-v0": -1},
			reasons:  map[string]string{"s-v0": "", "b-v0": ReasonBandwidth},
			oversend: true, remaining: -300_000, suspension: true,
		},
		{
			name: "oversend is bounded by max-oversend-bitrate", bwe: 600_000,
			speakers: []string{"s", "b", "c"}, sources: screenFirst, u: screenStage,
			want:    map[string]int{"s-v0": -1, "b-v0": -1, "c-v0": -1},
			reasons: map[string]string{"s-v0": ReasonBandwidth, "b-v0": ReasonStagePriority},
			// b and c wait for the stage, as in JVB.
			suspension: true,
		},
		{
			name: "oversend off in config", cfg: &noOversend, bwe: 900_000,
			speakers: []string{"s", "b", "c"}, sources: screenFirst, u: screenStage,
			want:       map[string]int{"s-v0": -1},
			reasons:    map[string]string{"s-v0": ReasonBandwidth},
			suspension: true,
		},
		{
			// JVB doc/allocation.md, stage view (2): A in HD, B, C in 180p, the rest disabled.
			name: "doc stage view 2", bwe: 0,
			speakers: []string{"a", "b", "c", "d"},
			sources:  append(threeCams[:3:3], allocCamera("d-v0", "d")),
			u: Update{OnStage: []string{"a-v0"}, HasOnStage: true, Default: &Constraints{MaxHeight: 0, MaxFrameRate: -1},
				PerSource: map[string]Constraints{"a-v0": HeightOnly(720), "b-v0": HeightOnly(180), "c-v0": HeightOnly(180)}},
			want:    map[string]int{"a-v0": 8, "b-v0": 2, "c-v0": 2, "d-v0": -1},
			reasons: map[string]string{"d-v0": ReasonConstraints},
		},
		{
			// JVB doc/allocation.md, tile view (1): maxFrameRate 15 is not applied.
			name: "doc tile view 1", bwe: 0,
			speakers: abc, sources: threeCams,
			u:    Update{Default: &Constraints{MaxHeight: 180, MaxFrameRate: 15}},
			want: map[string]int{"a-v0": 2, "b-v0": 2, "c-v0": 2},
		},
		{
			// JVB doc/allocation.md, tile view (2): all in 360p.
			name: "doc tile view 2", bwe: 0,
			speakers: abc, sources: threeCams, u: Update{Default: &Constraints{MaxHeight: 360, MaxFrameRate: -1}},
			want: map[string]int{"a-v0": 5, "b-v0": 5, "c-v0": 5},
		},
		{
			name: "disabled video type and frame rate 0", bwe: 0,
			speakers: []string{"a", "m"}, sources: []LayeredSource{threeCams[0], muted},
			u:       Update{PerSource: map[string]Constraints{"a-v0": {MaxHeight: 720, MaxFrameRate: 0}}},
			want:    map[string]int{"a-v0": -1, "m-v0": -1},
			reasons: map[string]string{"a-v0": ReasonConstraints, "m-v0": ReasonVideoDisabled},
		},
		{
			name: "no layers known", bwe: 0,
			speakers: abc[:1], sources: []LayeredSource{{Source: threeCams[0].Source}}, u: Update{},
			want:    map[string]int{"a-v0": -1},
			reasons: map[string]string{"a-v0": ReasonNoLayers},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultAllocatorConfig()
			cfg.Hysteresis = Hysteresis{}
			if tc.cfg != nil {
				cfg = *tc.cfg
			}
			la := NewAllocator(cfg).Allocate(0, tc.bwe, tc.speakers, tc.sources, allocSettings(tc.u))
			got := allocTargets(la)
			for name, want := range tc.want {
				if got[name] != want {
					t.Errorf("%s: target %s, want %s", name, allocLayerName(got[name]), allocLayerName(want))
				}
			}
			for _, sl := range la.Sources {
				if want, ok := tc.reasons[sl.Name]; ok && sl.Reason != want {
					t.Errorf("%s: reason %q, want %q", sl.Name, sl.Reason, want)
				}
				if (sl.Target >= 0) != allocHas(la.Forwarded, sl.Name) {
					t.Errorf("%s: target %d but Forwarded %v", sl.Name, sl.Target, la.Forwarded)
				}
			}
			if la.Oversending != tc.oversend {
				t.Errorf("Oversending %v, want %v", la.Oversending, tc.oversend)
			}
			if tc.remaining != 0 && la.Remaining != tc.remaining {
				t.Errorf("Remaining %d, want %d", la.Remaining, tc.remaining)
			}
			if tc.bwe > 0 && la.TargetBps > tc.bwe+cfg.MaxOversendBitrate || !la.Oversending && tc.bwe > 0 && la.TargetBps > tc.bwe {
				t.Errorf("TargetBps %d over bwe %d", la.TargetBps, tc.bwe)
			}
			if (la.Summary() != "") != tc.suspension {
				t.Errorf("Summary %q, want suspension %v", la.Summary(), tc.suspension)
			}
			allocCheckSums(t, la)
		})
	}
}

func allocHas(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestAllocatorScreenshareBeforeThumbnails: a selected screenshare in tile view with 20
// thumbnails and a budget below its bitrate. JVB would give the 20 thumbnails 50k each and
// suspend the screenshare; here it is served first and oversends, the thumbnails wait.
func TestAllocatorScreenshareBeforeThumbnails(t *testing.T) {
	speakers, sources := allocThumbs(20)
	// The screenshare's owner speaks last, and an on-stage camera is ahead of it.
	speakers = append(speakers, "s")
	sources = append(sources, allocScreen("s-v1", "s",
		Layer{Encoding: 0, Height: 360, FrameRate: 5, Bitrate: 300_000},
		Layer{Encoding: 1, Height: 1080, FrameRate: 5, Bitrate: 1_000_000}))
	s := allocSettings(Update{OnStage: []string{"t3-v0"}, HasOnStage: true, Selected: []string{"s-v1"}, HasSelected: true,
		PerSource: map[string]Constraints{"t3-v0": HeightOnly(720), "s-v1": HeightOnly(Unlimited)}})
	for _, bwe := range []uint64{600_000, 900_000, 1_100_000} {
		t.Run(fmt.Sprint(bwe), func(t *testing.T) {
			la := NewAllocator(DefaultAllocatorConfig()).Allocate(0, bwe, speakers, sources, s)
			got := allocTargets(la)
			if got["s-v1"] != 1 {
				t.Fatalf("screenshare at layer %d, want 1 (1080p); allocation %v", got["s-v1"], got)
			}
			if la.TargetBps > bwe+500_000 {
				t.Errorf("TargetBps %d over bwe %d plus oversend", la.TargetBps, bwe)
			}
			for _, sl := range la.Sources {
				if sl.Name != "s-v1" && sl.Name != "t3-v0" && sl.Target >= 0 {
					t.Errorf("thumbnail %s forwarded at %d before the on-stage camera reached 360p", sl.Name, sl.Target)
				}
			}
			if la.Sources[0].Name != "t3-v0" || la.Sources[1].Name != "s-v1" {
				t.Errorf("output order starts %s, %s; want the priority order t3-v0, s-v1", la.Sources[0].Name, la.Sources[1].Name)
			}
		})
	}
	// With plenty of budget everyone is served, the screenshare in full.
	la := NewAllocator(DefaultAllocatorConfig()).Allocate(0, 10_000_000, speakers, sources, s)
	if len(la.Forwarded) != 21 || la.Oversending {
		t.Errorf("forwarded %d, oversending %v; want all 21 without oversending", len(la.Forwarded), la.Oversending)
	}
}

func TestAllocatorShouldRun(t *testing.T) {
	a := NewAllocator(DefaultAllocatorConfig())
	if !a.ShouldRun(1_000_000, 0) {
		t.Fatal("first estimate does not run the allocation")
	}
	a.Allocate(0, 1_000_000, nil, nil, allocSettings(Update{}))
	sec := int64(time.Second)
	for _, tc := range []struct {
		bwe  uint64
		now  int64
		want bool
	}{
		{1_000_000, sec, false},
		{1_150_000, sec, false}, // exactly 15 %: not more than the threshold
		{1_150_001, sec, true},
		{860_000, sec, false},
		{849_999, sec, true},
		{0, sec, true}, // to unknown
		{1_000_000, 5*sec - 1, false},
		{1_000_000, 5 * sec, true}, // max-time-between-calculations
	} {
		if got := a.ShouldRun(tc.bwe, tc.now); got != tc.want {
			t.Errorf("ShouldRun(%d, %v) = %v, want %v", tc.bwe, time.Duration(tc.now), got, tc.want)
		}
	}
	a.Allocate(6*sec, 0, nil, nil, allocSettings(Update{}))
	if a.ShouldRun(0, 7*sec) || !a.ShouldRun(100, 7*sec) {
		t.Error("from unknown: unchanged should not run, any estimate should")
	}
}

func TestAllocatorSummary(t *testing.T) {
	speakers, sources := allocThumbs(6)
	cfg := DefaultAllocatorConfig()
	la := NewAllocator(cfg).Allocate(0, 120_000, speakers, sources, allocSettings(Update{}))
	want := "Sources suspended due to insufficient bandwidth (bwe=120000 bps, remaining=20000 bps, " +
		"maxOversend=500000 bps): t2-v0[type=camera onStage=false reason=insufficient-bandwidth " +
		"required=E0S0T0/180p/7.5fps=50000 cheapest=50000 ideal=100000 oversend=none available=20000 " +
		"constraints=180p/?fps], t3-v0[type=camera onStage=false reason=insufficient-bandwidth " +
		"required=E0S0T0/180p/7.5fps=50000 cheapest=50000 ideal=100000 oversend=none available=20000 " +
		"constraints=180p/?fps], t4-v0[type=camera onStage=false reason=insufficient-bandwidth " +
		"required=E0S0T0/180p/7.5fps=50000 cheapest=50000 ideal=100000 oversend=none available=20000 " +
		"constraints=180p/?fps], and 1 more"
	if got := la.Summary(); got != want {
		t.Errorf("Summary\n got %s\nwant %s", got, want)
	}
	if la := NewAllocator(cfg).Allocate(0, 0, speakers, sources, allocSettings(Update{})); la.Summary() != "" {
		t.Errorf("Summary with nothing suspended: %q", la.Summary())
	}
	// A source that is not sending yet is not suspended (JVB's definition), so not logged.
	for i := range sources {
		for j := range sources[i].Layers {
			sources[i].Layers[j].Bitrate = 0
		}
	}
	la = NewAllocator(cfg).Allocate(0, 1, speakers, sources, allocSettings(Update{}))
	if s := la.Summary(); s != "" || strings.Contains(s, "t0") {
		t.Errorf("Summary for silent sources: %q", s)
	}
}

// The line logged after an allocation: the Summary when the suspended set changed, nothing when
// it did not, and nothing (not an empty line) when every source resumed.
func TestAllocatorSuspensionNews(t *testing.T) {
	speakers, sources := allocThumbs(6)
	cfg := DefaultAllocatorConfig()
	a := NewAllocator(cfg)
	var none LayerAllocation
	low := a.Allocate(0, 120_000, speakers, sources, allocSettings(Update{}))
	if got := low.SuspensionNews(none); got == "" || got != low.Summary() {
		t.Errorf("first suspensions: news %q, want the Summary", got)
	}
	again := NewAllocator(cfg).Allocate(0, 120_000, speakers, sources, allocSettings(Update{}))
	if got := again.SuspensionNews(low); got != "" {
		t.Errorf("same suspensions: news %q, want none", got)
	}
	high := NewAllocator(cfg).Allocate(0, 0, speakers, sources, allocSettings(Update{}))
	if got := high.SuspensionNews(low); got != "" {
		t.Errorf("every source resumed: news %q, want none", got)
	}
}

func TestAllocatorSameSuspensions(t *testing.T) {
	speakers, sources := allocThumbs(6)
	s := allocSettings(Update{})
	a := NewAllocator(DefaultAllocatorConfig())
	// 120k: t2…t5 suspended; 125k: still t2…t5 (remaining differs), 175k: t3…t5.
	first := a.Allocate(0, 120_000, speakers, sources, s)
	same := NewAllocator(DefaultAllocatorConfig()).Allocate(0, 125_000, speakers, sources, s)
	fewer := NewAllocator(DefaultAllocatorConfig()).Allocate(0, 175_000, speakers, sources, s)
	none := NewAllocator(DefaultAllocatorConfig()).Allocate(0, 0, speakers, sources, s)
	if first.Summary() == same.Summary() {
		t.Fatal("the two summaries are equal; the test needs differing numbers")
	}
	for _, tc := range []struct {
		name      string
		la, prev  LayerAllocation
		wantEqual bool
	}{
		{"same sources, other numbers", same, first, true},
		{"one fewer", fewer, first, false},
		{"one more", first, fewer, false},
		{"none and none", none, none, true},
		{"none after some", none, first, false},
		{"first run", first, LayerAllocation{}, false},
	} {
		if got := tc.la.SameSuspensions(tc.prev); got != tc.wantEqual {
			t.Errorf("%s: SameSuspensions %v, want %v", tc.name, got, tc.wantEqual)
		}
	}
}
