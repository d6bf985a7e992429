package simulcast

import (
	"math/bits"
	"testing"
)

// bitWriter builds Dependency Descriptors bit by bit.
type bitWriter struct {
	b []byte
	n int
}

func (w *bitWriter) put(v uint32, n int) *bitWriter {
	for i := n - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.b = append(w.b, 0)
		}
		if v>>i&1 != 0 {
			w.b[len(w.b)-1] |= 0x80 >> (w.n % 8)
		}
		w.n++
	}
	return w
}

// ns writes x < n in the non-symmetric encoding.
func (w *bitWriter) ns(x, n uint32) *bitWriter {
	bw := bits.Len32(n)
	m := uint32(1)<<bw - n
	if x < m {
		return w.put(x, bw-1)
	}
	return w.put(x+m, bw)
}

// ddTemplate is one frame dependency template for buildDD.
type ddTemplate struct {
	sid, tid int
	dtis     []uint32
	fdiffs   []uint32
	chains   []uint32 // chain fdiffs, one per chain
}

type ddStructure struct {
	offset      uint32
	templates   []ddTemplate
	protectedBy []uint32 // one per decode target; nil: no chains
	chains      uint32
	sizes       [][2]uint32
}

// buildDD encodes a descriptor; s nil gives the mandatory fields only, unless extra is set.
func buildDD(start, end bool, templateID uint32, frame uint16, s *ddStructure) []byte {
	w := &bitWriter{}
	w.put(b2u(start), 1).put(b2u(end), 1).put(templateID, 6).put(uint32(frame), 16)
	if s == nil {
		return w.b
	}
	dts := len(s.templates[0].dtis)
	w.put(1, 1).put(0, 4) // structure present, no other extended fields
	w.put(s.offset, 6).put(uint32(dts-1), 5)
	for i, t := range s.templates {
		idc := uint32(3)
		if i+1 < len(s.templates) {
			switch n := s.templates[i+1]; {
			case n.sid == t.sid && n.tid == t.tid:
				idc = 0
			case n.sid == t.sid && n.tid == t.tid+1:
				idc = 1
			default:
				idc = 2
			}
		}
		w.put(idc, 2)
	}
	for _, t := range s.templates {
		for _, d := range t.dtis {
			w.put(d, 2)
		}
	}
	for _, t := range s.templates {
		for _, f := range t.fdiffs {
			w.put(1, 1).put(f-1, 4)
		}
		w.put(0, 1)
	}
	w.ns(s.chains, uint32(dts)+1)
	if s.chains > 0 {
		for _, p := range s.protectedBy {
			w.ns(p, s.chains)
		}
		for _, t := range s.templates {
			for _, c := range t.chains {
				w.put(c, 4)
			}
		}
	}
	w.put(b2u(s.sizes != nil), 1)
	for _, sz := range s.sizes {
		w.put(sz[0]-1, 16).put(sz[1]-1, 16)
	}
	return w.b
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// l1t3 is a single-layer, three-temporal-layer structure (decode targets T0, T0-1, T0-2) with
// template ids starting at 62, so they wrap around 64.
var l1t3 = &ddStructure{
	offset: 62,
	templates: []ddTemplate{
		{sid: 0, tid: 0, dtis: []uint32{2, 2, 2}, chains: []uint32{0}},
		{sid: 0, tid: 0, dtis: []uint32{2, 2, 2}, fdiffs: []uint32{4}, chains: []uint32{4}},
		{sid: 0, tid: 1, dtis: []uint32{0, 2, 2}, fdiffs: []uint32{2}, chains: []uint32{2}},
		{sid: 0, tid: 2, dtis: []uint32{0, 0, 2}, fdiffs: []uint32{1}, chains: []uint32{1}},
		{sid: 0, tid: 2, dtis: []uint32{0, 0, 1}, fdiffs: []uint32{1, 3}, chains: []uint32{3}},
	},
	chains: 1, protectedBy: []uint32{0, 0, 0},
	sizes: [][2]uint32{{1280, 720}},
}

// l2t2 is a two-spatial-layer K-SVC structure without resolutions, with two chains.
var l2t2 = &ddStructure{
	offset: 5,
	templates: []ddTemplate{
		{sid: 0, tid: 0, dtis: []uint32{2, 2, 2, 2}, chains: []uint32{0, 0}},
		{sid: 0, tid: 1, dtis: []uint32{0, 2, 0, 2}, fdiffs: []uint32{1}, chains: []uint32{1, 1}},
		{sid: 1, tid: 0, dtis: []uint32{0, 0, 2, 2}, fdiffs: []uint32{1}, chains: []uint32{1, 1}},
		{sid: 1, tid: 1, dtis: []uint32{0, 0, 0, 3}, fdiffs: []uint32{1, 2}, chains: []uint32{2, 1}},
	},
	chains: 2, protectedBy: []uint32{0, 0, 1, 1},
}

var l2t2Structure = func() AV1Structure {
	var s AV1Structure
	var f FrameInfo
	if !ParseAV1DDWith(buildDD(true, false, 5, 1, l2t2), &s, &f) {
		panic("l2t2 structure does not parse")
	}
	return s
}()

func TestParseAV1DD(t *testing.T) {
	unknown := FrameInfo{}
	unknown.Reset()
	frame := func(f func(*FrameInfo)) FrameInfo { g := unknown; f(&g); return g }
	for _, tc := range []struct {
		name string
		dd   []byte
		want FrameInfo
	}{
		{
			name: "L1T3 keyframe with structure and resolution",
			dd:   buildDD(true, false, 62, 0x1234, l1t3),
			want: frame(func(f *FrameInfo) {
				f.Keyframe, f.StartOfFrame, f.PictureID, f.TID, f.SID = true, true, 0x1234, 0, 0
				f.Width, f.Height, f.SpatialLayers = 1280, 720, 1
				f.LayerWidth[0], f.LayerHeight[0] = 1280, 720
			}),
		},
		{
			name: "L2T2 keyframe without resolutions",
			dd:   buildDD(true, true, 5, 7, l2t2),
			want: frame(func(f *FrameInfo) {
				f.Keyframe, f.StartOfFrame, f.EndOfFrame, f.PictureID, f.TID, f.SID = true, true, true, 7, 0, 0
				f.SpatialLayers = 2
			}),
		},
		{
			name: "mandatory fields only, end of frame",
			dd:   []byte{0x45, 0xff, 0xfe},
			want: frame(func(f *FrameInfo) { f.EndOfFrame, f.PictureID = true, 0xfffe }),
		},
		{
			name: "extended fields without structure",
			dd:   []byte{0xc3, 0x00, 0x07, 0x40, 0xff},
			want: frame(func(f *FrameInfo) { f.StartOfFrame, f.EndOfFrame, f.PictureID = true, true, 7 }),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := FrameInfo{Keyframe: true, SID: 3}
			if !ParseAV1DD(tc.dd, &f) {
				t.Fatalf("ParseAV1DD(% x) not ok", tc.dd)
			}
			if f != tc.want {
				t.Fatalf("ParseAV1DD(% x)\n got %+v\nwant %+v", tc.dd, f, tc.want)
			}
			for n := range 3 {
				if ok := ParseAV1DD(tc.dd[:n], &f); ok || f != unknown {
					t.Errorf("ParseAV1DD of %d bytes = %v %+v, want not ok and reset", n, ok, f)
				}
			}
		})
	}
	if id, ok := AV1DDTemplateID([]byte{0x45, 0, 0}); !ok || id != 5 {
		t.Errorf("AV1DDTemplateID = %d, %v; want 5, true", id, ok)
	}
	if _, ok := AV1DDTemplateID([]byte{0x45, 0}); ok {
		t.Error("AV1DDTemplateID of 2 bytes ok")
	}
}

