package main

import (
	"maps"
	"strings"
	"testing"
)

// The caps come from the environment, refuse with a clear text over REST (503 for the bridge's
// caps, 400 for the conference's own) and show in /metrics by cap.
func TestCapsRefuseAndCount(t *testing.T) {
	env := maps.Clone(restEnv)
	env["JVB_MAX_CONFERENCES"] = "1"
	env["JVB_MAX_ENDPOINTS_PER_CONFERENCE"] = "2"
	b := startBridge(t, env, nil)
	if code, body := b.createEndpoints(t, "m1", "a", "b"); code != 200 {
		t.Fatalf("two endpoints in one conference: %d %s", code, body)
	}
	code, body := b.do(t, "POST", "/colibri/v2/conferences", createEndpoint("m1", "c", false))
	if code != 400 || !strings.Contains(body, "max-endpoints-per-conference 2") {
		t.Fatalf("third endpoint: %d %s, want 400 naming max-endpoints-per-conference", code, body)
	}
	code, body = b.do(t, "POST", "/colibri/v2/conferences", createEndpoint("m2", "x", true))
	if code != 503 || !strings.Contains(body, "max-conferences 1") {
		t.Fatalf("second conference: %d %s, want 503 naming max-conferences", code, body)
	}
	fams := b.metrics(t)
	f := fams["jitsi_jvb_colibri_cap_refusals_total"]
	if f == nil {
		t.Fatal("no jitsi_jvb_colibri_cap_refusals_total in /metrics")
	}
	got := map[string]float64{}
	for _, m := range f.Metric {
		for _, l := range m.GetLabel() {
			if l.GetName() == "limit" {
				got[l.GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	if got["conferences"] != 1 || got["endpoints_per_conference"] != 1 || got["endpoints"] != 0 {
		t.Fatalf("cap refusals in /metrics: %v", got)
	}
	if _, ok := fams["jitsi_jvb_http_connections_refused_total"]; !ok {
		t.Error("no jitsi_jvb_http_connections_refused_total in /metrics")
	}
}
