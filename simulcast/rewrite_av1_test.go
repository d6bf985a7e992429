package simulcast

import (
	"testing"
)

// av1Enc generates one AV1 stream with the Dependency Descriptor: L1T3 (temporal pattern
// 0 2 1 2) or L2T2 K-SVC (two spatial layers, temporal pattern 0 1), the structure attached to
// the first packet of each keyframe, the marker bit on the last packet of the temporal unit.
type av1Enc struct {
	t     testing.TB
	enc   int
	ssrc  uint32
	seq   uint16
	ts    uint32
	frame uint16 // next frame_number
	n     int
	svc   bool // L2T2 instead of L1T3
	k     int
	rx    AV1Structure // the receive path's stored structure for this encoding
}

func newAV1Enc(t testing.TB, enc int, svc bool) *av1Enc {
	return &av1Enc{t: t, enc: enc, ssrc: 0xa100 + uint32(enc), seq: uint16(65500 + 77*enc), ts: 999 * uint32(enc+3),
		frame: uint16(65530 - 1000*enc), svc: svc, k: 2}
}

// templateFor returns the template id and TID of the n-th frame of spatial layer sid.
func (e *av1Enc) templateFor(key bool, sid int) (uint32, int8) {
	if e.svc { // l2t2: ids 5 (S0T0) 6 (S0T1) 7 (S1T0) 8 (S1T1)
		tid := int8(e.n % 2)
		if key {
			tid = 0
		}
		return 5 + uint32(2*sid) + uint32(tid), tid
	}
	// l1t3, offset 62: 62 keyframe T0, 63 T0, 0 T1, 1 T2 after T0, 2 T2 after T1
	switch {
	case key:
		return 62, 0
	case e.n%4 == 0:
		return 63, 0
	case e.n%4 == 2:
		return 0, 1
	case e.n%4 == 1:
		return 1, 2
	}
	return 2, 2
}

func (e *av1Enc) unit(key bool) []wire {
	if key {
		e.n = 0
	}
	layers := 1
	st := l1t3
	if e.svc {
		layers, st = 2, l2t2
	}
	var ws []wire
	for sid := range layers {
		id, _ := e.templateFor(key, sid)
		for i := range e.k {
			var s *ddStructure
			if key && sid == 0 && i == 0 {
				s = st
			}
			dd := buildDD(i == 0, i == e.k-1, id, e.frame, s)
			p := rtpPacket{pt: 41, marker: sid == layers-1 && i == e.k-1, seq: e.seq, ts: e.ts, ssrc: e.ssrc,
				payload: []byte{0x10, 1, 2, 3, 4, 5, 6, 7, byte(e.seq)}}
			if len(dd) > 16 {
				p.profile, p.ext = 0x1000, twoByteExt(extTCC, []byte{0, 1}, extAV1DD, dd)
			} else {
				p.profile, p.ext = 0xBEDE, oneByteExt(extTCC, []byte{0, 1}, extAV1DD, dd)
			}
			b := buildRTP(p)
			ws = append(ws, wire{b: b, in: describe(e.t, b, e.enc, CodecAV1, &e.rx)})
			e.seq++
		}
		e.frame++
	}
	e.ts += 3000
	e.n++
	return ws
}

// checkAV1 asserts strictly increasing frame numbers from frame to frame (and equal within a
// frame), the marker on the last packet of each temporal unit only, and returns the layers
// (SID, TID) of each forwarded frame as the receiver resolves them.
func (r *receiver) checkAV1() (layers [][2]int8) {
	r.t.Helper()
	for i, g := range r.got {
		lastOfUnit := i == len(r.got)-1 || r.got[i+1].ts != g.ts
		if g.marker != lastOfUnit {
			r.t.Fatalf("packet %d (SID %d): marker %v, want %v", i, g.f.SID, g.marker, lastOfUnit)
		}
		if g.f.StartOfFrame {
			layers = append(layers, [2]int8{g.f.SID, g.f.TID})
		}
		if i == 0 {
			continue
		}
		d := int16(uint16(g.f.PictureID) - uint16(r.got[i-1].f.PictureID))
		if g.f.StartOfFrame && d < 1 || !g.f.StartOfFrame && d != 0 {
			r.t.Fatalf("packet %d (start %v): frame number %d after %d", i, g.f.StartOfFrame, g.f.PictureID,
				r.got[i-1].f.PictureID)
		}
		if int32(g.ts-r.got[i-1].ts) < 0 {
			r.t.Fatalf("packet %d: timestamp goes back", i)
		}
	}
	return layers
}

