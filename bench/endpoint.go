package bench

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/datachannel"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sctp"
)

// mediaTransport is how a simulated endpoint sends; both the SRTP transport and the plain
// baseline socket implement it.
type mediaTransport interface {
	writeRTP(pkt []byte) error
	writeRTCP(pkt []byte) error
}

// batchSender is a mediaTransport that can queue RTP packets and send them with one syscall.
type batchSender interface {
	queueRTP(pkt []byte) error
	flush() error
}

// simEndpoint is one simulated participant: a sender of opus + VP8 (simulcast or not) and a
// receiver that measures what comes back.
type simEndpoint struct {
	id       string
	sender   bool
	rtcpSSRC uint32 // sender SSRC of a receive-only endpoint's RTCP
	audio    *audioStream
	video    []*videoLayer
	rtxSSRCs []uint32
	recv     *recvStats
	tr       mediaTransport
	keyEvery time.Duration
	// framePhase delays the sender's frame and audio clocks from the start of its media loop,
	// keyPhase its first periodic keyframe after the first frame's (0: keyEvery), so senders
	// started together do not capture in step (Scenario.AlignedSenders).
	framePhase, keyPhase time.Duration
	remb                 uint64 // bps announced in REMB, 0 = none
	rng                  *rand.Rand
	joinStart            time.Time
	joined               time.Duration // allocation request sent..DTLS done
	allocated            time.Duration // round trip of the allocating conference-modify
	cons                 constraints   // sent on the bridge channel
	nack                 bool          // send NACKs for the gaps seen in received media streams
	onStage              bool          // watches a source on stage (for the report)
	conf                 int           // index of its conference in the scenario
	// sampleEvery > 0 selects the cheap receive path: header accounting for every packet,
	// decryption of one packet in sampleEvery per stream; 0 decrypts everything.
	sampleEvery int
	cheap       atomic.Pointer[cheapReceiver]

	tccSeq       uint16         // transport-wide sequence number of what this endpoint sends
	tccMu        sync.Mutex     // guards tccRec: the read goroutine records, run() builds feedback
	tccRec       *twcc.Recorder // nil: transport-cc off
	tccFeedbacks atomic.Uint64  // transport-cc feedback packets sent
	tccReceived  atomic.Uint64  // transport-cc feedback packets received

	sentPackets, sentBytes atomic.Uint64
	sendErrors             atomic.Uint64
	keyframeWanted         atomic.Bool
	keyframeRequests       atomic.Uint64 // PLI/FIR received for our SSRCs
	rtcpReceived           atomic.Uint64
	dcMessages             atomic.Uint64

	dcMu sync.Mutex
	dc   *datachannel.DataChannel
	assc *sctp.Association
}

func newSimEndpoint(id string, sender, simulcast bool, ssrcs func() uint32, rng *rand.Rand) *simEndpoint {
	e := &simEndpoint{id: id, sender: sender, recv: newRecvStats(), rng: rng}
	if !sender {
		if ssrcs != nil {
			e.rtcpSSRC = ssrcs() // a receive-only browser still has a local SSRC for its RTCP
		}
		return e
	}
	e.audio = newAudioStream(ssrcs(), rng)
	layers := defaultLayers
	if !simulcast {
		layers = defaultLayers[len(defaultLayers)-1:]
	}
	for _, l := range layers {
		e.video = append(e.video, newVideoLayer(ssrcs(), l, rng))
		e.rtxSSRCs = append(e.rtxSSRCs, ssrcs())
	}
	return e
}

