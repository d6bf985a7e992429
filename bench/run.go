package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"
)

// Scenario is the simulated load.
type Scenario struct {
	Name             string        // preset name, "" = built from flags
	Conferences      int           // number of conferences
	Participants     int           // endpoints per conference
	Senders          int           // sending endpoints per conference; <0 = all, the rest receive only
	Simulcast        bool          // 3 VP8 encodings (SIM group) instead of one 720p stream
	LastN            int           // sent in initial-last-n and ReceiverVideoConstraints; -1 = unlimited
	MaxHeight        int           // defaultConstraints.maxHeight sent on the bridge channel
	Duration         time.Duration // measurement window
	RampUp           time.Duration // joins are spread over this time
	Warmup           time.Duration // after the last join, before measuring
	KeyframeInterval time.Duration // periodic keyframes on top of PLI/FIR-triggered ones; 0 = none
	BridgeChannel    bool          // open the SCTP data channel and send ReceiverVideoConstraints
	REMBBps          uint64        // REMB each receiver sends; 0 = none
	TCC              bool          // negotiate transport-cc: tag sent packets, send feedback every 100 ms
	// AudioSenders is how many endpoints per conference send audio (the first ones; those
	// beyond Senders send audio only, video senders beyond it have their microphone muted);
	// 0 = the video senders.
	AudioSenders int
	// OnStageReceivers is how many receive-only endpoints (the last ones) put the first
	// sender's video on stage at OnStageHeight; -1 = all of them.
	OnStageReceivers int
	OnStageHeight    int
	// SpeakerInterval scripts the dominant speaker: one audio sender at a time is loud, in
	// turn, for this long, the others send silence; 0 = every sender at random speech levels.
	SpeakerInterval time.Duration
	NACK            bool // receivers send NACKs for the gaps in what they receive
	// SampleEvery > 0: receivers account every packet from its clear RTP header and decrypt
	// one in SampleEvery per stream (for latency); 0 = decrypt every packet (pion's path).
	SampleEvery int
	// MirrorRelay makes the baseline relay forward each SSRC only to the receivers that got it
	// through the bridge in the window before (and drop silent audio, as the bridge does),
	// instead of every packet to every member: the same flow, for scenarios where everything
	// to everyone would overload the host.
	MirrorRelay bool
	// Repeat is the number of bridge windows, each followed by a relay window with
	// Options.Baseline, alternating on the same joined endpoints; 0 = 1.
	Repeat int
	// ResourceInterval is how often the bridge's goroutines, heap and file descriptors are
	// sampled during a window (growth check); 0 = 30 s.
	ResourceInterval time.Duration
	// AlignedSenders starts every sender's frame and audio clock at the instant its media loop
	// starts, so senders started together (a repeat window, the relay window) capture their
	// frames at the same instants, and keyframes every KeyframeInterval together: the worst
	// case for the bridge's bursts. Off (the default), each sender has its own phase within the
	// frame interval and keyframe interval, as independent cameras do.
	AlignedSenders bool
}

// DefaultScenario is a small tile-view meeting.
func DefaultScenario() Scenario {
	return Scenario{
		Conferences: 1, Participants: 3, Senders: -1, Simulcast: true, LastN: -1, MaxHeight: 180,
		Duration: 10 * time.Second, RampUp: time.Second, Warmup: 2 * time.Second,
		KeyframeInterval: 5 * time.Second, BridgeChannel: true, REMBBps: 10_000_000, TCC: true,
		SampleEvery: 64,
	}
}

func (s Scenario) validate() error {
	switch {
	case s.Conferences < 1:
		return fmt.Errorf("scenario: conferences=%d, want >= 1", s.Conferences)
	case s.Participants < 2:
		return fmt.Errorf("scenario: participants=%d, want >= 2", s.Participants)
	case s.Senders == 0:
		return errors.New("scenario: senders=0, want >= 1 (or -1 for all)")
	case s.Duration <= 0:
		return fmt.Errorf("scenario: duration=%v, want > 0", s.Duration)
	case s.RampUp < 0 || s.Warmup < 0:
		return errors.New("scenario: ramp-up and warmup must be >= 0")
	case s.Repeat < 0 || s.SampleEvery < 0 || s.AudioSenders < 0 || s.OnStageReceivers < -1:
		return errors.New("scenario: repeat, sample-every, audio-senders must be >= 0 and on-stage >= -1")
	case s.ResourceInterval < 0 || s.SpeakerInterval < 0:
		return errors.New("scenario: resource and speaker intervals must be >= 0")
	}
	return nil
}

