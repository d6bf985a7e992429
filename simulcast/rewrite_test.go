package simulcast

import (
	"bytes"
	"testing"
)

// wire is one synthetic received packet: its bytes and what the receive path learns of it.
type wire struct {
	b  []byte
	in Packet
}

// describe fills a Packet as the bridge's receive path does: RTP header, payload offsets, the
// codec's FrameInfo (AV1 with the encoding's stored structure s).
func describe(t testing.TB, b []byte, enc int, codec Codec, s *AV1Structure) Packet {
	t.Helper()
	h, ok := ParseRTP(b)
	if !ok {
		t.Fatalf("synthetic packet does not parse: % x", b)
	}
	in := Packet{Encoding: enc, Seq: h.Seq, TS: h.TS, Codec: codec, Marker: h.Marker,
		PayloadOffset: h.HeaderLen, PayloadEnd: h.PayloadEnd}
	switch codec {
	case CodecVP8:
		ok = ParseVP8(h.Payload(b), &in.Frame)
	case CodecVP9:
		ok = ParseVP9(h.Payload(b), &in.Frame)
	case CodecAV1:
		var off, n int
		if off, n, ok = ExtensionAt(b, &h, extAV1DD); ok {
			in.DDOffset, in.DDLen = off, n
			ok = ParseAV1DDWith(b[off:off+n], s, &in.Frame)
		}
	}
	if !ok {
		t.Fatalf("synthetic %v payload does not parse", codec)
	}
	in.Keyframe = in.Frame.Keyframe && in.Frame.StartOfFrame
	in.StartOfFrame = in.Frame.StartOfFrame
	return in
}

// sent is a packet as the receiver gets it.
type sent struct {
	enc     int    // encoding it came from
	inSeq   uint16 // its sequence number as received
	seq     uint16
	ts      uint32
	ssrc    uint32
	marker  bool
	f       FrameInfo
	payload []byte
}

// receiver runs wires through a projection and keeps what it forwards, checking that forwarded
// packets keep their payload apart from the rewritten descriptor fields and that dropped ones
// are left untouched.
type receiver struct {
	t    *testing.T
	p    *Projection
	now  int64
	av1  AV1Structure // the receiver's view of the AV1 structure
	got  []sent
	sent int
}

func newReceiver(t *testing.T, p *Projection) *receiver {
	return &receiver{t: t, p: p, now: 1e12}
}

func (r *receiver) feed(ws ...wire) {
	r.t.Helper()
	for _, w := range ws {
		r.now += 11 * ms
		b := append([]byte(nil), w.b...)
		if !r.p.Rewrite(b, w.in, r.now) {
			if !bytes.Equal(b, w.b) {
				r.t.Fatalf("dropped packet %d was changed", w.in.Seq)
			}
			continue
		}
		r.sent++
		h, ok := ParseRTP(b)
		if !ok {
			r.t.Fatalf("forwarded packet does not parse: % x", b)
		}
		s := sent{enc: w.in.Encoding, inSeq: w.in.Seq, seq: h.Seq, ts: h.TS, ssrc: h.SSRC, marker: h.Marker,
			payload: h.Payload(b)}
		switch w.in.Codec {
		case CodecVP8:
			ok = ParseVP8(s.payload, &s.f)
		case CodecVP9:
			ok = ParseVP9(s.payload, &s.f)
		case CodecAV1:
			ok = ParseAV1DDWith(Extension(b, &h, extAV1DD), &r.av1, &s.f)
		}
		if !ok {
			r.t.Fatalf("forwarded %v payload does not parse", w.in.Codec)
		}
		if w.in.Codec != CodecAV1 && !bytes.Equal(s.payload[len(s.payload)-8:], w.b[len(w.b)-8:]) {
			r.t.Fatalf("payload body of packet %d changed", w.in.Seq)
		}
		r.got = append(r.got, s)
	}
}

// seqs returns the output sequence numbers in sending order.
func (r *receiver) seqs() []uint16 {
	var s []uint16
	for _, g := range r.got {
		s = append(s, g.seq)
	}
	return s
}

