package main

import "testing"

func TestGCPercentDefaultsUnlessGOGCSet(t *testing.T) {
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	if p, ok := gcPercent(env(nil)); !ok || p != defaultGCPercent {
		t.Errorf("GOGC unset: got %d, %v; want %d, true", p, ok, defaultGCPercent)
	}
	if p, ok := gcPercent(env(map[string]string{"GOGC": ""})); !ok || p != defaultGCPercent {
		t.Errorf("GOGC empty: got %d, %v; want %d, true", p, ok, defaultGCPercent)
	}
	for _, v := range []string{"100", "off", "25"} {
		if _, ok := gcPercent(env(map[string]string{"GOGC": v})); ok {
			t.Errorf("GOGC=%s: the bridge overrode the operator's setting", v)
		}
	}
}
