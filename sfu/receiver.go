package sfu

import (
	"encoding/binary"
	"slices"
	"time"

	"gojvb/bwe"
	"gojvb/sfu/channel"
	"gojvb/simulcast"
)

// This file is the receiver's side of an endpoint: what it chose to get (its wanted set, read
// by every sender's fan-out), its projections of the tracks it gets, its SSRC slots when it
// rewrites SSRCs, and the bridge-channel messages that describe all that to the client
// (ForwardedSources, VideoSourcesMap, AudioSourcesMap). All of it belongs to the endpoint's
// sender goroutine; other goroutines only mark it dirty (kick) and wake it.

// wantSet is a receiver's published choice of sources. It is immutable once published.
type wantSet struct {
	bits     []uint64 // by source idx: sources to queue to the receiver
	allAudio bool     // every audio source except those in excl (the default subscription)
	excl     []uint64
	owners   map[string]bool // endpoints with a forwarded video source (EndpointStats filter)
}

var defaultWantSet = &wantSet{allAudio: true}

func (w *wantSet) has(s *source) bool {
	if s.media == MediaAudio && w.allAudio {
		return !testBit(w.excl, s.idx)
	}
	return testBit(w.bits, s.idx)
}

func testBit(b []uint64, i int) bool {
	return i>>6 < len(b) && b[i>>6]&(1<<(uint(i)&63)) != 0
}

func setBit(b []uint64, i int) []uint64 {
	for i>>6 >= len(b) {
		b = append(b, 0)
	}
	b[i>>6] |= 1 << (uint(i) & 63)
	return b
}

// projection is one receiver's view of one track.
type projection struct {
	t    *track
	p    *simulcast.Projection
	own  simulcast.Stream // the stream without SSRC rewriting: the track's primary SSRC
	slot *simulcast.Slot  // with rewriting: the slot the track is mapped to (nil: none)
}

// receiverState is owned by the endpoint's sender goroutine.
type receiverState struct {
	projections map[*track]*projection
	projSources *sourceMap

	// SSRC rewriting (nil without): slot pools and each slot's outgoing stream.
	videoSlots, audioSlots *simulcast.SlotPool
	streams                map[*simulcast.Slot]*simulcast.Stream
	slotsReady             bool

	hist          history  // video sent, for the receiver's NACKs (retransmit.go)
	tccSeq        uint16   // the receiver's own transport-wide sequence numbers (video)
	rtt           rttState // round-trip time from its reports on the SRs it got (rtt.go)
	allocator     *bwe.Allocator
	lastAlloc     bwe.LayerAllocation
	estimate      uint64        // the receiver's bandwidth estimate in bps; 0 = none (unlimited)
	keyframePace  keyframePacer // this receiver's own keyframe requests, per source
	est           *bwe.Estimator
	feedbackSeen  bool   // the receiver sends transport-cc feedback
	trusted       bool   // an estimate came from its feedback (or REMB): allocate with it
	lastStats     int64  // last ConnectionStats
	probeSeq      uint16 // the probe stream\'s RTP sequence number and timestamp
	probeTS       uint32
	probeDesired  uint64 // what probes try to prove (bps); 0 = no probing wanted
	pacer         bwe.Pacer
	paceAt        int64    // unix ns the sender loop should drain again (pacer, probes); 0 none
	heldSince     int64    // since when the queue has not been empty while the pacer held; 0 none
	paceOverrides uint64   // times maxPaceHold/maxPaceBacklog made the pacer let everything go
	forwarded     []string // as last sent in ForwardedSources
	sentForwarded bool
	wantStale     bool // a projection finished a switch: the old encoding can leave the wanted set
	effective     map[string]int

	// Scratch of layeredSources, reused by every reselect (which runs several times a second
	// per receiver, and whose garbage was most of what the bridge allocated).
	lsBuf    []bwe.LayeredSource
	lsByName map[string]*track
}

func newReceiverState(rewrite bool, videoLimit, audioLimit int) receiverState {
	rs := receiverState{projections: make(map[*track]*projection), pacer: bwe.NewPacer(bwe.PacerConfig{})}
	if rewrite {
		rs.videoSlots = simulcast.NewSlotPool(videoLimit, randomSSRC)
		rs.audioSlots = simulcast.NewSlotPool(audioLimit, randomSSRC)
		rs.streams = make(map[*simulcast.Slot]*simulcast.Stream)
	}
	return rs
}

