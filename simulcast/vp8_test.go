package simulcast

import (
	"bytes"
	"testing"
)

// vp8Desc describes a VP8 payload descriptor for buildVP8; negative values leave a field out.
type vp8Desc struct {
	start     bool
	partition uint8
	pictureID int // -1: absent
	wide      bool
	tl0       int // -1: absent
	tid       int // -1: absent
	sync      bool
	keyIdx    int // -1: absent
}

func buildVP8(d vp8Desc, body []byte) []byte {
	b := []byte{d.partition & 0x07}
	if d.start {
		b[0] |= 0x10
	}
	var x byte
	var ext []byte
	if d.pictureID >= 0 {
		x |= 0x80
		if d.wide {
			ext = append(ext, 0x80|byte(d.pictureID>>8), byte(d.pictureID))
		} else {
			ext = append(ext, byte(d.pictureID))
		}
	}
	if d.tl0 >= 0 {
		x |= 0x40
		ext = append(ext, byte(d.tl0))
	}
	if d.tid >= 0 || d.keyIdx >= 0 {
		var tk byte
		if d.tid >= 0 {
			x |= 0x20
			tk |= byte(d.tid) << 6
			if d.sync {
				tk |= 0x20
			}
		}
		if d.keyIdx >= 0 {
			x |= 0x10
			tk |= byte(d.keyIdx) & 0x1f
		}
		ext = append(ext, tk)
	}
	if x != 0 {
		b[0] |= 0x80
		b = append(b, x)
		b = append(b, ext...)
	}
	return append(b, body...)
}

// vp8Keyframe is the start of a VP8 keyframe: frame tag (P=0, show_frame), start code, 14-bit
// width and height with scaling bits set (which must be ignored).
func vp8Keyframe(w, h int) []byte {
	return []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, byte(w), byte(w>>8) | 0x40, byte(h), byte(h>>8) | 0x80, 0xaa, 0xbb}
}

// vp8Interframe is the start of a VP8 interframe (P=1).
var vp8Interframe = []byte{0x31, 0x02, 0x00, 0x12, 0x34}

func TestParseVP8(t *testing.T) {
	std := vp8Desc{start: true, pictureID: 0x1234, wide: true, tl0: 200, tid: 2, sync: true, keyIdx: -1}
	with := func(f func(*vp8Desc)) vp8Desc { d := std; f(&d); return d }
	unknown := FrameInfo{}
	unknown.Reset()
	for _, tc := range []struct {
		name string
		p    []byte
		want FrameInfo
	}{
		{
			name: "keyframe 640x360 15-bit picture id",
			p:    buildVP8(with(func(d *vp8Desc) { d.tid, d.sync = 0, false }), vp8Keyframe(640, 360)),
			want: FrameInfo{Keyframe: true, StartOfFrame: true, TID: 0, SID: 0, PictureID: 0x1234, TL0PICIDX: 200,
				Width: 640, Height: 360, SpatialLayers: -1},
		},
		{
			name: "keyframe 1280x720 7-bit picture id",
			p:    buildVP8(with(func(d *vp8Desc) { d.pictureID, d.wide, d.tid, d.sync = 0x55, false, 0, false }), vp8Keyframe(1280, 720)),
			want: FrameInfo{Keyframe: true, StartOfFrame: true, TID: 0, SID: 0, PictureID: 0x55, TL0PICIDX: 200,
				Width: 1280, Height: 720, SpatialLayers: -1},
		},
		{
			name: "keyframe header cut short keeps size unknown",
			p:    buildVP8(std, vp8Keyframe(640, 360)[:9]),
			want: FrameInfo{Keyframe: true, StartOfFrame: true, LayerSync: true, TID: 2, SID: 0, PictureID: 0x1234,
				TL0PICIDX: 200, Width: -1, Height: -1, SpatialLayers: -1},
		},
		{
			name: "keyframe with bad start code keeps size unknown",
			p:    buildVP8(std, []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2b, 1, 2, 3, 4}),
			want: FrameInfo{Keyframe: true, StartOfFrame: true, LayerSync: true, TID: 2, SID: 0, PictureID: 0x1234,
				TL0PICIDX: 200, Width: -1, Height: -1, SpatialLayers: -1},
		},
		{
			name: "interframe TID 2 layer sync",
			p:    buildVP8(std, vp8Interframe),
			want: FrameInfo{StartOfFrame: true, LayerSync: true, TID: 2, SID: 0, PictureID: 0x1234, TL0PICIDX: 200,
				Width: -1, Height: -1, SpatialLayers: -1},
		},
		{
			name: "TID 1 without sync",
			p:    buildVP8(with(func(d *vp8Desc) { d.tid, d.sync = 1, false }), vp8Interframe),
			want: FrameInfo{StartOfFrame: true, TID: 1, SID: 0, PictureID: 0x1234, TL0PICIDX: 200,
				Width: -1, Height: -1, SpatialLayers: -1},
		},
		{
			name: "continuation packet of a keyframe is not a keyframe start",
			p:    buildVP8(with(func(d *vp8Desc) { d.start = false }), vp8Keyframe(640, 360)),
			want: FrameInfo{LayerSync: true, TID: 2, SID: 0, PictureID: 0x1234, TL0PICIDX: 200,
				Width: -1, Height: -1, SpatialLayers: -1},
		},
		{
			name: "start of partition 1 is not start of frame",
			p:    buildVP8(with(func(d *vp8Desc) { d.partition = 1 }), vp8Keyframe(640, 360)),
			want: FrameInfo{LayerSync: true, TID: 2, SID: 0, PictureID: 0x1234, TL0PICIDX: 200,
				Width: -1, Height: -1, SpatialLayers: -1},
		},
		{
			name: "KEYIDX only: TID unknown",
			p:    buildVP8(with(func(d *vp8Desc) { d.tid, d.keyIdx = -1, 3 }), vp8Interframe),
			want: FrameInfo{StartOfFrame: true, TID: -1, SID: 0, PictureID: 0x1234, TL0PICIDX: 200,
				Width: -1, Height: -1, SpatialLayers: -1},
		},
		{
			name: "no extension byte",
			p:    buildVP8(vp8Desc{start: true, pictureID: -1, tl0: -1, tid: -1, keyIdx: -1}, vp8Keyframe(320, 180)),
			want: FrameInfo{Keyframe: true, StartOfFrame: true, TID: -1, SID: 0, PictureID: -1, TL0PICIDX: -1,
				Width: 320, Height: 180, SpatialLayers: -1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := FrameInfo{Keyframe: true, TID: 7, Width: 99} // stale values must not survive
			if !ParseVP8(tc.p, &f) {
				t.Fatalf("ParseVP8(% x) not ok", tc.p)
			}
			if f != tc.want {
				t.Fatalf("ParseVP8(% x)\n got %+v\nwant %+v", tc.p, f, tc.want)
			}
			// Every prefix that cuts into the descriptor or leaves no payload fails, and no
			// prefix panics.
			descLen := len(tc.p) - payloadLenVP8(t, tc.p)
			for n := range len(tc.p) {
				ok := ParseVP8(tc.p[:n], &f)
				if n <= descLen && (ok || f != unknown) {
					t.Errorf("ParseVP8 of %d-byte prefix = %v %+v, want not ok and reset", n, ok, f)
				}
			}
		})
	}
}

