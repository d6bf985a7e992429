package sfu

import (
	"encoding/binary"
	"time"

	"github.com/pion/srtp/v3"

	"gojvb/sfu/transport"
	"gojvb/simulcast"
)

// This file is the whole per-packet path, in order.
//
// Receive side, on the socket reader goroutine that delivered the datagram (handleSRTP):
//
//	unprotect (sender's SRTP context) -> parse header and metadata once (seq, ts, audio level,
//	keyframe) -> source lookup -> ingress rules (RTX, force-mute, silence with renumbering;
//	audio level to the speech detector) -> fan out to receivers that want the source
//
// Fan out pushes one reference to the shared, read-only decrypted packet into the queue of every
// other endpoint whose wanted set (published by that receiver's own goroutine, read atomically)
// has the source, and marks the receiver for the end of the socket batch (sendAtEnd). Nothing
// here blocks: a full queue or a receiver without keys is a counted drop. Once the reader has
// dispatched its whole recvmmsg batch it sends to each marked receiver itself (sendInline), up
// to a budget of packets per batch, or wakes the receiver's sender goroutine once.
//
// Send side, under the receiver's sendMu, held by its own sender goroutine (sendLoop) or by a
// reader sending inline (which only TryLocks it: when it is taken, the goroutine drains; and keeps
// it until its gathered sendmmsg is out, so the receiver's packets leave in order); the holder
// alone owns the receiver's send SRTP context, projections, SSRC slots and batch writer:
//
//	inbox (the receiver's own RTCP: keyframe requests) -> control (re-run the receiver's choice
//	of sources after a settings, sources or speaker change: receiver.go) -> dequeue ->
//	projection (accept? encoding, SSRC slot, seq/ts rewrite) -> protect -> batch write
//
// so every wakeup drains the whole queue into one sendmmsg. The writer never waits for the
// socket (a full send buffer is a counted drop), and a slow receiver only delays itself.
//
// RTCP: a receiver's PLI/FIR goes to its own inbox; its goroutine translates the media SSRC (a
// rewritten slot, or a track's primary SSRC) to the encoding it waits for or forwards and queues a
// PLI (sender SSRC = the conference's feedback video SSRC) to the media sender like RTP. A sender
// report about a signalled source is fanned out like RTP, without its report blocks, and passes
// the receiver's projection of that source (only the forwarded encoding's, timestamp and SSRC
// rewritten). Every other RTCP packet ends here.

const (
	// queueSize is how many packets one receiver may have waiting (a power of two): what
	// arrives for it while its sender goroutine waits to be scheduled, a few milliseconds of a
	// large conference's audio and video on a loaded machine.
	queueSize = 512
	// srtpOverhead is the most SRTP/SRTCP adds to a packet (16-byte GCM tag + 4-byte SRTCP index).
	srtpOverhead = 20
	// keyframeMinInterval limits keyframe requests relayed to one source (JVB's source-wide
	// min interval, jmt.keyframe).
	keyframeMinInterval = int64(200 * time.Millisecond)
	// inboxSize is how many RTCP packets from the endpoint itself may wait for its goroutine.
	inboxSize = 64
	// forwardedSilenceLimit is how many consecutive silent audio packets (level 127) are
	// forwarded before the rest are discarded (jmt.audio.level.forwarded-silence-packets-limit).
	forwardedSilenceLimit = 3
	// levelSilence is the RFC 6464 level of digital silence (-127 dBov).
	levelSilence = 127
)

// RTCP packet types and feedback formats the pipeline looks at (RFC 3550, 4585, 5104).
const (
	rtcpSR   = 200
	srLen    = 28 // header, sender SSRC and sender info, no report blocks
	rtcpPSFB = 206
	fmtPLI   = 1
	fmtFIR   = 4
)