// checkContiguous asserts that the output sequence numbers in sending order run from the first
// one without a gap or repeat, except for the given number of gaps (lost forwarded packets).
func (r *receiver) checkContiguous(gaps int) {
	r.t.Helper()
	if len(r.got) == 0 {
		r.t.Fatal("nothing forwarded")
	}
	missing := 0
	for i := 1; i < len(r.got); i++ {
		d := int16(r.got[i].seq - r.got[i-1].seq)
		if d < 1 {
			r.t.Fatalf("output seq %d after %d (packet %d): not increasing; all %v", r.got[i].seq,
				r.got[i-1].seq, i, r.seqs())
		}
		missing += int(d) - 1
	}
	if missing != gaps {
		r.t.Fatalf("output has %d missing sequence numbers, want %d: %v", missing, gaps, r.seqs())
	}
}

// checkFrames asserts monotonic timestamps, one SSRC, and VP8/VP9 picture IDs and TL0PICIDX
// that only move forward, with TL0PICIDX advancing by exactly one on each TL0 picture.
func (r *receiver) checkFrames(ssrc uint32) {
	r.t.Helper()
	for i, g := range r.got {
		if g.ssrc != ssrc {
			r.t.Fatalf("packet %d on SSRC %#x, want %#x", i, g.ssrc, ssrc)
		}
		if i == 0 {
			continue
		}
		prev := r.got[i-1]
		if int32(g.ts-prev.ts) < 0 {
			r.t.Fatalf("packet %d timestamp %d goes back from %d", i, g.ts, prev.ts)
		}
		newFrame := g.ts != prev.ts
		if g.f.PictureID >= 0 && prev.f.PictureID >= 0 {
			d := (g.f.PictureID - prev.f.PictureID) & 0x7fff
			if newFrame != (d != 0) || d >= 0x4000 {
				r.t.Fatalf("packet %d picture id %d after %d (new frame %v)", i, g.f.PictureID, prev.f.PictureID, newFrame)
			}
		}
		if g.f.TL0PICIDX >= 0 && prev.f.TL0PICIDX >= 0 {
			d := uint8(g.f.TL0PICIDX - prev.f.TL0PICIDX)
			want := uint8(0)
			if newFrame && g.f.TID == 0 {
				want = 1
			}
			if d != want {
				r.t.Fatalf("packet %d (TID %d) TL0PICIDX %d after %d, want +%d", i, g.f.TID, g.f.TL0PICIDX,
					prev.f.TL0PICIDX, want)
			}
		}
	}
}

// vp8Enc generates one VP8 simulcast encoding with three temporal layers (pattern 0 2 1 2), the
// way Chrome sends it: 15-bit picture IDs, TL0PICIDX, a layer sync bit on the first TID 1 and 2
// frames after a TL0 frame when asked for.
type vp8Enc struct {
	t     testing.TB
	enc   int
	ssrc  uint32
	seq   uint16
	ts    uint32
	pic   int
	tl0   int
	n     int // frames so far
	k     int // packets per frame
	sync  bool
	marks bool
}

func newVP8Enc(t testing.TB, enc int) *vp8Enc {
	return &vp8Enc{t: t, enc: enc, ssrc: 0x1000 + uint32(enc), seq: uint16(60000 + 1000*enc),
		ts: 123456 * uint32(enc+1), pic: 0x7ff0 - 100*enc, tl0: 250 + enc, k: 2}
}

var vp8Pattern = [4]int{0, 2, 1, 2}

// frame returns the packets of the next frame (a keyframe if key).
func (e *vp8Enc) frame(key bool) []wire {
	tid := vp8Pattern[e.n%4]
	if key {
		tid = 0
		e.n = 0
	}
	if tid == 0 {
		e.tl0 = (e.tl0 + 1) & 0xff
	}
	var ws []wire
	for i := range e.k {
		body := append([]byte(nil), vp8Interframe...)
		if key && i == 0 {
			body = vp8Keyframe(640, 360)
		}
		body = append(body, 1, 2, 3, 4, 5, 6, 7, byte(e.seq))
		d := vp8Desc{start: i == 0, pictureID: e.pic, wide: true, tl0: e.tl0, tid: tid,
			sync: e.sync && tid > 0 && e.n%4 != 3, keyIdx: -1}
		b := buildRTP(rtpPacket{pt: 100, marker: i == e.k-1, seq: e.seq, ts: e.ts, ssrc: e.ssrc,
			payload: buildVP8(d, body)})
		ws = append(ws, wire{b: b, in: describe(e.t, b, e.enc, CodecVP8, nil)})
		e.seq++
	}
	e.pic = (e.pic + 1) & 0x7fff
	e.ts += 3000
	e.n++
	return ws
}