func (s Scenario) senders() int {
	if s.Senders < 0 || s.Senders > s.Participants {
		return s.Participants
	}
	return s.Senders
}

// Options configure one Run.
type Options struct {
	Scenario  Scenario
	BridgeURL string // private HTTP base URL of the bridge: COLIBRI2 REST (unless XMPP) and /metrics
	BridgePID int    // > 0 when the bridge runs on this machine: CPU/RSS from /proc
	Baseline  bool   // also push the same flow through the in-process UDP relay
	// XMPP, when set, allocates over conference-modify IQs through this prosody, as jicofo does,
	// instead of REST.
	XMPP *XMPPConfig
	// CompareREST, with XMPP, afterwards joins the same scenario over REST on the same bridge
	// (join and allocation times only, no measurement window) for Result.RESTComparison.
	CompareREST bool
	// Second, when set, runs the scenario over two bridges linked by a relay: half of each
	// conference on BridgeURL, half on Second (REST only, one window, no baseline).
	Second *SecondBridge
	// CPUProfile, if set, receives the bridge's /debug/pprof/profile for the measurement
	// window (the bridge must serve pprof, e.g. cmd/jvb --pprof).
	CPUProfile io.Writer
	Progress   io.Writer
	Logger     *slog.Logger
}

// Run joins the scenario's endpoints to the bridge, measures, tears down and, with Baseline,
// repeats the same flow through the UDP relay.
func Run(ctx context.Context, opts Options) (*Result, error) {
	sc := opts.Scenario
	if err := sc.validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	res := &Result{
		Tool:      "jvb-bench",
		StartedAt: time.Now().UTC(),
		Scenario:  scenarioJSON(sc),
		Machine:   MachineInfo{Cores: runtime.NumCPU()},
		Bridge:    BridgeInfo{URL: opts.BridgeURL, PID: opts.BridgePID},
		Notes:     []string{},
	}
	res.Machine.LoadGeneratorSharesCPU = opts.BridgePID > 0 || isLoopbackURL(opts.BridgeURL)
	if res.Machine.LoadGeneratorSharesCPU {
		res.Notes = append(res.Notes, fmt.Sprintf(
			"the load generator runs on the same %d cores as the bridge: read CPU-us per forwarded packet, not pps, as the capacity figure",
			res.Machine.Cores))
	}
	sigNote := "signalling: REST COLIBRI2 (POST to create the conference, then PATCH; each endpoint's allocation waits for the create reply)"
	if opts.XMPP != nil {
		res.Scenario.SignallingProtocol = "colibri2-xmpp"
		sigNote = fmt.Sprintf("signalling: COLIBRI2 IQs through prosody %s as %s@%s from the brewery %s, pipelined like jicofo (allocations follow the create without waiting for its reply)",
			opts.XMPP.Server, opts.XMPP.FocusUser, opts.XMPP.Domain, opts.XMPP.BreweryJID())
	}
	res.Notes = append(res.Notes,
		sigNote,
		rtcpNote(sc),
		"lastN is sent as initial-last-n and in ReceiverVideoConstraints on the bridge channel")

	if opts.Second != nil {
		if opts.XMPP != nil || opts.Baseline || sc.Repeat > 1 {
			return nil, errors.New("two bridges: REST signalling and one window only (no XMPP, baseline or repeat)")
		}
		res.Notes = append(res.Notes, fmt.Sprintf(
			"two bridges linked by a relay per conference (%s initiates): endpoints alternate between them; the result's CPU is both bridges'",
			opts.Second.RelayIDs[0]))
		return res, runTwoBridgePhase(ctx, opts, res)
	}
	if err := runBridgePhase(ctx, opts, res, false); err != nil {
		return res, err
	}
	if opts.XMPP != nil && opts.CompareREST {
		ropts := opts
		ropts.XMPP = nil
		rr := &Result{Notes: []string{}}
		err := runBridgePhase(ctx, ropts, rr, true)
		res.RESTComparison = &JoinComparison{Signalling: "colibri2-rest", Joined: rr.Joined,
			JoinFailures: rr.JoinFailures, JoinMs: rr.JoinMs, AllocateMs: rr.AllocateMs}
		if err != nil {
			res.Notes = append(res.Notes, "REST comparison: "+err.Error())
		}
	}
	if opts.Baseline {
		res.Notes = append(res.Notes, baselineNote(sc),
			latencyNote())
	}
	return res, nil
}

func isLoopbackURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// ssrcAllocator hands out unique random SSRCs for one run.
type ssrcAllocator struct {
	mu   sync.Mutex
	used map[uint32]bool
	rng  *rand.Rand
}

func (a *ssrcAllocator) next() uint32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		v := a.rng.Uint32()
		if v != 0 && !a.used[v] {
			a.used[v] = true
			return v
		}
	}
}

func buildEndpoints(sc Scenario, seed uint64, start time.Time) [][]*simEndpoint {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	alloc := &ssrcAllocator{used: map[uint32]bool{}, rng: rng}
	confs := make([][]*simEndpoint, sc.Conferences)
	never := func(time.Time) bool { return false }
	for ci := range confs {
		sched := &speakerSchedule{start: start, interval: sc.SpeakerInterval, senders: sc.audioSenders()}
		stage := ""
		for pi := 0; pi < sc.Participants; pi++ {
			id := fmt.Sprintf("%08x", rng.Uint32())
			video, audio := pi < sc.senders(), pi < sc.audioSenders()
			e := newSimEndpoint(id, video || audio, sc.Simulcast, alloc.next, rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())))
			if !video && audio {
				e.video, e.rtxSSRCs = nil, nil
			}
			if e.sender {
				switch {
				case !audio && sc.AudioSenders > 0:
					e.audio.speaking = never
				case audio && sc.SpeakerInterval > 0:
					e.audio.speaking = sched.speaking(pi)
				}
			}
			if video && stage == "" {
				stage = id + "-v0"
			}
			e.cons = constraints{lastN: sc.LastN, maxHeight: sc.MaxHeight}
			if stage != "" && sc.isOnStage(pi) {
				e.cons.onStage, e.cons.onStageHeight, e.onStage = stage, sc.OnStageHeight, true
			}
			e.nack = sc.NACK
			e.conf = ci
			e.sampleEvery = sc.SampleEvery
			e.keyEvery = sc.KeyframeInterval
			e.remb = sc.REMBBps
			if !sc.AlignedSenders {
				e.framePhase = time.Duration(rng.Int64N(int64(time.Second / 30)))
				if sc.KeyframeInterval > 0 {
					e.keyPhase = time.Duration(1 + rng.Int64N(int64(sc.KeyframeInterval)))
				}
			}
			if sc.TCC {
				e.enableTCC()
			}
			confs[ci] = append(confs[ci], e)
		}
	}
	return confs
}

