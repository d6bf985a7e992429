package bwe

import (
	"slices"
	"testing"
)

func names(srcs []Source) []string {
	out := make([]string, len(srcs))
	for i, s := range srcs {
		out[i] = s.Name
	}
	return out
}

func cam(name, owner string) Source {
	return Source{Name: name, Owner: owner, Type: VideoCamera, Heights: []int{180, 360, 720}}
}

func TestPrioritize(t *testing.T) {
	cfg := DefaultConfig()
	settings := func(onStage, selected []string) Settings {
		s := NewSettings(cfg, -1)
		s.Apply(cfg, Update{OnStage: onStage, HasOnStage: onStage != nil, Selected: selected, HasSelected: selected != nil})
		return s
	}
	noVideo := func(name, owner string) Source { return Source{Name: name, Owner: owner, Type: VideoNone} }
	disabled := func(name, owner string) Source { return Source{Name: name, Owner: owner, Type: VideoDisabled} }
	for _, tc := range []struct {
		name     string
		speakers []string
		sources  []Source
		s        Settings
		want     []string
	}{
		{"dominant speaker first", []string{"c", "a", "b"},
			[]Source{cam("a-v0", "a"), cam("b-v0", "b"), cam("c-v0", "c")},
			settings(nil, nil), []string{"c-v0", "a-v0", "b-v0"}},
		{"endpoints with video ahead of those without", []string{"a", "b", "c"},
			[]Source{noVideo("a-v0", "a"), cam("b-v0", "b"), cam("c-v0", "c")},
			settings(nil, nil), []string{"b-v0", "c-v0", "a-v0"}},
		{"an endpoint with a disabled source still has video", []string{"a", "b"},
			[]Source{disabled("a-v0", "a"), cam("a-v1", "a"), noVideo("b-v0", "b")},
			settings(nil, nil), []string{"a-v1", "a-v0", "b-v0"}},
		{"several sources per endpoint keep their order", []string{"b", "a"},
			[]Source{cam("a-v0", "a"), cam("b-v1", "b"), cam("a-v1", "a"), cam("b-v0", "b")},
			settings(nil, nil), []string{"b-v1", "b-v0", "a-v0", "a-v1"}},
		{"selected in selection order before speakers", []string{"a", "b", "c", "d"},
			[]Source{cam("a-v0", "a"), cam("b-v0", "b"), cam("c-v0", "c"), cam("d-v0", "d")},
			settings(nil, []string{"d-v0", "c-v0"}), []string{"d-v0", "c-v0", "a-v0", "b-v0"}},
		{"on stage before selected, no duplicates", []string{"a", "b", "c", "d"},
			[]Source{cam("a-v0", "a"), cam("b-v0", "b"), cam("c-v0", "c"), cam("d-v0", "d")},
			settings([]string{"c-v0"}, []string{"d-v0", "c-v0", "b-v0"}), []string{"c-v0", "d-v0", "b-v0", "a-v0"}},
		{"disabled sources last even when selected", []string{"a", "b", "c"},
			[]Source{disabled("a-v0", "a"), cam("b-v0", "b"), noVideo("c-v0", "c"), cam("a-v1", "a")},
			settings([]string{"a-v0"}, []string{"c-v0"}), []string{"a-v1", "b-v0", "a-v0", "c-v0"}},
		{"unknown selected names ignored", []string{"a", "b"},
			[]Source{cam("a-v0", "a"), cam("b-v0", "b")},
			settings([]string{"zz-v0"}, []string{"yy-v3", "b-v0"}), []string{"b-v0", "a-v0"}},
		{"owners outside speakerOrder (the receiver) left out", []string{"a"},
			[]Source{cam("rx-v0", "rx"), cam("a-v0", "a")},
			settings(nil, nil), []string{"a-v0"}},
		{"duplicate names and speakers count once", []string{"a", "a", "b"},
			[]Source{cam("a-v0", "a"), cam("a-v0", "b"), cam("b-v0", "b")},
			settings(nil, nil), []string{"a-v0", "b-v0"}},
		{"empty", nil, nil, settings(nil, nil), []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.sources)
			got := names(Prioritize(tc.speakers, tc.sources, tc.s))
			if !slices.Equal(got, tc.want) {
				t.Errorf("order = %v, want %v", got, tc.want)
			}
			if !slices.EqualFunc(in, tc.sources, func(a, b Source) bool { return a.Name == b.Name && a.Owner == b.Owner }) {
				t.Error("Prioritize modified its input")
			}
		})
	}
}

func TestEffectiveLastN(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		lastN, jvbLastN, ssrcLm int
		want                    int
	}{
		{"all unlimited", -1, -1, -1, -1},
		{"ssrc limit caps unlimited receiver", -1, -1, 50, 50},
		{"receiver below limit", 3, -1, 50, 3},
		{"jvb-last-n caps", 20, 5, 50, 5},
		{"zero wins", 0, 5, 50, 0},
		{"hostile negatives are unlimited", -8, -2, 50, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.JVBLastN, cfg.SSRCLimitVideo = tc.jvbLastN, tc.ssrcLm
			if got := EffectiveLastN(cfg, Settings{LastN: tc.lastN}); got != tc.want {
				t.Errorf("EffectiveLastN = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestParseVideoType(t *testing.T) {
	for in, want := range map[string]VideoType{
		"camera": VideoCamera, "CAMERA": VideoCamera, "desktop": VideoDesktop, "Desktop": VideoDesktop,
		"desktop_high_fps": VideoDesktopHighFPS, "DESKTOP_HIGH_FPS": VideoDesktopHighFPS,
		"none": VideoNone, "NONE": VideoNone, "disabled": VideoDisabled, "Disabled": VideoDisabled,
		"": VideoCamera, "hologram": VideoCamera,
	} {
		if got := ParseVideoType(in); got != want {
			t.Errorf("ParseVideoType(%q) = %v, want %v", in, got, want)
		}
	}
	for _, vt := range []VideoType{VideoCamera, VideoDesktop, VideoDesktopHighFPS, VideoNone, VideoDisabled} {
		if got := ParseVideoType(vt.String()); got != vt {
			t.Errorf("round trip of %v gave %v", vt, got)
		}
		if want := vt != VideoNone && vt != VideoDisabled; vt.Enabled() != want {
			t.Errorf("%v.Enabled() = %v, want %v", vt, vt.Enabled(), want)
		}
	}
}