// handleSRTP is the receive side of the pipeline. buf belongs to the transport and is only
// valid during the call; b is the socket reader's batch it came in (its clock and its end).
func (e *Endpoint) handleSRTP(b *transport.Batch, buf []byte, isRTCP bool) {
	now := b.Now()
	e.rx.packets.Add(1)
	e.rx.bytes.Add(uint64(len(buf)))
	e.lastActivity.Store(now)

	p := getPacket()
	if isRTCP {
		e.receiveRTCP(b, p, buf)
	} else {
		e.receiveRTP(b, p, buf)
	}
	p.release()
}

func (e *Endpoint) receiveRTP(b *transport.Batch, p *packet, buf []byte) {
	if len(buf) > maxPacket {
		e.rx.srtpAuth.Add(1)
		return
	}
	e.recvMu.Lock()
	src, ok := e.receiveRTPLocked(b, p, buf)
	e.recvMu.Unlock()
	if !ok {
		return
	}
	// fan out
	p.src = src
	e.fanOut(b, p)
}

// receiveRTPLocked is the receive side up to the fan-out; e.recvMu is held, so the ingress
// state of e's sources (silence run, renumbering) has one writer.
func (e *Endpoint) receiveRTPLocked(b *transport.Batch, p *packet, buf []byte) (*source, bool) {
	// unprotect
	if e.recvCtx == nil {
		e.rx.notSecure.Add(1)
		return nil, false
	}
	out, err := e.recvCtx.DecryptRTP(p.buf[:0], buf, &e.recvRTP)
	if err != nil {
		e.rx.srtpAuth.Add(1)
		return nil, false
	}
	p.n = len(out)
	// parse the header once
	h, ok := simulcast.ParseRTP(out)
	if !ok {
		e.rx.malformed.Add(1)
		return nil, false
	}
	f := e.rxFormat.Load()
	p.parseExtensions(out, &h)
	if f.tccID != 0 {
		e.recordTCC(h.SSRC, p.extension(out, &h, f.tccID), b.PacketTime())
	}
	// source lookup
	src := e.conf.sources.Load().bySSRC[h.SSRC]
	switch {
	case src == nil:
		e.rx.unknownSSRC.Add(1)
		return nil, false
	case src.owner.via() != e:
		e.rx.foreignSSRC.Add(1)
		return nil, false
	}
	src.rx.Packet(h.Seq, h.TS, b.PacketTime())
	restored := false
	if src.rtx {
		// RTX: a retransmission the bridge asked for (restored into its original stream) or
		// probing padding (dropped).
		if src, ok = e.unwrapRTX(p, src, f); !ok {
			e.rx.rtx.Add(1)
			return nil, false
		}
		restored = true
		out = p.data()
		h, _ = simulcast.ParseRTP(out)
	}
	m := &p.meta
	m.Seq, m.TS, m.Marker = h.Seq, h.TS, h.Marker
	m.PayloadOffset, m.PayloadEnd = h.HeaderLen, h.PayloadEnd
	m.Encoding = src.enc
	classifyExtensions(p, f, src.media)
	if src.media == MediaVideo && f.nack {
		if !src.nack.Received(m.Seq, b.Now()) {
			e.rx.duplicates.Add(1)
			return nil, false
		}
		if restored {
			e.rx.retransmissions.Add(1)
		}
		if src.nack.Missing() > 0 {
			e.nackDue.Store(true)
			e.sendAtEnd(b)
		}
	}
	// ingress rules and metadata
	if src.media == MediaAudio {
		if e.muteAudio.Load() {
			e.rx.muted.Add(1)
			return nil, false
		}
		e.lastAudio.Store(b.Now())
		if level, _, ok := simulcast.AudioLevel(p.extension(out, &h, f.audioLevelID)); ok {
			if level >= levelSilence {
				if src.silent++; src.silent > forwardedSilenceLimit {
					src.seqShift++
					e.rx.silence.Add(1)
					return nil, false
				}
			} else {
				src.silent = 0
				src.owner.speech.record(b.Now(), level)
			}
		}
		if src.seqShift != 0 {
			m.Seq -= src.seqShift
			simulcast.SetSeq(out, m.Seq)
		}
		return src, true
	}
	if e.muteVideo.Load() {
		e.rx.muted.Add(1)
		return nil, false
	}
	e.lastVideo.Store(b.Now())
	if m.Padding = h.PayloadEnd == h.HeaderLen; m.Padding {
		// Padding only (a probe on the media SSRC): the projections drop it and close the gap
		// it leaves; it is neither a frame nor part of the encoding's rate.
		m.Codec = f.codec[h.PT&0x7f]
		m.Frame.Reset()
		m.Keyframe, m.StartOfFrame = false, false
		e.rx.padding.Add(1)
		return src, true
	}
	videoFrame(p, out, &h, f, src)
	if src.rates != nil && src.rates.add(m.Frame.TID, m.Frame.SID, len(out), b.Now()) {
		e.conf.kickAll() // an encoding (re)started: its layers are on offer again
	}
	if m.Keyframe && m.Codec != simulcast.CodecUnknown {
		e.rx.keyframes.Add(1)
		switch fi := &m.Frame; {
		case src.rates != nil && fi.SpatialLayers > 1:
			// SVC: the encoding is as tall as its top spatial layer; the allocator sees each.
			top := fi.SpatialLayers - 1
			changed := src.rates.learnSVC(fi)
			if h := int32(min(fi.LayerWidth[top], fi.LayerHeight[top])); h > 0 && (src.height.Swap(h) != h || changed) {
				e.conf.kickAll()
			}
		case fi.Width > 0 && fi.Height > 0:
			e.learnHeight(src, int32(min(fi.Width, fi.Height)))
		}
	}
	return src, true
}

