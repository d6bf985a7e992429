package simulcast

// frameMemory is how many (layer) frames a projection remembers its decision for, so that
// every packet of a frame gets the same verdict even when its packets arrive out of order or
// are retransmitted after the next frames.
const frameMemory = 16

// frameDecision is the verdict on one layer frame: a picture (RTP timestamp) and spatial layer.
type frameDecision struct {
	ts  uint32
	sid int8
	fwd bool
}

// layerState is the temporal and spatial layer filter of one projection within the encoding
// it forwards (VP8, VP9, AV1). Decisions are made once per layer frame, on its first packet
// seen; the ceilings only move on frames newer than every frame decided before.
type layerState struct {
	wantTID, wantSID int8 // SetLayers; layerAll = every layer
	fwdTID, fwdSID   int8 // the ceilings in force
	maxSID           int8 // highest spatial layer seen in the encoding

	started bool // a frame of the encoding was decided
	lastTS  uint32
	lastSID int8

	frames [frameMemory]frameDecision
	next   int // where the next decision is stored
	n      int
}

// reset forgets the encoding (another one starts with a keyframe).
func (l *layerState) reset() {
	l.fwdTID, l.fwdSID, l.maxSID = 0, 0, 0
	l.started = false
	l.next, l.n = 0, 0
}

// spatialPending reports whether a higher spatial layer that the encoding has is wanted but
// waits for a keyframe.
func (l *layerState) spatialPending() bool {
	return l.started && l.fwdSID < min(l.wantSID, l.maxSID)
}

// decide returns whether the packet's layer frame is forwarded. pending is the temporal
// ceiling an encoding switch in progress imposes, -1 for none.
func (l *layerState) decide(in *Packet, pending int8) bool {
	if !layered(in.Codec) {
		return true
	}
	tid, sid := max(in.Frame.TID, 0), max(in.Frame.SID, 0)
	l.maxSID = max(l.maxSID, sid)
	for i := range l.n {
		if f := &l.frames[i]; f.ts == in.TS && f.sid == sid {
			return f.fwd
		}
	}
	if !l.started || int32(in.TS-l.lastTS) > 0 || in.TS == l.lastTS && sid > l.lastSID {
		l.update(in, tid, !l.started || in.TS != l.lastTS, pending)
		l.started, l.lastTS, l.lastSID = true, in.TS, sid
	}
	fwd := tid <= l.fwdTID && sid <= l.fwdSID
	l.frames[l.next] = frameDecision{ts: in.TS, sid: sid, fwd: fwd}
	l.next = (l.next + 1) % frameMemory
	l.n = min(l.n+1, frameMemory)
	return fwd
}

// update moves the ceilings at the start of a new layer frame. Lowering takes effect at the
// next picture; raising the temporal layer waits for a TL0 frame (every layer at once) or a
// layer sync frame one layer up; raising the spatial layer waits for a keyframe. (A VP9 layer
// frame without inter-picture prediction in a later picture would do too, but the marker bit
// already closed the picture at the lower layer by the time it is seen.)
func (l *layerState) update(in *Packet, tid int8, newPicture bool, pending int8) {
	tt := l.wantTID
	if pending >= 0 {
		tt = pending
	}
	if in.Keyframe {
		l.fwdTID, l.fwdSID = tt, l.wantSID
		return
	}
	if newPicture {
		switch {
		case tt < l.fwdTID:
			l.fwdTID = tt
		case tt > l.fwdTID && tid == 0:
			l.fwdTID = tt
		case tt > l.fwdTID && in.Frame.LayerSync && tid == l.fwdTID+1:
			l.fwdTID = tid
		}
		l.fwdSID = min(l.fwdSID, l.wantSID)
	}
}
