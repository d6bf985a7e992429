package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// debugConf is /debug/{conf} as the bridge writes it (the fields the bench reads, with others
// around them).
const debugConf = `{"id":"c1","meeting_id":"m1","endpoints":{
 "a":{"id":"a","transport_state":"secure","bandwidth_allocation":{"estimate_bps":2500000,"pacing_bps":0,"target_bps":300000,
   "ideal_bps":300000,"oversending":false,"suspended_sources":1,"sources":[
   {"name":"b-v0","target":"E0S0T2","ideal":"E0S0T2","target_bps":150000},
   {"name":"c-v0","target":"","ideal":"E0S0T2","target_bps":0,"suspended":true,"reason":"bandwidth"}]}},
 "b":{"id":"b","bandwidth_allocation":{"estimate_bps":0,"target_bps":150000,"suspended_sources":0,"sources":[
   {"name":"a-v0","target":"E0S0T2","target_bps":150000}]}},
 "c":{"id":"c"},
 "stranger":{"id":"stranger","bandwidth_allocation":{"estimate_bps":1,"sources":[{"name":"x","target":"E2S0T2"}]}}}}`

func TestAllocationsAreReadAndSummarised(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/debug/m1" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(debugConf))
	}))
	defer srv.Close()
	joined := []*simEndpoint{{id: "a"}, {id: "b"}, {id: "c"}}
	s := readAllocations(context.Background(), []string{srv.URL}, []string{"m1"}, joined)
	if s.Error != "" || s.Receivers != 2 || s.NoEstimate != 1 || s.EstimateBps.P50 != 2.5e6 {
		t.Fatalf("summary %+v: want a and b (c has no allocation, stranger is not ours), one without estimate", s)
	}
	if s.Layers["E0S0T2"] != 2 || s.Layers["none"] != 1 || len(s.Layers) != 2 {
		t.Errorf("layer distribution %v, want E0S0T2 x2 and none x1", s.Layers)
	}
	a := s.PerReceiver[0]
	if a.Endpoint != "a" || a.EstimateBps != 2500000 || a.Suspended != 1 || a.Layers["b-v0"] != "E0S0T2" || a.Layers["c-v0"] != "" {
		t.Errorf("receiver a: %+v", a)
	}
	if line := allocationLine(s); !strings.Contains(line, "2 receivers") || !strings.Contains(line, "E0S0T2 x2, none x1") {
		t.Errorf("table line %q", line)
	}
	// An unknown conference is an error in the summary, not a failed run.
	s = readAllocations(context.Background(), []string{srv.URL}, []string{"m2"}, joined)
	if s.Receivers != 0 || !strings.Contains(s.Error, "HTTP 404") || !strings.HasPrefix(allocationLine(s), "not read") {
		t.Errorf("unknown conference: %+v", s)
	}
}