func TestParseAV1DDWithStoredStructureResolvesLayers(t *testing.T) {
	var s AV1Structure
	var f FrameInfo
	// Before any keyframe nothing resolves.
	if !ParseAV1DDWith(buildDD(true, true, 1, 1, nil), &s, &f) || f.TID != -1 || f.SID != -1 {
		t.Fatalf("without a structure: %+v", f)
	}
	if !ParseAV1DDWith(buildDD(true, false, 62, 2, l1t3), &s, &f) || !f.Keyframe {
		t.Fatalf("keyframe: %+v", f)
	}
	if s.Templates != 5 || s.DecodeTargets != 3 || s.SpatialLayers != 1 || s.TemporalLayers != 3 ||
		!s.HasResolutions || s.Width[0] != 1280 || s.Height[0] != 720 {
		t.Fatalf("stored structure %+v", s)
	}
	// Template ids are offset by 62 and wrap: id 62 -> template 0, 63 -> 1, 0 -> 2, 1 -> 3, 2 -> 4.
	for _, tc := range []struct {
		id       uint32
		sid, tid int8
	}{{62, 0, 0}, {63, 0, 0}, {0, 0, 1}, {1, 0, 2}, {2, 0, 2}, {3, -1, -1}, {61, -1, -1}} {
		if !ParseAV1DDWith(buildDD(true, true, tc.id, 3, nil), &s, &f) || f.SID != tc.sid || f.TID != tc.tid ||
			f.Keyframe || f.Width != -1 || f.SpatialLayers != -1 {
			t.Errorf("template id %d: %+v, want SID %d TID %d, no keyframe or sizes", tc.id, f, tc.sid, tc.tid)
		}
	}
	// A K-SVC keyframe replaces the structure.
	if !ParseAV1DDWith(buildDD(true, false, 5, 4, l2t2), &s, &f) || s != l2t2Structure {
		t.Fatalf("L2T2 keyframe did not replace the structure: %+v", s)
	}
	for id, want := range map[uint32][2]int8{5: {0, 0}, 6: {0, 1}, 7: {1, 0}, 8: {1, 1}} {
		if !ParseAV1DDWith(buildDD(false, false, id, 5, nil), &s, &f) || f.SID != want[0] || f.TID != want[1] {
			t.Errorf("L2T2 template id %d: SID %d TID %d, want %v", id, f.SID, f.TID, want)
		}
	}
	// A truncated structure is an error and keeps the stored one.
	kf := buildDD(true, false, 5, 4, l1t3)
	for n := 4; n < len(kf); n++ {
		before := s
		if ParseAV1DDWith(kf[:n], &s, &f) {
			t.Errorf("structure cut to %d of %d bytes parsed", n, len(kf))
		}
		if s != before {
			t.Fatalf("failed parse of %d bytes changed the stored structure", n)
		}
	}
}