func (rs *receiverState) rewriting() bool { return rs.videoSlots != nil }

// slotsFor makes sure the slot pools never hand out an SSRC the receiver already knows: the
// other pool's, the conference's feedback SSRCs, or any SSRC signalled in the conference.
func (rs *receiverState) slotsFor(e *Endpoint) {
	if rs.slotsReady {
		return
	}
	rs.slotsReady = true
	taken := func(ssrc uint32) bool {
		c := e.conf
		return ssrc == c.feedbackAudio || ssrc == c.feedbackVideo || rs.videoSlots.Owns(ssrc) ||
			rs.audioSlots.Owns(ssrc) || c.sources.Load().bySSRC[ssrc] != nil
	}
	rs.videoSlots.SetTaken(taken)
	rs.audioSlots.SetTaken(taken)
}

// syncSources drops projections of tracks that are no longer signalled.
func (rs *receiverState) syncSources(e *Endpoint) *sourceMap {
	sm := e.conf.sources.Load()
	if sm == rs.projSources {
		return sm
	}
	rs.projSources = sm
	for t, proj := range rs.projections {
		if src := sm.bySSRC[t.primarySSRC()]; src == nil || src.track != t {
			rs.dropProjection(proj)
			delete(rs.projections, t)
		}
	}
	rs.keyframePace.forget(sm)
	return sm
}

// dropProjection frees what a projection holds. Its slot stays mapped to the source name (JVB
// never signals removals; the LRU reuses it when needed), so a track that comes back under the
// same name continues on the same SSRCs.
func (rs *receiverState) dropProjection(proj *projection) {
	proj.p.SetTarget(-1)
	proj.slot = nil
}

// projectionFor returns this receiver's projection of src's track, creating it for a track that
// is still signalled, or nil for a packet queued before its source went away.
func (rs *receiverState) projectionFor(e *Endpoint, src *source) *projection {
	sm := rs.syncSources(e)
	if proj := rs.projections[src.track]; proj != nil {
		return proj
	}
	if sm.bySSRC[src.ssrc] != src {
		return nil
	}
	return rs.newProjection(src.track)
}

func (rs *receiverState) newProjection(t *track) *projection {
	proj := &projection{t: t, p: simulcast.NewProjection(t.media == MediaVideo, 0)}
	proj.own.SSRC = t.primarySSRC()
	if !rs.rewriting() {
		proj.p.SetStream(&proj.own)
	}
	if t.media == MediaAudio {
		proj.p.SetTarget(0)
	}
	rs.projections[t] = proj
	return proj
}

// forward runs p through proj and appends the packet as the receiver must see it to out.
func (rs *receiverState) forward(e *Endpoint, proj *projection, out []byte, p *packet, now int64) ([]byte, bool) {
	if rs.rewriting() && proj.t.media == MediaAudio {
		rs.mapAudio(e, proj, now)
	}
	before := proj.p.Current()
	out = append(out, p.data()...)
	if !proj.p.Rewrite(out, p.meta, now) {
		if proj.p.NeedsKeyframe() {
			e.requestKeyframe(proj.t.encodings[proj.p.Target()], now, false)
		}
		return out[:0], false
	}
	if proj.p.Current() != before {
		rs.wantStale = true
	}
	st := proj.p.Stream()
	st.Packets++
	st.Octets += uint32(len(out) - p.meta.PayloadOffset)
	rs.egressExtensions(e, p, out, now)
	if proj.t.media == MediaVideo {
		rs.hist.remember(p, out, now, historyKeep(rs.rtt.rtt))
	}
	return out, true
}