// sources is the endpoint's COLIBRI2 source description: <ep>-a0 and <ep>-v0 with a SIM group
// over the encodings and one FID group per encoding.
func (e *simEndpoint) sources() []c2MediaSrc {
	if !e.sender {
		return nil
	}
	a := c2MediaSrc{Type: "audio", ID: e.id + "-a0", Sources: []c2Source{{SSRC: e.audio.hdr.SSRC, Name: e.id + "-a0"}}}
	if len(e.video) == 0 {
		return []c2MediaSrc{a}
	}
	v := c2MediaSrc{Type: "video", ID: e.id + "-v0"}
	var sim []uint32
	for i, l := range e.video {
		v.Sources = append(v.Sources, c2Source{SSRC: l.hdr.SSRC, Name: e.id + "-v0"}, c2Source{SSRC: e.rtxSSRCs[i], Name: e.id + "-v0"})
		v.SSRCGroups = append(v.SSRCGroups, c2SSRCGroup{Semantics: "FID", Sources: []uint32{l.hdr.SSRC, e.rtxSSRCs[i]}})
		sim = append(sim, l.hdr.SSRC)
	}
	if len(sim) > 1 {
		v.SSRCGroups = append(v.SSRCGroups, c2SSRCGroup{Semantics: "SIM", Sources: sim})
	}
	return []c2MediaSrc{a, v}
}

func (e *simEndpoint) ownsSSRC(ssrc uint32) bool {
	if !e.sender {
		return false
	}
	if e.audio.hdr.SSRC == ssrc {
		return true
	}
	for _, l := range e.video {
		if l.hdr.SSRC == ssrc {
			return true
		}
	}
	return false
}

// enableTCC makes the endpoint tag what it sends with transport-wide sequence numbers and
// answer what it receives with transport-cc feedback, as a browser that negotiated it does.
func (e *simEndpoint) enableTCC() {
	e.tccRec = twcc.NewRecorder(e.rtcpSenderSSRC())
	if !e.sender {
		return
	}
	e.audio.tcc.seq = &e.tccSeq
	for _, l := range e.video {
		l.tcc.seq = &e.tccSeq
	}
}

func (e *simEndpoint) rtcpSenderSSRC() uint32 {
	if e.sender {
		return e.audio.hdr.SSRC
	}
	return e.rtcpSSRC
}

// handleRTP records one decrypted packet (the full receive path, and the baseline's).
func (e *simEndpoint) handleRTP(now time.Time, hdr *rtp.Header, payload []byte, size int) {
	h := clearHeader{pt: hdr.PayloadType, seq: hdr.SequenceNumber, ts: hdr.Timestamp, ssrc: hdr.SSRC}
	if ext := hdr.GetExtension(extTCC); len(ext) >= 2 {
		h.tccSeq, h.hasTCC = binary.BigEndian.Uint16(ext), true
	}
	e.onClearRTP(now, &h, size, 1)
	if sent, height, ok := readStamp(payload); ok {
		e.recv.addSample(hdr.SSRC, now.UnixNano()-sent, height)
	}
}

// sendTCCFeedback sends what the recorder holds (browsers do so every ~100 ms).
func (e *simEndpoint) sendTCCFeedback() {
	e.tccMu.Lock()
	pkts := e.tccRec.BuildFeedbackPacket()
	e.tccMu.Unlock()
	if len(pkts) == 0 {
		return
	}
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		return
	}
	if err := e.tr.writeRTCP(b); err != nil {
		e.sendErrors.Add(1)
		return
	}
	e.tccFeedbacks.Add(uint64(len(pkts)))
}

func (e *simEndpoint) handleRTCP(pkts []rtcp.Packet) {
	e.rtcpReceived.Add(1)
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.PictureLossIndication:
			if e.ownsSSRC(p.MediaSSRC) {
				e.keyframeRequests.Add(1)
				e.keyframeWanted.Store(true)
			}
		case *rtcp.TransportLayerCC:
			e.tccReceived.Add(1)
		case *rtcp.FullIntraRequest:
			for _, f := range p.FIR {
				if e.ownsSSRC(f.SSRC) {
					e.keyframeRequests.Add(1)
					e.keyframeWanted.Store(true)
				}
			}
		}
	}
}

