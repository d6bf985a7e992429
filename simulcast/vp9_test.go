package simulcast

import (
	"encoding/binary"
	"testing"
)

// vp9Desc describes a VP9 payload descriptor for buildVP9.
type vp9Desc struct {
	inter, flexible, start, end bool
	pictureID                   int // -1: absent
	wide                        bool
	layers                      bool // L: tid, sync, sid present
	tid, sid                    int
	sync                        bool
	tl0                         int   // non-flexible with layers
	pdiffs                      []int // flexible and inter
	ss                          []byte
}

func buildVP9(d vp9Desc, body []byte) []byte {
	var b0 byte
	var rest []byte
	if d.pictureID >= 0 {
		b0 |= 0x80
		if d.wide {
			rest = append(rest, 0x80|byte(d.pictureID>>8), byte(d.pictureID))
		} else {
			rest = append(rest, byte(d.pictureID))
		}
	}
	if d.inter {
		b0 |= 0x40
	}
	if d.layers {
		b0 |= 0x20
		l := byte(d.tid)<<5 | byte(d.sid)<<1
		if d.sync {
			l |= 0x10
		}
		rest = append(rest, l)
		if !d.flexible {
			rest = append(rest, byte(d.tl0))
		}
	}
	if d.flexible {
		b0 |= 0x10
	}
	if d.start {
		b0 |= 0x08
	}
	if d.end {
		b0 |= 0x04
	}
	for i, p := range d.pdiffs {
		v := byte(p) << 1
		if i < len(d.pdiffs)-1 {
			v |= 1
		}
		rest = append(rest, v)
	}
	if d.ss != nil {
		b0 |= 0x02
		rest = append(rest, d.ss...)
	}
	return append(append([]byte{b0}, rest...), body...)
}

// vp9SS builds a scalability structure with the given layer sizes and picture groups (each a
// TID and its P_DIFFs).
func vp9SS(sizes [][2]uint16, groups [][]int) []byte {
	b := []byte{byte(len(sizes)-1) << 5}
	if len(sizes) > 0 {
		b[0] |= 0x10
		for _, s := range sizes {
			b = binary.BigEndian.AppendUint16(b, s[0])
			b = binary.BigEndian.AppendUint16(b, s[1])
		}
	}
	if groups != nil {
		b[0] |= 0x08
		b = append(b, byte(len(groups)))
		for _, g := range groups {
			b = append(b, byte(g[0])<<5|byte(len(g)-1)<<2)
			for _, p := range g[1:] {
				b = append(b, byte(p))
			}
		}
	}
	return b
}

