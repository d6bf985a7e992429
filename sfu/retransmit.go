package sfu

import (
	"encoding/binary"
	"strconv"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/srtp/v3"

	"gojvb/simulcast"
)

// This file is retransmission, both ways. Toward a receiver: its sender goroutine remembers the
// video it sent (a reference to the shared pooled packet plus the bytes its projection rewrote)
// and answers the receiver's NACKs from there, RTX-encapsulated when the receiver negotiated RTX.
// Toward a sender: the receive side notes gaps per video SSRC (sfu/nack) and the sender's
// goroutine NACKs them; retransmissions come back on the RTX SSRC and are de-encapsulated on
// receive (pipeline.go), duplicates dropped.

const (
	// historyMax is the most video packets a receiver's history holds (JVB caches 500 per SSRC).
	historyMax = 512
	// historyInitial is the history's first ring; it grows (doubling up to historyGrowSlower,
	// then by half, up to historyMax) while the packets of historyAge do not fit. A receiver
	// that never gets video has none.
	historyInitial    = 64
	historyGrowSlower = 256
	// historyAge is how long a sent video packet stays in the history, plus two round trips to
	// the receiver: long enough for every resend the NACK policy allows (maxResends,
	// minResendInterval apart), each asked for about an RTT after the loss. historyMaxAge
	// bounds the sum (JVB's cache, 500 packets per stream, holds about a second of HD video).
	// Every packet kept keeps a pooled packet alive, so this bounds the bridge's memory by
	// time, not only by count, and a receiver of a few low-rate streams holds a small ring.
	historyAge    = time.Duration(maxResends*minResendInterval) + 100*time.Millisecond
	historyMaxAge = time.Second
	// patchSize is how many leading bytes of a forwarded packet its projection may rewrite
	// (RTP header with extensions and the codec's payload descriptor); longer headers are not
	// remembered.
	patchSize = 80
	// minResendInterval keeps one packet from being resent twice within this time (JVB: about
	// an RTT; the bridge has no RTT estimate yet).
	minResendInterval = int64(100 * time.Millisecond)
	// maxResends bounds how often one packet is resent to a receiver that keeps asking for it
	// (some clients re-NACK packets an RTX retransmission already repaired).
	maxResends = 4
	rtpfbNACK  = 1
	rtcpRTPFB  = 205
)

// sentPacket is one video packet a receiver got: the shared packet and what its projection
// changed.
type sentPacket struct {
	p        *packet
	sentAt   int64 // unix nanoseconds
	resentAt int64
	ssrc     uint32 // as sent
	seq      uint16
	n        uint8 // bytes of patch used
	resends  uint8
	patch    [patchSize]byte
}

// history is a receiver's ring of sent video packets, owned by its send side: the packets
// sent within its age (historyKeep), at most historyMax of them.
type history struct {
	ring   []sentPacket      // nil until the first video packet
	oldest int               // ring[oldest] is the oldest packet kept
	n      int               // packets kept: ring[oldest], and the n-1 after it (wrapping)
	rtxSeq map[uint32]uint16 // per RTX SSRC: the receiver's own RTX sequence numbers
}

// at returns the k-th oldest packet kept (k < len(ring)).
func (h *history) at(k int) *sentPacket {
	i := h.oldest + k
	if i >= len(h.ring) {
		i -= len(h.ring)
	}
	return &h.ring[i]
}

// historyKeep is how long the history keeps a packet for a receiver at round-trip time rtt.
func historyKeep(rtt time.Duration) int64 {
	return int64(min(historyAge+2*rtt, historyMaxAge))
}

// remember keeps p, as rewritten into out and sent at now, for the receiver's NACKs, and lets
// go of what is older than keep.
func (h *history) remember(p *packet, out []byte, now, keep int64) {
	if len(out) < 12 || p.meta.PayloadOffset+8 > patchSize {
		return
	}
	h.expire(now - keep)
	switch {
	case h.ring == nil:
		h.ring = make([]sentPacket, historyInitial)
	case h.n == len(h.ring) && len(h.ring) < historyMax:
		h.grow()
	case h.n == len(h.ring):
		h.drop()
	}
	e := h.at(h.n)
	h.n++
	p.retain()
	e.p, e.sentAt, e.resentAt, e.resends = p, now, 0, 0
	e.ssrc, e.seq = binary.BigEndian.Uint32(out[8:12]), binary.BigEndian.Uint16(out[2:4])
	e.n = uint8(copy(e.patch[:], out[:min(len(out), patchSize)]))
}