func payloadLenVP8(t *testing.T, p []byte) int {
	t.Helper()
	l, ok := vp8Layout(p)
	if !ok {
		t.Fatalf("vp8Layout(% x) not ok", p)
	}
	return len(p) - l.payload
}

func TestSetVP8PictureIDKeepsWidth(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    vp8Desc
		id   uint16
		want int32
	}{
		{"15-bit", vp8Desc{start: true, pictureID: 0x1234, wide: true, tl0: 9, tid: 1, keyIdx: -1}, 0x7ffe, 0x7ffe},
		{"15-bit wraps", vp8Desc{start: true, pictureID: 1, wide: true, tl0: 9, tid: 1, keyIdx: -1}, 0x8001, 1},
		{"7-bit", vp8Desc{start: true, pictureID: 5, tl0: 9, tid: 1, keyIdx: -1}, 100, 100},
		{"7-bit wraps", vp8Desc{start: true, pictureID: 5, tl0: 9, tid: 1, keyIdx: -1}, 0x1234, 0x34},
		{"15-bit holding small value", vp8Desc{start: true, pictureID: 3, wide: true, tl0: -1, tid: 1, keyIdx: -1}, 4, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := buildVP8(tc.d, vp8Interframe)
			before := append([]byte(nil), p...)
			if !SetVP8PictureID(p, tc.id) {
				t.Fatal("SetVP8PictureID not ok")
			}
			if len(p) != len(before) {
				t.Fatal("length changed")
			}
			var f, g FrameInfo
			ParseVP8(before, &g)
			if !ParseVP8(p, &f) || f.PictureID != tc.want {
				t.Fatalf("after SetVP8PictureID(%#x) picture id = %#x, want %#x", tc.id, f.PictureID, tc.want)
			}
			g.PictureID = f.PictureID
			if f != g {
				t.Fatalf("other fields changed:\n got %+v\nwant %+v", f, g)
			}
			if (p[2]&0x80 != 0) != tc.d.wide {
				t.Fatalf("M bit changed")
			}
		})
	}
}

func TestSetVP8TL0PICIDX(t *testing.T) {
	p := buildVP8(vp8Desc{start: true, pictureID: 0x1234, wide: true, tl0: 9, tid: 2, sync: true, keyIdx: -1}, vp8Interframe)
	if !SetVP8TL0PICIDX(p, 250) {
		t.Fatal("SetVP8TL0PICIDX not ok")
	}
	var f FrameInfo
	if !ParseVP8(p, &f) || f.TL0PICIDX != 250 || f.PictureID != 0x1234 || f.TID != 2 || !f.LayerSync {
		t.Fatalf("after SetVP8TL0PICIDX: %+v", f)
	}
}

func TestSetVP8FieldsAbsentOrMalformed(t *testing.T) {
	noFields := buildVP8(vp8Desc{start: true, pictureID: -1, tl0: -1, tid: 0, keyIdx: -1}, vp8Interframe)
	truncated := buildVP8(vp8Desc{start: true, pictureID: 0x1234, wide: true, tl0: 9, tid: 0, keyIdx: -1}, nil)
	for name, p := range map[string][]byte{"no fields": noFields, "no payload": truncated, "empty": {}} {
		before := append([]byte(nil), p...)
		if SetVP8PictureID(p, 7) || SetVP8TL0PICIDX(p, 7) {
			t.Errorf("%s: setter reported ok", name)
		}
		if !bytes.Equal(p, before) {
			t.Errorf("%s: setter changed the payload: % x -> % x", name, before, p)
		}
	}
}
