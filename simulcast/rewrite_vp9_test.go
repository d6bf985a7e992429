package simulcast

import (
	"testing"
)

// vp9Enc generates one VP9 stream with spatial layers in one SSRC (K-SVC: inter-layer
// prediction only in keyframe pictures) and temporal layers 0 2 1 2, non-flexible mode, the
// marker bit on the last packet of the picture. indep[n] = sid makes the layer frame of spatial
// layer sid in picture n independent of earlier pictures (P bit clear).
type vp9Enc struct {
	t       testing.TB
	enc     int
	ssrc    uint32
	seq     uint16
	ts      uint32
	pic     int
	tl0     int
	n       int
	spatial int
	k       int // packets per layer frame
	indep   map[int]int
}

func newVP9Enc(t testing.TB, enc, spatial int) *vp9Enc {
	return &vp9Enc{t: t, enc: enc, ssrc: 0x9000 + uint32(enc), seq: uint16(65000 + 300*enc), ts: 5000 * uint32(enc+1),
		pic: 0x7ffe - 50*enc, tl0: 254 - enc, spatial: spatial, k: 2}
}

func (e *vp9Enc) picture(key bool) []wire {
	tid := vp8Pattern[e.n%4]
	if key {
		tid, e.n = 0, 0
	}
	if tid == 0 {
		e.tl0 = (e.tl0 + 1) & 0xff
	}
	var ws []wire
	for sid := range e.spatial {
		for i := range e.k {
			indep, ok := e.indep[e.n]
			d := vp9Desc{inter: !key && !(ok && indep == sid), start: i == 0, end: i == e.k-1, pictureID: e.pic,
				wide: true, layers: true, tid: tid, sid: sid, tl0: e.tl0}
			if key && sid > 0 {
				d.inter = false // only inter-layer prediction
			}
			if key && sid == 0 && i == 0 {
				var sizes [][2]uint16
				for s := range e.spatial {
					sizes = append(sizes, [2]uint16{uint16(320 << s), uint16(180 << s)})
				}
				d.ss = vp9SS(sizes, nil)
			}
			body := []byte{1, 2, 3, 4, 5, 6, 7, byte(e.seq)}
			b := buildRTP(rtpPacket{pt: 101, marker: sid == e.spatial-1 && i == e.k-1, seq: e.seq, ts: e.ts,
				ssrc: e.ssrc, payload: buildVP9(d, body)})
			ws = append(ws, wire{b: b, in: describe(e.t, b, e.enc, CodecVP9, nil)})
			e.seq++
		}
	}
	e.pic = (e.pic + 1) & 0x7fff
	e.ts += 3000
	e.n++
	return ws
}

func (e *vp9Enc) pictures(n int, key bool) []wire {
	var ws []wire
	for i := range n {
		ws = append(ws, e.picture(key && i == 0)...)
	}
	return ws
}

// layerFrames lists the forwarded layer frames as "picture:SID" steps: for each picture the
// highest SID forwarded, and checks the marker bit is on the last forwarded packet of each
// picture and nowhere else.
func (r *receiver) checkVP9Pictures() (tops []int8) {
	r.t.Helper()
	for i, g := range r.got {
		last := i == len(r.got)-1 || r.got[i+1].ts != g.ts
		if g.marker != last {
			r.t.Fatalf("packet %d (SID %d, end %v): marker %v, want %v", i, g.f.SID, g.f.EndOfFrame, g.marker, last)
		}
		if last {
			tops = append(tops, g.f.SID)
		}
		if i > 0 && g.ts == r.got[i-1].ts && g.f.SID < r.got[i-1].f.SID {
			r.t.Fatalf("packet %d: SID %d after %d in one picture", i, g.f.SID, r.got[i-1].f.SID)
		}
	}
	return tops
}

