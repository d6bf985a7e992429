package simulcast

// Stream is one outgoing RTP stream as a receiver sees it: an SSRC and where its sequence numbers
// and timestamps have got to. Without SSRC rewriting each projection has its own (on the track's
// primary SSRC); with rewriting it belongs to a slot and passes from one source to the next, so
// the receiver's decoder sees one continuous stream whoever is mapped to it.
type Stream struct {
	SSRC    uint32
	lastSeq uint16
	lastTS  uint32
	lastAt  int64 // unix nanoseconds of the last packet sent on it
	started bool
}

// Packet is what a projection needs to know of one received RTP packet of its track.
type Packet struct {
	Encoding     int // index of the encoding (SIM layer) it belongs to
	Seq          uint16
	TS           uint32
	Keyframe     bool // the packet starts a keyframe (video)
	StartOfFrame bool
}

// Projection turns the packets of one track (all its simulcast encodings) into the single stream
// one receiver gets: it forwards one encoding at a time, switches encodings only where the new
// one starts a keyframe, and rewrites sequence numbers and timestamps so the output has no jumps
// across switches or across a change of the stream it writes to. It is pure logic: times are
// passed in, and it belongs to the receiver's sender goroutine.
//
// Audio projections have a single encoding and need no keyframes (Video false).
type Projection struct {
	Video     bool
	ClockRate uint32 // RTP clock of the track's payload (90000 video, 48000 opus)

	target   int // encoding the receiver should get; -1 none
	cur      int // encoding being forwarded; -1 none
	out      *Stream
	resync   bool // the next forwarded packet recomputes the deltas to continue out
	seqDelta uint16
	tsDelta  uint32
}

// NewProjection returns a projection that forwards nothing until SetTarget and SetStream.
func NewProjection(video bool, clockRate uint32) *Projection {
	if clockRate == 0 {
		clockRate = 90000
		if !video {
			clockRate = 48000
		}
	}
	return &Projection{Video: video, ClockRate: clockRate, target: -1, cur: -1}
}

// SetTarget sets the encoding to forward (-1 stops forwarding at once). A video projection keeps
// forwarding its current encoding until the target's next keyframe, unless the target is -1.
func (p *Projection) SetTarget(enc int) {
	p.target = enc
	if enc < 0 {
		p.cur = -1
	}
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

// NeedsKeyframe reports whether the projection waits for a keyframe of Target to start or switch.
func (p *Projection) NeedsKeyframe() bool {
	return p.Video && p.target >= 0 && p.cur != p.target && p.out != nil
}

// Accept decides whether pkt is forwarded and returns the sequence number and timestamp it must
// carry (on Stream().SSRC).
func (p *Projection) Accept(pkt Packet, now int64) (seq uint16, ts uint32, ok bool) {
	if p.out == nil || p.target < 0 {
		return 0, 0, false
	}
	switch {
	case pkt.Encoding == p.cur:
		// the current encoding, also while a switch is pending
	case !p.Video:
		if pkt.Encoding != p.target {
			return 0, 0, false
		}
		p.cur = p.target
	case pkt.Encoding == p.target && pkt.Keyframe && pkt.StartOfFrame:
		p.cur = p.target
		p.resync = true
	default:
		return 0, 0, false
	}
	if p.resync {
		p.rebase(pkt, now)
	}
	seq, ts = pkt.Seq+p.seqDelta, pkt.TS+p.tsDelta
	s := p.out
	if d := int16(seq - s.lastSeq); d > 0 || !s.started {
		s.lastSeq = seq
		s.lastTS = ts
		s.lastAt = now
	}
	s.started = true
	return seq, ts, true
}

// rebase computes the deltas that make pkt follow the stream's last packet: the next sequence
// number, and a timestamp advanced by the wall time since (at least one frame). A stream that
// never carried anything starts with pkt's own numbers.
func (p *Projection) rebase(pkt Packet, now int64) {
	p.resync = false
	s := p.out
	if !s.started {
		p.seqDelta, p.tsDelta = 0, 0
		return
	}
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
	p.seqDelta = s.lastSeq + 1 - pkt.Seq
	p.tsDelta = s.lastTS + gap - pkt.TS
}

// SenderReport translates the RTP timestamp of a sender report about encoding enc, or reports
// that the receiver must not get it (another encoding, or nothing forwarded yet).
func (p *Projection) SenderReport(enc int, ts uint32) (uint32, bool) {
	if p.out == nil || !p.out.started || enc != p.cur || p.resync {
		return 0, false
	}
	return ts + p.tsDelta, true
}
