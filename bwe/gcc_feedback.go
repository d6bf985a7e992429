package bwe

// Send history and transport-cc feedback decoding for the Estimator.
//
// The history is a fixed ring indexed by the extended (unwrapped) transport-wide sequence
// number; an entry matches a feedback status only if its stored extended number is the one the
// feedback names, so statuses for packets never sent, too old or beyond what was sent are
// counted and skipped. Each entry remembers whether a feedback already reported it, which makes
// duplicated and overlapping feedback harmless.

const (
	gccHistorySize = 4096 // packets; about 2 s at 20 Mbps of 1200-byte packets
	// gccHistoryInitial is the send history's first size; it doubles, up to gccHistorySize,
	// whenever a packet would take the place of one still waiting for its report that was sent
	// less than gccReportWait ago.
	gccHistoryInitial = 256
	// gccReportWait is how long a sent packet's place is kept for its report when the history
	// is full: a report that comes later is dropped (counted like one for a packet never sent)
	// rather than growing the history for it. Receivers report every 100 ms or so; without
	// this bound, a receiver that never reports some packets (feedback lost, or sent before it
	// started reporting) grows every endpoint's history to gccHistorySize in the end.
	gccReportWait = 1_000_000_000 // ns

	gccMaxPacketSize = 1 << 16 // sizes are clamped to this

	gccRefTimeUnit   = 64_000_000     // ns: transport-cc reference time is in 64 ms units
	gccMaxClockSkew  = 30_000_000_000 // ns the mapped receiver clock may stray from ours
	gccRefTimeModulo = 1 << 24
)

// packet states in the history
const (
	gccStateFree uint8 = iota
	gccStateSent
	gccStateLost     // reported not received
	gccStateReceived // reported received
)

type gccSentPacket struct {
	ext      int64 // extended transport-wide sequence number
	sendTime int64 // unix ns
	size     int32
	cluster  int32 // probe cluster id, -1 none
	state    uint8
}

// gccPacketResult is one packet a feedback reports as received.
type gccPacketResult struct {
	sendTime int64 // unix ns, our clock
	arrival  int64 // ns, the receiver's clock mapped onto ours
	size     int32
	cluster  int32
}

type gccSendHistory struct {
	packets []gccSentPacket // a power of two long; nil until the first packet
	lastExt int64           // highest extended sequence number sent
	started bool
}

func (h *gccSendHistory) add(seq uint16, size int, now int64, cluster int32) (ext int64) {
	if !h.started {
		h.started = true
		ext = 1<<16 + int64(seq)
		h.lastExt = ext
	} else {
		ext = h.lastExt + int64(int16(seq-uint16(h.lastExt)))
		if ext > h.lastExt {
			h.lastExt = ext
		}
	}
	if h.packets == nil {
		h.packets = make([]gccSentPacket, gccHistoryInitial)
	}
	p := h.slot(ext)
	for p.state == gccStateSent && p.ext != ext && now-p.sendTime < gccReportWait &&
		len(h.packets) < gccHistorySize {
		h.grow()
		p = h.slot(ext)
	}
	*p = gccSentPacket{
		ext: ext, sendTime: now, size: int32(min(max(size, 0), gccMaxPacketSize)),
		cluster: cluster, state: gccStateSent,
	}
	return ext
}

// slot is where the packet with extended sequence number ext is kept (if it still is).
func (h *gccSendHistory) slot(ext int64) *gccSentPacket {
	return &h.packets[ext&int64(len(h.packets)-1)]
}

// grow doubles the history. The packets kept have distinct sequence numbers modulo the old
// size, so also modulo the new one.
func (h *gccSendHistory) grow() {
	old := h.packets
	h.packets = make([]gccSentPacket, 2*len(old))
	for _, p := range old {
		if p.state != gccStateFree {
			*h.slot(p.ext) = p
		}
	}
}

// unwrap extends a feedback's 16-bit sequence number to the one nearest the last sent.
func (h *gccSendHistory) unwrap(seq uint16) int64 {
	return h.lastExt + int64(int16(seq-uint16(h.lastExt)))
}

func (h *gccSendHistory) lookup(ext int64) *gccSentPacket {
	if h.packets == nil {
		return nil
	}
	p := h.slot(ext)
	if p.state == gccStateFree || p.ext != ext {
		return nil
	}
	return p
}

// Transport-cc feedback on the wire (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1):
// an RTPFB (PT 205) with FMT 15; after the two SSRCs come the base sequence number, the packet
// status count, a 24-bit reference time in 64 ms units and the feedback packet count, then the
// 16-bit packet status chunks and after them the receive deltas in 250 µs units.
const (
	gccRTPFB          = 205
	gccFmtTCC         = 15
	gccTCCHeaderLen   = 20
	gccDeltaUnit      = 250_000 // ns per receive delta unit
	gccSymNotReceived = 0
	gccSymSmallDelta  = 1
	gccSymLargeDelta  = 2
	gccSymNoDelta     = 3 // reserved in the draft: taken as received without a time
)

// gccFeedbackHeader is what a transport-cc packet says before its chunks.
type gccFeedbackHeader struct {
	baseSeq uint16
	count   int
	refTime int64 // 64 ms units, 24 bits
	body    []byte
}