// frames returns n frames, the first a keyframe if key.
func (e *vp8Enc) frames(n int, key bool) []wire {
	var ws []wire
	for i := range n {
		ws = append(ws, e.frame(key && i == 0)...)
	}
	return ws
}

func vp8Projection(target int) (*Projection, *Stream) {
	p := NewProjection(true, 90000)
	s := &Stream{SSRC: 0xabc}
	p.SetStream(s)
	p.SetTarget(target)
	return p, s
}

func tidsOf(got []sent) []int8 {
	var t []int8
	for i, g := range got {
		if i == 0 || g.ts != got[i-1].ts {
			t = append(t, g.f.TID)
		}
	}
	return t
}

func TestRewriteVP8TemporalLayers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		layers   int  // SetLayers before the keyframe
		raiseTo  int  // SetLayers after frame 5 (-2: no change)
		sync     bool // the sender marks layer sync frames
		wantTIDs []int8
	}{
		{"all layers", -1, -2, false, []int8{0, 2, 1, 2, 0, 2, 1, 2, 0, 2, 1, 2}},
		{"TL0 only", 0, -2, false, []int8{0, 0, 0}},
		{"up to TL1", 1, -2, false, []int8{0, 1, 0, 1, 0, 1}},
		{"lowered at once", -1, 0, false, []int8{0, 2, 1, 2, 0, 2, 0}},
		{"raised at the next TL0 frame", 0, -1, false, []int8{0, 0, 0, 2, 1, 2}},
		{"raised one layer at a sync frame", 0, -1, true, []int8{0, 0, 1, 0, 2, 1, 2}},
		{"raised to TL1 at a sync frame", 0, 1, true, []int8{0, 0, 1, 0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, s := vp8Projection(0)
			p.SetLayers(tc.layers, -1)
			r := newReceiver(t, p)
			e := newVP8Enc(t, 0)
			e.sync = tc.sync
			r.feed(e.frames(6, true)...)
			if tc.raiseTo != -2 {
				p.SetLayers(tc.raiseTo, -1)
			}
			r.feed(e.frames(6, false)...)
			r.checkContiguous(0)
			r.checkFrames(s.SSRC)
			if got := tidsOf(r.got); !equalInt8(got, tc.wantTIDs) {
				t.Errorf("forwarded frames of TIDs %v, want %v", got, tc.wantTIDs)
			}
			// Within the encoding picture IDs keep a constant offset.
			for _, g := range r.got {
				if d := (g.f.PictureID - r.got[0].f.PictureID) & 0x7fff; d > 12 {
					t.Fatalf("picture id %d does not keep the offset", g.f.PictureID)
				}
			}
		})
	}
}

// padding returns a padding-only packet on the encoding's SSRC, between two frames (as a
// sender probing without RTX sends it), described as the bridge's receive path does.
func (e *vp8Enc) padding() wire {
	b := buildRTP(rtpPacket{pt: 100, seq: e.seq, ts: e.ts - 3000, ssrc: e.ssrc, padding: 200})
	e.seq++
	h, ok := ParseRTP(b)
	if !ok || h.PayloadEnd != h.HeaderLen {
		e.t.Fatalf("synthetic padding does not parse as padding only: % x", b)
	}
	return wire{b: b, in: Packet{Encoding: e.enc, Seq: h.Seq, TS: h.TS, Codec: CodecVP8,
		PayloadOffset: h.HeaderLen, PayloadEnd: h.PayloadEnd, Padding: true}}
}