// videoFrame fills in what the projections need of a video packet: its codec, layer ids and
// picture ids, whether it starts a frame and a keyframe, and where its AV1 descriptor is. The AV1
// template structure is kept per encoding (src.av1) so later packets' layers are known. Packets
// the bridge cannot parse count as keyframe starts: there are no frame boundaries to wait for.
func videoFrame(p *packet, pkt []byte, h *simulcast.RTPInfo, f *rxFormat, src *source) {
	m := &p.meta
	fi := &m.Frame
	fi.Reset()
	payload := pkt[h.HeaderLen:h.PayloadEnd]
	var ok bool
	m.Codec = f.codec[h.PT&0x7f]
	switch m.Codec {
	case simulcast.CodecVP8:
		ok = simulcast.ParseVP8(payload, fi)
	case simulcast.CodecVP9:
		ok = simulcast.ParseVP9(payload, fi)
	case simulcast.CodecH264:
		ok = simulcast.ParseH264(payload, fi)
	case simulcast.CodecAV1:
		if off, n, found := p.extensionAt(pkt, h, f.av1DDID); found {
			m.DDOffset, m.DDLen = off, n
			ok = simulcast.ParseAV1DDWith(pkt[off:off+n], &src.av1, fi)
		}
	}
	if !ok {
		m.Codec = simulcast.CodecUnknown
		fi.Reset()
		m.Keyframe, m.StartOfFrame = true, true
		return
	}
	m.Keyframe, m.StartOfFrame = fi.Keyframe && fi.StartOfFrame, fi.StartOfFrame
}

// fanOut offers p to every other endpoint of the conference that wants its source. The caller
// keeps its reference.
//
// It takes one reference per receiver of the conference up front and gives back the unused ones
// at the end: two atomic operations on the shared packet instead of one per receiver. The
// caller's reference keeps p alive meanwhile, so a receiver may release its own as soon as p is
// in its queue.
func (e *Endpoint) fanOut(b *transport.Batch, p *packet) {
	rs := *e.conf.receivers.Load()
	unused := int32(len(rs))
	p.refs.Add(unused)
	for _, r := range rs {
		if r == e || !r.wanted.Load().has(p.src) {
			continue
		}
		if !r.secure.Load() {
			e.rx.notSecure.Add(1)
			continue
		}
		if !r.queue.push(p) {
			e.rx.queueFull.Add(1)
			continue
		}
		unused--
		r.sendAtEnd(b)
	}
	p.refs.Add(-unused)
}

