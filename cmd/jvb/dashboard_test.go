package main

import (
	"encoding/json"
	"regexp"
	"testing"
)

// TestDashboardQueriesExistingMetrics checks that every series docs/grafana-dashboard.json
// queries is exposed by a running bridge's /metrics.
func TestDashboardQueriesExistingMetrics(t *testing.T) {
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(readRepoFile(t, "../../docs/grafana-dashboard.json")), &dash); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	fams := startBridge(t, restEnv, nil).metrics(t)
	name := regexp.MustCompile(`\b(?:jitsi_jvb|process|go)_[a-z_]+\b`)
	seen := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, m := range name.FindAllString(tg.Expr, -1) {
				seen++
				if _, ok := fams[m]; !ok {
					t.Errorf("panel %q queries %s, which /metrics does not expose", p.Title, m)
				}
			}
		}
	}
	if seen < 20 {
		t.Fatalf("only %d metric references found in the dashboard", seen)
	}
}