// Padding-only packets between VP8 frames are not forwarded and leave no gap, with every layer
// forwarded or only TL0, also when the packets lost just before the padding are the tail of a
// frame the projection dropped.
func TestRewriteVP8PaddingLeavesNoGap(t *testing.T) {
	t.Run("all layers", func(t *testing.T) {
		p, s := vp8Projection(0)
		r := newReceiver(t, p)
		e := newVP8Enc(t, 0)
		r.feed(e.frames(1, true)...)
		r.feed(e.padding(), e.padding())
		r.feed(e.frames(2, false)...)
		r.feed(e.padding())
		r.feed(e.frames(2, false)...)
		if r.sent != 10 {
			t.Errorf("forwarded %d packets, want the 10 of the five frames", r.sent)
		}
		r.checkContiguous(0)
		r.checkFrames(s.SSRC)
	})
	t.Run("TL0 only, the dropped frame's tail lost", func(t *testing.T) {
		p, s := vp8Projection(0)
		p.SetLayers(0, -1)
		r := newReceiver(t, p)
		e := newVP8Enc(t, 0)
		r.feed(e.frames(1, true)...)
		dropped := e.frame(false) // TL2: dropped; its second packet is lost
		r.feed(dropped[0])
		r.feed(e.padding())
		r.feed(e.frames(3, false)...) // TL1, TL2 (dropped), TL0
		if r.sent != 4 {
			t.Errorf("forwarded %d packets, want the 4 of the two TL0 frames", r.sent)
		}
		r.checkContiguous(0)
		r.checkFrames(s.SSRC)
	})
}

func equalInt8(a, b []int8) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// interleave merges the frames of several encodings the way they arrive: frame by frame.
func interleave(encs []*vp8Enc, n int, key func(enc, i int) bool) []wire {
	var ws []wire
	for i := range n {
		for _, e := range encs {
			ws = append(ws, e.frame(key(e.enc, i))...)
		}
	}
	return ws
}

