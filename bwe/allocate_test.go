package bwe

import (
	"fmt"
	"slices"
	"testing"
)

func TestChooseEncodingByMaxHeight(t *testing.T) {
	three := []int{180, 360, 720}
	for _, tc := range []struct {
		heights   []int
		maxHeight int
		want      int
	}{
		{three, 180, 0},
		{three, 360, 1},
		{three, -1, 2},
		{three, 100, 0}, // even the lowest is taller: the lowest
		{three, 500, 1},
		{three, 720, 2},
		{three, 1080, 2},
		{[]int{720}, 180, 0}, // non-simulcast sender exceeds a low constraint
		{nil, 180, 0},        // layers not known yet
		{nil, -1, 0},
	} {
		if got := chooseEncoding(tc.heights, tc.maxHeight); got != tc.want {
			t.Errorf("heights %v maxHeight %d: encoding %d, want %d", tc.heights, tc.maxHeight, got, tc.want)
		}
	}
}

// conference is n camera sources e0-v0 .. e<n-1>-v0 in speaker order e0, e1, ...
func conference(n int) ([]string, []Source) {
	speakers := make([]string, n)
	sources := make([]Source, n)
	for i := range n {
		speakers[i] = fmt.Sprintf("e%d", i)
		sources[i] = cam(fmt.Sprintf("e%d-v0", i), speakers[i])
	}
	return speakers, sources
}

func TestAllocate(t *testing.T) {
	h := func(n int) *Constraints { c := HeightOnly(n); return &c }
	type enc = map[string]int // source -> expected encoding (absent = -1)
	for _, tc := range []struct {
		name      string
		cfg       func(*Config)
		n         int // conference size
		types     []VideoType
		u         Update   // applied to fresh settings
		forwarded []string // nil: check only count
		count     int
		encodings enc
	}{
		{name: "first message without default: 180p for everyone", n: 3, u: Update{},
			forwarded: []string{"e0-v0", "e1-v0", "e2-v0"}, encodings: enc{"e0-v0": 0, "e1-v0": 0, "e2-v0": 0}},
		{name: "lastN 1 gives only the dominant speaker", n: 3, u: Update{LastN: intp(1)},
			forwarded: []string{"e0-v0"}, encodings: enc{"e0-v0": 0}},
		{name: "lastN 0 gives nothing", n: 3, u: Update{LastN: intp(0)}, forwarded: []string{}},
		{name: "lastN -1 capped by ssrc-limit 50", n: 60, u: Update{LastN: intp(-1)}, count: 50},
		{name: "jvb-last-n caps", cfg: func(c *Config) { c.JVBLastN = 2 }, n: 5, u: Update{LastN: intp(4)},
			forwarded: []string{"e0-v0", "e1-v0"}},
		{name: "lastN 1 follows the selection", n: 3,
			u: Update{LastN: intp(1), Selected: []string{"e2-v0"}, HasSelected: true}, forwarded: []string{"e2-v0"}},
		{name: "disabled sources get 0 and do not count towards lastN", n: 4,
			types:     []VideoType{VideoNone, VideoCamera, VideoDisabled, VideoCamera},
			u:         Update{LastN: intp(2), OnStage: []string{"e0-v0"}, HasOnStage: true},
			forwarded: []string{"e1-v0", "e3-v0"}},
		{name: "zero constraints do not count towards lastN", n: 4,
			u:         Update{LastN: intp(2), PerSource: map[string]Constraints{"e0-v0": HeightOnly(0)}},
			forwarded: []string{"e1-v0", "e2-v0"}},
		{name: "zero frame rate disables a source", n: 2,
			u: Update{PerSource: map[string]Constraints{"e1-v0": {MaxHeight: 720, MaxFrameRate: 0}}}, forwarded: []string{"e0-v0"}},
		{name: "unknown names in constraints and selection are ignored", n: 2,
			u: Update{Selected: []string{"ghost-v0"}, HasSelected: true, OnStage: []string{"ghost-v1"}, HasOnStage: true,
				PerSource: map[string]Constraints{"ghost-v0": HeightOnly(720), "e1-v0": HeightOnly(360)}},
			forwarded: []string{"e0-v0", "e1-v0"}, encodings: enc{"e0-v0": 0, "e1-v0": 1}},
		// doc/allocation.md "Stage view (2)": A on stage in HD, B, C, D at 180p, the others disabled.
		{name: "stage view: default 0, explicit thumbnails", n: 6,
			u: Update{OnStage: []string{"e3-v0"}, HasOnStage: true, Default: h(0), PerSource: map[string]Constraints{
				"e3-v0": HeightOnly(720), "e0-v0": HeightOnly(180), "e1-v0": HeightOnly(180), "e2-v0": HeightOnly(180)}},
			forwarded: []string{"e3-v0", "e0-v0", "e1-v0", "e2-v0"},
			encodings: enc{"e3-v0": 2, "e0-v0": 0, "e1-v0": 0, "e2-v0": 0}},
		// "Stage view (3)": A in HD, B, C, D disabled, the others at 180p.
		{name: "stage view: explicit zeros", n: 5,
			u: Update{OnStage: []string{"e4-v0"}, HasOnStage: true, Default: h(180), PerSource: map[string]Constraints{
				"e4-v0": HeightOnly(720), "e0-v0": HeightOnly(0), "e1-v0": HeightOnly(0), "e2-v0": HeightOnly(0)}},
			forwarded: []string{"e4-v0", "e3-v0"}, encodings: enc{"e4-v0": 2, "e3-v0": 0}},
		// "Tile view (1)": 180p/15fps; a positive frame-rate limit filters nothing.
		{name: "tile view 180p 15fps", n: 2, u: Update{Default: &Constraints{180, 15}},
			forwarded: []string{"e0-v0", "e1-v0"}, encodings: enc{"e0-v0": 0, "e1-v0": 0}},
		// "Tile view (2)": all at 360p.
		{name: "tile view 360p", n: 2, u: Update{Default: h(360)}, encodings: enc{"e0-v0": 1, "e1-v0": 1}, count: 2},
		{name: "unlimited default picks the top encoding", n: 2, u: Update{Default: h(-1)},
			encodings: enc{"e0-v0": 2, "e1-v0": 2}, count: 2},
		// "Tile view (3)": A and B prioritised, C and D disabled, lastN 2 keeps only the selected.
		{name: "tile view selected first", n: 5,
			u: Update{LastN: intp(2), Selected: []string{"e3-v0", "e4-v0"}, HasSelected: true,
				PerSource: map[string]Constraints{"e0-v0": HeightOnly(0), "e1-v0": HeightOnly(0)}},
			forwarded: []string{"e3-v0", "e4-v0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			speakers, sources := conference(tc.n)
			for i, vt := range tc.types {
				sources[i].Type = vt
			}
			s := NewSettings(cfg, -1)
			s.Apply(cfg, tc.u)
			a := Allocate(cfg, speakers, sources, s)
			if tc.forwarded != nil && !slices.Equal(a.Forwarded, tc.forwarded) && !(len(tc.forwarded) == 0 && len(a.Forwarded) == 0) {
				t.Errorf("forwarded %v, want %v", a.Forwarded, tc.forwarded)
			}
			if tc.forwarded == nil && len(a.Forwarded) != tc.count {
				t.Errorf("forwarded %d sources, want %d", len(a.Forwarded), tc.count)
			}
			if len(a.Sources) != tc.n {
				t.Errorf("%d source allocations, want %d", len(a.Sources), tc.n)
			}
			for _, sa := range a.Sources {
				want, ok := tc.encodings[sa.Name]
				if !ok {
					if tc.encodings == nil {
						continue
					}
					want = -1
				}
				if sa.Encoding != want {
					t.Errorf("%s: encoding %d (constraints %+v), want %d", sa.Name, sa.Encoding, sa.Constraints, want)
				}
			}
		})
	}
}