// egressExtensions strips the header extensions a receiver must not get (the sender's
// transport-wide sequence numbers, abs-send-time, mid, ...) and, on video, writes the receiver's
// own transport-wide sequence number where the sender's was, when both use the same id (jicofo
// gives every endpoint the same ids).
func (rs *receiverState) egressExtensions(e *Endpoint, p *packet, out []byte, now int64) {
	if p.nzero >= 0 {
		// The common case: what to strip was found on receive.
		for _, z := range p.zero[:p.nzero] {
			clear(out[z[0]:z[1]])
		}
		if p.tccValue == 0 {
			return
		}
		if from, to := p.src.owner.via().rxFormat.Load(), e.rxFormat.Load(); from.tccID != to.tccID {
			clear(out[p.tccElem[0]:p.tccElem[1]])
			return
		}
		rs.tccSeq++
		binary.BigEndian.PutUint16(out[p.tccValue:], rs.tccSeq)
		rs.sentTCC(rs.tccSeq, len(out), now)
		return
	}
	h, ok := simulcast.ParseRTP(out)
	if !ok || h.ExtLen == 0 {
		return
	}
	from, to := p.src.owner.via().rxFormat.Load(), e.rxFormat.Load()
	keep := from.keepAudio
	tcc := p.src.media == MediaVideo && from.tccID != 0 && from.tccID == to.tccID
	if p.src.media == MediaVideo {
		keep = from.keepVideo
		if !tcc && from.tccID != 0 {
			keep[from.tccID>>6] &^= 1 << (from.tccID & 63)
		}
	}
	if !simulcast.KeepExtensions(out, &h, &keep) || !tcc {
		return
	}
	if off, n, ok := simulcast.ExtensionAt(out, &h, from.tccID); ok && n >= 2 {
		rs.tccSeq++
		binary.BigEndian.PutUint16(out[off:], rs.tccSeq)
		rs.sentTCC(rs.tccSeq, len(out), now)
	}
}

// mapAudio gives an audio track a slot on its first packet (or after losing it), announcing the
// mapping before the packet is sent; later packets only refresh the slot's place in the LRU.
func (rs *receiverState) mapAudio(e *Endpoint, proj *projection, now int64) {
	name := proj.t.name
	if proj.slot != nil && proj.slot.Source == name {
		rs.audioSlots.Touch(name, unixTime(now))
		return
	}
	rs.slotsFor(e)
	slot, remapped, evicted := rs.audioSlots.Get(name, unixTime(now))
	rs.bind(proj, slot, evicted)
	if remapped {
		e.sendMessage(&channel.AudioSourcesMap{Mapped: []channel.AudioSourceMapping{
			{Source: name, Owner: proj.t.owner.id, SSRC: slot.SSRC},
		}})
	}
}

// bind makes proj write to slot's stream, detaching the projection that held the slot before.
func (rs *receiverState) bind(proj *projection, slot *simulcast.Slot, evicted string) {
	if evicted != "" {
		for _, other := range rs.projections {
			if other.slot == slot && other != proj {
				other.slot = nil
				other.p.SetStream(nil)
			}
		}
	}
	st := rs.streams[slot]
	if st == nil {
		st = &simulcast.Stream{SSRC: slot.SSRC}
		rs.streams[slot] = st
	}
	proj.slot = slot
	proj.p.SetStream(st)
}

// senderReport rewrites a forwarded sender report for the receiver: only for the encoding it
// gets, on the SSRC it knows, with the projection's timestamp shift.
func (rs *receiverState) senderReport(out []byte, p *packet, now int64) ([]byte, bool) {
	proj := rs.projections[p.src.track]
	if proj == nil || proj.p.Stream() == nil {
		return out, false
	}
	in := p.data()
	ts, ok := proj.p.SenderReport(p.src.enc, binary.BigEndian.Uint32(in[16:20]))
	if !ok {
		return out, false
	}
	st := proj.p.Stream()
	out = append(out, in...)
	binary.BigEndian.PutUint32(out[4:8], st.SSRC)
	binary.BigEndian.PutUint32(out[16:20], ts)
	// What this receiver got on the stream, not what the sender sent.
	binary.BigEndian.PutUint32(out[20:24], st.Packets)
	binary.BigEndian.PutUint32(out[24:28], st.Octets)
	rs.rtt.sentSR(out, now)
	return out, true
}

// handleFeedback handles RTCP the endpoint sent about what it receives: keyframe requests are
// translated to the encoding it gets (or waits for) and relayed to the track's owner.
func (e *Endpoint) handleFeedback(data []byte, now int64) {
	for len(data) >= 4 {
		size := (int(binary.BigEndian.Uint16(data[2:4])) + 1) * 4
		if size > len(data) {
			return
		}
		pt, format := data[1], data[0]&0x1f
		switch {
		case pt == rtcpPSFB && format == fmtPLI && size >= 12:
			e.keyframeRequested(binary.BigEndian.Uint32(data[8:12]), now)
		case pt == rtcpPSFB && format == fmtFIR && size >= 12:
			for fci := data[12:size]; len(fci) >= 8; fci = fci[8:] {
				e.keyframeRequested(binary.BigEndian.Uint32(fci[0:4]), now)
			}
		case pt == rtcpRTPFB && format == rtpfbNACK && size >= 16:
			e.handleNACK(data[:size], now)
		case (pt == rtcpRR || pt == rtcpSR) && format > 0:
			if lost, ok := e.rs.rtt.receiverReport(data[:size], now); ok && e.rs.est != nil {
				e.rs.est.OnLoss(lost, now)
			}
		case pt == rtcpRTPFB && format == rtpfbTCC:
			e.rs.transportFeedback(data[:size], now)
		case pt == rtcpPSFB && format == psfbREMB:
			e.rs.remb(data[:size], now)
		}
		data = data[size:]
	}
}

