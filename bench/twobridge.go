package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// A run over two bridges linked by a relay (Octo), the way jicofo spans one conference over
// two bridges: half of each conference's endpoints join each bridge, then the relay pair is
// created (the first bridge initiates: unique port, ICE controlling, SCTP client), each side's
// relay transport is forwarded to the other, and the endpoints behind each bridge are mirrored
// on the other's relay with their sources.

// SecondBridge is the other bridge of a two-bridge run; Options.BridgeURL is the first. Both
// must run with relays enabled (ENABLE_OCTO) and REST COLIBRI2.
type SecondBridge struct {
	URL      string    // private HTTP base URL
	PID      int       // > 0: CPU from /proc
	RelayIDs [2]string // relay ids (JVB_OCTO_RELAY_ID) of the first bridge and of this one
}

// TwoBridgeResult is the per-bridge view of a two-bridge window.
type TwoBridgeResult struct {
	Bridges []RelayBridgeResult `json:"bridges"`
	// CPUMicrosPerForwardedPacket is both bridges' CPU over every packet the endpoints
	// received: compare it with a one-bridge run of the same scenario for the relay's cost.
	CPUMicrosPerForwardedPacket float64 `json:"cpu_us_per_forwarded_packet"`
	// RemoteSendersExpected counts (receiver, sender on the other bridge) pairs in the same
	// conference; RemoteSendersReceived those where the receiver got packets of the sender in
	// the window. ReceiversMissingRemote is the receivers missing at least one.
	RemoteSendersExpected  int `json:"remote_senders_expected"`
	RemoteSendersReceived  int `json:"remote_senders_received"`
	ReceiversMissingRemote int `json:"receivers_missing_remote_senders"`
}

// RelayBridgeResult is one bridge of a two-bridge window.
type RelayBridgeResult struct {
	RelayID          string  `json:"relay_id"`
	URL              string  `json:"url"`
	PID              int     `json:"pid"`
	Endpoints        int     `json:"endpoints"` // joined to this bridge
	CPUSeconds       float64 `json:"cpu_seconds"`
	CPUCores         float64 `json:"cpu_cores"`
	ForwardedPackets uint64  `json:"forwarded_packets"` // RTP packets this bridge's endpoints received
	// RelayPacketsSent is the media this bridge forwarded over its relays in the window (RTP
	// before SRTP), RelayPacketsReceived what it got from them.
	RelayPacketsSent            uint64  `json:"relay_packets_sent"`
	RelayPacketsReceived        uint64  `json:"relay_packets_received"`
	CPUMicrosPerForwardedPacket float64 `json:"cpu_us_per_forwarded_packet"`
	// CPUMicrosPerPacketOut counts a packet sent over the relay like one sent to an
	// endpoint: CPU / (ForwardedPackets + RelayPacketsSent).
	CPUMicrosPerPacketOut float64 `json:"cpu_us_per_packet_out"`
}

// bridgeSide is one of the two bridges during a run.
type bridgeSide struct {
	url, relayID string
	pid          int
	sig          restSignaller
	probe        *resourceProbe
}

// relayCounters sums the relay packet counters over every conference on the bridge (/debug).
func (b *bridgeSide) relayCounters(ctx context.Context) (sent, recv uint64, err error) {
	d, err := getDebug(ctx, b.probe.hc, b.url, "")
	if err != nil {
		return 0, 0, err
	}
	for _, c := range d.Conferences {
		for _, r := range c.Relays {
			sent += r.Stats.PacketsSent
			recv += r.Stats.PacketsReceived
		}
	}
	return sent, recv, nil
}

// debugRelays is the part of /debug and /debug/{conf} about relays.
type debugRelays struct {
	Conferences map[string]debugRelays `json:"conferences"`
	Relays      map[string]struct {
		Stats struct {
			PacketsSent, PacketsReceived uint64
			State                        int
		} `json:"stats"`
	} `json:"relays"`
}

const relayStateSecure = 3 // sfu/transport.StateSecure

func getDebug(ctx context.Context, hc *http.Client, base, conf string) (*debugRelays, error) {
	u := strings.TrimRight(base, "/") + "/debug"
	if conf != "" {
		u += "/" + url.PathEscape(conf)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d %v", u, resp.StatusCode, err)
	}
	var d debugRelays
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("GET %s: decode: %w", u, err)
	}
	return &d, nil
}

