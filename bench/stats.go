package bench

import (
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
)

// latencyHist is a log-scale histogram of durations (ns) with 16 sub-buckets per power of two
// (~4% resolution): cheap to update per packet and to merge across receivers.
type latencyHist struct {
	counts [64 * 16]uint64
	n      uint64
	max    int64
}

func histBucket(v int64) int {
	if v < 16 {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	u := uint64(v)
	exp := bits.Len64(u) - 1 // >= 4
	sub := (u >> (exp - 4)) & 15
	return exp*16 + int(sub)
}

// bucketValue is the midpoint of bucket i in ns.
func bucketValue(i int) float64 {
	if i < 16 {
		return float64(i)
	}
	exp := i / 16
	sub := i % 16
	lo := float64(uint64(16+sub) << (exp - 4))
	hi := float64(uint64(17+sub) << (exp - 4))
	return (lo + hi) / 2
}

func (h *latencyHist) add(v int64) {
	h.counts[histBucket(v)]++
	h.n++
	if v > h.max {
		h.max = v
	}
}

func (h *latencyHist) merge(o *latencyHist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the q-quantile (0..1) in ns, or 0 without samples.
func (h *latencyHist) quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(bucketValue(i), float64(h.max))
		}
	}
	return float64(h.max)
}

// seqTracker follows one received SSRC like an RTCP receiver report does: extended highest
// sequence number, packets received, and packets that arrived after a higher one (reordered).
type seqTracker struct {
	started   bool
	base      uint32
	maxExt    uint32
	received  uint64
	reordered uint64
	dup       uint64
	// lastTS is the RTP timestamp of the highest sequence number so far; discontinuities counts
	// packets that moved the sequence number forward by more than maxSeqJump, or moved it
	// forward with an earlier timestamp (a stream the bridge failed to keep continuous across
	// a switch).
	lastTS          uint32
	discontinuities uint64
	// height is the video height (0 = audio) the last decrypted packet of the stream said it
	// carries; -1 before one was decrypted.
	height int
	// rrExpected/rrReceived are the totals at the previous receiver report (fraction lost).
	rrExpected, rrReceived uint64
}

func (s *seqTracker) add(seq uint16) {
	if !s.started {
		s.started = true
		s.base = uint32(seq)
		s.maxExt = uint32(seq)
		s.received = 1
		return
	}
	s.received++
	maxSeq := uint16(s.maxExt)
	delta := int16(seq - maxSeq)
	switch {
	case delta > 0:
		if seq < maxSeq {
			s.maxExt += 1 << 16 // wrapped
		}
		s.maxExt = s.maxExt&^0xffff | uint32(seq)
	case delta == 0:
		s.dup++
		s.received--
	default:
		s.reordered++
	}
}

// maxSeqJump is the largest forward step of a sequence number counted as loss rather than as a
// discontinuity: 3000 packets is seconds of 720p video.
const maxSeqJump = 3000

// addTS records one packet like add and checks its continuity with the timestamp. It returns
// how far the sequence number moved forward (0 for a late, duplicate or first packet).
func (s *seqTracker) addTS(seq uint16, ts uint32) (step int) {
	if !s.started {
		s.add(seq)
		s.lastTS = ts
		return 0
	}
	delta := int16(seq - uint16(s.maxExt))
	s.add(seq)
	if delta <= 0 {
		return 0
	}
	if int(delta) > maxSeqJump || int32(ts-s.lastTS) < 0 {
		s.discontinuities++
	}
	s.lastTS = ts
	return int(delta)
}

func (s *seqTracker) expected() uint64 {
	if !s.started {
		return 0
	}
	return uint64(s.maxExt-s.base) + 1
}

func (s *seqTracker) lost() uint64 {
	e := s.expected()
	if s.received >= e {
		return 0
	}
	return e - s.received
}

// recvStats is what one simulated endpoint measured as a receiver. The reader goroutine is the
// only writer; the mutex makes snapshots safe while it runs.
type recvStats struct {
	packets, bytes atomic.Uint64 // live, for the progress line

	mu        sync.Mutex
	measuring bool
	streams   map[uint32]*seqTracker
	lat       latencyHist
	audio     uint64
	video     uint64
	first     time.Time // first media packet ever (join time)
	// nacks are the gaps seen since the last NACK was sent, by media SSRC (at most maxNACKs).
	nacks    map[uint32][]uint16
	nackN    int
	nackSent uint64
}

// maxNACKs bounds the sequence numbers waiting for the next NACK (a browser's NACK list is
// bounded too); more missing packets than this are not asked for again.
const maxNACKs = 256

func newRecvStats() *recvStats {
	return &recvStats{streams: make(map[uint32]*seqTracker), nacks: make(map[uint32][]uint16)}
}