// grow makes the ring larger, keeping the packets in order: twice as large up to
// historyGrowSlower, then by half (an entry is 112 bytes: a receiver of 25 thumbnails, ~750
// video packets/s, needs about 400 for historyAge and should not get 512).
func (h *history) grow() {
	size := 2 * len(h.ring)
	if len(h.ring) >= historyGrowSlower {
		size = len(h.ring) + len(h.ring)/2
	}
	ring := make([]sentPacket, min(size, historyMax))
	for k := range h.n {
		ring[k] = *h.at(k)
	}
	h.ring, h.oldest = ring, 0
}

// drop lets go of the oldest packet.
func (h *history) drop() {
	e := &h.ring[h.oldest]
	e.p.release()
	e.p = nil
	h.n--
	if h.oldest++; h.oldest == len(h.ring) {
		h.oldest = 0
	}
}

// expire lets go of the packets sent before before.
func (h *history) expire(before int64) {
	for h.n > 0 && h.ring[h.oldest].sentAt < before {
		h.drop()
	}
}

// len is how many packets the history keeps.
func (h *history) len() int { return h.n }

// release drops every reference (the sender goroutine has ended).
func (h *history) release() {
	for h.n > 0 {
		h.drop()
	}
}

// find returns the newest packet sent as ssrc/seq, or nil.
func (h *history) find(ssrc uint32, seq uint16) *sentPacket {
	for k := h.n - 1; k >= 0; k-- {
		e := h.at(k)
		if e.seq == seq && e.ssrc == ssrc {
			return e
		}
	}
	return nil
}

// handleNACK answers a receiver's generic NACK (one RTPFB packet) from its history.
func (e *Endpoint) handleNACK(fb []byte, now int64) {
	if len(fb) < 12 {
		return
	}
	e.rx.nacksReceived.Add(1)
	ssrc := binary.BigEndian.Uint32(fb[8:12])
	ctx := e.sendCtx.Load()
	sent := 0
	// The batch is empty here (every send path flushes what it committed), so what the writer
	// accepted from here to the Flush below are the retransmissions the kernel took.
	accepted := e.writer.Stats().Packets
	for fci := fb[12:]; len(fci) >= 4; fci = fci[4:] {
		pid, blp := binary.BigEndian.Uint16(fci[0:2]), binary.BigEndian.Uint16(fci[2:4])
		for i := 0; i < 17; i++ {
			if i > 0 && blp&(1<<(i-1)) == 0 {
				continue
			}
			if sp := e.rs.hist.find(ssrc, pid+uint16(i)); sp != nil && now-sp.resentAt >= minResendInterval && sp.resends < maxResends {
				sp.resentAt = now
				sp.resends++
				if e.resend(ctx, sp) {
					sent++
				}
			} else if sp == nil {
				e.tx.notCached.Add(1)
			}
		}
	}
	if sent > 0 {
		if err := e.writer.Flush(); err != nil { // each datagram dropped is counted there
			e.log.Debug("flush of retransmissions failed", "err", err)
		}
		e.tx.retransmitted.Add(e.writer.Stats().Packets - accepted)
	}
}

// resend rebuilds a remembered packet as the receiver got it and sends it again: inside RTX
// (receiver's RTX payload type, RTX SSRC of the stream, its own sequence numbers, the original
// sequence number first in the payload) when the receiver negotiated RTX, as it was otherwise.
func (e *Endpoint) resend(ctx *srtp.Context, sp *sentPacket) bool {
	in := sp.p.data()
	out := e.writer.Buffer()
	if ctx == nil || len(in)+srtpOverhead+2 > cap(out) {
		e.tx.failed.Add(1)
		return false
	}
	out = append(out, in...)
	copy(out, sp.patch[:sp.n])
	if rtxPT, rtxSSRC := e.rtxFor(out[1]&0x7f, sp.ssrc); rtxPT != 0 && rtxSSRC != 0 {
		h, ok := simulcast.ParseRTP(out)
		if !ok {
			e.tx.failed.Add(1)
			return false
		}
		out = append(out, 0, 0)
		copy(out[h.HeaderLen+2:], out[h.HeaderLen:len(out)-2])
		binary.BigEndian.PutUint16(out[h.HeaderLen:], h.Seq)
		out[1] = out[1]&0x80 | rtxPT
		hist := &e.rs.hist
		if hist.rtxSeq == nil {
			hist.rtxSeq = make(map[uint32]uint16)
		}
		seq := hist.rtxSeq[rtxSSRC] + 1
		hist.rtxSeq[rtxSSRC] = seq
		simulcast.SetSeq(out, seq)
		simulcast.SetSSRC(out, rtxSSRC)
	}
	out, err := ctx.EncryptRTP(out, out, &e.sendRTP)
	if err != nil {
		e.tx.failed.Add(1)
		return false
	}
	e.writer.Commit(out) // the writer counts it as sent or dropped; handleNACK what it accepted
	return true
}

