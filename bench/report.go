package bench

import (
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the human summary.
func (r *Result) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	s := r.Scenario
	name := "custom"
	if s.Preset != "" {
		name = "preset " + s.Preset
	}
	fmt.Fprintf(tw, "scenario\t%s: %d conf x %d participants (%d video, %d audio senders), simulcast=%v, lastN=%d, maxHeight=%d, on stage %d at %dp, speaker every %.0fs, nack=%v, aligned senders=%v, %.0fs x %d\n",
		name, s.Conferences, s.Participants, s.SendersPerConf, s.AudioSenders, s.Simulcast, s.LastN, s.MaxHeight,
		s.OnStageReceivers, s.OnStageHeight, s.SpeakerIntervalS, s.NACK, s.AlignedSenders, s.DurationS, max(1, s.Repeat))
	fmt.Fprintf(tw, "bridge\t%s pid=%d (cpu/rss from %s)\n", r.Bridge.URL, r.Bridge.PID, r.Bridge.ResourceSource)
	if r.Machine.LoadGeneratorSharesCPU {
		fmt.Fprintf(tw, "machine\t%d cores SHARED by the bridge and this load generator: read CPU-us per packet, not pps, as capacity\n", r.Machine.Cores)
	} else {
		fmt.Fprintf(tw, "machine\tload generator on %d cores; the bridge is not on this machine as far as jvb-bench can tell (no pid, non-loopback URL)\n", r.Machine.Cores)
	}
	if r.Bridge.XMPPOccupant != "" {
		fmt.Fprintf(tw, "bridge in brewery\t%s\n", r.Bridge.XMPPOccupant)
	}
	fmt.Fprintf(tw, "joined\t%d/%d  join p50 %.0f ms, p90 %.0f ms, max %.0f ms; bridge channels %d\n",
		r.Joined, r.Endpoints, r.JoinMs.P50, r.JoinMs.P90, r.JoinMs.Max, r.BridgeChannelsOpen)
	fmt.Fprintf(tw, "allocation (%s)\tconference-modify round trip p50 %.1f ms, p90 %.1f ms, max %.1f ms\n",
		s.SignallingProtocol, r.AllocateMs.P50, r.AllocateMs.P90, r.AllocateMs.Max)
	if c := r.RESTComparison; c != nil {
		fmt.Fprintf(tw, "same joins over %s\t%d/%d  join p50 %.0f ms, p90 %.0f ms, max %.0f ms; conference-modify round trip p50 %.1f ms, p90 %.1f ms\n",
			c.Signalling, c.Joined, c.Joined+c.JoinFailures, c.JoinMs.P50, c.JoinMs.P90, c.JoinMs.Max, c.AllocateMs.P50, c.AllocateMs.P90)
	}
	fmt.Fprintln(tw, "\tbridge\tbaseline relay")
	row := func(name string, f func(p *PhaseResult) string) {
		b := "-"
		if r.Baseline != nil {
			b = f(r.Baseline)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, f(&r.Result), b)
	}
	row("sent pps", func(p *PhaseResult) string { return fmt.Sprintf("%.0f", p.SentPacketsPerS) })
	row("forwarded pps", func(p *PhaseResult) string { return fmt.Sprintf("%.0f", p.ForwardedPacketsPerS) })
	row("forwarded Mbit/s", func(p *PhaseResult) string { return fmt.Sprintf("%.2f", p.ForwardedBitsPerS/1e6) })
	row("audio/video packets", func(p *PhaseResult) string { return fmt.Sprintf("%d/%d", p.AudioPackets, p.VideoPackets) })
	row("loss", func(p *PhaseResult) string {
		return fmt.Sprintf("%.4f%% (%d of %d)", 100*p.LossFraction, p.Lost, p.Expected)
	})
	row("reordered / discontinuities", func(p *PhaseResult) string { return fmt.Sprintf("%d / %d", p.Reordered, p.Discontinuities) })
	row("NACKed packets", func(p *PhaseResult) string { return strconv.FormatUint(p.NACKedPackets, 10) })
	row("latency p50/p90/p99 ms", func(p *PhaseResult) string {
		return fmt.Sprintf("%.3f/%.3f/%.3f (%d samples)", p.Latency.P50, p.Latency.P90, p.Latency.P99, p.LatencySamples)
	})
	row("forwarder CPU (cores)", func(p *PhaseResult) string {
		return fmt.Sprintf("%.3f (%.1f%% of the host)", p.CPUCores, p.CPUHostPercent)
	})
	row("CPU-us per fwd packet", func(p *PhaseResult) string { return fmt.Sprintf("%.2f", p.CPUMicrosPerForwardedPacket) })
	row("fwd pps per core", func(p *PhaseResult) string { return fmt.Sprintf("%.0f", p.ForwardedPacketsPerSPerCore) })
	row("socket drops bridge/loadgen", func(p *PhaseResult) string {
		return fmt.Sprintf("%d/%d", p.BridgeSocketDrops, p.LoadGenSocketDrops)
	})
	row("load generator CPU", func(p *PhaseResult) string {
		ratio := 0.0
		if p.CPUCores > 0 {
			ratio = p.LoadGenCPUCores / p.CPUCores
		}
		return fmt.Sprintf("%.2f s, %.3f cores (%.2fx the forwarder), %d goroutines", p.LoadGenCPUSeconds, p.LoadGenCPUCores, ratio, p.LoadGenGoroutines)
	})
	fmt.Fprintf(tw, "bridge RSS\t%.1f MiB (idle %.1f MiB, %.1f KiB per endpoint)\n",
		float64(r.BridgeRSSBytes)/(1<<20), float64(r.BridgeRSSIdleBytes)/(1<<20), float64(r.BridgeRSSPerEndpointBytes)/1024)
	if g := r.BridgeRuntime; g != nil && len(g.Samples) > 0 {
		last := g.Samples[len(g.Samples)-1]
		fmt.Fprintf(tw, "bridge runtime\t%.0f goroutines, heap in use %.1f MiB, %.0f open files (%d samples every %.0fs; growth first->last: %+.0f goroutines, %+.1f MiB heap, %+.0f files)\n",
			last.Goroutines, last.HeapBytes/(1<<20), last.FDs, len(g.Samples), g.IntervalS, g.GoroutinesGrowth, g.HeapGrowthBytes/(1<<20), g.FDsGrowth)
	} else if g != nil && g.Error != "" {
		fmt.Fprintf(tw, "bridge runtime\tnot read: %s\n", g.Error)
	}
	for _, l := range r.Result.Layers {
		what := fmt.Sprintf("%dp video", l.Height)
		switch l.Height {
		case 0:
			what = "audio"
		case -1:
			what = "unknown (nothing decrypted: padding, probing)"
		}
		fmt.Fprintf(tw, "received by %s receivers (%d)\t%s: %.2f streams and %.0f packets/s per receiver\n", l.View, l.Receivers, what, l.Streams, l.PacketsPerS)
	}
	if rs := r.Repeats; rs != nil {
		for i, w := range rs.Windows {
			fmt.Fprintf(tw, "window %d\tbridge %.2f us/pkt (%.0f pps, %.3f cores), relay %.2f us/pkt (%.0f pps), efficiency %.3f, load generator %.3f cores\n",
				i+1, w.BridgeMicrosPerPacket, w.BridgePacketsPerS, w.BridgeCPUCores, w.RelayMicrosPerPacket, w.RelayPacketsPerS, w.CPUEfficiency, w.LoadGenCPUCores)
		}
		fmt.Fprintf(tw, "over %d windows\tbridge us/pkt median %.2f (%.2f-%.2f); efficiency vs relay median %.3f (%.3f-%.3f)\n",
			len(rs.Windows), rs.BridgeMicrosMedian, rs.BridgeMicrosMin, rs.BridgeMicrosMax, rs.CPUEfficiencyMedian, rs.CPUEfficiencyMin, rs.CPUEfficiencyMax)
	}
	if r.Allocations != nil {
		fmt.Fprintf(tw, "bandwidth allocations\t%s\n", allocationLine(r.Allocations))
	}
	writeTwoBridges(tw, r.TwoBridges)
	fmt.Fprintf(tw, "keyframe requests / RTCP in\t%d / %d\n", r.KeyframeRequests, r.RTCPReceived)
	fmt.Fprintf(tw, "transport-cc feedback sent / received\t%d / %d\n", r.TCCFeedbackSent, r.TCCFeedbackReceived)
	if len(r.BridgeDrops) > 0 {
		keys := slices.Sorted(maps.Keys(r.BridgeDrops))
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s=%d", k, r.BridgeDrops[k]))
		}
		fmt.Fprintf(tw, "bridge drops in window\t%s\n", strings.Join(parts, " "))
	}
	if r.BaselineFraction != nil {
		fmt.Fprintf(tw, "vs baseline\tCPU efficiency %.3f (relay us/pkt / bridge us/pkt), throughput %.3f\n",
			r.BaselineFraction.CPUEfficiency, r.BaselineFraction.Throughput)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(tw, "note\t%s\n", n)
	}
	_ = tw.Flush()
}