func TestRewriteVP9SpatialAndTemporalLayers(t *testing.T) {
	for _, tc := range []struct {
		name         string
		tid, sid     int // SetLayers before the keyframe
		later        [2]int
		laterAt      int // picture index of the second SetLayers (0: none)
		indep        map[int]int
		wantTops     []int8
		wantTIDs     []int8
		wantKeyframe bool // NeedsKeyframe at the end
	}{
		{name: "all layers", tid: -1, sid: -1, wantTops: []int8{2, 2, 2, 2, 2, 2, 2, 2},
			wantTIDs: []int8{0, 2, 1, 2, 0, 2, 1, 2}},
		{name: "two of three spatial layers", tid: -1, sid: 1, wantTops: []int8{1, 1, 1, 1, 1, 1, 1, 1},
			wantTIDs: []int8{0, 2, 1, 2, 0, 2, 1, 2}},
		{name: "base layer at TL0", tid: 0, sid: 0, wantTops: []int8{0, 0}, wantTIDs: []int8{0, 0}},
		{name: "spatial lowered at the next picture", tid: -1, sid: -1, later: [2]int{-1, 0}, laterAt: 3,
			wantTops: []int8{2, 2, 2, 0, 0, 0, 0, 0}, wantTIDs: []int8{0, 2, 1, 2, 0, 2, 1, 2}},
		{name: "spatial raise waits for a keyframe", tid: -1, sid: 0, later: [2]int{-1, 2}, laterAt: 3,
			wantTops: []int8{0, 0, 0, 0, 0, 0, 0, 0}, wantTIDs: []int8{0, 2, 1, 2, 0, 2, 1, 2}, wantKeyframe: true},
		{name: "independent layer frames do not raise mid-picture", tid: -1, sid: 0, later: [2]int{-1, 2},
			laterAt: 3, indep: map[int]int{4: 1, 6: 2}, wantTops: []int8{0, 0, 0, 0, 0, 0, 0, 0},
			wantTIDs: []int8{0, 2, 1, 2, 0, 2, 1, 2}, wantKeyframe: true},
		{name: "temporal raise at TL0", tid: 0, sid: -1, later: [2]int{-1, -1}, laterAt: 2,
			wantTops: []int8{2, 2, 2, 2, 2}, wantTIDs: []int8{0, 0, 2, 1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, s := vp8Projection(0)
			p.SetLayers(tc.tid, tc.sid)
			r := newReceiver(t, p)
			e := newVP9Enc(t, 0, 3)
			e.indep = tc.indep
			for i := range 8 {
				if tc.laterAt > 0 && i == tc.laterAt {
					p.SetLayers(tc.later[0], tc.later[1])
				}
				r.feed(e.picture(i == 0)...)
			}
			r.checkContiguous(0)
			r.checkFrames(s.SSRC)
			tops := r.checkVP9Pictures()
			if !equalInt8(tops, tc.wantTops) {
				t.Errorf("top spatial layer of each picture %v, want %v", tops, tc.wantTops)
			}
			if got := tidsOf(r.got); !equalInt8(got, tc.wantTIDs) {
				t.Errorf("TIDs %v, want %v", got, tc.wantTIDs)
			}
			if p.NeedsKeyframe() != tc.wantKeyframe {
				t.Errorf("NeedsKeyframe %v, want %v", p.NeedsKeyframe(), tc.wantKeyframe)
			}
			if tc.wantKeyframe {
				r.feed(e.pictures(2, true)...)
				if tops := r.checkVP9Pictures(); tops[len(tops)-1] != 2 || p.NeedsKeyframe() {
					t.Errorf("after the keyframe the top layer is %d (needs keyframe %v)", tops[len(tops)-1],
						p.NeedsKeyframe())
				}
				r.checkContiguous(0)
			}
		})
	}
}

func TestRewriteVP9LossKeepsMarkersAndGaps(t *testing.T) {
	e := newVP9Enc(t, 0, 3)
	ws := e.pictures(4, true) // 6 packets a picture
	p, _ := vp8Projection(0)
	p.SetLayers(-1, 1)
	r := newReceiver(t, p)
	// Lose a SID 2 packet (10, dropped anyway) and the second SID 1 packet of picture 2 (15),
	// reorder picture 3's SID 0 packets, and retransmit the lost SID 1 packet late.
	order := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 16, 17, 19, 18, 20, 21, 22, 23, 15}
	for _, i := range order {
		r.feed(ws[i])
	}
	var in []int
	for _, g := range r.got {
		in = append(in, int(g.inSeq-ws[0].in.Seq))
	}
	want := []int{0, 1, 2, 3, 6, 7, 8, 9, 12, 13, 14, 19, 18, 20, 21, 15}
	if !equalInts(in, want) {
		t.Fatalf("forwarded %v, want %v", in, want)
	}
	// The retransmission gets the number its gap was left for: no number is missing.
	seen := map[uint16]bool{}
	lo, hi := r.got[0].seq, r.got[0].seq
	for _, g := range r.got {
		seen[g.seq] = true
		if int16(g.seq-lo) < 0 {
			lo = g.seq
		}
		if int16(g.seq-hi) > 0 {
			hi = g.seq
		}
	}
	if int(hi-lo)+1 != len(r.got) || len(seen) != len(r.got) {
		t.Fatalf("output numbers %v are not a contiguous set", r.seqs())
	}
	for _, g := range r.got {
		if wantMark := g.f.SID == 1 && g.f.EndOfFrame; g.marker != wantMark {
			t.Errorf("input %d (SID %d): marker %v", g.inSeq-ws[0].in.Seq, g.f.SID, g.marker)
		}
	}
}

func TestRewriteVP9SimulcastSwitchKeepsPictureIDs(t *testing.T) {
	p, s := vp8Projection(0)
	r := newReceiver(t, p)
	encs := []*vp9Enc{newVP9Enc(t, 0, 1), newVP9Enc(t, 1, 1)}
	for i := range 10 {
		if i == 3 {
			p.SetTarget(1)
		}
		for _, e := range encs {
			r.feed(e.picture(i == 0 || e.enc == 1 && i == 6)...)
		}
	}
	if p.Current() != 1 {
		t.Fatal("did not switch")
	}
	r.checkContiguous(0)
	r.checkFrames(s.SSRC)
	r.checkVP9Pictures()
	for i := 1; i < len(r.got); i++ {
		g, prev := r.got[i], r.got[i-1]
		if g.enc != prev.enc && ((g.f.PictureID-prev.f.PictureID)&0x7fff != 1 || uint8(g.f.TL0PICIDX-prev.f.TL0PICIDX) != 1) {
			t.Errorf("switch: picture id %d after %d, TL0PICIDX %d after %d", g.f.PictureID, prev.f.PictureID,
				g.f.TL0PICIDX, prev.f.TL0PICIDX)
		}
	}
}
