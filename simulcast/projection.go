package simulcast

// Stream is one outgoing RTP stream as a receiver sees it: an SSRC and where its sequence numbers,
// timestamps and codec frame counters have got to. Without SSRC rewriting each projection has its
// own (on the track's primary SSRC); with rewriting it belongs to a slot and passes from one
// source to the next, so the receiver's decoder sees one continuous stream whoever is mapped to it.
type Stream struct {
	SSRC uint32
	// Packets and Octets count what was sent on the stream (RTP payload bytes), for the sender
	// reports the receiver gets; the caller adds to them.
	Packets, Octets uint32
	lastSeq         uint16
	lastTS          uint32
	lastAt          int64 // unix nanoseconds of the last packet sent on it
	started         bool

	// The newest VP8/VP9 picture ID (15 bits) or AV1 frame_number sent, and TL0PICIDX.
	lastPic        uint16
	lastTL0        uint8
	picSet, tl0Set bool
}

// Packet is what a projection needs to know of one received RTP packet of its track. The
// receive path fills it once per packet; every receiver's projection reads it.
type Packet struct {
	Encoding int // index of the encoding (SIM layer) it belongs to
	Seq      uint16
	TS       uint32
	// Keyframe is set on the packet that starts a keyframe (FrameInfo.Keyframe &&
	// StartOfFrame; for AV1: a descriptor carrying the template structure at a frame start).
	// Codecs the bridge cannot parse set it, with StartOfFrame, on every packet.
	Keyframe     bool
	StartOfFrame bool
	// Padding marks a video packet with no payload (padding only, e.g. a sender's bandwidth
	// probe on its media SSRC): never forwarded and never a switch point; a projection drops
	// its sequence number from the output as it does a filtered layer's.
	Padding bool

	// Codec selects the layer filter and the payload fields rewritten: VP8, VP9, AV1; anything
	// else (H.264, unknown, audio) is switched as whole encodings at keyframes.
	Codec Codec
	// Marker is the received RTP marker bit.
	Marker bool
	// PayloadOffset and PayloadEnd locate the payload in the packet given to Rewrite
	// (RTPInfo.HeaderLen and PayloadEnd); PayloadEnd 0 means the end of the packet.
	PayloadOffset, PayloadEnd int
	// Frame is the codec metadata of the packet (ParseVP8, ParseVP9, or ParseAV1DDWith with the
	// encoding's stored structure, so that AV1 TID and SID are known). A zero Frame (or -1
	// fields) forwards the packet whatever the layer target.
	Frame FrameInfo
	// DDOffset and DDLen locate the AV1 Dependency Descriptor's value in the packet given to
	// Rewrite (DDLen 0: none); frame_number is rewritten there.
	DDOffset, DDLen int
}

// layerAll is the layer ceiling that passes every layer.
const layerAll = 127

// Projection turns the packets of one track (all its simulcast encodings, and the spatial and
// temporal layers within them) into the single stream one receiver gets. It forwards one
// encoding at a time and switches encodings only where the new one starts a keyframe; within
// the encoding it forwards the layers up to SetLayers' target, raising them only where the
// codec allows (temporal: TL0 or layer sync frames; spatial: keyframes). It rewrites sequence
// numbers (packets it drops leave no gap), timestamps, picture IDs, TL0PICIDX and AV1 frame
// numbers so the output has no jumps across switches or across a change of the stream it
// writes to. It is pure logic: times are passed in, and it belongs to
// the receiver's sender goroutine.
//
// Audio projections have a single encoding and need no keyframes (Video false).
type Projection struct {
	Video     bool
	ClockRate uint32 // RTP clock of the track's payload (90000 video, 48000 opus)

	target   int // encoding the receiver should get; -1 none
	cur      int // encoding being forwarded; -1 none
	out      *Stream
	resync   bool // the next forwarded packet recomputes the offsets to continue out
	seq      seqMap
	tsDelta  uint32
	picDelta uint16 // VP8/VP9 picture ID, AV1 frame_number
	tl0Delta uint8
	last     lastPacket

	layers layerState
}

// lastPacket is the newest packet seen of the forwarded encoding, to tell which frame the
// packets missing before the next one belong to.
type lastPacket struct {
	seq          uint16
	ts           uint32
	pic          int32
	sid          int8
	end, dropped bool
}

// NewProjection returns a projection that forwards nothing until SetTarget and SetStream.
func NewProjection(video bool, clockRate uint32) *Projection {
	if clockRate == 0 {
		clockRate = 90000
		if !video {
			clockRate = 48000
		}
	}
	p := &Projection{Video: video, ClockRate: clockRate, target: -1, cur: -1}
	p.layers.wantTID, p.layers.wantSID = layerAll, layerAll
	return p
}

// SetTarget sets the encoding to forward (-1 stops forwarding at once). A video projection keeps
// forwarding its current encoding until the target's next keyframe, unless the target is -1;
// meanwhile it forwards only temporal layer 0 of a higher encoding and every temporal layer of
// a lower one.
func (p *Projection) SetTarget(enc int) {
	p.target = enc
	if enc < 0 {
		p.cur = -1
	}
}

