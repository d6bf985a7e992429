package sfu

import (
	"encoding/binary"
	"time"

	"github.com/pion/srtp/v3"

	"gojvb/sfu/transport"
)

// This file is the whole per-packet path, in order.
//
// Receive side, on the socket reader goroutine that delivered the datagram (handleSRTP):
//
//	unprotect (sender's SRTP context) -> parse header -> source lookup -> mute/drop rules -> fan out
//
// Fan out pushes one reference to the shared, read-only decrypted packet into every other
// endpoint's lock-free queue and marks the receiver for the end of the socket batch
// (sendAtEnd). Nothing here blocks: a full queue or a receiver without keys is a counted drop.
// Once the reader has dispatched its whole recvmmsg batch it wakes each marked receiver's sender
// goroutine once, so a burst costs one wakeup per receiver, not one per packet.
//
// Send side, on the receiving endpoint's own sender goroutine (sendLoop), which alone owns the
// receiver's send SRTP context, projections and batch writer:
//
//	dequeue -> projection (accept? + copy and rewrite into the datagram buffer) -> protect -> batch write
//
// so every wakeup drains the whole queue into one sendmmsg. The writer never waits for the
// socket (a full send buffer is a counted drop), and a slow receiver only delays itself.
//
// RTCP: PLI/FIR from a receiver become a PLI (sender SSRC = the conference's feedback video SSRC)
// queued to the media sender like RTP. A sender report about a signalled source is
// fanned out like RTP, without its report blocks, and passes the receiver's projection of that
// source (so it only goes where the source's RTP went). Every other RTCP packet ends here.

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
	// unprotect + parse header
	ssrc, ok := e.unprotectRTP(p, buf)
	if !ok {
		return
	}
	// source lookup
	src := e.conf.sources.Load().bySSRC[ssrc]
	switch {
	case src == nil:
		e.rx.unknownSSRC.Add(1)
		return
	case src.owner != e:
		e.rx.foreignSSRC.Add(1)
		return
	}
	// mute/drop rules
	if src.media == MediaAudio {
		if e.muteAudio.Load() {
			e.rx.muted.Add(1)
			return
		}
		e.lastAudio.Store(b.Now())
	} else {
		if e.muteVideo.Load() {
			e.rx.muted.Add(1)
			return
		}
		e.lastVideo.Store(b.Now())
	}
	// fan out
	p.src = src
	e.fanOut(b, p)
}

// unprotectRTP decrypts buf into p with the endpoint's receive context and returns the SSRC.
func (e *Endpoint) unprotectRTP(p *packet, buf []byte) (uint32, bool) {
	if len(buf) > maxPacket {
		e.rx.srtpAuth.Add(1)
		return 0, false
	}
	e.recvMu.Lock()
	defer e.recvMu.Unlock()
	if e.recvCtx == nil {
		e.rx.notSecure.Add(1)
		return 0, false
	}
	out, err := e.recvCtx.DecryptRTP(p.buf[:0], buf, &e.recvRTP)
	if err != nil {
		e.rx.srtpAuth.Add(1)
		return 0, false
	}
	p.n = len(out)
	return e.recvRTP.SSRC, true
}

// fanOut offers p to every other endpoint of the conference. The caller keeps its reference.
func (e *Endpoint) fanOut(b *transport.Batch, p *packet) {
	for _, r := range *e.conf.receivers.Load() {
		if r == e {
			continue
		}
		if !r.secure.Load() {
			e.rx.notSecure.Add(1)
			continue
		}
		p.retain()
		if !r.queue.push(p) {
			p.release()
			e.rx.queueFull.Add(1)
			continue
		}
		r.sendAtEnd(b)
	}
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
	e.handleRTCP(b, out)
}

// handleRTCP walks a decrypted compound RTCP packet; only keyframe requests leave it.
func (e *Endpoint) handleRTCP(b *transport.Batch, out []byte) {
	for len(out) >= 4 {
		size := (int(binary.BigEndian.Uint16(out[2:4])) + 1) * 4
		if size > len(out) {
			return
		}
		pt, format := out[1], out[0]&0x1f
		switch {
		case pt == rtcpSR && size >= srLen:
			e.forwardSenderReport(b, out[:srLen])
		case pt == rtcpPSFB && format == fmtPLI && size >= 12:
			e.requestKeyframe(b, binary.BigEndian.Uint32(out[8:12]))
		case pt == rtcpPSFB && format == fmtFIR && size >= 12:
			for fci := out[12:size]; len(fci) >= 8; fci = fci[8:] {
				e.requestKeyframe(b, binary.BigEndian.Uint32(fci[0:4]))
			}
		}
		out = out[size:]
	}
}