// keyframeRequested relays the endpoint's keyframe request for mediaSSRC (as it knows it).
func (e *Endpoint) keyframeRequested(mediaSSRC uint32, now int64) {
	rs := &e.rs
	sm := rs.syncSources(e)
	var proj *projection
	if rs.rewriting() {
		if slot := rs.videoSlots.BySSRC(mediaSSRC); slot != nil {
			for _, pr := range rs.projections {
				if pr.slot == slot {
					proj = pr
					break
				}
			}
		}
	} else if src := sm.bySSRC[mediaSSRC]; src != nil && src.owner != e {
		proj = rs.projections[src.track]
		if proj == nil && src.enc >= 0 {
			// Nothing forwarded yet: ask for what was named.
			e.requestKeyframe(src.track.encodings[src.enc], now, true)
			return
		}
	}
	if proj == nil || proj.t.media != MediaVideo {
		e.rx.keyframesDropped.Add(1)
		return
	}
	enc := proj.p.Current()
	if enc < 0 {
		enc = proj.p.Target()
	}
	if enc < 0 || enc >= len(proj.t.encodings) {
		e.rx.keyframesDropped.Add(1)
		return
	}
	e.requestKeyframe(proj.t.encodings[enc], now, true)
}

// requestKeyframe queues a PLI for src to its owner, at most once per keyframeMinInterval per
// source whoever asks. It runs on e's sender goroutine (e is the requesting receiver). A request
// of the bridge's own (a projection waiting to start or switch) that the interval holds back is
// not a dropped request: it is asked again with the next packet or tick.
func (e *Endpoint) requestKeyframe(src *source, now int64, fromReceiver bool) {
	if fromReceiver && !e.rs.keyframePace.allow(src, now, e.rs.rtt.rtt) {
		e.rx.keyframesDropped.Add(1)
		return
	}
	last := src.lastKeyframeRequest.Load()
	if now-last < keyframeMinInterval || !src.lastKeyframeRequest.CompareAndSwap(last, now) {
		if fromReceiver {
			e.rx.keyframesDropped.Add(1)
		}
		return
	}
	switch queued, notSecure := e.conf.queuePLI(src); { // a source behind a relay is asked over the relay
	case notSecure:
		e.rx.notSecure.Add(1)
	case !queued:
		e.rx.queueFull.Add(1)
	default:
		e.rx.keyframesForwarded.Add(1)
	}
}

// tick runs on the sender goroutine every tickInterval: keyframes still waited for are asked
// for again (rate limited per source), and a dirty choice is re-run.
func (e *Endpoint) tick(now int64) {
	if e.ctlDirty.Swap(false) {
		e.reselect(now)
	}
	for _, proj := range e.rs.projections {
		if proj.p.NeedsKeyframe() {
			e.requestKeyframe(proj.t.encodings[proj.p.Target()], now, false)
		}
	}
	if e.rs.wantStale {
		e.publishWanted()
	}
	e.rs.hist.expire(now - historyKeep(e.rs.rtt.rtt)) // also when no video comes any more
	e.sendFeedback(now)
	e.sendNACKs(now)
	e.updateEstimate(now)
	// Layer bitrates change without any event (an encoding ramps up or stops): re-run the
	// choice every max-time-between-calculations even without an estimate.
	if rs := &e.rs; rs.allocator != nil && rs.allocator.ShouldRun(rs.estimate, now) {
		e.reselect(now)
	}
}