func (e *Endpoint) receiveRTCP(b *transport.Batch, p *packet, buf []byte) {
	if len(buf) > maxPacket {
		e.rx.srtpAuth.Add(1)
		return
	}
	e.recvMu.Lock()
	if e.recvCtx == nil {
		e.recvMu.Unlock()
		e.rx.notSecure.Add(1)
		return
	}
	out, err := e.recvCtx.DecryptRTCP(p.buf[:0], buf, &e.recvRTCP)
	e.recvMu.Unlock()
	if err != nil {
		e.rx.srtpAuth.Add(1)
		return
	}
	p.n = len(out)
	e.handleRTCP(b, p)
}

// handleRTCP walks a decrypted compound RTCP packet: sender reports are fanned out, a compound
// with keyframe requests goes to e's own inbox (its goroutine knows what e was sent), the rest
// ends here.
func (e *Endpoint) handleRTCP(b *transport.Batch, p *packet) {
	toInbox := false
	for out := p.data(); len(out) >= 4; {
		size := (int(binary.BigEndian.Uint16(out[2:4])) + 1) * 4
		if size > len(out) {
			break
		}
		pt, format := out[1], out[0]&0x1f
		switch {
		case pt == rtcpSR && size >= srLen:
			e.forwardSenderReport(b, out[:srLen])
		case pt == rtcpPSFB && (format == fmtPLI || format == fmtFIR) && size >= 12,
			pt == rtcpRTPFB && format == rtpfbNACK && size >= 16,
			pt == rtcpRR && format > 0, pt == rtcpSR && format > 0,
			pt == rtcpRTPFB && format == rtpfbTCC, pt == rtcpPSFB && format == psfbREMB:
			toInbox = true
		}
		out = out[size:]
	}
	if !toInbox {
		return
	}
	p.retain()
	if !e.inbox.push(p) {
		p.release()
		e.rx.keyframesDropped.Add(1)
		return
	}
	e.sendAtEnd(b)
}

// forwardSenderReport fans a sender report about one of e's signalled sources out to the other
// endpoints, stripped of its report blocks (they describe what e received, not what others get).
func (e *Endpoint) forwardSenderReport(b *transport.Batch, sr []byte) {
	src := e.conf.sources.Load().bySSRC[binary.BigEndian.Uint32(sr[4:8])]
	if src == nil || src.owner.via() != e {
		return
	}
	e.recordSenderReport(src, sr, b.Now())
	if src.rtx || src.media == MediaAudio && e.muteAudio.Load() || src.media == MediaVideo && e.muteVideo.Load() {
		return
	}
	p := getPacket()
	p.rtcp, p.src, p.n = true, src, srLen
	copy(p.buf[:srLen], sr)
	p.buf[0] &^= 0x1f // report count 0
	binary.BigEndian.PutUint16(p.buf[2:4], srLen/4-1)
	e.fanOut(b, p)
	p.release()
}

// sendAtEnd makes the reader wake e's sender goroutine once its batch is dispatched. The flag
// keeps e in at most one batch's list: a second reader that pushed to e meanwhile relies on the
// first one's wakeup, which comes after both pushes.
func (e *Endpoint) sendAtEnd(b *transport.Batch) {
	if e.sendQueued.CompareAndSwap(false, true) {
		e.markBusy(b.Now())
		b.AtEnd(endpointHandler{e})
	}
}

// inlineSendBudget is how many packets a socket reader sends itself at the end of one batch
// (sendInline) before it hands the remaining receivers to their sender goroutines: a small
// fan-out is cheaper on the reader (no wakeup, no hand-off between cores), while a batch that
// fans out to many receivers is spread over every core by their goroutines.
const inlineSendBudget = 128