// SweepPoint is one scenario size of a --sweep.
type SweepPoint struct {
	Conferences, Participants int
	R                         *Result
}

var sweepHeader = []string{"conferences", "participants", "endpoints", "forwarded_pps", "forwarded_mbps",
	"bridge_cpu_cores", "cpu_us_per_packet", "pps_per_core", "rss_per_endpoint_kib", "loss_fraction",
	"latency_p99_ms", "baseline_cpu_us_per_packet"}

// WriteSweepCSV writes the scaling curve.
func WriteSweepCSV(w io.Writer, pts []SweepPoint) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(sweepHeader); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	for _, p := range pts {
		r := p.R
		base := ""
		if r.Baseline != nil {
			base = f(r.Baseline.CPUMicrosPerForwardedPacket)
		}
		if err := cw.Write([]string{
			strconv.Itoa(p.Conferences), strconv.Itoa(p.Participants), strconv.Itoa(r.Joined),
			f(r.Result.ForwardedPacketsPerS), f(r.Result.ForwardedBitsPerS / 1e6), f(r.Result.CPUCores),
			f(r.Result.CPUMicrosPerForwardedPacket), f(r.Result.ForwardedPacketsPerSPerCore),
			f(float64(r.BridgeRSSPerEndpointBytes) / 1024), strconv.FormatFloat(r.Result.LossFraction, 'g', 6, 64),
			f(r.Result.Latency.P99), base,
		}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteSweepSVG plots bridge CPU (cores) and CPU-us per packet against forwarded packets/s.
func WriteSweepSVG(w io.Writer, pts []SweepPoint) error {
	const W, H, ml, mr, mt, mb = 720.0, 420.0, 70.0, 70.0, 40.0, 60.0
	pw, ph := W-ml-mr, H-mt-mb
	var maxX, maxY1, maxY2 float64
	for _, p := range pts {
		maxX = math.Max(maxX, p.R.Result.ForwardedPacketsPerS)
		maxY1 = math.Max(maxY1, p.R.Result.CPUCores)
		maxY2 = math.Max(maxY2, p.R.Result.CPUMicrosPerForwardedPacket)
	}
	maxX, maxY1, maxY2 = niceCeil(maxX), niceCeil(maxY1), niceCeil(maxY2)
	x := func(v float64) float64 { return ml + pw*v/maxX }
	y1 := func(v float64) float64 { return mt + ph - ph*v/maxY1 }
	y2 := func(v float64) float64 { return mt + ph - ph*v/maxY2 }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", W, H)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="20" font-size="14">jvb-bench scaling: bridge CPU vs forwarded packets/s</text>`+"\n", ml)
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", ml, mt+ph, ml+pw, mt+ph)
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", ml, mt, ml, mt+ph)
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", ml+pw, mt, ml+pw, mt+ph)
	for i := 0; i <= 5; i++ {
		fx, fy := float64(i)/5, float64(i)/5
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%.0f</text>`+"\n", x(fx*maxX), mt+ph+16, fx*maxX)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="#1f77b4">%.2f</text>`+"\n", ml-6, y1(fy*maxY1)+4, fy*maxY1)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#d62728">%.1f</text>`+"\n", ml+pw+6, y2(fy*maxY2)+4, fy*maxY2)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", ml, y1(fy*maxY1), ml+pw, y1(fy*maxY1))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">forwarded packets/s</text>`+"\n", ml+pw/2, H-15)
	fmt.Fprintf(&b, `<text x="15" y="%.1f" fill="#1f77b4" transform="rotate(-90 15 %.1f)" text-anchor="middle">bridge CPU (cores)</text>`+"\n", mt+ph/2, mt+ph/2)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#d62728" transform="rotate(90 %.1f %.1f)" text-anchor="middle">CPU-us per forwarded packet</text>`+"\n", W-12, mt+ph/2, W-12, mt+ph/2)
	line := func(color string, yf func(float64) float64, val func(*PhaseResult) float64) {
		var pts2 []string
		for _, p := range pts {
			px, py := x(p.R.Result.ForwardedPacketsPerS), yf(val(&p.R.Result))
			pts2 = append(pts2, fmt.Sprintf("%.1f,%.1f", px, py))
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%dx%d</title></circle>`+"\n", px, py, color, p.Conferences, p.Participants)
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, strings.Join(pts2, " "))
	}
	line("#1f77b4", y1, func(p *PhaseResult) float64 { return p.CPUCores })
	line("#d62728", y2, func(p *PhaseResult) float64 { return p.CPUMicrosPerForwardedPacket })
	for _, p := range pts {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10" text-anchor="middle">%dx%d</text>`+"\n",
			x(p.R.Result.ForwardedPacketsPerS), y1(p.R.Result.CPUCores)-8, p.Conferences, p.Participants)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (1 for v <= 0).
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}
