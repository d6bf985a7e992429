package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"
)

// mediaGroup runs endpoints' media loops and can pause them all (the endpoints stay joined)
// and start them again.
type mediaGroup struct {
	parent context.Context
	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newMediaGroup(parent context.Context) *mediaGroup {
	g := &mediaGroup{parent: parent}
	g.ctx, g.cancel = context.WithCancel(parent)
	return g
}

// start runs e's media loop until the next pause or stop.
func (g *mediaGroup) start(e *simEndpoint) {
	g.mu.Lock()
	ctx := g.ctx
	g.wg.Add(1)
	g.mu.Unlock()
	go func() { defer g.wg.Done(); e.run(ctx) }()
}

// pause stops every media loop and waits for them; later starts run again.
func (g *mediaGroup) pause() {
	g.stop()
	g.mu.Lock()
	g.ctx, g.cancel = context.WithCancel(g.parent)
	g.mu.Unlock()
}

func (g *mediaGroup) stop() {
	g.mu.Lock()
	g.cancel()
	g.mu.Unlock()
	g.wg.Wait()
}

// windowSet is what the measurement windows of a bridge run work on.
type windowSet struct {
	all, joined []*simEndpoint
	media       *mediaGroup
	seed        uint64 // the endpoints' seed: the relay's endpoints are built alike
	idleRSS     uint64
}

// measureWindows measures Scenario.Repeat bridge windows on the joined endpoints, each followed
// (with Baseline) by a relay window while the bridge's endpoints are paused, and puts the
// window pair with the median CPU-efficiency ratio into res.
func measureWindows(ctx context.Context, opts Options, res *Result, probe *resourceProbe, ws windowSet) error {
	sc := opts.Scenario
	n := max(1, sc.Repeat)
	growth := newGrowthSampler(sc.ResourceInterval)
	type bridgeWin struct {
		phase *PhaseResult
		drops map[string]uint64
	}
	var wins []bridgeWin
	var relays []*PhaseResult
	for i := range n {
		if i > 0 {
			for _, e := range ws.joined {
				e.keyframeWanted.Store(true)
				ws.media.start(e)
			}
		}
		drops0, dropErr := probe.dropCounters(ctx)
		profDone := make(chan error, 1)
		if opts.CPUProfile != nil && i == 0 {
			go func() {
				select {
				case <-ctx.Done():
					profDone <- ctx.Err()
					return
				case <-time.After(sc.Warmup):
				}
				profDone <- fetchProfile(ctx, opts.BridgeURL, sc.Duration, opts.CPUProfile)
			}()
		} else {
			profDone <- nil
		}
		phaseName := "bridge"
		if n > 1 {
			phaseName = fmt.Sprintf("bridge %d/%d", i+1, n)
		}
		first := true
		phase, err := measure(ctx, phaseName, sc, ws.all, opts.Progress, func() (time.Duration, uint64, error) {
			s, err := probe.sample(ctx)
			return s.cpu, s.rssBytes, err
		}, opts.BridgePID, func(now time.Time) {
			if first {
				first = false
				growth.sample(ctx, probe, now) // the window's start
				return
			}
			growth.maybeSample(ctx, probe, now)
		})
		if err != nil {
			return err
		}
		growth.sample(ctx, probe, time.Now())
		if perr := <-profDone; perr != nil {
			res.Notes = append(res.Notes, "CPU profile: "+perr.Error())
		}
		w := bridgeWin{phase: phase, drops: map[string]uint64{}}
		if drops1, err := probe.dropCounters(ctx); err == nil && dropErr == nil {
			for k, v := range drops1 {
				if d := v - drops0[k]; d > 0 {
					w.drops[k] = uint64(d)
				}
			}
		} else if i == 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("bridge drop counters unavailable: %v", errors.Join(dropErr, err)))
		}
		wins = append(wins, w)
		if !opts.Baseline && i == n-1 {
			break
		}
		ws.media.pause()
		if !opts.Baseline {
			continue
		}
		var plan relayPlan
		if sc.MirrorRelay {
			plan = planFrom(ws.all)
		}
		b, err := runBaselinePhase(ctx, opts, ws.seed, plan)
		if err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		relays = append(relays, b)
	}

	bridgeUs := make([]float64, len(wins))
	ratios := make([]float64, len(wins))
	for i, w := range wins {
		bridgeUs[i] = w.phase.CPUMicrosPerForwardedPacket
		if i < len(relays) && bridgeUs[i] > 0 {
			ratios[i] = relays[i].CPUMicrosPerForwardedPacket / bridgeUs[i]
		}
	}
	m := medianIndex(bridgeUs, true)
	if len(relays) > 0 {
		m = medianIndex(ratios, false)
	}
	if n > 1 {
		rs := &RepeatSummary{}
		for i, w := range wins {
			rw := RepeatWindow{BridgeMicrosPerPacket: bridgeUs[i], BridgePacketsPerS: w.phase.ForwardedPacketsPerS,
				BridgeCPUCores: w.phase.CPUCores, LoadGenCPUCores: w.phase.LoadGenCPUCores, CPUEfficiency: ratios[i]}
			if i < len(relays) {
				rw.RelayMicrosPerPacket = relays[i].CPUMicrosPerForwardedPacket
				rw.RelayPacketsPerS = relays[i].ForwardedPacketsPerS
			}
			rs.Windows = append(rs.Windows, rw)
		}
		rs.BridgeMicrosMedian, rs.BridgeMicrosMin, rs.BridgeMicrosMax = spread(bridgeUs)
		if len(relays) > 0 {
			rs.CPUEfficiencyMedian, rs.CPUEfficiencyMin, rs.CPUEfficiencyMax = spread(ratios)
		}
		res.Repeats = rs
	}
	phase := wins[m].phase
	res.Result = *phase
	res.BridgeDrops = wins[m].drops
	if len(relays) > 0 {
		b := relays[m]
		res.Baseline = b
		res.BaselineFraction = &BaselineFraction{CPUEfficiency: ratios[m]}
		if b.ForwardedPacketsPerS > 0 {
			res.BaselineFraction.Throughput = phase.ForwardedPacketsPerS / b.ForwardedPacketsPerS
		}
	}
	res.BridgeRuntime = growth.result()
	if phase.BridgeSocketDrops > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf(
			"the kernel dropped %d datagrams at the bridge's UDP sockets (receive buffer full): that loss is the bridge not reading fast enough",
			phase.BridgeSocketDrops))
	}
	if phase.LoadGenSocketDrops > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf(
			"the kernel dropped %d datagrams at the load generator's sockets: part of the loss is the load generator's, not the bridge's",
			phase.LoadGenSocketDrops))
	}
	res.BridgeRSSBytes = phase.endRSS
	if res.Joined > 0 && phase.endRSS > ws.idleRSS {
		res.BridgeRSSPerEndpointBytes = (phase.endRSS - ws.idleRSS) / uint64(res.Joined)
	}
	for _, e := range ws.all {
		res.KeyframeRequests += e.keyframeRequests.Load()
		res.BridgeChannelMessages += e.dcMessages.Load()
		res.RTCPReceived += e.rtcpReceived.Load()
		res.TCCFeedbackSent += e.tccFeedbacks.Load()
		res.TCCFeedbackReceived += e.tccReceived.Load()
	}
	return nil
}