// runBridgePhase joins the scenario to the bridge and, unless joinOnly, measures forwarding.
func runBridgePhase(ctx context.Context, opts Options, res *Result, joinOnly bool) error {
	sc := opts.Scenario
	log := opts.Logger
	var sig signaller = restSignaller{newColibriClient(opts.BridgeURL)}
	if opts.XMPP != nil {
		xs, err := dialXMPP(ctx, *opts.XMPP, log)
		if err != nil {
			return err
		}
		sig = xs
		res.Bridge.XMPPOccupant = xs.occupant
	}
	defer sig.close() // after the conferences are expired below
	probe := newResourceProbe(opts.BridgePID, opts.BridgeURL)
	defer probe.hc.CloseIdleConnections()
	res.Bridge.ResourceSource = probe.source
	idle, err := probe.sample(ctx)
	if err != nil {
		return fmt.Errorf("bridge resources before join: %w", err)
	}
	res.BridgeRSSIdleBytes = idle.rssBytes

	seed := uint64(time.Now().UnixNano())
	confs := buildEndpoints(sc, seed, time.Now())
	all := slices.Concat(confs...)
	res.Endpoints = len(all)
	runID := fmt.Sprintf("%06x", seed&0xffffff)

	media := newMediaGroup(ctx)
	var dcWG sync.WaitGroup
	joins := newJoinLog()

	var joinWG sync.WaitGroup
	defer func() {
		joinWG.Wait()
		media.stop()
		for _, e := range all {
			e.closeBridgeChannel()
		}
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		for ci := range confs {
			if _, err := sig.modify(ectx, c2Request{MeetingID: meetingID(runID, ci), Expire: true}, nil); err != nil {
				log.Debug("expire conference", "meeting_id", meetingID(runID, ci), "err", err)
			}
		}
		cancel()
		for _, c := range joins.conns {
			c.close()
		}
		dcWG.Wait()
	}()

	interval := time.Duration(0)
	if len(all) > 1 {
		interval = sc.RampUp / time.Duration(len(all))
	}
	created := make([]chan struct{}, len(confs))
	for i := range created {
		created[i] = make(chan struct{})
	}
	rampStart := time.Now()
	k := 0
	for ci, eps := range confs {
		for pi, e := range eps {
			if k > 0 && interval > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Until(rampStart.Add(time.Duration(k) * interval))):
				}
			}
			k++
			joinWG.Add(1)
			go func() {
				defer joinWG.Done()
				first := pi == 0
				var createSent func()
				if first {
					createSent = sync.OnceFunc(func() { close(created[ci]) })
					defer createSent() // also when the join failed before sending
				} else {
					select {
					case <-created[ci]:
					case <-ctx.Done():
						return
					}
				}
				jctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				s, err := joinBridge(jctx, sig, sc, meetingID(runID, ci), ci, e, createSent, res.Machine.LoadGeneratorSharesCPU)
				if !joins.joined(e, s, err, fmt.Sprintf("conference %d", ci)) {
					return
				}
				media.start(e)
				if sc.BridgeChannel {
					joins.openChannel(ctx, e, s, &dcWG, log)
				}
			}()
		}
	}
	joinWG.Wait()
	res.Joined = len(joins.joins)
	res.JoinFailures = len(joins.errs)
	res.JoinMs = joinStats(joins.joins)
	res.AllocateMs = joinStats(joins.allocs)
	res.BridgeChannelsOpen = joins.channels
	for i, err := range joins.errs {
		if i == 3 {
			res.Notes = append(res.Notes, fmt.Sprintf("... %d more join failures", len(joins.errs)-3))
			break
		}
		res.Notes = append(res.Notes, "join failed: "+err.Error())
	}
	if len(joins.joins) == 0 {
		return fmt.Errorf("no endpoint joined: %w", errors.Join(joins.errs...))
	}
	log.Info("endpoints joined", "joined", res.Joined, "failed", res.JoinFailures, "ramp", time.Since(rampStart).Round(time.Millisecond),
		"signalling", sig.protocol())
	if joinOnly {
		return nil
	}

	var joined []*simEndpoint
	for _, e := range all {
		if joins.conns[e] != nil && e.tr != nil {
			joined = append(joined, e)
		}
	}
	if err := measureWindows(ctx, opts, res, probe, windowSet{all: all, joined: joined, media: media, seed: seed, idleRSS: idle.rssBytes}); err != nil {
		return err
	}
	meetings := make([]string, len(confs))
	for ci := range confs {
		meetings[ci] = meetingID(runID, ci)
	}
	res.Allocations = readAllocations(ctx, []string{opts.BridgeURL}, meetings, joined)
	return nil
}

func meetingID(runID string, ci int) string { return fmt.Sprintf("bench-%s-%d", runID, ci) }

// joinBridge does what Jicofo and a browser do for one participant: allocate the endpoint
// (creating the conference when createSent is not nil; it is called once later allocations may
// follow), send the endpoint's transport and sources, then connect ICE and DTLS-SRTP.
func joinBridge(ctx context.Context, sig signaller, sc Scenario, meeting string, ci int, e *simEndpoint, createSent func(), loopback bool) (*secureConn, error) {
	e.joinStart = time.Now()
	s, err := newSecureConn(loopback)
	if err != nil {
		return nil, err
	}
	ctrl := true
	ep := c2Endpoint{
		ID: e.id, StatsID: "bench-" + e.id, Create: true,
		Transport:    &c2Transport{ICEControlling: &ctrl},
		Medias:       mediaOffer(sc.TCC),
		Capabilities: []string{"source-names"},
	}
	if sc.BridgeChannel {
		ep.Transport.SCTP = &c2SCTP{}
	}
	if sc.LastN >= 0 {
		ep.InitialLastN = &c2InitialLast{Value: sc.LastN}
	}
	req := c2Request{MeetingID: meeting, Endpoints: []c2Endpoint{ep}}
	if createSent != nil {
		req.Create = true
		req.Name = fmt.Sprintf("bench%d@conference.bench.invalid", ci)
	}
	t0 := time.Now()
	resp, err := sig.modify(ctx, req, createSent)
	if err != nil {
		return s, fmt.Errorf("allocate: %w", err)
	}
	e.allocated = time.Since(t0)
	var bridgeT *c2ICEUDP
	for _, r := range resp.Endpoints {
		if r.ID == e.id && r.Transport != nil {
			bridgeT = r.Transport.Transport
		}
	}
	if bridgeT == nil {
		return s, errors.New("allocate: response has no transport for the endpoint")
	}
	local, err := s.localDescription(ctx)
	if err != nil {
		return s, err
	}
	upd := c2Request{MeetingID: meeting, Endpoints: []c2Endpoint{{
		ID: e.id, StatsID: "bench-" + e.id,
		Transport: &c2Transport{Transport: local},
		Sources:   e.sources(),
	}}}
	if _, err := sig.modify(ctx, upd, nil); err != nil {
		return s, fmt.Errorf("session-accept update: %w", err)
	}
	if err := s.connect(ctx, bridgeT, e); err != nil {
		return s, err
	}
	e.tr = s
	e.joined = time.Since(e.joinStart)
	return s, nil
}