func TestParseAV1DDRejectsOversizedStructures(t *testing.T) {
	many := &ddStructure{sizes: nil}
	for sid := range MaxSpatialLayers + 1 {
		many.templates = append(many.templates, ddTemplate{sid: sid, dtis: []uint32{2}})
	}
	var f FrameInfo
	if ParseAV1DD(buildDD(true, false, 0, 1, many), &f) {
		t.Errorf("structure with %d spatial layers accepted", MaxSpatialLayers+1)
	}
	many.templates = many.templates[:MaxSpatialLayers]
	if !ParseAV1DD(buildDD(true, false, 0, 1, many), &f) || f.SpatialLayers != MaxSpatialLayers {
		t.Errorf("structure with %d spatial layers: %+v", MaxSpatialLayers, f)
	}
	deep := &ddStructure{}
	for tid := range 9 {
		deep.templates = append(deep.templates, ddTemplate{tid: tid, dtis: []uint32{2}})
	}
	if ParseAV1DD(buildDD(true, false, 0, 1, deep), &f) {
		t.Error("structure with 9 temporal layers accepted: layer indexes have 3 bits for them")
	}
	deep.templates = deep.templates[:8]
	var s AV1Structure
	if !ParseAV1DDWith(buildDD(true, false, 7, 1, deep), &s, &f) || s.TemporalLayers != 8 || f.TID != 7 {
		t.Errorf("structure with 8 temporal layers: %+v", s)
	}
}