// run sends media until ctx ends: audio every 20 ms, a frame on every video layer every 1/30 s,
// a keyframe on start, on PLI/FIR (at most every 300 ms) and every keyEvery; RTCP every second.
func (e *simEndpoint) run(ctx context.Context) {
	buf := make([]byte, 1600)
	start := time.Now().Add(e.framePhase)
	nextAudio, nextVideo, nextRTCP := start, start, start.Add(time.Second)
	nextFeedback := start.Add(100 * time.Millisecond)
	nextKey := start
	firstKey := true
	lastKey := time.Time{}
	var frames uint64
	bs, batching := e.tr.(batchSender)
	emit := func(p []byte) {
		write := e.tr.writeRTP
		if batching {
			write = bs.queueRTP
		}
		if err := write(p); err != nil {
			e.sendErrors.Add(1)
			return
		}
		e.sentPackets.Add(1)
		e.sentBytes.Add(uint64(len(p)))
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := time.Now()
		if e.sender {
			for !now.Before(nextAudio) {
				if p := e.audio.next(buf, now); p != nil {
					emit(p)
				}
				nextAudio = nextAudio.Add(20 * time.Millisecond)
			}
			for !now.Before(nextVideo) {
				key := false
				if !now.Before(nextKey) || (e.keyframeWanted.Load() && now.Sub(lastKey) > 300*time.Millisecond) {
					key = true
					e.keyframeWanted.Store(false)
					lastKey = now
					switch {
					case firstKey && e.keyPhase > 0:
						nextKey = now.Add(e.keyPhase)
					case e.keyEvery > 0:
						nextKey = now.Add(e.keyEvery)
					default:
						nextKey = now.Add(24 * time.Hour)
					}
					firstKey = false
				}
				for _, l := range e.video {
					l.nextFrame(buf, now, key, emit)
				}
				frames++
				nextVideo = start.Add(time.Duration(frames) * time.Second / 30)
			}
			if batching {
				if err := bs.flush(); err != nil {
					e.sendErrors.Add(1)
				}
			}
		}
		if !now.Before(nextRTCP) {
			e.sendRTCP(now)
			nextRTCP = nextRTCP.Add(time.Second)
		}
		wake := nextRTCP
		if e.tccRec != nil || e.nack {
			if !now.Before(nextFeedback) {
				if e.tccRec != nil {
					e.sendTCCFeedback()
				}
				if e.nack {
					e.sendNACKs()
				}
				nextFeedback = now.Add(100 * time.Millisecond)
			}
			wake = minTime(wake, nextFeedback)
		}
		if e.sender {
			wake = minTime(wake, minTime(nextAudio, nextVideo))
		}
		timer.Reset(time.Until(wake))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
	}
}

// sendNACKs asks for the packets missing from the received streams since the last call.
func (e *simEndpoint) sendNACKs() {
	pkts := e.recv.takeNACKs(e.rtcpSenderSSRC())
	if len(pkts) == 0 {
		return
	}
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		return
	}
	if err := e.tr.writeRTCP(b); err != nil {
		e.sendErrors.Add(1)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// sendRTCP sends what a browser sends periodically: an SR per sending SSRC (or an RR if none)
// with report blocks for the streams received, plus REMB when configured.
func (e *simEndpoint) sendRTCP(now time.Time) {
	reports := e.reportBlocks()
	var pkts []rtcp.Packet
	ntp := toNTP(now)
	if e.sender {
		first := true
		send := func(ssrc, ts uint32, pkts0, octets uint32) {
			sr := &rtcp.SenderReport{SSRC: ssrc, NTPTime: ntp, RTPTime: ts, PacketCount: pkts0, OctetCount: octets}
			if first {
				sr.Reports = reports
				first = false
			}
			pkts = append(pkts, sr)
		}
		send(e.audio.hdr.SSRC, e.audio.hdr.Timestamp, e.audio.counter, e.audio.octets)
		for _, l := range e.video {
			send(l.hdr.SSRC, l.hdr.Timestamp, l.counter, l.octets)
		}
	} else {
		pkts = append(pkts, &rtcp.ReceiverReport{SSRC: e.rtcpSSRC, Reports: reports})
	}
	if e.remb > 0 && len(reports) > 0 {
		var media []uint32
		for _, r := range reports {
			media = append(media, r.SSRC)
		}
		pkts = append(pkts, &rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: e.rtcpSenderSSRC(), Bitrate: float32(e.remb), SSRCs: media})
	}
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		return
	}
	if err := e.tr.writeRTCP(b); err != nil {
		e.sendErrors.Add(1)
	}
}