func TestAllocateEffectiveMaxHeights(t *testing.T) {
	cfg := DefaultConfig()
	speakers, sources := conference(3)
	sources[2].Type = VideoDisabled
	s := NewSettings(cfg, -1)
	s.Apply(cfg, Update{LastN: intp(1), PerSource: map[string]Constraints{"e0-v0": HeightOnly(-1), "e2-v0": HeightOnly(720)}})
	got := Allocate(cfg, speakers, sources, s).EffectiveMaxHeights()
	want := map[string]int{"e0-v0": -1, "e1-v0": 0, "e2-v0": 0}
	if len(got) != len(want) {
		t.Fatalf("effective heights %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("effective height of %s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}

func TestAllocateSourcesWithoutKnownLayers(t *testing.T) {
	cfg := DefaultConfig()
	s := NewSettings(cfg, -1)
	s.Apply(cfg, Update{})
	a := Allocate(cfg, []string{"a"}, []Source{{Name: "a-v0", Owner: "a"}}, s)
	if len(a.Sources) != 1 || a.Sources[0].Encoding != 0 || !slices.Equal(a.Forwarded, []string{"a-v0"}) {
		t.Errorf("allocation %+v, want a-v0 forwarded at encoding 0", a)
	}
}

// BenchmarkAllocate50Sources is one allocation for a receiver in a 51-endpoint conference, each
// sender with one 3-encoding camera, a stage view and lastN 20.
func BenchmarkAllocate50Sources(b *testing.B) {
	cfg := DefaultConfig()
	speakers, sources := conference(50)
	s := NewSettings(cfg, -1)
	s.Apply(cfg, Update{LastN: intp(20), OnStage: []string{"e17-v0"}, HasOnStage: true,
		Selected: []string{"e30-v0", "e31-v0"}, HasSelected: true,
		PerSource: map[string]Constraints{"e17-v0": HeightOnly(720), "e40-v0": HeightOnly(0)}})
	b.ReportAllocs()
	for b.Loop() {
		a := Allocate(cfg, speakers, sources, s)
		if len(a.Forwarded) != 20 {
			b.Fatalf("forwarded %d, want 20", len(a.Forwarded))
		}
	}
}
