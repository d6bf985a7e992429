package stats

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gojvb/sfu"
)

// BenchmarkScrapeCollect is the bridge-specific part of one /metrics scrape (snapshot read
// plus all jitsi_jvb_* series), with a constant source so it measures this package only.
func BenchmarkScrapeCollect(b *testing.B) {
	s := NewSampler(Sources{Bridge: func() sfu.Stats { return sfu.Stats{Conferences: 10, Endpoints: 100} },
		Flags: func() Flags { return Flags{Healthy: true} }}, Info{Version: "bench"}, time.Now())
	c := NewCollector(s)
	ch := make(chan prometheus.Metric, 256) // more than one scrape's series: Collect never blocks
	b.ReportAllocs()
	for b.Loop() {
		c.Collect(ch)
		for len(ch) > 0 {
			<-ch
		}
	}
}

// BenchmarkPresenceStats is one presence stats element's worth of key/value strings.
func BenchmarkPresenceStats(b *testing.B) {
	s := NewSampler(Sources{Bridge: func() sfu.Stats { return sfu.Stats{Conferences: 10, Endpoints: 100} }},
		Info{Version: "bench", Region: "eu"}, time.Now())
	r := s.Sample(time.Now().Add(5 * time.Second))
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Presence()
	}
}
