package bwe

import (
	"go/build"
	"strings"
	"testing"
)

func intp(n int) *int { return &n }

func TestNewSettingsForwardsNothingBeforeFirstMessage(t *testing.T) {
	cfg := DefaultConfig()
	s := NewSettings(cfg, -1)
	if s.LastN != -1 || s.Default != (Constraints{0, -1}) {
		t.Fatalf("initial settings = lastN %d default %+v, want -1 and {0 -1}", s.LastN, s.Default)
	}
	a := Allocate(cfg, []string{"a", "b"}, []Source{
		{Name: "a-v0", Owner: "a", Heights: []int{180, 360, 720}},
		{Name: "b-v0", Owner: "b", Heights: []int{180, 360, 720}},
	}, s)
	if len(a.Forwarded) != 0 {
		t.Errorf("forwarded %v before any ReceiverVideoConstraints, want nothing", a.Forwarded)
	}
	for _, sa := range a.Sources {
		if sa.Encoding != -1 || sa.Constraints.MaxHeight != 0 {
			t.Errorf("%s: encoding %d constraints %+v, want -1 and height 0", sa.Name, sa.Encoding, sa.Constraints)
		}
	}
}

func TestNewSettingsInitialLastN(t *testing.T) {
	cfg := DefaultConfig()
	for _, tc := range []struct {
		name            string
		cfgLastN, colib int
		want            int
	}{
		{"none anywhere", -1, -1, -1},
		{"colibri initial-last-n", -1, 3, 3},
		{"colibri zero", 5, 0, 0},
		{"config only", 5, -1, 5},
		{"hostile config", -9, -1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg.InitialLastN = tc.cfgLastN
			if got := NewSettings(cfg, tc.colib).LastN; got != tc.want {
				t.Errorf("LastN = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestApplyDefaultConstraints walks message sequences and checks the default after each one.
func TestApplyDefaultConstraints(t *testing.T) {
	cfg := DefaultConfig()
	h := func(n int) *Constraints { c := HeightOnly(n); return &c }
	type step struct {
		u           Update
		wantDefault Constraints
		wantChanged bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"first message without default gives 180", []step{
			{Update{LastN: intp(5)}, HeightOnly(180), true},
		}},
		{"later message without default keeps the previous one", []step{
			{Update{Default: h(720)}, HeightOnly(720), true},
			{Update{LastN: intp(2)}, HeightOnly(720), true},
			{Update{}, HeightOnly(720), false},
		}},
		{"empty first message still changes the default", []step{
			{Update{}, HeightOnly(180), true},
			{Update{}, HeightOnly(180), false},
		}},
		{"explicit zero default", []step{
			{Update{Default: h(0)}, HeightOnly(0), false}, // was already 0: no change
			{Update{}, HeightOnly(0), false},
		}},
		{"frame rate kept", []step{
			{Update{Default: &Constraints{180, 15}}, Constraints{180, 15}, true},
		}},
		{"hostile negatives read as unlimited", []step{
			{Update{Default: &Constraints{-7, -3}}, Constraints{-1, -1}, true},
			{Update{Default: &Constraints{-1, -1}}, Constraints{-1, -1}, false},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSettings(cfg, -1)
			for i, st := range tc.steps {
				changed := s.Apply(cfg, st.u)
				if s.Default != st.wantDefault || changed != st.wantChanged {
					t.Errorf("step %d: default %+v changed %v, want %+v %v", i, s.Default, changed, st.wantDefault, st.wantChanged)
				}
			}
		})
	}
}

func TestApplyFieldsAndChangeReporting(t *testing.T) {
	cfg := DefaultConfig()
	s := NewSettings(cfg, -1)
	sel := []string{"a-v0", "b-v0"}
	per := map[string]Constraints{"a-v0": HeightOnly(720)}
	if !s.Apply(cfg, Update{LastN: intp(3), Selected: sel, HasSelected: true, OnStage: []string{"c-v0"}, HasOnStage: true, PerSource: per}) {
		t.Fatal("first message reported no change")
	}
	// The settings keep copies: the caller may reuse its buffers.
	sel[0] = "mutated"
	per["a-v0"] = HeightOnly(1)
	if s.Selected[0] != "a-v0" || s.PerSource["a-v0"].MaxHeight != 720 {
		t.Errorf("settings alias the update: selected %v per-source %v", s.Selected, s.PerSource)
	}
	if s.Apply(cfg, Update{LastN: intp(3), Selected: []string{"a-v0", "b-v0"}, HasSelected: true,
		PerSource: map[string]Constraints{"a-v0": HeightOnly(720)}}) {
		t.Error("repeating the same values reported a change")
	}
	if s.Apply(cfg, Update{Selected: nil, HasSelected: false, OnStage: nil, HasOnStage: false}) {
		t.Error("absent lists reported a change")
	}
	if len(s.Selected) != 2 || len(s.OnStage) != 1 {
		t.Errorf("absent lists changed state: selected %v onStage %v", s.Selected, s.OnStage)
	}
	if !s.Apply(cfg, Update{HasOnStage: true}) || len(s.OnStage) != 0 {
		t.Errorf("present empty onStage: onStage %v, want cleared with a change", s.OnStage)
	}
	if !s.Apply(cfg, Update{PerSource: map[string]Constraints{}}) || len(s.PerSource) != 0 {
		t.Errorf("present empty constraints: %v, want cleared with a change", s.PerSource)
	}
	if !s.Apply(cfg, Update{LastN: intp(-4)}) || s.LastN != -1 {
		t.Errorf("lastN -4: got %d, want -1 (unlimited)", s.LastN)
	}
	if !s.SetLastN(0) || s.SetLastN(0) || s.LastN != 0 {
		t.Errorf("SetLastN(0) twice: lastN %d, want 0 with one change", s.LastN)
	}
}

func TestConstraintsDisabled(t *testing.T) {
	for _, tc := range []struct {
		c    Constraints
		want bool
	}{
		{Constraints{0, -1}, true},
		{Constraints{180, 0}, true},
		{Constraints{}, true},
		{HeightOnly(180), false},
		{Constraints{-1, -1}, false},
		{Constraints{180, 15}, false},
	} {
		if got := tc.c.Disabled(); got != tc.want {
			t.Errorf("%+v.Disabled() = %v, want %v", tc.c, got, tc.want)
		}
	}
}

// TestImportsOnlyStandardLibrary enforces the package doc: no other package of this module.
func TestImportsOnlyStandardLibrary(t *testing.T) {
	p, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range p.Imports {
		if first, _, _ := strings.Cut(imp, "/"); strings.Contains(first, ".") || first == "gojvb" {
			t.Errorf("bwe imports %s; it may use the standard library only", imp)
		}
	}
}