func TestParseVP9(t *testing.T) {
	threeLayers := [][2]uint16{{320, 180}, {640, 360}, {1280, 720}}
	body := []byte{0x82, 0x49, 0x83}
	sizes := func(f FrameInfo, n int) FrameInfo {
		f.SpatialLayers = int8(n)
		for i := range n {
			f.LayerWidth[i], f.LayerHeight[i] = threeLayers[i][0], threeLayers[i][1]
		}
		return f
	}
	for _, tc := range []struct {
		name string
		p    []byte
		want FrameInfo
	}{
		{
			name: "non-flexible keyframe with SS, SID 0",
			p: buildVP9(vp9Desc{start: true, pictureID: 0x1abc, wide: true, layers: true, tl0: 17,
				ss: vp9SS(threeLayers, [][]int{{0, 1}, {1, 1}})}, body),
			want: sizes(FrameInfo{Keyframe: true, StartOfFrame: true, TID: 0, SID: 0, PictureID: 0x1abc, TL0PICIDX: 17,
				Width: 320, Height: 180}, 3),
		},
		{
			name: "SS without layer indices reports the top layer",
			p:    buildVP9(vp9Desc{start: true, end: true, pictureID: 3, ss: vp9SS(threeLayers, nil)}, body),
			want: sizes(FrameInfo{Keyframe: true, StartOfFrame: true, EndOfFrame: true, TID: -1, SID: -1, PictureID: 3,
				TL0PICIDX: -1, Width: 1280, Height: 720}, 3),
		},
		{
			name: "SS on SID 2 reports its own layer",
			p: buildVP9(vp9Desc{start: true, pictureID: 9, layers: true, sid: 2, tl0: 1,
				ss: vp9SS(threeLayers, nil)}, body),
			want: sizes(FrameInfo{StartOfFrame: true, TID: 0, SID: 2, PictureID: 9, TL0PICIDX: 1,
				Width: 1280, Height: 720}, 3),
		},
		{
			name: "SS without sizes",
			p:    buildVP9(vp9Desc{start: true, pictureID: 9, ss: []byte{0x48, 1, 0x04, 1}}, body),
			want: FrameInfo{Keyframe: true, StartOfFrame: true, TID: -1, SID: -1, PictureID: 9, TL0PICIDX: -1,
				Width: -1, Height: -1, SpatialLayers: 3},
		},
		{
			name: "non-flexible inter frame TID 2 switching point, 7-bit picture id",
			p: buildVP9(vp9Desc{inter: true, start: true, end: true, pictureID: 0x42, layers: true, tid: 2, sid: 1,
				sync: true, tl0: 255}, body),
			want: FrameInfo{StartOfFrame: true, EndOfFrame: true, LayerSync: true, TID: 2, SID: 1, PictureID: 0x42,
				TL0PICIDX: 255, Width: -1, Height: -1, SpatialLayers: -1},
		},
		{
			name: "flexible inter frame with three P_DIFFs",
			p: buildVP9(vp9Desc{flexible: true, inter: true, end: true, pictureID: 0x7fff, wide: true, layers: true,
				tid: 1, sid: 0, pdiffs: []int{1, 2, 4}}, body),
			want: FrameInfo{EndOfFrame: true, TID: 1, SID: 0, PictureID: 0x7fff, TL0PICIDX: -1,
				Width: -1, Height: -1, SpatialLayers: -1},
		},
		{
			name: "flexible keyframe with SS",
			p: buildVP9(vp9Desc{flexible: true, start: true, pictureID: 0x100, wide: true, layers: true,
				ss: vp9SS(threeLayers[:2], nil)}, body),
			want: sizes(FrameInfo{Keyframe: true, StartOfFrame: true, TID: 0, SID: 0, PictureID: 0x100, TL0PICIDX: -1,
				Width: 320, Height: 180}, 2),
		},
		{
			name: "intra SID 1 frame of a keyframe picture is not the keyframe start",
			p: buildVP9(vp9Desc{flexible: true, start: true, pictureID: 0x100, wide: true, layers: true,
				sid: 1}, body),
			want: FrameInfo{StartOfFrame: true, TID: 0, SID: 1, PictureID: 0x100, TL0PICIDX: -1,
				Width: -1, Height: -1, SpatialLayers: -1},
		},
		{
			name: "minimal descriptor",
			p:    buildVP9(vp9Desc{pictureID: -1}, body),
			want: FrameInfo{TID: -1, SID: -1, PictureID: -1, TL0PICIDX: -1, Width: -1, Height: -1, SpatialLayers: -1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := FrameInfo{Keyframe: true, TID: 7, Width: 99}
			if !ParseVP9(tc.p, &f) {
				t.Fatalf("ParseVP9(% x) not ok", tc.p)
			}
			if f != tc.want {
				t.Fatalf("ParseVP9(% x)\n got %+v\nwant %+v", tc.p, f, tc.want)
			}
			// The descriptor is everything but the body: every cut into it, or one that
			// leaves no payload, fails and leaves f reset.
			var unknown FrameInfo
			unknown.Reset()
			for n := range len(tc.p) - len(body) + 1 {
				if ok := ParseVP9(tc.p[:n], &f); ok || f != unknown {
					t.Errorf("ParseVP9 of %d-byte prefix = %v %+v, want not ok and reset", n, ok, f)
				}
			}
			for n := len(tc.p) - len(body) + 1; n <= len(tc.p); n++ {
				if !ParseVP9(tc.p[:n], &f) {
					t.Errorf("ParseVP9 of %d-byte prefix with payload not ok", n)
				}
			}
		})
	}
}

func TestParseVP9RejectsMalformed(t *testing.T) {
	body := []byte{1, 2}
	var f FrameInfo
	for name, p := range map[string][]byte{
		"four P_DIFFs": buildVP9(vp9Desc{flexible: true, inter: true, pictureID: 1, pdiffs: []int{1, 2, 3, 4}}, body),
		"SS group P_DIFFs beyond the packet": buildVP9(vp9Desc{start: true, pictureID: 1,
			ss: []byte{0x08, 1, 0x0c}}, nil),
		"SS sizes beyond the packet": buildVP9(vp9Desc{start: true, pictureID: 1, ss: []byte{0x50, 1, 2, 3}}, nil),
		"empty":                      {},
	} {
		if ParseVP9(p, &f) {
			t.Errorf("%s: ParseVP9(% x) ok: %+v", name, p, f)
		}
	}
}