func (e *simEndpoint) reportBlocks() []rtcp.ReceptionReport {
	r := e.recv
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []rtcp.ReceptionReport
	for ssrc, st := range r.streams {
		if len(out) == 31 {
			break
		}
		exp, rec := st.expected(), st.received
		dExp, dRec := exp-st.rrExpected, rec-st.rrReceived
		st.rrExpected, st.rrReceived = exp, rec
		var frac uint8
		if dExp > 0 && dRec < dExp {
			frac = uint8((dExp - dRec) * 256 / dExp)
		}
		out = append(out, rtcp.ReceptionReport{
			SSRC:               ssrc,
			FractionLost:       frac,
			TotalLost:          uint32(min(st.lost(), 1<<23-1)),
			LastSequenceNumber: st.maxExt,
		})
	}
	return out
}

func toNTP(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800
	sec := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) * (1 << 32) / 1e9
	return sec<<32 | frac
}

// receiverConstraints is the bridge-channel message a Jitsi Meet client sends when the channel
// opens: lastN and the default max height of every remote video (tile view) and, in stage
// view, the source on stage with its own max height.
func receiverConstraints(c constraints) []byte {
	m := map[string]any{
		"colibriClass":       "ReceiverVideoConstraints",
		"lastN":              c.lastN,
		"defaultConstraints": map[string]int{"maxHeight": c.maxHeight},
	}
	if c.onStage != "" {
		m["onStageSources"] = []string{c.onStage}
		m["constraints"] = map[string]any{c.onStage: map[string]int{"maxHeight": c.onStageHeight}}
	}
	b, _ := json.Marshal(m)
	return b
}

// openBridgeChannel opens the colibri data channel over SCTP (the endpoint is the SCTP client,
// DTLS client => stream id 0), sends ReceiverVideoConstraints, and counts bridge messages
// until the association closes. It blocks until the channel is open or ctx ends.
func (e *simEndpoint) openBridgeChannel(ctx context.Context, s *secureConn, wg *sync.WaitGroup) error {
	assc, err := sctp.ClientContext(ctx, sctp.WithNetConn(s.dtls), sctp.WithLoggerFactory(quietPion),
		sctp.WithMaxReceiveBufferSize(1<<20))
	if err != nil {
		return fmt.Errorf("SCTP association: %w", err)
	}
	dc, err := datachannel.Dial(assc, 0, &datachannel.Config{
		ChannelType:   datachannel.ChannelTypeReliable,
		Label:         "JVB data channel",
		Protocol:      "http://jitsi.org/protocols/colibri",
		LoggerFactory: quietPion,
	})
	if err != nil {
		_ = assc.Close()
		return fmt.Errorf("open bridge data channel: %w", err)
	}
	e.dcMu.Lock()
	e.assc, e.dc = assc, dc
	e.dcMu.Unlock()
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 64<<10)
		for {
			if _, _, err := dc.ReadDataChannel(buf); err != nil {
				return
			}
			e.dcMessages.Add(1)
		}
	}()
	if _, err := dc.WriteDataChannel(receiverConstraints(e.cons), true); err != nil {
		return fmt.Errorf("send ReceiverVideoConstraints: %w", err)
	}
	return nil
}

func (e *simEndpoint) closeBridgeChannel() {
	e.dcMu.Lock()
	defer e.dcMu.Unlock()
	if e.dc != nil {
		_ = e.dc.Close()
	}
	if e.assc != nil {
		_ = e.assc.Close()
	}
}