// onHeader records one packet from its clear header and returns how many packets that stream
// has received in the window (1 for its first). With nack, the sequence numbers a forward step
// skipped on a media stream (not RTX) are queued for the next NACK.
func (r *recvStats) onHeader(now time.Time, h *clearHeader, size int, nack bool) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.first.IsZero() {
		r.first = now
	}
	st := r.streams[h.ssrc]
	if st == nil {
		st = &seqTracker{height: -1}
		r.streams[h.ssrc] = st
	}
	step := st.addTS(h.seq, h.ts)
	if nack && step > 1 && step <= 64 && h.pt != ptRTX {
		for q := h.seq - uint16(step) + 1; q != h.seq && r.nackN < maxNACKs; q++ {
			r.nacks[h.ssrc] = append(r.nacks[h.ssrc], q)
			r.nackN++
		}
	}
	if r.measuring {
		r.packets.Add(1)
		r.bytes.Add(uint64(size))
		if h.pt == ptOpus {
			r.audio++
		} else {
			r.video++
		}
	}
	return st.received
}

// addSample records what a decrypted packet of stream ssrc said: its one-way latency (ns) and
// the height of the encoding it belongs to.
func (r *recvStats) addSample(ssrc uint32, latency int64, height int) {
	r.mu.Lock()
	if r.measuring {
		r.lat.add(latency)
	}
	if st := r.streams[ssrc]; st != nil {
		st.height = height
	}
	r.mu.Unlock()
}

// takeNACKs returns the queued gaps as generic NACKs from senderSSRC and clears the queue.
func (r *recvStats) takeNACKs(senderSSRC uint32) []rtcp.Packet {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.nackN == 0 {
		return nil
	}
	var out []rtcp.Packet
	for ssrc, seqs := range r.nacks {
		out = append(out, &rtcp.TransportLayerNack{SenderSSRC: senderSSRC, MediaSSRC: ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)})
		delete(r.nacks, ssrc)
	}
	r.nackSent += uint64(r.nackN)
	r.nackN = 0
	return out
}

// startMeasuring resets counters so only the measurement window is reported.
func (r *recvStats) startMeasuring() {
	r.mu.Lock()
	r.measuring = true
	r.streams = make(map[uint32]*seqTracker)
	r.lat = latencyHist{}
	r.audio, r.video = 0, 0
	r.nackSent = 0
	r.packets.Store(0)
	r.bytes.Store(0)
	r.mu.Unlock()
}

// streamSeen is what one SSRC brought in the window.
type streamSeen struct {
	packets uint64
	height  int // from the last decrypted packet; -1 = none decrypted
}

// streamsSeen is the packets received per SSRC in the window, with the encoding's height.
func (r *recvStats) streamsSeen() map[uint32]streamSeen {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[uint32]streamSeen, len(r.streams))
	for ssrc, st := range r.streams {
		out[ssrc] = streamSeen{st.received, st.height}
	}
	return out
}

// ReceiverResult is one simulated endpoint's view of what it received in the window.
type ReceiverResult struct {
	Endpoint      string  `json:"endpoint"`       // endpoint id
	Packets       uint64  `json:"packets"`        // RTP packets received in the window
	AudioPackets  uint64  `json:"audio_packets"`  // of Packets: opus
	VideoPackets  uint64  `json:"video_packets"`  // of Packets: the rest (VP8)
	Bytes         uint64  `json:"bytes"`          // their UDP payload bytes
	Streams       int     `json:"streams"`        // distinct SSRCs received in the window
	Expected      uint64  `json:"expected"`       // from each stream's first to highest sequence number
	Lost          uint64  `json:"lost"`           // Expected minus received
	LossFraction  float64 `json:"loss_fraction"`  // Lost / Expected
	Reordered     uint64  `json:"reordered"`      // packets arriving after a higher sequence number
	Duplicates    uint64  `json:"duplicates"`     // packets repeating the highest sequence number
	LatencyP50Ms  float64 `json:"latency_p50_ms"` // one-way latency median, ms
	LatencyP99Ms  float64 `json:"latency_p99_ms"` // one-way latency 99th percentile, ms
	FirstMediaSec float64 `json:"first_media_s"`  // from join start to the first forwarded packet
	// Discontinuities is packets that moved a stream's sequence number forward by more than
	// 3000 or moved it forward with an earlier RTP timestamp.
	Discontinuities uint64 `json:"discontinuities"`
	NACKedPackets   uint64 `json:"nacked_packets"` // sequence numbers asked for again in NACKs
	OnStage         bool   `json:"on_stage"`       // watches a source on stage (else tile view only)
}

func (r *recvStats) snapshot(id string, joinStart time.Time, into *latencyHist) ReceiverResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := ReceiverResult{
		Endpoint:     id,
		Packets:      r.packets.Load(),
		Bytes:        r.bytes.Load(),
		AudioPackets: r.audio,
		VideoPackets: r.video,
		Streams:      len(r.streams),
		LatencyP50Ms: r.lat.quantile(0.5) / 1e6,
		LatencyP99Ms: r.lat.quantile(0.99) / 1e6,
	}
	for _, st := range r.streams {
		res.Expected += st.expected()
		res.Lost += st.lost()
		res.Reordered += st.reordered
		res.Duplicates += st.dup
		res.Discontinuities += st.discontinuities
	}
	res.NACKedPackets = r.nackSent
	if res.Expected > 0 {
		res.LossFraction = float64(res.Lost) / float64(res.Expected)
	}
	if !r.first.IsZero() && !joinStart.IsZero() {
		res.FirstMediaSec = r.first.Sub(joinStart).Seconds()
	}
	if into != nil {
		into.merge(&r.lat)
	}
	return res
}
