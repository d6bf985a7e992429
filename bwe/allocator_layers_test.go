package bwe

import (
	"fmt"
	"slices"
	"testing"
)

// allocCamBps are the bitrates of a 3-encoding × 3-temporal-layer simulcast camera, each
// including the temporal layers below it: 180p, 360p, 720p at 7.5, 15 and 30 fps.
var allocCamBps = [9]uint64{50_000, 75_000, 100_000, 250_000, 375_000, 500_000, 700_000, 1_000_000, 1_500_000}

// allocCamera is a simulcast camera with the layers of allocCamBps; layer index = 3*encoding +
// temporal layer.
func allocCamera(name, owner string) LayeredSource {
	ls := LayeredSource{Source: Source{Name: name, Owner: owner, Type: VideoCamera}}
	for e, h := range []int{180, 360, 720} {
		for tl, fps := range []float64{7.5, 15, 30} {
			ls.Layers = append(ls.Layers, Layer{Encoding: e, Temporal: tl, Height: h, FrameRate: fps,
				Bitrate: allocCamBps[3*e+tl]})
		}
	}
	return ls
}

// allocScreen is a screenshare with the given layers.
func allocScreen(name, owner string, layers ...Layer) LayeredSource {
	return LayeredSource{Source: Source{Name: name, Owner: owner, Type: VideoDesktop}, Layers: layers}
}

// allocConsidered runs layer selection alone and returns the considered layer indexes and the
// preferred and oversend ones (-1 none).
func allocConsidered(cfg AllocatorConfig, ls LayeredSource, c Constraints, onStage, selected bool) (layers []int, preferred, oversend int) {
	w := allocSource{src: &ls, constraints: c, onStage: onStage, selected: selected}
	buf := w.selectLayers(nil, cfg)
	preferred, oversend = -1, -1
	if w.preferred >= 0 {
		preferred = buf[w.lo+w.preferred]
	}
	if w.oversend >= 0 {
		oversend = buf[w.lo+w.oversend]
	}
	return buf[w.lo:w.hi], preferred, oversend
}

func TestAllocatorCameraLayersConsidered(t *testing.T) {
	cfg := DefaultAllocatorConfig()
	cam := allocCamera("a-v0", "a")
	inactive720 := allocCamera("a-v0", "a")
	for i := 6; i < 9; i++ {
		inactive720.Layers[i].Bitrate = 0
	}
	silent := allocCamera("a-v0", "a")
	for i := range silent.Layers {
		silent.Layers[i].Bitrate = 0
	}
	fps15 := LayeredSource{Source: cam.Source}
	for _, h := range []int{180, 360, 720} {
		fps15.Layers = append(fps15.Layers, Layer{Height: h, FrameRate: 7.5, Bitrate: 1}, Layer{Height: h, FrameRate: 15, Bitrate: 2})
	}
	single720 := LayeredSource{Source: cam.Source, Layers: []Layer{{Height: 720, FrameRate: 30, Bitrate: 1_000_000}}}
	for _, tc := range []struct {
		name      string
		src       LayeredSource
		c         Constraints
		want      []int
		preferred int
	}{
		// JVB's documented default: 180p/7.5, 15, 30, 360p/30, 720p/30; the low-fps 360p and
		// 720p layers are pruned.
		{"720p", cam, HeightOnly(720), []int{0, 1, 2, 5, 8}, 5},
		{"unlimited", cam, HeightOnly(Unlimited), []int{0, 1, 2, 5, 8}, 5},
		{"360p", cam, HeightOnly(360), []int{0, 1, 2, 5}, 5},
		// A thumbnail has no preferred frame rate: every 180p layer, preferred the best.
		{"180p thumbnail", cam, HeightOnly(180), []int{0, 1, 2}, 2},
		{"just above a thumbnail", cam, HeightOnly(200), []int{0, 1, 2}, 2},
		// A frame-rate limit is not applied (only 0 is honoured).
		{"frame rate limit ignored", cam, Constraints{MaxHeight: 180, MaxFrameRate: 15}, []int{0, 1, 2}, 2},
		{"inactive layers skipped", inactive720, HeightOnly(720), []int{0, 1, 2, 5}, 5},
		{"nothing active yet: all candidates", silent, HeightOnly(720), []int{0, 1, 2, 5, 8}, 5},
		// The preferred frame rate is capped at the source's best.
		{"source at most 15 fps", fps15, HeightOnly(720), []int{0, 1, 3, 5}, 3},
		// A single layer taller than allowed is still considered (JVB exceeds the constraint
		// rather than showing nothing).
		{"single layer above maxHeight", single720, HeightOnly(180), []int{0}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, preferred, oversend := allocConsidered(cfg, tc.src, tc.c, true, false)
			if !slices.Equal(got, tc.want) || preferred != tc.preferred || oversend != -1 {
				t.Errorf("considered %v preferred %d oversend %d, want %v preferred %d oversend -1",
					got, preferred, oversend, tc.want, tc.preferred)
			}
		})
	}
}