// mirrored is the endpoints as jicofo mirrors them on the other bridge's relay.
func mirrored(eps []*simEndpoint) []c2Endpoint {
	out := make([]c2Endpoint, 0, len(eps))
	for _, e := range eps {
		out = append(out, c2Endpoint{ID: e.id, StatsID: "bench-" + e.id, Create: true,
			Sources: e.sources(), Capabilities: []string{"source-names"}})
	}
	return out
}

// linkRelay creates the relay pair for one meeting as jicofo does, forwards each side's
// transport to the other, and waits until both relays are secure.
func linkRelay(ctx context.Context, a, b *bridgeSide, meeting string, epsA, epsB []*simEndpoint, tcc bool) error {
	ctrl := true
	create := func(on, other *bridgeSide, behind []*simEndpoint, initiator bool) (*c2ICEUDP, error) {
		tr := &c2Transport{SCTP: &c2SCTP{Role: "server"}}
		if initiator {
			tr = &c2Transport{UseUniquePort: true, ICEControlling: &ctrl, SCTP: &c2SCTP{Role: "client"}}
		}
		resp, err := on.sig.modify(ctx, c2Request{MeetingID: meeting, Relays: []c2Relay{{ID: other.relayID, MeshID: "0",
			Create: true, Medias: mediaOffer(tcc), Transport: tr, Endpoints: mirrored(behind)}}}, nil)
		if err != nil {
			return nil, fmt.Errorf("relay create on %s: %w", on.relayID, err)
		}
		if len(resp.Relays) != 1 || resp.Relays[0].Transport == nil || resp.Relays[0].Transport.Transport == nil {
			return nil, fmt.Errorf("relay create on %s: response has no relay transport", on.relayID)
		}
		return resp.Relays[0].Transport.Transport, nil
	}
	iceA, err := create(a, b, epsB, true)
	if err != nil {
		return err
	}
	iceB, err := create(b, a, epsA, false)
	if err != nil {
		return err
	}
	forward := func(on, other *bridgeSide, ice *c2ICEUDP, setup string) error {
		fwd := *ice
		fwd.Fingerprints = slices.Clone(ice.Fingerprints)
		for i := range fwd.Fingerprints {
			fwd.Fingerprints[i].Setup = setup
		}
		_, err := on.sig.modify(ctx, c2Request{MeetingID: meeting, Relays: []c2Relay{{ID: other.relayID,
			Transport: &c2Transport{Transport: &fwd}}}}, nil)
		if err != nil {
			return fmt.Errorf("relay transport to %s: %w", on.relayID, err)
		}
		return nil
	}
	if err := errors.Join(forward(a, b, iceB, "active"), forward(b, a, iceA, "passive")); err != nil {
		return err
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		secure := 0
		for _, s := range [2][2]*bridgeSide{{a, b}, {b, a}} {
			d, err := getDebug(ctx, s[0].probe.hc, s[0].url, meeting)
			if err != nil {
				return err
			}
			if r, ok := d.Relays[s[1].relayID]; ok && r.Stats.State == relayStateSecure {
				secure++
			}
		}
		if secure == 2 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("relay pair of %s not secure after 15s", meeting)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// runTwoBridgePhase joins half of each conference to each bridge, links them with relays and
// measures one window.
func runTwoBridgePhase(ctx context.Context, opts Options, res *Result) error {
	sc := opts.Scenario
	log := opts.Logger
	sides := [2]*bridgeSide{
		{url: opts.BridgeURL, pid: opts.BridgePID, relayID: opts.Second.RelayIDs[0]},
		{url: opts.Second.URL, pid: opts.Second.PID, relayID: opts.Second.RelayIDs[1]},
	}
	for _, s := range sides {
		s.sig = restSignaller{newColibriClient(s.url)}
		s.probe = newResourceProbe(s.pid, s.url)
		defer s.sig.close()
		defer s.probe.hc.CloseIdleConnections()
	}
	res.Bridge.ResourceSource = sides[0].probe.source
	for _, s := range sides {
		idle, err := s.probe.sample(ctx)
		if err != nil {
			return fmt.Errorf("bridge %s resources before join: %w", s.relayID, err)
		}
		res.BridgeRSSIdleBytes += idle.rssBytes
	}
	seed := uint64(time.Now().UnixNano())
	confs := buildEndpoints(sc, seed, time.Now())
	all := slices.Concat(confs...)
	res.Endpoints = len(all)
	runID := fmt.Sprintf("%06x", seed&0xffffff)
	sideOf := map[*simEndpoint]int{}
	for _, eps := range confs {
		for pi, e := range eps {
			sideOf[e] = pi % 2
		}
	}

	media := newMediaGroup(ctx)
	var dcWG, joinWG sync.WaitGroup
	joins := newJoinLog()
	defer func() {
		joinWG.Wait()
		media.stop()
		for _, e := range all {
			e.closeBridgeChannel()
		}
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		for ci := range confs {
			m := meetingID(runID, ci)
			for i, s := range sides {
				other := sides[1-i].relayID
				if _, err := s.sig.modify(ectx, c2Request{MeetingID: m, Relays: []c2Relay{{ID: other, Expire: true}}}, nil); err != nil {
					log.Debug("expire relay", "meeting_id", m, "relay", other, "err", err)
				}
				if _, err := s.sig.modify(ectx, c2Request{MeetingID: m, Expire: true}, nil); err != nil {
					log.Debug("expire conference", "meeting_id", m, "bridge", s.relayID, "err", err)
				}
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
	created := make([][2]chan struct{}, len(confs))
	for i := range created {
		created[i] = [2]chan struct{}{make(chan struct{}), make(chan struct{})}
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
			side := sideOf[e]
			joinWG.Add(1)
			go func() {
				defer joinWG.Done()
				var createSent func()
				if pi < 2 { // the first endpoint on its bridge creates the conference there
					createSent = sync.OnceFunc(func() { close(created[ci][side]) })
					defer createSent()
				} else {
					select {
					case <-created[ci][side]:
					case <-ctx.Done():
						return
					}
				}
				jctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				s, err := joinBridge(jctx, sides[side].sig, sc, meetingID(runID, ci), ci, e, createSent, true)
				if !joins.joined(e, s, err, fmt.Sprintf("conference %d, bridge %s", ci, sides[side].relayID)) {
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
	res.Joined, res.JoinFailures = len(joins.joins), len(joins.errs)
	res.JoinMs, res.AllocateMs = joinStats(joins.joins), joinStats(joins.allocs)
	res.BridgeChannelsOpen = joins.channels
	if len(joins.errs) > 0 {
		return fmt.Errorf("%d of %d endpoints did not join: %w", len(joins.errs), len(all), errors.Join(joins.errs...))
	}

	// The relays, once every endpoint is there: jicofo mirrors endpoints that join later in
	// relay updates; creating the relay with them all is the same state.
	meetings := make([]string, len(confs))
	for ci, eps := range confs {
		meetings[ci] = meetingID(runID, ci)
		var on [2][]*simEndpoint
		for _, e := range eps {
			on[sideOf[e]] = append(on[sideOf[e]], e)
		}
		if err := linkRelay(ctx, sides[0], sides[1], meetings[ci], on[0], on[1], sc.TCC); err != nil {
			return err
		}
	}
	log.Info("endpoints joined and relays linked", "joined", res.Joined, "ramp", time.Since(rampStart).Round(time.Millisecond))

	// measure reads the CPU at the window's start, every second and at its end: each call
	// also reads both bridges' relay counters, the first and last calls bound the window.
	type reading struct {
		cpu        [2]time.Duration
		sent, recv [2]uint64
	}
	var first, last *reading
	cpuNow := func() (time.Duration, uint64, error) {
		var r reading
		var rss uint64
		for i, s := range sides {
			smp, err := s.probe.sample(ctx)
			if err != nil {
				return 0, 0, err
			}
			r.cpu[i], rss = smp.cpu, rss+smp.rssBytes
			if r.sent[i], r.recv[i], err = s.relayCounters(ctx); err != nil {
				return 0, 0, err
			}
		}
		if first == nil {
			first = &r
		}
		last = &r
		return r.cpu[0] + r.cpu[1], rss, nil
	}
	phase, err := measure(ctx, "two bridges", sc, all, opts.Progress, cpuNow, 0, nil)
	if err != nil {
		return err
	}
	res.Result = *phase
	res.BridgeRSSBytes = phase.endRSS // both bridges'
	if res.Joined > 0 && phase.endRSS > res.BridgeRSSIdleBytes {
		res.BridgeRSSPerEndpointBytes = (phase.endRSS - res.BridgeRSSIdleBytes) / uint64(res.Joined)
	}
	for _, e := range all {
		res.KeyframeRequests += e.keyframeRequests.Load()
		res.BridgeChannelMessages += e.dcMessages.Load()
		res.RTCPReceived += e.rtcpReceived.Load()
		res.TCCFeedbackSent += e.tccFeedbacks.Load()
		res.TCCFeedbackReceived += e.tccReceived.Load()
	}
	res.TwoBridges = twoBridgeResult(sides, all, sideOf, phase, first.cpu, last.cpu,
		[2][2]uint64{first.sent, last.sent}, [2][2]uint64{first.recv, last.recv})
	res.Allocations = readAllocations(ctx, []string{sides[0].url, sides[1].url}, meetings, all)
	return nil
}

// twoBridgeResult splits the window by bridge: endpoint counts and forwarded packets by the
// bridge each receiver joined, CPU and relay counters (index 0 at the window's start, 1 at its
// end) by bridge, and which receivers got their senders on the other bridge.
func twoBridgeResult(sides [2]*bridgeSide, all []*simEndpoint, sideOf map[*simEndpoint]int, phase *PhaseResult,
	cpu0, cpu1 [2]time.Duration, sent, recv [2][2]uint64) *TwoBridgeResult {
	tb := &TwoBridgeResult{}
	byID := map[string]int{}
	for _, e := range all {
		byID[e.id] = sideOf[e]
	}
	for i, s := range sides {
		b := RelayBridgeResult{RelayID: s.relayID, URL: s.url, PID: s.pid,
			CPUSeconds:       (cpu1[i] - cpu0[i]).Seconds(),
			RelayPacketsSent: sent[1][i] - sent[0][i], RelayPacketsReceived: recv[1][i] - recv[0][i]}
		b.CPUCores = b.CPUSeconds / phase.WindowS
		for _, rr := range phase.Receivers {
			if byID[rr.Endpoint] == i {
				b.Endpoints++
				b.ForwardedPackets += rr.Packets
			}
		}
		if b.ForwardedPackets > 0 {
			b.CPUMicrosPerForwardedPacket = b.CPUSeconds * 1e6 / float64(b.ForwardedPackets)
		}
		if out := b.ForwardedPackets + b.RelayPacketsSent; out > 0 {
			b.CPUMicrosPerPacketOut = b.CPUSeconds * 1e6 / float64(out)
		}
		tb.Bridges = append(tb.Bridges, b)
	}
	if phase.ForwardedPackets > 0 {
		tb.CPUMicrosPerForwardedPacket = (tb.Bridges[0].CPUSeconds + tb.Bridges[1].CPUSeconds) * 1e6 / float64(phase.ForwardedPackets)
	}
	for _, r := range all {
		seen := r.recv.streamsSeen()
		missing := false
		for _, s := range all {
			if !s.sender || s.conf != r.conf || sideOf[s] == sideOf[r] || len(s.video) == 0 {
				continue
			}
			tb.RemoteSendersExpected++
			got := false
			for _, v := range s.video {
				got = got || seen[v.hdr.SSRC].packets > 0
			}
			if got {
				tb.RemoteSendersReceived++
			} else {
				missing = true
			}
		}
		if missing {
			tb.ReceiversMissingRemote++
		}
	}
	return tb
}

func writeTwoBridges(tw *tabwriter.Writer, tb *TwoBridgeResult) {
	if tb == nil {
		return
	}
	for _, b := range tb.Bridges {
		fmt.Fprintf(tw, "bridge %s (pid %d)\t%d endpoints, %.3f cores, forwarded %d packets (%.2f CPU-us each), over the relay sent %d / received %d (%.2f CPU-us per packet out)\n",
			b.RelayID, b.PID, b.Endpoints, b.CPUCores, b.ForwardedPackets, b.CPUMicrosPerForwardedPacket,
			b.RelayPacketsSent, b.RelayPacketsReceived, b.CPUMicrosPerPacketOut)
	}
	fmt.Fprintf(tw, "both bridges\t%.2f CPU-us per forwarded packet; remote senders received %d/%d (%d receivers missing some)\n",
		tb.CPUMicrosPerForwardedPacket, tb.RemoteSendersReceived, tb.RemoteSendersExpected, tb.ReceiversMissingRemote)
}