// reselect re-runs the receiver's choice of sources (spec 3.2-3.3: priority order, lastN,
// effective constraints, and one encoding per source) and applies it: projection targets, SSRC
// slots, the wanted set, ForwardedSources and the receiver's share of sender constraints.
func (e *Endpoint) reselect(now int64) {
	if e.kind == kindRelayLink {
		e.relaySelect()
		return
	}
	rs := &e.rs
	sm := rs.syncSources(e)
	e.ctlMu.Lock()
	settings := e.settings
	settings.PerSource = clonePerSource(e.settings.PerSource)
	sub := e.audioSub
	resend := e.resendAll
	e.resendAll = false
	e.ctlMu.Unlock()

	sources, byName := e.layeredSources(sm, now)
	if rs.allocator == nil {
		cfg := e.conf.bridge.allocator
		cfg.Config = e.conf.bridge.alloc
		rs.allocator = bwe.NewAllocator(cfg)
	}
	alloc := rs.allocator.Allocate(now, rs.estimate, e.conf.speakerOrder(e), sources, settings)
	if news := alloc.SuspensionNews(rs.lastAlloc); news != "" && alloc.BWE > 0 {
		e.log.Info(news)
	}
	rs.lastAlloc = alloc

	// projection targets: an encoding, and the temporal layers up to one within it
	layersOf := make(map[string][]bwe.Layer, len(sources))
	for _, ls := range sources {
		layersOf[ls.Name] = ls.Layers
	}
	e.publishAllocation(&alloc, layersOf)
	targets := make(map[*track]int, len(alloc.Sources))
	temporal := make(map[*track]int, len(alloc.Sources))
	spatial := make(map[*track]int, len(alloc.Sources))
	effective := make(map[string]int, len(alloc.Sources))
	for _, sl := range alloc.Sources {
		t := byName[sl.Name]
		if t == nil {
			continue
		}
		targets[t], temporal[t], spatial[t] = -1, -1, -1
		if layers := layersOf[sl.Name]; sl.Target >= 0 && sl.Target < len(layers) {
			l := layers[sl.Target]
			targets[t], temporal[t], spatial[t] = l.Encoding, l.Temporal, l.Spatial
		}
		effective[sl.Name] = sl.Constraints.MaxHeight
	}
	for t, proj := range rs.projections {
		if t.media == MediaVideo {
			if _, ok := targets[t]; !ok {
				proj.p.SetTarget(-1)
			}
		}
	}
	var mapped []channel.VideoSourceMapping
	for _, name := range alloc.Forwarded {
		t := byName[name]
		proj := rs.projections[t]
		if proj == nil {
			proj = rs.newProjection(t)
		}
		if rs.rewriting() && (proj.slot == nil || proj.slot.Source != name) {
			rs.slotsFor(e)
			slot, remapped, evicted := rs.videoSlots.Get(name, unixTime(now))
			rs.bind(proj, slot, evicted)
			if remapped {
				mapped = append(mapped, videoMapping(t, slot))
			}
		} else if rs.rewriting() {
			rs.videoSlots.Touch(name, unixTime(now))
		}
		proj.p.SetTarget(targets[t])
		proj.p.SetLayers(temporal[t], spatial[t])
	}
	for t, enc := range targets {
		if enc < 0 {
			if proj := rs.projections[t]; proj != nil {
				proj.p.SetTarget(-1)
			}
		}
	}

	// messages: mappings before anything is forwarded on them, then ForwardedSources
	if resend && rs.rewriting() {
		mapped = mapped[:0]
		for _, slot := range rs.videoSlots.Slots() {
			if t := byName[slot.Source]; t != nil {
				mapped = append(mapped, videoMapping(t, slot))
			}
		}
		var audio []channel.AudioSourceMapping
		for _, slot := range rs.audioSlots.Slots() {
			for t := range rs.projections {
				if t.name == slot.Source && t.media == MediaAudio {
					audio = append(audio, channel.AudioSourceMapping{Source: t.name, Owner: t.owner.id, SSRC: slot.SSRC})
				}
			}
		}
		if len(audio) > 0 {
			e.sendMessage(&channel.AudioSourcesMap{Mapped: audio})
		}
	}
	if len(mapped) > 0 {
		e.sendMessage(&channel.VideoSourcesMap{Mapped: mapped})
	}
	forwarded := alloc.Forwarded
	if forwarded == nil {
		forwarded = []string{}
	}
	if resend || !rs.sentForwarded || !slices.Equal(forwarded, rs.forwarded) {
		if e.sendMessage(&channel.ForwardedSources{Sources: forwarded}) {
			rs.sentForwarded = true
		}
		rs.forwarded = slices.Clone(forwarded)
	}

	e.audioWanted = sub
	e.publishWanted()
	if !mapsEqual(effective, rs.effective) {
		rs.effective = effective
		e.conf.receiverConstraints(e, effective)
	}
}