// sendInline runs at the end of a reader's batch for a receiver the batch queued packets to.
// The reader drains the receiver itself when the send side is free and the batch's budget
// allows; otherwise (the sender goroutine or another reader holds it, a re-selection is due,
// the budget is spent) it wakes the receiver's sender goroutine, which drains what is queued
// once it holds the send side. A reader never waits for another endpoint.
func (e *Endpoint) sendInline(b *transport.Batch) {
	br := e.conf.bridge
	if !br.inlineSend || br.manualSend || b.Spend(0) >= inlineSendBudget || e.ctlDirty.Load() || !e.sendMu.TryLock() {
		e.wakeSender()
		return
	}
	if e.sendStopped {
		e.sendMu.Unlock()
		return
	}
	now := b.Clock() // one clock read for the batch's sends: send times feed the estimator
	b.Spend(e.drainAt(now, b))
	e.lastDrain.Store(now)
	paced := e.rs.paceAt != 0 // the pacer holds packets: the goroutine arms its timer
	// The drained datagrams wait in the reader's gathered send until the batch ends: the send
	// side stays taken until they are out, or the goroutine (or another reader) could send the
	// receiver newer packets first.
	b.UnlockAfterSend(&e.sendMu)
	if paced {
		e.wakeSender()
	}
}

// wakeSender makes the sender goroutine drain the queue; a wakeup already pending covers this one.
func (e *Endpoint) wakeSender() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// sendLoop is the endpoint's sender goroutine: it owns the send side until Expire stops it,
// sharing it only with readers that send inline (sendMu). Its ticker drives what is due without
// a packet (keyframe requests still waited for, the periodic re-run of the receiver's choice).
func (e *Endpoint) sendLoop() {
	defer close(e.senderDone)
	tick := time.NewTicker(tickInterval)
	defer tick.Stop()
	// pace wakes the sender when the pacer lets held packets go or a probe cluster's next
	// bytes are due (rs.paceAt).
	pace := time.NewTimer(time.Hour)
	pace.Stop()
	defer pace.Stop()
	for {
		e.senderIdle.Store(true)
		ticked := false
		select {
		case <-e.wake:
		case <-pace.C:
		case <-tick.C:
			ticked = true
		case <-e.stop:
			return
		}
		e.sendMu.Lock()
		now := time.Now().UnixNano() // the one clock read of the wakeup
		if ticked {
			e.tick(now)
		} else {
			e.senderIdle.Store(false)
			e.drainAt(now, nil)
			e.lastDrain.Store(now)
		}
		at := e.rs.paceAt
		e.rs.paceAt = 0
		e.sendMu.Unlock()
		if at != 0 {
			pace.Reset(time.Duration(at - time.Now().UnixNano()))
		}
	}
}

// stopSending ends the sender goroutine (Expire) and returns what is still queued to the pool.
func (e *Endpoint) stopSending() {
	close(e.stop)
	<-e.senderDone
	e.sendMu.Lock() // a reader may be sending inline
	defer e.sendMu.Unlock()
	e.sendStopped = true
	for _, q := range []*packetQueue{e.queue, e.inbox} {
		for p := q.pop(); p != nil; p = q.pop() {
			p.release()
		}
		q.publish()
	}
	e.rs.hist.release()
}

// drain is the send side of the pipeline: the receiver's own RTCP, then control changes, then
// everything queued to it, flushed as one batch. It returns how many packets it took from the
// queue. Only the holder of sendMu calls it (tests with manualSend call it themselves instead).
func (e *Endpoint) drain() int { return e.drainAt(time.Now().UnixNano(), nil) }

// drainAt is drain at now: every packet of the wakeup takes this time (projection, history,
// feedback), so no packet reads the clock. A reader sending inline passes its batch (via), which
// sends the flushed datagrams together with those of the batch's other receivers.
func (e *Endpoint) drainAt(now int64, via *transport.Batch) int {
	// inbox (flags and counters shared with the readers are read before they are written:
	// a drain usually finds nothing to do there)
	if p := e.inbox.pop(); p != nil {
		for ; p != nil; p = e.inbox.pop() {
			e.handleFeedback(p.data(), now)
			p.release()
		}
		e.inbox.publish()
	}
	// control
	if e.ctlDirty.Load() && e.ctlDirty.Swap(false) {
		e.reselect(now)
	}
	if e.nackDue.Load() && e.nackDue.Swap(false) {
		e.sendNACKs(now)
	}
	// dequeue -> project -> protect -> write, as far as the pacer lets it (pace.go)
	ctx := e.sendCtx.Load()
	n := 0
	for e.rs.mayDequeue(e.queue, now) {
		p := e.queue.pop()
		if p == nil {
			break
		}
		n++
		e.rs.paced(e.send(ctx, p, now), now)
		p.release()
	}
	if n > 0 { // also when nothing was committed: the writer gives its buffers back
		e.queue.publish()
		if err := e.writer.FlushTo(via); err != nil { // the writer counts each datagram it dropped
			e.log.Debug("flush failed", "err", err)
		}
	}
	e.paceProbe(now)
	return n
}