// SetLayers sets the highest temporal and spatial layer to forward within the encoding (-1:
// all). Lowering takes effect at the next picture; raising waits for a frame the receiver can
// start decoding the layer from.
func (p *Projection) SetLayers(maxTemporal, maxSpatial int) {
	p.layers.wantTID, p.layers.wantSID = layerCeiling(maxTemporal), layerCeiling(maxSpatial)
}

func layerCeiling(n int) int8 {
	if n < 0 || n >= layerAll {
		return layerAll
	}
	return int8(n)
}

// Target returns the encoding the projection is asked to forward (-1 none).
func (p *Projection) Target() int { return p.target }

// Current returns the encoding being forwarded (-1 none).
func (p *Projection) Current() int { return p.cur }

// Stream returns the stream the projection writes to (nil before SetStream).
func (p *Projection) Stream() *Stream { return p.out }

// SetStream makes the projection write to s from its next packet on, continuing s where it
// stopped. A video projection then waits for a keyframe.
func (p *Projection) SetStream(s *Stream) {
	if p.out == s {
		return
	}
	p.out = s
	p.resync = true
	if p.Video {
		p.cur = -1
	}
}

// NeedsKeyframe reports whether the projection waits for a keyframe of Target to start, to
// switch, or to raise the spatial layer (VP9, AV1) to one the encoding has.
func (p *Projection) NeedsKeyframe() bool {
	if !p.Video || p.target < 0 || p.out == nil {
		return false
	}
	return p.cur != p.target || p.layers.spatialPending()
}

// Accept decides whether pkt is forwarded and returns the sequence number and timestamp it must
// carry (on Stream().SSRC). It rewrites nothing; Rewrite does the whole job for a packet.
func (p *Projection) Accept(pkt Packet, now int64) (seq uint16, ts uint32, ok bool) {
	var v verdict
	if !p.project(&pkt, now, &v) {
		return 0, 0, false
	}
	return v.seq, v.ts, true
}

// verdict is what a forwarded packet must carry.
type verdict struct {
	seq    uint16
	ts     uint32
	pic    uint16 // picture ID (VP8, VP9) or frame_number (AV1), if the packet has one
	tl0    uint8
	marker bool
}

// project decides on in and fills v for a packet to forward.
func (p *Projection) project(in *Packet, now int64, v *verdict) bool {
	if p.out == nil || p.target < 0 {
		return false
	}
	switch {
	case in.Encoding == p.cur:
		// the current encoding, also while a switch is pending
	case !p.Video:
		if in.Encoding != p.target {
			return false
		}
		p.cur = p.target
	case in.Encoding == p.target && in.Keyframe && in.StartOfFrame:
		p.cur = p.target
		p.resync = true
		p.layers.reset()
	default:
		return false
	}
	if in.Padding {
		p.dropPadding(in)
		return false
	}
	fwd := true
	if p.Video {
		fwd = p.layers.decide(in, p.pendingTID())
	}
	if p.resync {
		if !fwd {
			return false
		}
		p.rebase(in, now)
		v.seq = in.Seq + p.seq.delta
		p.note(in, false)
	} else {
		newest := int16(in.Seq-p.last.seq) > 0
		gap := newest && in.Seq-p.last.seq > 1
		if !fwd {
			// Packets missing just before a dropped packet of the same frame are dropped with it.
			if gap && !in.StartOfFrame && (p.sameFrame(in) || p.last.end && p.nextFrame(in)) {
				p.seq.dropFrom(p.last.seq+1, in.Seq)
			} else {
				p.seq.drop(in.Seq)
			}
			if newest {
				p.note(in, true)
			}
			return false
		}
		// Packets missing at the end of a dropped frame are dropped with it.
		if gap && p.last.dropped && !p.last.end && in.StartOfFrame && p.nextFrame(in) {
			p.seq.dropFrom(p.last.seq+1, in.Seq-1)
		}
		seq, ok := p.seq.forward(in.Seq)
		if !ok {
			return false
		}
		v.seq = seq
		if newest {
			p.note(in, false)
		}
	}
	v.ts = in.TS + p.tsDelta
	v.marker = in.Marker
	if in.Codec == CodecVP9 || in.Codec == CodecAV1 {
		v.marker = v.marker || in.Frame.EndOfFrame && in.Frame.SID >= 0 && in.Frame.SID == p.layers.fwdSID
	}
	s := p.out
	if d := int16(v.seq - s.lastSeq); d > 0 || !s.started {
		s.lastSeq = v.seq
		s.lastTS = v.ts
		s.lastAt = now
	}
	s.started = true
	if !layered(in.Codec) {
		return true
	}
	if pic := in.Frame.PictureID; pic >= 0 {
		v.pic = uint16(pic) + p.picDelta
		if in.Codec == CodecAV1 {
			if int16(v.pic-s.lastPic) > 0 || !s.picSet {
				s.lastPic = v.pic
			}
		} else {
			v.pic &= 0x7fff
			if d := (v.pic - s.lastPic) & 0x7fff; d != 0 && d < 0x4000 || !s.picSet {
				s.lastPic = v.pic
			}
		}
		s.picSet = true
	}
	if tl0 := in.Frame.TL0PICIDX; tl0 >= 0 && in.Codec != CodecAV1 {
		v.tl0 = uint8(tl0) + p.tl0Delta
		if int8(v.tl0-s.lastTL0) > 0 || !s.tl0Set {
			s.lastTL0 = v.tl0
		}
		s.tl0Set = true
	}
	return true
}

