package bwe

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// allocFuzzConference decodes an allocator config, the receiver's settings, the speaker order
// and layered sources from r. Endpoint e6 owns sources but never speaks (like the receiver).
func allocFuzzConference(r *bytesReader) (AllocatorConfig, []string, []LayeredSource, Settings) {
	cfg := DefaultAllocatorConfig()
	cfg.JVBLastN = r.next()%8 - 2
	cfg.SSRCLimitVideo = r.next()%12 - 2
	cfg.AllowOversendOnstage = r.next()%4 != 0
	cfg.MaxOversendBitrate = []uint64{500_000, 0, 1, 3_000_000}[r.next()%4]
	if r.next()%3 == 0 {
		cfg.Hysteresis = Hysteresis{}
	}
	speakers := make([]string, r.next()%7)
	for i := range speakers {
		speakers[i] = fmt.Sprintf("e%d", i)
	}
	types := []VideoType{VideoCamera, VideoDesktop, VideoDesktopHighFPS, VideoNone, VideoDisabled}
	fps := []float64{7.5, 15, 30, -1, 0, math.NaN(), math.Inf(1), 5}
	bitrates := []uint64{0, 50_000, 100_000, 500_000, 1_500_000, 1, math.MaxUint64, 2_500_000}
	sources := make([]LayeredSource, r.next()%10)
	for i := range sources {
		src := &sources[i]
		src.Name = fmt.Sprintf("s%d", r.next()%12)
		src.Owner = fmt.Sprintf("e%d", r.next()%7)
		src.Type = types[r.next()%len(types)]
		src.Layers = make([]Layer, r.next()%6)
		for j := range src.Layers {
			src.Layers[j] = Layer{Encoding: j, Height: r.pick(fuzzHeights...), FrameRate: fps[r.next()%len(fps)],
				Bitrate: bitrates[r.next()%len(bitrates)]}
		}
	}
	s := NewSettings(cfg.Config, r.next()%6-2)
	var u Update
	if r.next()%2 == 1 {
		n := r.next()%8 - 2
		u.LastN = &n
	}
	u.OnStage, u.HasOnStage = r.names("s", 12), true
	u.Selected, u.HasSelected = r.names("s", 12), true
	if r.next()%2 == 1 {
		c := r.constraints()
		u.Default = &c
	}
	u.PerSource = make(map[string]Constraints)
	for range r.next() % 4 {
		u.PerSource[fmt.Sprintf("s%d", r.next()%12)] = r.constraints()
	}
	s.Apply(cfg.Config, u)
	return cfg, speakers, sources, s
}

// FuzzAllocatorInvariants runs an allocator several times on a decoded conference with
// changing estimates and checks, every run: no panic; the targets fit the estimate, exceeding
// it only when Oversending, for a stage screenshare, and by at most MaxOversendBitrate; no
// source beyond the effective lastN (or disabled) gets a layer; the output follows Prioritize;
// indexes are in range; an unknown estimate gives every source its ideal layer; reasons and
// suspension agree.
func FuzzAllocatorInvariants(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{2, 5, 1, 0, 1, 6, 7, 3, 0, 0, 2, 3, 4, 0, 3, 1, 4, 5, 0, 0, 2, 5, 6, 0, 3, 6, 0, 2, 1, 1, 1})
	f.Add([]byte{1, 11, 0, 0, 2, 3, 6, 0, 1, 1, 5, 6, 0, 1, 6, 3, 4, 4, 5, 3, 1, 1, 0, 2, 0, 2, 1, 0, 3, 3, 1, 7, 2, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytesReader(data)
		cfg, speakers, sources, s := allocFuzzConference(&r)
		a := NewAllocator(cfg)
		estimates := []uint64{0, 1, 100_000, 450_000, 1_000_000, 5_000_000, math.MaxUint64, 700_000}
		now := int64(0)
		for run := range 1 + r.next()%4 {
			now += int64(r.next()) * int64(100*time.Millisecond)
			bwe := estimates[r.next()%len(estimates)]
			a.ShouldRun(bwe, now)
			la := a.Allocate(now, bwe, speakers, sources, s)
			allocCheckInvariants(t, run, cfg, bwe, speakers, sources, s, la)
		}
	})
}