// runBaselinePhase pushes the scenario's flow (the same endpoints, SSRCs included, when built
// from the same seed) through a fresh UDP relay, forwarding per plan when it is not nil.
func runBaselinePhase(ctx context.Context, opts Options, seed uint64, plan relayPlan) (*PhaseResult, error) {
	sc := opts.Scenario
	confs := buildEndpoints(sc, seed, time.Now())
	all := slices.Concat(confs...)
	for _, e := range all {
		if e.sender && plan != nil {
			e.audio.skipSilence = true
		}
	}
	relay, stop, err := baselineConnect(ctx, confs, plan)
	if err != nil {
		return nil, err
	}
	media := newMediaGroup(ctx)
	defer func() {
		media.stop()
		stop()
	}()
	for _, e := range all {
		e.joinStart = time.Now()
		media.start(e)
	}
	return measure(ctx, "baseline", sc, all, opts.Progress, func() (time.Duration, uint64, error) {
		return relay.cpu(), 0, nil
	}, 0, nil)
}

// measure waits for the warmup, then measures for the scenario's duration while printing a
// progress line every second.
func measure(ctx context.Context, phase string, sc Scenario, eps []*simEndpoint, progress io.Writer,
	cpuNow func() (time.Duration, uint64, error), bridgePID int, onTick func(time.Time)) (*PhaseResult, error) {
	if progress == nil {
		progress = io.Discard
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(sc.Warmup):
	}
	for _, e := range eps {
		e.recv.startMeasuring()
	}
	sentP0, sentB0 := sentTotals(eps)
	cpu0, _, err := cpuNow()
	if err != nil {
		return nil, fmt.Errorf("%s CPU at start: %w", phase, err)
	}
	self0 := selfCPU()
	bdrop0, bdropErr := udpSocketDrops(bridgePID)
	sdrop0, sdropErr := udpSocketDrops(os.Getpid())
	t0 := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	end := time.NewTimer(sc.Duration)
	defer end.Stop()
	var lastP, lastB uint64
	lastT := t0
loop:
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-end.C:
			break loop
		case now := <-tick.C:
			if onTick != nil {
				onTick(now)
			}
			p, b := recvTotals(eps)
			cpu, _, _ := cpuNow()
			dt := now.Sub(lastT).Seconds()
			el := now.Sub(t0).Seconds()
			fmt.Fprintf(progress, "\r[%s] %4.0fs/%.0fs  forwarded %8.0f pps %7.2f Mbit/s  cpu %5.1f%% of a core   ",
				phase, el, sc.Duration.Seconds(), float64(p-lastP)/dt, float64(b-lastB)*8/dt/1e6,
				100*(cpu-cpu0).Seconds()/el)
			lastP, lastB, lastT = p, b, now
		}
	}
	window := time.Since(t0)
	cpu1, rss1, err := cpuNow()
	if err != nil {
		return nil, fmt.Errorf("%s CPU at end: %w", phase, err)
	}
	self1 := selfCPU()
	bdrop1, bdropErr1 := udpSocketDrops(bridgePID)
	sdrop1, sdropErr1 := udpSocketDrops(os.Getpid())
	fmt.Fprintln(progress)
	sentP1, sentB1 := sentTotals(eps)

	r := &PhaseResult{WindowS: window.Seconds(), endRSS: rss1, Receivers: []ReceiverResult{}}
	if bridgePID > 0 && bdropErr == nil && bdropErr1 == nil && bdrop1 >= bdrop0 {
		r.BridgeSocketDrops = bdrop1 - bdrop0
	}
	if sdropErr == nil && sdropErr1 == nil && sdrop1 >= sdrop0 {
		r.LoadGenSocketDrops = sdrop1 - sdrop0
	}
	var hist latencyHist
	audio := audioSSRCs(eps)
	layers := newLayerTally()
	for _, e := range eps {
		rr := e.recv.snapshot(e.id, e.joinStart, &hist)
		rr.OnStage = e.onStage
		layers.add(e, audio, window)
		r.Discontinuities += rr.Discontinuities
		r.NACKedPackets += rr.NACKedPackets
		r.Receivers = append(r.Receivers, rr)
		r.ForwardedPackets += rr.Packets
		r.ForwardedBytes += rr.Bytes
		r.AudioPackets += rr.AudioPackets
		r.VideoPackets += rr.VideoPackets
		r.Expected += rr.Expected
		r.Lost += rr.Lost
		r.Reordered += rr.Reordered
	}
	w := window.Seconds()
	r.SentPackets = sentP1 - sentP0
	r.SentPacketsPerS = float64(r.SentPackets) / w
	r.SentBitsPerS = float64(sentB1-sentB0) * 8 / w
	r.ForwardedPacketsPerS = float64(r.ForwardedPackets) / w
	r.ForwardedBitsPerS = float64(r.ForwardedBytes) * 8 / w
	if r.Expected > 0 {
		r.LossFraction = float64(r.Lost) / float64(r.Expected)
	}
	r.LatencySamples = hist.n
	r.Latency = LatencyMs{
		P50: hist.quantile(0.5) / 1e6, P90: hist.quantile(0.9) / 1e6,
		P99: hist.quantile(0.99) / 1e6, Max: float64(hist.max) / 1e6,
	}
	r.CPUSeconds = (cpu1 - cpu0).Seconds()
	r.CPUCores = r.CPUSeconds / w
	r.CPUHostPercent = 100 * r.CPUCores / float64(runtime.NumCPU())
	r.LoadGenCPUSeconds = (self1 - self0).Seconds()
	r.LoadGenCPUCores = r.LoadGenCPUSeconds / w
	r.LoadGenGoroutines = runtime.NumGoroutine()
	r.Layers = layers.result()
	if r.ForwardedPackets > 0 {
		r.CPUMicrosPerForwardedPacket = r.CPUSeconds * 1e6 / float64(r.ForwardedPackets)
	}
	if r.CPUMicrosPerForwardedPacket > 0 {
		r.ForwardedPacketsPerSPerCore = 1e6 / r.CPUMicrosPerForwardedPacket
	}
	return r, nil
}

