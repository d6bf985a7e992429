package bwe

import (
	"maps"
	"testing"
)

func TestSenderConstraints(t *testing.T) {
	type step struct {
		do      func(c *SenderConstraints) map[string]int
		changed map[string]int // nil = no change reported
		max     int            // Max("s") afterwards
		has     bool
	}
	set := func(r string, m map[string]int) func(*SenderConstraints) map[string]int {
		return func(c *SenderConstraints) map[string]int { return c.Set(r, m) }
	}
	remove := func(r string) func(*SenderConstraints) map[string]int {
		return func(c *SenderConstraints) map[string]int { return c.RemoveReceiver(r) }
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"first value is reported, even 0", []step{
			{set("r1", map[string]int{"s": 0}), map[string]int{"s": 0}, 0, true},
			{set("r1", map[string]int{"s": 0}), nil, 0, true},
		}},
		{"max over receivers, -1 dominates", []step{
			{set("r1", map[string]int{"s": 180}), map[string]int{"s": 180}, 180, true},
			{set("r2", map[string]int{"s": 360}), map[string]int{"s": 360}, 360, true},
			{set("r2", map[string]int{"s": 360}), nil, 360, true},
			{set("r1", map[string]int{"s": 270}), nil, 360, true},
			{set("r3", map[string]int{"s": -1}), map[string]int{"s": -1}, -1, true},
			{set("r1", map[string]int{"s": 720}), nil, -1, true},
			{remove("r3"), map[string]int{"s": 720}, 720, true},
		}},
		{"receiver removal lowers the max, last one leaves 0", []step{
			{set("r1", map[string]int{"s": 720, "t": 180}), map[string]int{"s": 720, "t": 180}, 720, true},
			{set("r2", map[string]int{"s": 180}), nil, 720, true},
			{remove("r1"), map[string]int{"s": 180, "t": 0}, 180, true},
			{remove("r1"), nil, 180, true},
			{remove("r2"), map[string]int{"s": 0}, 0, false},
		}},
		{"sources missing from a receiver's new map are dropped for it", []step{
			{set("r1", map[string]int{"s": 720}), map[string]int{"s": 720}, 720, true},
			{set("r2", map[string]int{"s": 360}), nil, 720, true},
			{set("r1", map[string]int{"t": 180}), map[string]int{"s": 360, "t": 180}, 360, true},
			{set("r2", nil), map[string]int{"s": 0}, 0, false},
		}},
		{"hostile negative heights are unlimited", []step{
			{set("r1", map[string]int{"s": -9}), map[string]int{"s": -1}, -1, true},
			{set("r1", map[string]int{"s": -1}), nil, -1, true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewSenderConstraints()
			for i, st := range tc.steps {
				got := st.do(c)
				if !maps.Equal(got, st.changed) || (got == nil) != (st.changed == nil) {
					t.Errorf("step %d: changed %v, want %v", i, got, st.changed)
				}
				if m, ok := c.Max("s"); m != st.max || ok != st.has {
					t.Errorf("step %d: Max(s) = %d, %v; want %d, %v", i, m, ok, st.max, st.has)
				}
			}
		})
	}
}

func TestSenderConstraintsRemoveSource(t *testing.T) {
	c := NewSenderConstraints()
	c.Set("r1", map[string]int{"s": 720, "t": 360})
	c.RemoveSource("s")
	if _, ok := c.Max("s"); ok {
		t.Error("removed source still has a maximum")
	}
	// The receiver keeps its other source; removing it reports only that one.
	if got := c.RemoveReceiver("r1"); !maps.Equal(got, map[string]int{"t": 0}) {
		t.Errorf("RemoveReceiver after RemoveSource reported %v, want map[t:0]", got)
	}
	// A source that comes back is reported afresh.
	if got := c.Set("r2", map[string]int{"s": 180}); !maps.Equal(got, map[string]int{"s": 180}) {
		t.Errorf("re-added source reported %v, want map[s:180]", got)
	}
}