func TestRewriteAV1Layers(t *testing.T) {
	type layers = [][2]int8
	for _, tc := range []struct {
		name         string
		svc          bool
		tid, sid     int
		later        [2]int // SetLayers before unit 3
		want         layers
		wantKeyframe bool
	}{
		{name: "L1T3 all", tid: -1, sid: -1, later: [2]int{-1, -1},
			want: layers{{0, 0}, {0, 2}, {0, 1}, {0, 2}, {0, 0}, {0, 2}, {0, 1}, {0, 2}}},
		{name: "L1T3 up to T1", tid: 1, sid: -1, later: [2]int{1, -1},
			want: layers{{0, 0}, {0, 1}, {0, 0}, {0, 1}}},
		{name: "L1T3 raised at T0", tid: 0, sid: -1, later: [2]int{-1, -1},
			want: layers{{0, 0}, {0, 0}, {0, 2}, {0, 1}, {0, 2}}},
		{name: "L2T2 base layer", svc: true, tid: -1, sid: 0, later: [2]int{-1, 0},
			want: layers{{0, 0}, {0, 1}, {0, 0}, {0, 1}, {0, 0}, {0, 1}, {0, 0}, {0, 1}}},
		{name: "L2T2 lowered at the next unit", svc: true, tid: -1, sid: -1, later: [2]int{0, 0},
			want: layers{{0, 0}, {1, 0}, {0, 1}, {1, 1}, {0, 0}, {1, 0}, {0, 0}, {0, 0}}},
		{name: "L2T2 spatial raise waits for a keyframe", svc: true, tid: -1, sid: 0, later: [2]int{-1, -1},
			want:         layers{{0, 0}, {0, 1}, {0, 0}, {0, 1}, {0, 0}, {0, 1}, {0, 0}, {0, 1}},
			wantKeyframe: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, s := vp8Projection(0)
			p.SetLayers(tc.tid, tc.sid)
			r := newReceiver(t, p)
			e := newAV1Enc(t, 0, tc.svc)
			for i := range 8 {
				if i == 3 {
					p.SetLayers(tc.later[0], tc.later[1])
				}
				r.feed(e.unit(i == 0)...)
			}
			r.checkContiguous(0)
			for _, g := range r.got {
				if g.ssrc != s.SSRC {
					t.Fatalf("SSRC %#x", g.ssrc)
				}
			}
			got := r.checkAV1()
			if len(got) != len(tc.want) {
				t.Fatalf("forwarded frames %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("forwarded frames %v, want %v", got, tc.want)
				}
			}
			if p.NeedsKeyframe() != tc.wantKeyframe {
				t.Errorf("NeedsKeyframe %v, want %v", p.NeedsKeyframe(), tc.wantKeyframe)
			}
			if tc.wantKeyframe {
				r.feed(e.unit(true)...)
				r.feed(e.unit(false)...)
				if got := r.checkAV1(); got[len(got)-1] != [2]int8{1, 1} || p.NeedsKeyframe() {
					t.Errorf("after the keyframe: last frame %v, needs keyframe %v", got[len(got)-1], p.NeedsKeyframe())
				}
				r.checkContiguous(0)
			}
		})
	}
}

func TestRewriteAV1SimulcastSwitchAtStructure(t *testing.T) {
	p, s := vp8Projection(1)
	r := newReceiver(t, p)
	encs := []*av1Enc{newAV1Enc(t, 0, false), newAV1Enc(t, 1, false)}
	for i := range 12 {
		if i == 4 {
			p.SetTarget(0)
		}
		for _, e := range encs {
			// The target's keyframe at unit 7 has its structure packet lost: no switch there.
			ws := e.unit(i == 0 || e.enc == 0 && (i == 7 || i == 9))
			if e.enc == 0 && i == 7 {
				ws = ws[1:]
			}
			r.feed(ws...)
		}
		if i == 8 && p.Current() != 1 {
			t.Fatal("switched without the template structure")
		}
	}
	if p.Current() != 0 {
		t.Fatal("did not switch down at the keyframe")
	}
	r.checkContiguous(0)
	r.checkAV1()
	for i := 1; i < len(r.got); i++ {
		g, prev := r.got[i], r.got[i-1]
		if g.ssrc != s.SSRC {
			t.Fatal("wrong SSRC")
		}
		if g.enc != prev.enc {
			if uint16(g.f.PictureID)-uint16(prev.f.PictureID) != 1 || !g.f.Keyframe {
				t.Errorf("switch: frame number %d after %d (keyframe %v)", g.f.PictureID, prev.f.PictureID, g.f.Keyframe)
			}
			if d := g.ts - prev.ts; d < 3000 || d > 90000 {
				t.Errorf("switch: timestamp step %d", d)
			}
		}
	}
}