// dropPadding closes the sequence number of a padding-only packet newer than every packet seen.
// Senders pad between frames, so the packets missing just before it end the frame seen last:
// dropped with it when that frame was dropped, a gap (loss) otherwise. The padding then counts
// as the newest packet, at a frame boundary, for the gaps that follow it; the frame fields stay
// the last frame's, so the next frame is still recognised as its successor. A late padding
// packet, or one before the stream resumed, is just not forwarded.
func (p *Projection) dropPadding(in *Packet) {
	if p.resync || int16(in.Seq-p.last.seq) <= 0 {
		return
	}
	if in.Seq-p.last.seq > 1 && p.last.dropped && !p.last.end {
		p.seq.dropFrom(p.last.seq+1, in.Seq)
	} else {
		p.seq.drop(in.Seq)
	}
	p.last.seq, p.last.end = in.Seq, true
}

// note makes in the newest packet seen.
func (p *Projection) note(in *Packet, dropped bool) {
	p.last = lastPacket{seq: in.Seq, ts: in.TS, pic: in.Frame.PictureID, sid: max(in.Frame.SID, 0),
		end: in.Marker || in.Frame.EndOfFrame, dropped: dropped}
}

// sameFrame reports whether in belongs to the same layer frame as the newest packet seen.
func (p *Projection) sameFrame(in *Packet) bool {
	return layered(in.Codec) && in.TS == p.last.ts && max(in.Frame.SID, 0) == p.last.sid
}

// nextFrame reports whether in's layer frame directly follows the newest packet's: the next
// spatial layer of the picture, or the next picture (by picture ID or AV1 frame_number).
func (p *Projection) nextFrame(in *Packet) bool {
	if !layered(in.Codec) {
		return false
	}
	sid := max(in.Frame.SID, 0)
	if in.TS == p.last.ts {
		return sid == p.last.sid+1
	}
	mask := int32(0x7fff)
	if in.Codec == CodecAV1 {
		mask = 0xffff
	}
	return sid == 0 && in.Frame.PictureID >= 0 && p.last.pic >= 0 && (in.Frame.PictureID-p.last.pic)&mask == 1
}

// pendingTID is the temporal ceiling an encoding switch in progress imposes: only TL0 while
// waiting to go down, every layer while waiting to go up.
func (p *Projection) pendingTID() int8 {
	switch {
	case p.target < p.cur:
		return 0
	case p.target > p.cur:
		return layerAll
	}
	return -1
}

// rebase computes the offsets that make in follow the stream's last packet: the next sequence
// number, a timestamp advanced by the wall time since (at least one frame), the next picture
// ID and TL0PICIDX. A stream that never carried anything starts with in's own numbers.
func (p *Projection) rebase(in *Packet, now int64) {
	p.resync = false
	s := p.out
	p.tsDelta, p.picDelta, p.tl0Delta = 0, 0, 0
	if !s.started {
		p.seq.reset(in.Seq, 0)
	} else {
		frame := p.ClockRate / 50 // 20 ms: an audio frame
		if p.Video {
			frame = p.ClockRate / 30 // 3000 at 90 kHz: JVB's 30 fps assumption
		}
		gap := frame
		if elapsed := now - s.lastAt; elapsed > 0 {
			ticks := uint64(elapsed) * uint64(p.ClockRate) / 1e9
			if ticks > uint64(gap) && ticks < 1<<31 {
				gap = uint32(ticks)
			}
		}
		p.seq.reset(in.Seq, s.lastSeq+1-in.Seq)
		p.tsDelta = s.lastTS + gap - in.TS
	}
	if !layered(in.Codec) {
		return
	}
	if pic := in.Frame.PictureID; pic >= 0 && s.picSet {
		p.picDelta = s.lastPic + 1 - uint16(pic)
	}
	if tl0 := in.Frame.TL0PICIDX; tl0 >= 0 && s.tl0Set {
		p.tl0Delta = s.lastTL0 + 1 - uint8(tl0)
	}
}

// layered reports whether the projection filters the codec's layers and rewrites its frame
// counters.
func layered(c Codec) bool {
	return c == CodecVP8 || c == CodecVP9 || c == CodecAV1
}

// SenderReport translates the RTP timestamp of a sender report about encoding enc, or reports
// that the receiver must not get it (another encoding, or nothing forwarded yet).
func (p *Projection) SenderReport(enc int, ts uint32) (uint32, bool) {
	if p.out == nil || !p.out.started || enc != p.cur || p.resync {
		return 0, false
	}
	return ts + p.tsDelta, true
}