// publishWanted builds and publishes the wanted set: the current and target encoding of every
// video projection, and the audio the subscription asks for.
func (e *Endpoint) publishWanted() {
	rs := &e.rs
	rs.wantStale = false
	w := &wantSet{owners: make(map[string]bool)}
	for t, proj := range rs.projections {
		if t.media != MediaVideo {
			continue
		}
		for _, enc := range [2]int{proj.p.Target(), proj.p.Current()} {
			if enc >= 0 && enc < len(t.encodings) {
				w.bits = setBit(w.bits, t.encodings[enc].idx)
				w.owners[t.owner.id] = true
			}
		}
	}
	sub := e.audioWanted
	sm := rs.projSources
	switch sub.Mode {
	case "", "All":
		w.allAudio = true
	case "Exclude":
		w.allAudio = true
		for _, t := range sm.tracks {
			if t.media == MediaAudio && slices.Contains(sub.List, t.name) {
				for _, s := range t.encodings {
					w.excl = setBit(w.excl, s.idx)
				}
			}
		}
	case "Include":
		for _, t := range sm.tracks {
			if t.media == MediaAudio && slices.Contains(sub.List, t.name) {
				for _, s := range t.encodings {
					w.bits = setBit(w.bits, s.idx)
				}
			}
		}
	}
	e.wanted.Store(w)
}

func videoMapping(t *track, slot *simulcast.Slot) channel.VideoSourceMapping {
	return channel.VideoSourceMapping{Source: t.name, Owner: t.owner.id, SSRC: slot.SSRC, RTX: slot.RTX,
		VideoType: videoTypeName(t.vtype())}
}

func videoTypeName(v bwe.VideoType) string {
	switch v {
	case bwe.VideoDesktop:
		return "DESKTOP"
	case bwe.VideoDesktopHighFPS:
		return "DESKTOP_HIGH_FPS"
	case bwe.VideoNone, bwe.VideoDisabled:
		return "NONE"
	}
	return "CAMERA"
}

func clonePerSource(m map[string]bwe.Constraints) map[string]bwe.Constraints {
	if m == nil {
		return nil
	}
	out := make(map[string]bwe.Constraints, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// unixTime turns the pipeline's unix-nanosecond clock into a time.Time for pure-logic APIs.
func unixTime(ns int64) time.Time { return time.Unix(0, ns) }

// keyframePacer limits one receiver's keyframe requests per source (JVB jmt.keyframe): at most
// one per min-interval (200 ms, or RTT + 10 ms when shorter) and max-requests (3) per
// max-request-interval (10 s), on top of the source-wide limit every requester shares.
type keyframePacer struct {
	bySource map[*source]*keyframeWindow
}

type keyframeWindow struct {
	last, windowStart int64
	count             int
}

const (
	keyframeMaxRequests     = 3
	keyframeRequestInterval = int64(10 * time.Second)
)

// forget drops the windows of sources no longer in sm: a source keeps its owner reachable, so
// a departed endpoint would otherwise stay in memory until the map filled up.
func (k *keyframePacer) forget(sm *sourceMap) {
	for src := range k.bySource {
		if sm.bySSRC[src.ssrc] != src {
			delete(k.bySource, src)
		}
	}
}

func (k *keyframePacer) allow(src *source, now int64, rtt time.Duration) bool {
	if k.bySource == nil {
		k.bySource = make(map[*source]*keyframeWindow)
	}
	w := k.bySource[src]
	if w == nil {
		if len(k.bySource) > 256 { // sources come and go: forget them all rather than grow
			clear(k.bySource)
		}
		w = &keyframeWindow{}
		k.bySource[src] = w
	}
	minInterval := keyframeMinInterval
	if rtt > 0 && int64(rtt)+int64(10*time.Millisecond) < minInterval {
		minInterval = int64(rtt) + int64(10*time.Millisecond)
	}
	if w.last != 0 && now-w.last < minInterval {
		return false
	}
	if now-w.windowStart >= keyframeRequestInterval {
		w.windowStart, w.count = now, 0
	}
	if w.count >= keyframeMaxRequests {
		return false
	}
	w.last = now
	w.count++
	return true
}