// send builds, protects and commits one datagram for p, or counts why not. It returns the
// bytes committed (0 none).
func (e *Endpoint) send(ctx *srtp.Context, p *packet, now int64) int {
	in := p.data()
	out := e.writer.Buffer()
	if ctx == nil || len(in)+srtpOverhead > cap(out) {
		e.tx.failed.Add(1)
		return 0
	}
	var err error
	switch {
	case e.kind == kindRelayLink && p.src != nil: // media and sender reports crossing a relay
		out = e.relayForward(out, p, now)
		if p.rtcp {
			out, err = ctx.EncryptRTCP(out, out, &e.sendRTCP)
		} else {
			out, err = ctx.EncryptRTP(out, out, &e.sendRTP)
		}
	case p.rtcp && p.src != nil: // sender report
		var ok bool
		if out, ok = e.rs.senderReport(out, p, now); !ok {
			return 0
		}
		out, err = ctx.EncryptRTCP(out, out, &e.sendRTCP)
	case p.rtcp: // keyframe request to this endpoint as a media sender
		out = append(out, in...)
		out, err = ctx.EncryptRTCP(out, out, &e.sendRTCP)
	default:
		proj := e.rs.projectionFor(e, p.src)
		if proj == nil {
			e.tx.stale.Add(1)
			return 0
		}
		var ok bool
		if out, ok = e.rs.forward(e, proj, out, p, now); !ok {
			return 0
		}
		out, err = ctx.EncryptRTP(out, out, &e.sendRTP)
	}
	if err != nil {
		e.tx.failed.Add(1)
		return 0
	}
	e.writer.Commit(out) // counted by the writer as sent or dropped once the kernel answered
	return len(out)
}

// learnHeight records the frame height a keyframe of src announced; receivers re-run their
// choice when it differs from what they assumed (a sender whose encodings are not 180/360/720).
func (e *Endpoint) learnHeight(src *source, h int32) {
	if src.height.Swap(h) != h {
		e.conf.kickAll()
	}
}

// classifyExtensions finds, once per received packet, the header-extension elements receivers
// must not get (everything but audio level, video orientation, the AV1 descriptor and, on video,
// the transport-wide sequence number the receiver's own replaces) and where that sequence
// number is, so each receiver's copy is fixed up without parsing it again.
func classifyExtensions(p *packet, f *rxFormat, media MediaType) {
	p.nzero, p.tccValue = 0, 0
	if p.next < 0 {
		p.nzero = -1 // too many elements or a malformed block: each copy is filtered the slow way
		return
	}
	keep := &f.keepAudio
	if media == MediaVideo {
		keep = &f.keepVideo
	}
	for _, x := range p.ext[:p.next] {
		switch {
		case media == MediaVideo && f.tccID != 0 && x.id == f.tccID && x.end-x.value >= 2:
			// (id 0 is no extension: without transport-cc negotiated, an element with id 0
			// must not take the receiver's sequence number)
			p.tccElem = [2]uint16{x.start, x.end}
			p.tccValue = x.value
		case keep.Has(x.id):
		case int(p.nzero) == maxZeroSpans:
			p.nzero = -1
			return
		default:
			p.zero[p.nzero] = [2]uint16{x.start, x.end}
			p.nzero++
		}
	}
}
