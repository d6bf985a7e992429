package bench

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// runtimeGauges are the bridge's /metrics gauges the no-growth check follows.
var runtimeGauges = []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "process_open_fds", "process_resident_memory_bytes"}

// gauges scrapes the named unlabelled metrics from the bridge's /metrics.
func (r *resourceProbe) gauges(ctx context.Context, names ...string) (map[string]float64, error) {
	resp, err := r.scrape(ctx)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return parseGauges(bufio.NewScanner(resp.Body), names)
}

// parseGauges reads the named unlabelled samples of a Prometheus text exposition; every name
// must be there.
func parseGauges(sc *bufio.Scanner, names []string) (map[string]float64, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || !want[name] {
			continue
		}
		f := strings.Fields(val)
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			out[name] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read /metrics: %w", err)
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return out, fmt.Errorf("/metrics has no %s", n)
		}
	}
	return out, nil
}

// growthSampler reads the bridge's runtime gauges at the start of the first window, every
// interval during the windows and at the end of each: a bridge that leaks goroutines, heap or
// file descriptors under steady load shows it as growth from the first sample to the last.
type growthSampler struct {
	interval time.Duration
	t0, last time.Time
	samples  []RuntimeSample
	err      error
}

func newGrowthSampler(interval time.Duration) *growthSampler {
	if interval <= 0 {
		interval = 30 * time.Second
	}
	return &growthSampler{interval: interval}
}

// due says whether a sample is due at now (pure: the caller samples).
func (g *growthSampler) due(now time.Time) bool {
	return g.last.IsZero() || now.Sub(g.last) >= g.interval
}

func (g *growthSampler) maybeSample(ctx context.Context, p *resourceProbe, now time.Time) {
	if g.due(now) {
		g.sample(ctx, p, now)
	}
}

func (g *growthSampler) sample(ctx context.Context, p *resourceProbe, now time.Time) {
	m, err := p.gauges(ctx, runtimeGauges...)
	if err != nil {
		g.err = err
		return
	}
	g.record(now, m)
}

func (g *growthSampler) record(now time.Time, m map[string]float64) {
	if g.t0.IsZero() {
		g.t0 = now
	}
	g.last = now
	g.samples = append(g.samples, RuntimeSample{
		AtS: now.Sub(g.t0).Seconds(), Goroutines: m["go_goroutines"], HeapBytes: m["go_memstats_heap_inuse_bytes"],
		FDs: m["process_open_fds"], RSSBytes: m["process_resident_memory_bytes"],
	})
}

func (g *growthSampler) result() *RuntimeGrowth {
	r := &RuntimeGrowth{IntervalS: g.interval.Seconds(), Samples: g.samples}
	if g.err != nil {
		r.Error = g.err.Error()
	}
	if n := len(g.samples); n > 0 {
		a, b := g.samples[0], g.samples[n-1]
		r.GoroutinesGrowth, r.HeapGrowthBytes, r.FDsGrowth = b.Goroutines-a.Goroutines, b.HeapBytes-a.HeapBytes, b.FDs-a.FDs
	}
	return r
}