// medianIndex is the index of the median of v (the lower middle one for an even count); with
// skipZero, zero values (nothing measured) are left out unless all are zero.
func medianIndex(v []float64, skipZero bool) int {
	idx := make([]int, 0, len(v))
	for i, x := range v {
		if !skipZero || x > 0 {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return 0
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case v[a] < v[b]:
			return -1
		case v[a] > v[b]:
			return 1
		}
		return 0
	})
	return idx[(len(idx)-1)/2]
}

// spread is the median (mean of the middle two for an even count), minimum and maximum of v.
func spread(v []float64) (median, lo, hi float64) {
	if len(v) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	median = s[len(s)/2]
	if len(s)%2 == 0 {
		median = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return median, s[0], s[len(s)-1]
}

// relayPlan says, per SSRC, which endpoints (by index in the flattened scenario) the mirroring
// relay forwards it to.
type relayPlan map[uint32][]int

// minMirrorPackets is how many packets a receiver must have got of an SSRC through the bridge
// for the relay to forward that SSRC to it: a stream the bridge only briefly sent (a layer
// switch, one probe) does not make the relay forward all of it.
const minMirrorPackets = 30

// planFrom is what the bridge forwarded in the last window: each video SSRC to the receivers
// that got at least minMirrorPackets of it, and every audio SSRC of a conference (but their
// own) to its receivers that got audio: who speaks in the relay's window is not who spoke in
// the bridge's, and the relay's senders leave out silence.
func planFrom(eps []*simEndpoint) relayPlan {
	plan := relayPlan{}
	audio := audioSSRCs(eps)
	audioConf := map[uint32]int{}
	for _, e := range eps {
		if e.sender {
			audioConf[e.audio.hdr.SSRC] = e.conf
		}
	}
	for i, e := range eps {
		gotAudio := false
		for ssrc, st := range e.recv.streamsSeen() {
			if st.packets < minMirrorPackets {
				continue
			}
			if audio[ssrc] {
				gotAudio = true
				continue
			}
			plan[ssrc] = append(plan[ssrc], i)
		}
		if !gotAudio {
			continue
		}
		for ssrc := range audio {
			if !e.ownsSSRC(ssrc) && audioConf[ssrc] == e.conf {
				plan[ssrc] = append(plan[ssrc], i)
			}
		}
	}
	return plan
}

func latencyNote() string {
	if runtime.GOOS == "linux" {
		return "latency is the kernel's arrival time at the receiving socket (SO_TIMESTAMPNS) minus the send time stamped just before the sender's write: it includes the sender's own scheduling, not the receiver's; the baseline relay runs in the load generator's Go runtime (one goroutine locked to a thread)"
	}
	return "latency is taken when the receiver reads a batch: it includes the load generator's own scheduling; the baseline relay runs in its Go runtime"
}

func baselineNote(sc Scenario) string {
	if sc.MirrorRelay {
		return "baseline relay forwards each SSRC only to the receivers that got it through the bridge in the window before and drops RTCP: about the bridge's flow; its senders leave out silent audio (which the bridge drops and renumbers around) instead of sending it, so the relay receives about 1200 fewer packets/s than the bridge in meeting100; compare CPU-us per packet"
	}
	return "baseline relay forwards every packet (all simulcast layers, RTCP) to every other member; compare CPU-us per packet, not packet counts"
}