func sentTotals(eps []*simEndpoint) (p, b uint64) {
	for _, e := range eps {
		p += e.sentPackets.Load()
		b += e.sentBytes.Load()
	}
	return p, b
}

func recvTotals(eps []*simEndpoint) (p, b uint64) {
	for _, e := range eps {
		p += e.recv.packets.Load()
		b += e.recv.bytes.Load()
	}
	return p, b
}

func joinStats(ds []time.Duration) JoinMs {
	if len(ds) == 0 {
		return JoinMs{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(f float64) float64 {
		i := int(f * float64(len(s)-1))
		return float64(s[i]) / 1e6
	}
	return JoinMs{P50: q(0.5), P90: q(0.9), Max: float64(s[len(s)-1]) / 1e6}
}

// fetchProfile copies the bridge's CPU profile over d to w.
func fetchProfile(ctx context.Context, base string, d time.Duration, w io.Writer) error {
	secs := max(1, int(d.Seconds()))
	u := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, secs)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: d + 30*time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d (start the bridge with --pprof)", u, resp.StatusCode)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

func rtcpNote(sc Scenario) string {
	n := "RTCP from simulated endpoints: SR/RR every 1 s"
	if sc.REMBBps > 0 {
		n += fmt.Sprintf(", REMB %d bps", sc.REMBBps)
	}
	if sc.TCC {
		n += ", transport-cc feedback every 100 ms"
	}
	if sc.NACK {
		n += ", NACK every 100 ms for the gaps seen"
	} else {
		n += "; no NACK"
	}
	if sc.SampleEvery > 0 {
		n += fmt.Sprintf("; receivers account every packet from its clear RTP header and decrypt 1 in %d per stream (latency)", sc.SampleEvery)
	}
	return n
}