func TestRewriteVP8SwitchesEncodingsAtKeyframes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		from, to  int
		layers    int
		keyAt     int     // frame index of the target's keyframe
		wantEncs  []int   // encoding of each forwarded frame
		wantTIDs  []int8  // TIDs while the switch is pending
		wantSteps []int32 // output picture id step at each frame after the first
	}{
		{"up: every layer of the old encoding meanwhile", 0, 2, 0, 5,
			[]int{0, 0, 0, 0, 0, 0, 2}, []int8{0, 2, 1, 2, 0, 2}, nil},
		{"down: only TL0 of the old encoding meanwhile", 2, 0, -1, 6,
			[]int{2, 2, 0, 0}, []int8{0, 0}, nil},
		{"up from a single layer", 1, 2, 0, 3,
			[]int{1, 1, 1, 1, 2, 2}, []int8{0, 2, 1, 2}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, s := vp8Projection(tc.from)
			p.SetLayers(tc.layers, -1)
			r := newReceiver(t, p)
			encs := []*vp8Enc{newVP8Enc(t, 0), newVP8Enc(t, 1), newVP8Enc(t, 2)}
			r.feed(interleave(encs, 4, func(enc, i int) bool { return i == 0 })...)
			if len(r.got) == 0 || p.Current() != tc.from {
				t.Fatalf("did not start on encoding %d", tc.from)
			}
			before := len(r.got)
			p.SetTarget(tc.to)
			if !p.NeedsKeyframe() {
				t.Error("NeedsKeyframe false while a switch waits")
			}
			r.feed(interleave(encs, 8, func(enc, i int) bool { return enc == tc.to && i == tc.keyAt })...)
			if p.Current() != tc.to || p.NeedsKeyframe() {
				t.Fatalf("current %d (needs keyframe %v), want %d", p.Current(), p.NeedsKeyframe(), tc.to)
			}
			r.checkContiguous(0)
			r.checkFrames(s.SSRC)
			var encsGot []int
			var pending []int8
			for i, g := range r.got[before:] {
				if i > 0 && g.ts == r.got[before+i-1].ts {
					continue
				}
				encsGot = append(encsGot, g.enc)
				if g.enc == tc.from {
					pending = append(pending, g.f.TID)
				}
			}
			if !equalInts(encsGot, tc.wantEncs) {
				t.Errorf("frames after SetTarget from encodings %v, want %v", encsGot, tc.wantEncs)
			}
			if !equalInt8(pending, tc.wantTIDs) {
				t.Errorf("TIDs forwarded while the switch was pending %v, want %v", pending, tc.wantTIDs)
			}
			// At the switch: picture id and TL0PICIDX + 1, timestamp at least one frame on.
			for i := before + 1; i < len(r.got); i++ {
				g, prev := r.got[i], r.got[i-1]
				if g.enc == prev.enc {
					continue
				}
				if d := (g.f.PictureID - prev.f.PictureID) & 0x7fff; d != 1 {
					t.Errorf("picture id steps by %d at the switch", d)
				}
				if d := uint8(g.f.TL0PICIDX - prev.f.TL0PICIDX); d != 1 {
					t.Errorf("TL0PICIDX steps by %d at the switch", d)
				}
				if d := g.ts - prev.ts; d < 3000 || d > 90000 {
					t.Errorf("timestamp steps by %d at the switch", d)
				}
				if !g.f.Keyframe {
					t.Error("switched on a packet that is no keyframe start")
				}
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRewriteVP8LossAndReordering checks the sequence number rule: packets the projection drops
// leave no gap, lost forwarded packets do, and late packets get the number their gap was left
// for, or are dropped when that is no longer known.
func TestRewriteVP8LossAndReordering(t *testing.T) {
	// 8 frames of 2 packets (TIDs 0 2 1 2 0 2 1 2) with layers up to TL1: frames 0, 2, 4, 6
	// (packets 0 1, 4 5, 8 9, 12 13) are forwarded, the TID 2 frames dropped.
	frames := func(t *testing.T) []wire {
		e := newVP8Enc(t, 0)
		return e.frames(8, true)
	}
	for _, tc := range []struct {
		name     string
		order    []int // arrival order of packet indexes (0..15), missing ones are lost
		wantIn   []int // input packet indexes forwarded, in order
		wantGaps int
	}{
		{"in order", seqRange(0, 16), []int{0, 1, 4, 5, 8, 9, 12, 13}, 0},
		{"loss of a dropped frame's packets leaves no gap", without(seqRange(0, 16), 2, 11),
			[]int{0, 1, 4, 5, 8, 9, 12, 13}, 0},
		{"loss of a forwarded packet leaves a gap", without(seqRange(0, 16), 5, 9),
			[]int{0, 1, 4, 8, 12, 13}, 2},
		{"reordering within a frame", []int{0, 1, 2, 3, 5, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
			[]int{0, 1, 5, 4, 8, 9, 12, 13}, 0},
		{"retransmission after dropped frames fills its gap",
			[]int{0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 5, 12, 13, 14, 15},
			[]int{0, 1, 4, 8, 9, 5, 12, 13}, 0},
		{"reordering across a dropped frame",
			[]int{0, 2, 1, 3, 4, 6, 5, 7, 8, 9, 10, 11, 12, 14, 13, 15},
			[]int{0, 1, 4, 5, 8, 9, 12, 13}, 0},
		{"retransmission of a dropped packet stays dropped",
			[]int{0, 1, 2, 3, 4, 5, 3, 6, 7, 8, 9, 10, 11, 3, 12, 13, 14, 15},
			[]int{0, 1, 4, 5, 8, 9, 12, 13}, 0},
		{"late end of a dropped frame is dropped without a gap",
			[]int{0, 1, 2, 4, 5, 6, 7, 3, 8, 9, 10, 11, 12, 13, 14, 15},
			[]int{0, 1, 4, 5, 8, 9, 12, 13}, 0},
		{"late start of a dropped frame is dropped without a gap",
			[]int{0, 1, 3, 4, 5, 6, 7, 2, 8, 9, 10, 11, 12, 13, 14, 15},
			[]int{0, 1, 4, 5, 8, 9, 12, 13}, 0},
		{"late packets on both sides of a dropped frame",
			[]int{0, 2, 4, 5, 6, 7, 3, 1, 8, 9, 10, 11, 12, 13, 14, 15},
			[]int{0, 4, 5, 1, 8, 9, 12, 13}, 0},
		{"a lost whole dropped frame leaves a gap for what it might have been",
			without(seqRange(0, 16), 6, 7),
			[]int{0, 1, 4, 5, 8, 9, 12, 13}, 2},
		{"duplicate is sent again with the same number",
			[]int{0, 1, 2, 3, 4, 5, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
			[]int{0, 1, 4, 5, 5, 8, 9, 12, 13}, -1},
		{"keyframe packet seen before its start is forwarded late into its gap",
			[]int{1, 0, 2, 3, 4, 5, 1, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
			[]int{0, 4, 5, 1, 8, 9, 12, 13}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := frames(t)
			p, _ := vp8Projection(0)
			p.SetLayers(1, -1)
			r := newReceiver(t, p)
			for _, i := range tc.order {
				r.feed(ws[i])
			}
			var gotIn []int
			for _, g := range r.got {
				gotIn = append(gotIn, int(g.inSeq-ws[0].in.Seq))
			}
			if !equalInts(gotIn, tc.wantIn) {
				t.Fatalf("forwarded input packets %v, want %v", gotIn, tc.wantIn)
			}
			// Output numbers: unique (but for duplicates), in input order, contiguous but for
			// real loss.
			sorted := append([]sent(nil), r.got...)
			for i := 1; i < len(sorted); i++ {
				for j := i; j > 0 && int16(sorted[j].inSeq-sorted[j-1].inSeq) < 0; j-- {
					sorted[j], sorted[j-1] = sorted[j-1], sorted[j]
				}
			}
			missing := 0
			for i := 1; i < len(sorted); i++ {
				d := int16(sorted[i].seq - sorted[i-1].seq)
				if sorted[i].inSeq == sorted[i-1].inSeq {
					if d != 0 {
						t.Fatalf("duplicate of %d renumbered", sorted[i].inSeq)
					}
					continue
				}
				if d < 1 {
					t.Fatalf("output numbers out of input order: %v", r.seqs())
				}
				missing += int(d) - 1
			}
			if tc.wantGaps >= 0 && missing != tc.wantGaps {
				t.Fatalf("%d missing output numbers, want %d: %v", missing, tc.wantGaps, r.seqs())
			}
		})
	}
}

func TestRewriteDropsPacketsOlderThanTheSwitch(t *testing.T) {
	e := newVP8Enc(t, 0)
	before := e.frames(1, false)
	after := e.frames(3, true)
	p, _ := vp8Projection(0)
	r := newReceiver(t, p)
	r.feed(after[:3]...)
	r.feed(before...)
	r.feed(after[3:]...)
	if len(r.got) != len(after) {
		t.Fatalf("forwarded %d packets, want the %d from the keyframe on", len(r.got), len(after))
	}
	r.checkContiguous(0)
}

func seqRange(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func without(s []int, drop ...int) []int {
	var out []int
next:
	for _, v := range s {
		for _, d := range drop {
			if v == d {
				continue next
			}
		}
		out = append(out, v)
	}
	return out
}

// TestRewriteVP8ContinuesASharedStreamAcrossSources hands a slot stream from one VP8 source to
// another (SSRC rewriting): the receiver sees one stream with continuous numbers.
func TestRewriteVP8ContinuesASharedStreamAcrossSources(t *testing.T) {
	slot := &Stream{SSRC: 0x5107}
	a, b := NewProjection(true, 90000), NewProjection(true, 90000)
	a.SetTarget(0)
	b.SetTarget(0)
	a.SetStream(slot)
	r := newReceiver(t, a)
	ea, eb := newVP8Enc(t, 0), newVP8Enc(t, 1)
	eb.enc = 0
	r.feed(ea.frames(5, true)...)
	a.SetStream(nil)
	b.SetStream(slot)
	r.p = b
	r.feed(eb.frames(2, false)...) // b waits for a keyframe
	if !b.NeedsKeyframe() {
		t.Error("b does not ask for a keyframe")
	}
	r.feed(eb.frames(5, true)...)
	r.p = a
	r.feed(ea.frames(2, false)...) // a lost the slot
	r.checkContiguous(0)
	r.checkFrames(slot.SSRC)
	if n := len(r.got); n != 20 {
		t.Fatalf("forwarded %d packets, want 20", n)
	}
	if g, prev := r.got[10], r.got[9]; (g.f.PictureID-prev.f.PictureID)&0x7fff != 1 ||
		uint8(g.f.TL0PICIDX-prev.f.TL0PICIDX) != 1 {
		t.Errorf("handover: picture id %d after %d, TL0PICIDX %d after %d", g.f.PictureID, prev.f.PictureID,
			g.f.TL0PICIDX, prev.f.TL0PICIDX)
	}
}

func TestRewriteDropsMalformedAndForeignPackets(t *testing.T) {
	p, _ := vp8Projection(0)
	r := newReceiver(t, p)
	e := newVP8Enc(t, 0)
	ws := e.frames(2, true)
	bad := ws[0]
	bad.in.PayloadOffset = len(bad.b) + 1
	r.feed(bad)
	short := wire{b: bad.b[:8], in: ws[0].in}
	r.feed(short)
	if len(r.got) != 0 {
		t.Fatal("malformed packet forwarded")
	}
	r.feed(ws...)
	if len(r.got) != 4 {
		t.Fatalf("forwarded %d packets, want the 4 valid ones", len(r.got))
	}
}

func BenchmarkRewriteVP8(b *testing.B) {
	pkt := vp8Packet1200()
	h, _ := ParseRTP(pkt)
	in := Packet{Codec: CodecVP8, Seq: h.Seq, TS: h.TS, Marker: h.Marker, PayloadOffset: h.HeaderLen,
		PayloadEnd: h.PayloadEnd}
	ParseVP8(h.Payload(pkt), &in.Frame)
	in.Keyframe, in.StartOfFrame = true, true
	p, _ := vp8Projection(0)
	p.SetLayers(1, -1)
	buf := make([]byte, len(pkt))
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, pkt)
		in.Seq++
		in.TS += 3000
		in.Frame.PictureID = (in.Frame.PictureID + 1) & 0x7fff
		in.Frame.TID = int8(vp8Pattern[in.Seq%4])
		in.Keyframe = false
		p.Rewrite(buf, in, int64(in.Seq)*33e6)
	}
}

func TestRewriteDoesNotAllocate(t *testing.T) {
	e := newVP8Enc(t, 0)
	ws := e.frames(64, true)
	p, _ := vp8Projection(0)
	p.SetLayers(1, -1)
	buf := make([]byte, 2048)
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		w := ws[i%len(ws)]
		i++
		n := copy(buf, w.b)
		p.Rewrite(buf[:n], w.in, int64(i))
	})
	if allocs != 0 {
		t.Errorf("Rewrite allocates %v per packet", allocs)
	}
}

// TestRewriteH264SwitchesWholeEncodings checks the generic path: whole encodings switched at
// keyframes, header fields rewritten, marker bit and payload untouched.
func TestRewriteH264SwitchesWholeEncodings(t *testing.T) {
	p, s := vp8Projection(0)
	r := newReceiver(t, p)
	mk := func(enc int, seq uint16, ts uint32, idr, marker bool) wire {
		nal := []byte{0x41, 0x80, 1, 2, 3, 4, 5, 6, 7, 8}
		if idr {
			nal[0] = 0x65
		}
		b := buildRTP(rtpPacket{pt: 107, marker: marker, seq: seq, ts: ts, ssrc: uint32(enc + 1), payload: nal})
		h, _ := ParseRTP(b)
		var f FrameInfo
		ParseH264(h.Payload(b), &f)
		return wire{b: b, in: Packet{Encoding: enc, Seq: seq, TS: ts, Codec: CodecH264, Marker: marker,
			PayloadOffset: h.HeaderLen, Keyframe: f.Keyframe && f.StartOfFrame, StartOfFrame: f.StartOfFrame, Frame: f}}
	}
	r.feed(mk(0, 10, 100, false, true), mk(0, 11, 3100, true, true), mk(0, 12, 6100, false, false),
		mk(0, 13, 6100, false, true))
	p.SetTarget(1)
	r.feed(mk(1, 500, 9000, false, true), mk(0, 14, 9100, false, true), mk(1, 501, 12000, true, true),
		mk(0, 15, 12100, false, true), mk(1, 502, 15000, false, true))
	r.checkContiguous(0)
	var encs []int
	for i, g := range r.got {
		encs = append(encs, g.enc)
		if g.ssrc != s.SSRC {
			t.Fatalf("packet %d on SSRC %#x", i, g.ssrc)
		}
		if g.marker != (g.inSeq != 12) {
			t.Errorf("packet %d marker %v changed", g.inSeq, g.marker)
		}
	}
	if !equalInts(encs, []int{0, 0, 0, 0, 1, 1}) {
		t.Errorf("forwarded from encodings %v", encs)
	}
}