// rtxFor returns the receiver's RTX payload type for media payload type pt and the RTX SSRC of
// the stream it knows as ssrc (0s: resend as is).
func (e *Endpoint) rtxFor(pt uint8, ssrc uint32) (uint8, uint32) {
	rtxPT := e.rxFormat.Load().rtxFor[pt]
	if rtxPT == 0 {
		return 0, 0
	}
	if e.rs.rewriting() {
		if slot := e.rs.videoSlots.BySSRC(ssrc); slot != nil && slot.SSRC == ssrc {
			return rtxPT, slot.RTX
		}
		return 0, 0
	}
	if src := e.rs.projSources.bySSRC[ssrc]; src != nil {
		return rtxPT, src.track.rtxOf(src.enc)
	}
	return 0, 0
}

// sendNACKs asks e, as a media sender, for the video packets the bridge is missing. It runs on
// e's sender goroutine.
func (e *Endpoint) sendNACKs(now int64) {
	ctx := e.sendCtx.Load()
	if ctx == nil {
		return
	}
	sm := e.conf.sources.Load()
	var pkts []rtcp.Packet
	var seqs []uint16
	e.recvMu.Lock()
	for _, t := range sm.tracks {
		if t.owner.via() != e || t.media != MediaVideo {
			continue
		}
		for _, s := range t.encodings {
			if seqs = s.nack.Due(now, seqs[:0]); len(seqs) > 0 {
				pkts = append(pkts, &rtcp.TransportLayerNack{SenderSSRC: e.conf.feedbackVideo, MediaSSRC: s.ssrc,
					Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)})
			}
		}
	}
	e.recvMu.Unlock()
	if len(pkts) > 0 {
		e.rx.nacksSent.Add(uint64(len(pkts)))
		e.writeRTCP(ctx, pkts)
	}
}

// rtxPayloadTypes maps each media payload type to its RTX payload type (a=fmtp apt=) and back.
func rtxPayloadTypes(pts []PayloadType) (rtxFor, aptOf [128]uint8) {
	for _, pt := range pts {
		if pt.Name != "rtx" && pt.Name != "RTX" {
			continue
		}
		apt, err := strconv.Atoi(pt.Params["apt"])
		if err != nil || apt <= 0 || apt > 127 {
			continue
		}
		rtxFor[apt] = pt.ID & 0x7f
		aptOf[pt.ID&0x7f] = uint8(apt)
	}
	return rtxFor, aptOf
}

// unwrapRTX turns a retransmission on an RTX SSRC back into the packet of its encoding, in place:
// the original sequence number from the payload's first two bytes, the media payload type, the
// encoding's SSRC. Padding-only RTX (bandwidth probing) and RTX without a known payload type
// are not restored. e.recvMu is held.
func (e *Endpoint) unwrapRTX(p *packet, rtx *source, f *rxFormat) (*source, bool) {
	if rtx.enc < 0 || rtx.enc >= len(rtx.track.encodings) {
		return nil, false
	}
	pkt := p.data()
	h, ok := simulcast.ParseRTP(pkt)
	apt := f.aptOf[h.PT&0x7f]
	if !ok || apt == 0 || h.PayloadEnd-h.HeaderLen < 2 {
		return nil, false
	}
	orig := rtx.track.encodings[rtx.enc]
	osn := binary.BigEndian.Uint16(pkt[h.HeaderLen:])
	copy(pkt[h.HeaderLen:], pkt[h.HeaderLen+2:])
	p.n -= 2
	pkt = p.data()
	pkt[1] = pkt[1]&0x80 | apt
	simulcast.SetSeq(pkt, osn)
	simulcast.SetSSRC(pkt, orig.ssrc)
	p.meta.Seq = osn
	return orig, true
}
