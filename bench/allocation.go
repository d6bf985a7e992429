package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The bridge's allocator state, read from its /debug/{meeting} at the end of a run: what each
// receiver's bandwidth estimate was and which layer it chose per source.

// ReceiverAllocation is one receiver's last bandwidth allocation on the bridge.
type ReceiverAllocation struct {
	Endpoint    string            `json:"endpoint"`
	EstimateBps uint64            `json:"estimate_bps"` // 0 = no estimate (unlimited)
	TargetBps   uint64            `json:"target_bps"`   // what the chosen layers add up to
	Suspended   int               `json:"suspended_sources"`
	Layers      map[string]string `json:"layers"` // source name -> chosen layer (E<enc>S<spatial>T<temporal>, "" none)
}

// AllocationSummary is the receivers' allocations and their distribution.
type AllocationSummary struct {
	Receivers   int                  `json:"receivers"`    // receivers with an allocation
	EstimateBps JoinMs               `json:"estimate_bps"` // p50/p90/max over receivers with an estimate (the JoinMs shape, in bps)
	NoEstimate  int                  `json:"no_estimate"`  // receivers whose allocation ran without an estimate
	Layers      map[string]int       `json:"layers"`       // chosen layer -> sources given it over all receivers ("none" = suspended or not sent)
	PerReceiver []ReceiverAllocation `json:"per_receiver"`
	Error       string               `json:"error,omitempty"` // why some conference was not read
}

// debugAllocation is the part of the bridge's /debug/{conf} this reads.
type debugAllocation struct {
	Endpoints map[string]struct {
		Allocation *struct {
			Estimate  uint64 `json:"estimate_bps"`
			TargetBps uint64 `json:"target_bps"`
			Suspended int    `json:"suspended_sources"`
			Sources   []struct {
				Name   string `json:"name"`
				Target string `json:"target"`
			} `json:"sources"`
		} `json:"bandwidth_allocation"`
	} `json:"endpoints"`
}

// fetchAllocations reads the allocations of the endpoints in want (by id) from the bridge at
// base for each meeting, and adds them to sum.
func fetchAllocations(ctx context.Context, hc *http.Client, base string, meetings []string, want map[string]bool, sum *AllocationSummary) error {
	for _, m := range meetings {
		u := strings.TrimRight(base, "/") + "/debug/" + url.PathEscape(m)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("GET %s: %w", u, err)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("GET %s: %w", u, err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: HTTP %d", u, resp.StatusCode)
		}
		var d debugAllocation
		if err := json.Unmarshal(b, &d); err != nil {
			return fmt.Errorf("GET %s: decode: %w", u, err)
		}
		for id, ep := range d.Endpoints {
			if !want[id] || ep.Allocation == nil {
				continue
			}
			a := ep.Allocation
			ra := ReceiverAllocation{Endpoint: id, EstimateBps: a.Estimate, TargetBps: a.TargetBps,
				Suspended: a.Suspended, Layers: map[string]string{}}
			for _, s := range a.Sources {
				ra.Layers[s.Name] = s.Target
			}
			sum.PerReceiver = append(sum.PerReceiver, ra)
		}
	}
	return nil
}

// finish computes the distribution over PerReceiver.
func (s *AllocationSummary) finish() {
	slices.SortFunc(s.PerReceiver, func(a, b ReceiverAllocation) int { return strings.Compare(a.Endpoint, b.Endpoint) })
	s.Receivers = len(s.PerReceiver)
	s.Layers = map[string]int{}
	var est []float64
	for _, r := range s.PerReceiver {
		if r.EstimateBps == 0 {
			s.NoEstimate++
		} else {
			est = append(est, float64(r.EstimateBps))
		}
		for _, l := range r.Layers {
			if l == "" {
				l = "none"
			}
			s.Layers[l]++
		}
	}
	if len(est) > 0 {
		slices.Sort(est)
		q := func(f float64) float64 { return est[int(f*float64(len(est)-1))] }
		s.EstimateBps = JoinMs{P50: q(0.5), P90: q(0.9), Max: est[len(est)-1]}
	}
}

// readAllocations is the allocations of the joined endpoints on the bridges at bases (meetings
// are the same on each), or a summary saying why they could not be read.
func readAllocations(ctx context.Context, bases []string, meetings []string, joined []*simEndpoint) *AllocationSummary {
	want := map[string]bool{}
	for _, e := range joined {
		want[e.id] = true
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	sum := &AllocationSummary{}
	for _, b := range bases {
		if err := fetchAllocations(ctx, hc, b, meetings, want, sum); err != nil {
			sum.Error = err.Error()
			break
		}
	}
	sum.finish()
	return sum
}

// allocationLine is the table's one-line summary of s.
func allocationLine(s *AllocationSummary) string {
	if s.Error != "" && s.Receivers == 0 {
		return "not read: " + s.Error
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(s.Layers)) {
		parts = append(parts, fmt.Sprintf("%s x%d", k, s.Layers[k]))
	}
	return fmt.Sprintf("%d receivers; estimate p50 %.2f, p90 %.2f, max %.2f Mbit/s (%d without); chosen layers: %s",
		s.Receivers, s.EstimateBps.P50/1e6, s.EstimateBps.P90/1e6, s.EstimateBps.Max/1e6, s.NoEstimate, strings.Join(parts, ", "))
}