// forwardSenderReport fans a sender report about one of e's signalled sources out to the other
// endpoints, stripped of its report blocks (they describe what e received, not what others get).
func (e *Endpoint) forwardSenderReport(b *transport.Batch, sr []byte) {
	src := e.conf.sources.Load().bySSRC[binary.BigEndian.Uint32(sr[4:8])]
	if src == nil || src.owner != e || src.media == MediaAudio && e.muteAudio.Load() || src.media == MediaVideo && e.muteVideo.Load() {
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

// requestKeyframe relays a receiver's keyframe request for mediaSSRC to the source's owner as a
// PLI, at most once per keyframeMinInterval per source.
func (e *Endpoint) requestKeyframe(b *transport.Batch, mediaSSRC uint32) {
	now := b.Now()
	src := e.conf.sources.Load().bySSRC[mediaSSRC]
	if src == nil || src.owner == e {
		e.rx.keyframesDropped.Add(1)
		return
	}
	last := src.lastKeyframeRequest.Load()
	if now-last < keyframeMinInterval || !src.lastKeyframeRequest.CompareAndSwap(last, now) {
		e.rx.keyframesDropped.Add(1)
		return
	}
	owner := src.owner
	if !owner.secure.Load() {
		e.rx.notSecure.Add(1)
		return
	}
	pli := getPacket()
	pli.rtcp = true
	h := pli.buf[:12]
	h[0], h[1] = 0x80|fmtPLI, rtcpPSFB
	binary.BigEndian.PutUint16(h[2:4], 2)
	binary.BigEndian.PutUint32(h[4:8], e.conf.feedbackVideo)
	binary.BigEndian.PutUint32(h[8:12], mediaSSRC)
	pli.n = 12
	if !owner.queue.push(pli) {
		pli.release()
		e.rx.queueFull.Add(1)
		return
	}
	owner.sendAtEnd(b)
	e.rx.keyframesForwarded.Add(1)
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

// wakeSender makes the sender goroutine drain the queue; a wakeup already pending covers this one.
func (e *Endpoint) wakeSender() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// sendLoop is the endpoint's sender goroutine: it owns the send side until Expire stops it.
func (e *Endpoint) sendLoop() {
	defer close(e.senderDone)
	for {
		e.senderIdle.Store(true)
		select {
		case <-e.wake:
			e.senderIdle.Store(false)
			e.drain()
			e.lastDrain.Store(time.Now().UnixNano())
		case <-e.stop:
			return
		}
	}
}

// stopSending ends the sender goroutine (Expire) and returns what is still queued to the pool.
func (e *Endpoint) stopSending() {
	close(e.stop)
	<-e.senderDone
	for p := e.queue.pop(); p != nil; p = e.queue.pop() {
		p.release()
	}
	e.queue.publish()
}

// drain is the send side of the pipeline: it forwards everything queued and flushes the batch.
// It returns how many packets it took from the queue. Only the sender goroutine calls it (tests
// with manualSend call it themselves instead).
func (e *Endpoint) drain() int {
	ctx := e.sendCtx.Load()
	n := 0
	for p := e.queue.pop(); p != nil; p = e.queue.pop() {
		n++
		e.send(ctx, p)
		p.release()
	}
	e.queue.publish()
	if n > 0 { // also when nothing was committed: the writer gives its buffers back
		if err := e.writer.Flush(); err != nil { // the writer counts each datagram it dropped
			e.log.Debug("flush failed", "err", err)
		}
	}
	return n
}

// send builds, protects and commits one datagram for p, or counts why not.
func (e *Endpoint) send(ctx *srtp.Context, p *packet) {
	in := p.data()
	out := e.writer.Buffer()
	if ctx == nil || len(in)+srtpOverhead > cap(out) {
		e.tx.failed.Add(1)
		return
	}
	var err error
	switch {
	case p.rtcp && p.src != nil: // sender report
		proj := e.projections[p.src]
		if proj == nil {
			return // no RTP of that source was forwarded here yet
		}
		var ok bool
		if out, ok = proj.forwardSenderReport(out, in); !ok {
			return
		}
		out, err = ctx.EncryptRTCP(out, out, &e.sendRTCP)
	case p.rtcp: // keyframe request
		out = append(out, in...)
		out, err = ctx.EncryptRTCP(out, out, &e.sendRTCP)
	default:
		proj := e.projectionFor(p.src)
		if proj == nil {
			e.tx.stale.Add(1)
			return
		}
		var ok bool
		if out, ok = proj.forward(out, in); !ok {
			return
		}
		out, err = ctx.EncryptRTP(out, out, &e.sendRTP)
	}
	if err != nil {
		e.tx.failed.Add(1)
		return
	}
	e.writer.Commit(out) // counted by the writer as sent or dropped once the kernel answered
}

// projectionFor returns this receiver's projection of src, or nil if src is no longer signalled
// (the packet was queued before its owner changed its sources or left).
func (e *Endpoint) projectionFor(src *source) *projection {
	if sm := e.conf.sources.Load(); sm != e.projSources {
		e.projSources = sm
		for s := range e.projections {
			if sm.bySSRC[s.ssrc] != s {
				delete(e.projections, s)
			}
		}
	}
	if proj := e.projections[src]; proj != nil {
		return proj
	}
	if e.projSources.bySSRC[src.ssrc] != src {
		return nil
	}
	proj := &projection{src: src}
	e.projections[src] = proj
	return proj
}

// projection is the per-(receiver, source) seam where simulcast layer selection and SSRC
// rewriting plug in. It belongs to the receiver's sender goroutine.
type projection struct {
	src       *source
	forwarded uint64
}

// forward decides whether the receiver gets the RTP packet in and, if so, appends the packet as
// the receiver must see it to out. Today it is the identity: original SSRC, sequence number and
// timestamp.
func (j *projection) forward(out, in []byte) ([]byte, bool) {
	j.forwarded++
	return append(out, in...), true
}

// forwardSenderReport does for a sender report of the source what forward does for its RTP.
// Identity today; with rewriting it shifts the RTP timestamp and replaces SSRC and counts.
func (j *projection) forwardSenderReport(out, in []byte) ([]byte, bool) {
	return append(out, in...), true
}