func TestAllocatorScreenshareLayersConsidered(t *testing.T) {
	cfg := DefaultAllocatorConfig()
	noOversend := cfg
	noOversend.AllowOversendOnstage = false
	simulcast := allocScreen("s", "e",
		Layer{Encoding: 0, Height: 360, FrameRate: 5, Bitrate: 300_000},
		Layer{Encoding: 1, Height: 1080, FrameRate: 5, Bitrate: 1_200_000})
	// VP9-like: three encodings of the same height and unknown frame rate, the middle cheapest.
	vp9 := allocScreen("s", "e",
		Layer{Encoding: 0, Height: 1080, FrameRate: -1, Bitrate: 500_000},
		Layer{Encoding: 1, Height: 1080, FrameRate: -1, Bitrate: 400_000},
		Layer{Encoding: 2, Height: 1080, FrameRate: -1, Bitrate: 900_000})
	for _, tc := range []struct {
		name                string
		cfg                 AllocatorConfig
		src                 LayeredSource
		c                   Constraints
		onStage, selected   bool
		want                []int
		preferred, oversend int
	}{
		{"on stage, unlimited", cfg, simulcast, HeightOnly(Unlimited), true, false, []int{0, 1}, 1, 1},
		{"selected counts as on stage", cfg, simulcast, HeightOnly(Unlimited), false, true, []int{0, 1}, 1, 1},
		{"thumbnail: no oversend", cfg, simulcast, HeightOnly(Unlimited), false, false, []int{0, 1}, 1, -1},
		{"oversend off in config", noOversend, simulcast, HeightOnly(Unlimited), true, false, []int{0, 1}, 1, -1},
		{"maxHeight keeps the low layer", cfg, simulcast, HeightOnly(720), true, false, []int{0}, 0, 0},
		{"nothing fits: the lowest", cfg, simulcast, HeightOnly(180), false, false, []int{0}, 0, -1},
		{"vp9 thumbnail: first only", cfg, vp9, HeightOnly(180), false, false, []int{0}, 0, -1},
		{"vp9 on stage: all, oversend cheapest", cfg, vp9, HeightOnly(180), true, false, []int{0, 1, 2}, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, preferred, oversend := allocConsidered(tc.cfg, tc.src, tc.c, tc.onStage, tc.selected)
			if !slices.Equal(got, tc.want) || preferred != tc.preferred || oversend != tc.oversend {
				t.Errorf("considered %v preferred %d oversend %d, want %v preferred %d oversend %d",
					got, preferred, oversend, tc.want, tc.preferred, tc.oversend)
			}
		})
	}
}

func TestAllocatorOtherTypesHaveNoLayers(t *testing.T) {
	cfg := DefaultAllocatorConfig()
	for _, vt := range []VideoType{VideoNone, VideoDisabled, VideoType(99)} {
		src := allocCamera("a-v0", "a")
		src.Type = vt
		if got, _, _ := allocConsidered(cfg, src, HeightOnly(720), true, false); len(got) != 0 {
			t.Errorf("%v: considered %v, want none", vt, got)
		}
	}
}

// allocLayerName prints a layer index of allocCamera for failure messages.
func allocLayerName(idx int) string {
	if idx < 0 {
		return "none"
	}
	return fmt.Sprintf("%dp/%gfps", []int{180, 360, 720}[idx/3], []float64{7.5, 15, 30}[idx%3])
}