// gccParseFeedback checks one RTCP packet is a well-formed transport-cc feedback and returns
// its fields and body (chunks and deltas, without padding).
func gccParseFeedback(pkt []byte) (gccFeedbackHeader, bool) {
	if len(pkt) < gccTCCHeaderLen || pkt[0]>>6 != 2 || pkt[1] != gccRTPFB || pkt[0]&0x1f != gccFmtTCC {
		return gccFeedbackHeader{}, false
	}
	size := (int(pkt[2])<<8 | int(pkt[3]) + 1) * 4
	if size < gccTCCHeaderLen || size > len(pkt) {
		return gccFeedbackHeader{}, false
	}
	pkt = pkt[:size]
	if pkt[0]&0x20 != 0 { // padding; a count of 0 (pion/rtcp writes it when aligned) is none
		pad := int(pkt[size-1])
		if pad > size-gccTCCHeaderLen {
			return gccFeedbackHeader{}, false
		}
		pkt = pkt[:size-pad]
	}
	return gccFeedbackHeader{
		baseSeq: uint16(pkt[12])<<8 | uint16(pkt[13]),
		count:   int(pkt[14])<<8 | int(pkt[15]),
		refTime: int64(pkt[16])<<16 | int64(pkt[17])<<8 | int64(pkt[18]),
		body:    pkt[gccTCCHeaderLen:],
	}, true
}

// gccStatusIter walks the packet status symbols of a feedback body.
type gccStatusIter struct {
	b         []byte
	off, pos  int // chunk offset in b, symbol position in the chunk
	remaining int
}

// gccNoSymbol marks the end of the statuses.
const gccNoSymbol = 0xffff

func (it *gccStatusIter) next() uint16 {
	for it.remaining > 0 && it.off+2 <= len(it.b) {
		c := uint16(it.b[it.off])<<8 | uint16(it.b[it.off+1])
		n := 7 // two-bit symbols
		switch {
		case c&0x8000 == 0: // run length
			n = int(c & 0x1fff)
		case c&0x4000 == 0:
			n = 14 // one-bit symbols
		}
		if it.pos >= n {
			it.off += 2
			it.pos = 0
			continue
		}
		var sym uint16
		switch n := uint(it.pos); {
		case c&0x8000 == 0:
			sym = c >> 13 & 3
		case c&0x4000 == 0:
			sym = c >> (13 - n) & 1
		default:
			sym = c >> (12 - 2*n) & 3
		}
		it.pos++
		it.remaining--
		return sym
	}
	return gccNoSymbol
}

// end is the offset just past the chunks walked so far.
func (it *gccStatusIter) end() int {
	if it.pos > 0 {
		return it.off + 2
	}
	return it.off
}

// gccFeedbackCounts is what one feedback contributed besides its results.
type gccFeedbackCounts struct {
	expected, lost, recovered int // newly reported packets, of them lost, earlier losses now received
	covered                   bool
}

// decodeFeedback appends to results every packet the feedback newly reports received, with its
// arrival mapped onto base (ns). A feedback whose chunks do not cover its status count is
// dropped whole; one whose deltas run out is used up to there. Both count as malformed;
// unknown and duplicate statuses are counted in st.
func (h *gccSendHistory) decodeFeedback(fh gccFeedbackHeader, base int64, results []gccPacketResult,
	prober *gccProber, st *EstimatorStats) ([]gccPacketResult, gccFeedbackCounts) {
	var c gccFeedbackCounts
	// first pass: where the chunks end and the deltas begin
	it := gccStatusIter{b: fh.body, remaining: fh.count}
	for it.next() != gccNoSymbol {
	}
	if it.remaining > 0 {
		st.MalformedFeedback++
		return results, c
	}
	deltas := fh.body[it.end():]
	it = gccStatusIter{b: fh.body, remaining: fh.count}
	ext := h.unwrap(fh.baseSeq)
	arrival := base
	for ; ; ext++ {
		sym := it.next()
		if sym == gccNoSymbol {
			break
		}
		received := sym == gccSymSmallDelta || sym == gccSymLargeDelta
		if sym == gccSymSmallDelta {
			if len(deltas) < 1 {
				st.MalformedFeedback++
				break
			}
			arrival += int64(deltas[0]) * gccDeltaUnit
			deltas = deltas[1:]
		} else if sym == gccSymLargeDelta {
			if len(deltas) < 2 {
				st.MalformedFeedback++
				break
			}
			arrival += int64(int16(uint16(deltas[0])<<8|uint16(deltas[1]))) * gccDeltaUnit
			deltas = deltas[2:]
		}
		p := h.lookup(ext)
		if p == nil {
			st.UnknownStatuses++
			continue
		}
		c.covered = true
		// A probe cluster overshoots on purpose: its packets (media sent meanwhile included)
		// are measured by the prober, not counted as the link's loss, or a probe that fills a
		// shallow queue would cut the loss bound it was meant to raise.
		probe := p.cluster >= 0
		switch {
		case received && p.state == gccStateReceived, !received && p.state != gccStateSent:
			st.DuplicateStatuses++
		case received:
			switch {
			case probe:
			case p.state == gccStateLost:
				c.recovered++
			default:
				c.expected++
			}
			p.state = gccStateReceived
			results = append(results, gccPacketResult{sendTime: p.sendTime, arrival: arrival, size: p.size, cluster: p.cluster})
		case sym == gccSymNoDelta:
			// received, but without a time: counts against loss only
			p.state = gccStateReceived
			if probe {
				prober.onReported(p.cluster)
			} else {
				c.expected++
			}
		default:
			p.state = gccStateLost
			if probe {
				prober.onReported(p.cluster)
			} else {
				c.expected++
				c.lost++
			}
		}
	}
	return results, c
}

// gccSortByArrival sorts results by arrival time, keeping sequence order among equals
// (insertion sort: feedback is nearly sorted already, and it does not allocate).
func gccSortByArrival(r []gccPacketResult) {
	for i := 1; i < len(r); i++ {
		v := r[i]
		j := i
		for j > 0 && r[j-1].arrival > v.arrival {
			r[j] = r[j-1]
			j--
		}
		r[j] = v
	}
}