func allocCheckInvariants(t *testing.T, run int, cfg AllocatorConfig, bwe uint64, speakers []string,
	sources []LayeredSource, s Settings, la LayerAllocation) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("run %d, bwe %d: %s\nallocation %+v", run, bwe, fmt.Sprintf(format, args...), la)
	}
	var plain []Source
	layersOf := make(map[string][]Layer)
	for _, src := range sources {
		plain = append(plain, src.Source)
		if _, dup := layersOf[src.Name]; !dup {
			layersOf[src.Name] = src.Layers
		}
	}
	ordered := Prioritize(speakers, plain, s)
	if len(ordered) != len(la.Sources) {
		fail("%d sources allocated, %d prioritized", len(la.Sources), len(ordered))
	}
	lastN := EffectiveLastN(cfg.Config, s)
	counted := 0 // enabled sources with non-zero constraints so far: lastN takes the first ones
	var sum uint64
	var fwd []string
	stageScreenshare := false
	for i, sl := range la.Sources {
		if sl.Name != ordered[i].Name {
			fail("source %d is %s, Prioritize says %s", i, sl.Name, ordered[i].Name)
		}
		inLastN := false
		if src := ordered[i]; src.Type.Enabled() && !s.ConstraintsFor(src.Name).Disabled() {
			inLastN = lastN < 0 || counted < lastN
			counted++
		}
		if sl.Target >= 0 && !inLastN {
			fail("%s: forwarded but not among the first %d sources that may be", sl.Name, lastN)
		}
		n := len(layersOf[sl.Name])
		if sl.Target < -1 || sl.Target >= n || sl.Ideal < -1 || sl.Ideal >= n || sl.Target > sl.Ideal {
			fail("%s: target %d ideal %d with %d layers", sl.Name, sl.Target, sl.Ideal, n)
		}
		if bwe == 0 && sl.Target != sl.Ideal {
			fail("%s: target %d below ideal %d with an unknown estimate", sl.Name, sl.Target, sl.Ideal)
		}
		if (sl.Reason == "") != (sl.Target >= 0 && sl.Target == sl.Ideal) {
			fail("%s: reason %q with target %d ideal %d", sl.Name, sl.Reason, sl.Target, sl.Ideal)
		}
		if sl.Suspended && (sl.Target >= 0 || !slices.Contains([]string{ReasonBandwidth, ReasonStagePriority, ReasonHysteresisHold}, sl.Reason)) {
			fail("%s: suspended with target %d reason %q", sl.Name, sl.Target, sl.Reason)
		}
		if sl.Target >= 0 {
			if sl.Constraints.Disabled() || !sl.Type.Enabled() {
				fail("%s: forwarded with constraints %+v type %v", sl.Name, sl.Constraints, sl.Type)
			}
			fwd = append(fwd, sl.Name)
			if (sl.Type == VideoDesktop || sl.Type == VideoDesktopHighFPS) && (sl.OnStage || sl.Selected) {
				stageScreenshare = true
			}
		}
		sum += sl.TargetBps
	}
	if lastN >= 0 && len(fwd) > lastN {
		fail("%d forwarded with effective lastN %d", len(fwd), lastN)
	}
	if !slices.Equal(fwd, la.Forwarded) {
		fail("Forwarded %v, sources with a target %v", la.Forwarded, fwd)
	}
	if sum != la.TargetBps {
		fail("TargetBps %d, sources sum to %d", la.TargetBps, sum)
	}
	if bwe > 0 {
		budget := min(bwe, allocMaxBps)
		switch {
		case !la.Oversending && la.TargetBps > budget:
			fail("TargetBps %d over the estimate without oversending", la.TargetBps)
		case la.TargetBps > budget+cfg.MaxOversendBitrate:
			fail("TargetBps %d over the estimate by more than %d", la.TargetBps, cfg.MaxOversendBitrate)
		case la.Oversending && !stageScreenshare:
			fail("oversending without a forwarded stage screenshare")
		case la.Remaining < -int64(cfg.MaxOversendBitrate):
			fail("remaining %d", la.Remaining)
		}
	}
	anySuspended := slices.ContainsFunc(la.Sources, func(sl SourceLayers) bool { return sl.Suspended })
	if (la.Summary() != "") != anySuspended {
		fail("Summary %q with suspended %v", la.Summary(), anySuspended)
	}
}

// allocBenchConference is 50 senders with a 5-layer camera each (180p/7.5, 15, 30, 360p/30,
// 720p/30), one on stage at 720p, two selected, thumbnails at 180p.
func allocBenchConference() ([]string, []LayeredSource, Settings) {
	speakers, sources := allocThumbs(50)
	for i := range sources {
		l := sources[i].Layers
		sources[i].Layers = []Layer{l[0], l[1], l[2], l[5], l[8]}
	}
	s := allocSettings(Update{OnStage: []string{"t17-v0"}, HasOnStage: true,
		Selected: []string{"t30-v0", "t31-v0"}, HasSelected: true,
		PerSource: map[string]Constraints{"t17-v0": HeightOnly(720)}})
	return speakers, sources, s
}

// BenchmarkAllocator50Sources5Layers is one bandwidth allocation for a receiver of a
// 51-endpoint conference.
func BenchmarkAllocator50Sources5Layers(b *testing.B) {
	speakers, sources, s := allocBenchConference()
	for _, bc := range []struct {
		name string
		bwe  uint64
		fwd  int
	}{{"3Mbps", 3_000_000, 21}, {"unlimited", 0, 50}} {
		b.Run(bc.name, func(b *testing.B) {
			a := NewAllocator(DefaultAllocatorConfig())
			now := int64(0)
			b.ReportAllocs()
			for b.Loop() {
				now += int64(time.Millisecond)
				la := a.Allocate(now, bc.bwe, speakers, sources, s)
				if len(la.Forwarded) < bc.fwd {
					b.Fatalf("forwarded %d, want at least %d", len(la.Forwarded), bc.fwd)
				}
			}
		})
	}
}