// Descriptors as Chrome sends them (public test vectors of an AV1 RTP analysis tool): L1T2 with
// template ids from 0 and from 6, a mandatory-only descriptor, and L2T2 K-SVC.
var (
	chromeL1T2      = []byte{0x80, 0x00, 0x01, 0x80, 0x01, 0x1e, 0xa8, 0x51, 0x41, 0x01, 0x0c, 0x04, 0xfc, 0x03, 0xbc}
	chromeL1T2From6 = []byte{0x86, 0x00, 0xb5, 0x80, 0xc1, 0x1e, 0xa8, 0x51, 0x41, 0x01, 0x0c, 0x09, 0xfc, 0x07, 0x7c}
	chromeDelta8    = []byte{0x08, 0x00, 0xd8}
	chromeL2T2      = []byte{
		0xc0, 0x00, 0x01, 0x80, 0x03, 0x18, 0x7a, 0xaa, 0xf1, 0x30, 0xa0, 0xa0, 0x14, 0xd1, 0x41, 0x38,
		0x23, 0x04, 0x60, 0x08, 0x64, 0x22, 0x22, 0x26, 0x50, 0x09, 0xf0, 0x07, 0x70, 0x13, 0xf0, 0x0e, 0xf0,
	}
)

func TestParseAV1DDChromeDescriptors(t *testing.T) {
	type layer struct{ sid, tid uint8 }
	for _, tc := range []struct {
		name            string
		dd              []byte
		offset          uint8
		frame           int32
		end             bool
		dts             int
		layers          []layer
		widths, heights []uint16
	}{
		{"L1T2", chromeL1T2, 0, 1, false, 2, []layer{{0, 0}, {0, 0}, {0, 1}}, []uint16{320}, []uint16{240}},
		{"L1T2 from 6", chromeL1T2From6, 6, 181, false, 2, []layer{{0, 0}, {0, 0}, {0, 1}}, []uint16{640}, []uint16{480}},
		{"L2T2", chromeL2T2, 0, 1, true, 4, []layer{{0, 0}, {0, 0}, {0, 1}, {1, 0}, {1, 0}, {1, 1}},
			[]uint16{160, 320}, []uint16{120, 240}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s AV1Structure
			var f FrameInfo
			if !ParseAV1DDWith(tc.dd, &s, &f) {
				t.Fatal("not ok")
			}
			if !f.Keyframe || !f.StartOfFrame || f.EndOfFrame != tc.end || f.PictureID != tc.frame ||
				f.SID != 0 || f.TID != 0 || int(f.SpatialLayers) != len(tc.widths) ||
				f.Width != int(tc.widths[0]) || f.Height != int(tc.heights[0]) {
				t.Fatalf("frame %+v", f)
			}
			if s.TemplateIDOffset != tc.offset || s.DecodeTargets != tc.dts || s.Templates != len(tc.layers) ||
				!s.HasResolutions || s.TemporalLayers != 2 {
				t.Fatalf("structure %+v", s)
			}
			for i, l := range tc.layers {
				sid, tid, ok := s.Layer(tc.offset + uint8(i))
				if !ok || sid != int8(l.sid) || tid != int8(l.tid) {
					t.Errorf("template %d: %d %d %v, want %v", i, sid, tid, ok, l)
				}
			}
			for i := range tc.widths {
				if s.Width[i] != tc.widths[i] || s.Height[i] != tc.heights[i] ||
					f.LayerWidth[i] != tc.widths[i] || f.LayerHeight[i] != tc.heights[i] {
					t.Errorf("layer %d size %dx%d (frame %dx%d), want %dx%d", i, s.Width[i], s.Height[i],
						f.LayerWidth[i], f.LayerHeight[i], tc.widths[i], tc.heights[i])
				}
			}
		})
	}
	// The delta frame after the second structure names template 8: its third template, TL1.
	var s AV1Structure
	var f FrameInfo
	ParseAV1DDWith(chromeL1T2From6, &s, &f)
	if !ParseAV1DDWith(chromeDelta8, &s, &f) || f.Keyframe || f.StartOfFrame || f.EndOfFrame ||
		f.PictureID != 216 || f.SID != 0 || f.TID != 1 {
		t.Fatalf("delta frame %+v", f)
	}
}
