package simulcast

import (
	"bytes"
	"testing"
	"unsafe"
)

// Seeds for every target live in testdata/fuzz/<Name>/.

// within reports whether sub lies inside buf[lo:hi].
func within(buf, sub []byte, lo, hi int) bool {
	if len(sub) == 0 {
		return true
	}
	off := int(uintptr(unsafe.Pointer(unsafe.SliceData(sub))) - uintptr(unsafe.Pointer(unsafe.SliceData(buf))))
	return off >= lo && off+len(sub) <= hi
}

func FuzzParseRTP(f *testing.F) {
	f.Fuzz(func(t *testing.T, pkt []byte, id uint8) {
		h, ok := ParseRTP(pkt)
		if !ok {
			if h != (RTPInfo{}) {
				t.Fatalf("not ok but returned %+v", h)
			}
			return
		}
		if h.HeaderLen < 12 || h.HeaderLen > h.PayloadEnd || h.PayloadEnd > len(pkt) {
			t.Fatalf("offsets out of order: %+v for %d bytes", h, len(pkt))
		}
		if h.ExtLen < 0 || h.ExtLen%4 != 0 || (h.ExtProfile != 0 || h.ExtLen != 0) &&
			(h.ExtOffset < 16 || h.ExtOffset+h.ExtLen != h.HeaderLen) {
			t.Fatalf("extension block out of bounds: %+v", h)
		}
		ext := Extension(pkt, &h, id)
		if !within(pkt, ext, h.ExtOffset, h.ExtOffset+h.ExtLen) || cap(ext) != len(ext) {
			t.Fatalf("Extension(%d) returned %d bytes outside the extension block %+v", id, len(ext), h)
		}
		if _, _, ok := AudioLevel(ext); ok != (len(ext) > 0) {
			t.Fatalf("AudioLevel ok = %v for %d bytes", ok, len(ext))
		}
		if p := h.Payload(pkt); !within(pkt, p, h.HeaderLen, h.PayloadEnd) || len(p) != h.PayloadEnd-h.HeaderLen {
			t.Fatalf("Payload outside [%d,%d)", h.HeaderLen, h.PayloadEnd)
		}
	})
}

func checkCommon(t *testing.T, name string, ok bool, f *FrameInfo) {
	t.Helper()
	var unknown FrameInfo
	unknown.Reset()
	if !ok {
		if *f != unknown {
			t.Fatalf("%s not ok but left %+v", name, *f)
		}
		return
	}
	if f.TID < -1 || f.TID > 7 || f.SID < -1 || f.SID > 7 || f.PictureID < -1 || f.PictureID > 0xffff ||
		f.TL0PICIDX < -1 || f.TL0PICIDX > 255 || f.Width < -1 || f.Height < -1 ||
		f.SpatialLayers < -1 || f.SpatialLayers > MaxSpatialLayers {
		t.Fatalf("%s: field out of range: %+v", name, *f)
	}
	if (f.Width < 0) != (f.Height < 0) {
		t.Fatalf("%s: only one of width and height known: %+v", name, *f)
	}
}

func FuzzParseVP8(f *testing.F) {
	f.Fuzz(func(t *testing.T, p []byte, id uint16, tl0 uint8) {
		var fi FrameInfo
		ok := ParseVP8(p, &fi)
		checkCommon(t, "ParseVP8", ok, &fi)
		if !ok {
			return
		}
		if fi.SID != 0 || fi.TID > 3 || fi.PictureID > 0x7fff || fi.Width > 0x3fff || fi.Height > 0x3fff {
			t.Fatalf("VP8 field out of range: %+v", fi)
		}
		// Rewriting changes exactly the rewritten field.
		q := bytes.Clone(p)
		if SetVP8PictureID(q, id) != (fi.PictureID >= 0) || SetVP8TL0PICIDX(q, tl0) != (fi.TL0PICIDX >= 0) {
			t.Fatalf("setters disagree with the parse %+v", fi)
		}
		var g FrameInfo
		if !ParseVP8(q, &g) {
			t.Fatal("rewritten payload no longer parses")
		}
		want := fi
		if fi.PictureID >= 0 && p[2]&0x80 != 0 { // the picture ID always follows X at byte 2
			want.PictureID = int32(id & 0x7fff)
		} else if fi.PictureID >= 0 {
			want.PictureID = int32(id & 0x7f)
		}
		if fi.TL0PICIDX >= 0 {
			want.TL0PICIDX = int16(tl0)
		}
		if g != want {
			t.Fatalf("after rewrite\n got %+v\nwant %+v", g, want)
		}
	})
}

func FuzzParseVP9(f *testing.F) {
	f.Fuzz(func(t *testing.T, p []byte) {
		var fi FrameInfo
		ok := ParseVP9(p, &fi)
		checkCommon(t, "ParseVP9", ok, &fi)
		if ok && fi.PictureID > 0x7fff {
			t.Fatalf("VP9 picture id out of range: %+v", fi)
		}
	})
}

func FuzzParseAV1DD(f *testing.F) {
	f.Fuzz(func(t *testing.T, dd []byte) {
		var fi FrameInfo
		ok := ParseAV1DD(dd, &fi)
		checkCommon(t, "ParseAV1DD", ok, &fi)
		// With a stored structure, a descriptor resolves to one of its layers or none.
		st := l2t2Structure
		before := st
		var g FrameInfo
		okWith := ParseAV1DDWith(dd, &st, &g)
		checkCommon(t, "ParseAV1DDWith", okWith, &g)
		if okWith != ok || !okWith && st != before {
			t.Fatalf("ParseAV1DDWith ok %v (structure replaced: %v), ParseAV1DD ok %v", okWith, st != before, ok)
		}
		if okWith && (g.SID >= st.SpatialLayers || g.TID >= st.TemporalLayers || (g.SID < 0) != (g.TID < 0)) {
			t.Fatalf("layer outside the structure: %+v with %d spatial %d temporal", g, st.SpatialLayers, st.TemporalLayers)
		}
		if len(dd) < 3 && ok || ok && (fi.PictureID < 0 || fi.Keyframe != (len(dd) > 3 && dd[3]&0x80 != 0)) {
			t.Fatalf("ParseAV1DD(% x) = %v %+v", dd, ok, fi)
		}
	})
}

func FuzzParseH264(f *testing.F) {
	f.Fuzz(func(t *testing.T, p []byte) {
		var fi FrameInfo
		ok := ParseH264(p, &fi)
		checkCommon(t, "ParseH264", ok, &fi)
		if ok && (fi.TID != -1 || fi.Width != -1) {
			t.Fatalf("H.264 reported layer or size: %+v", fi)
		}
	})
}

// FuzzRewrite runs hostile packets and hostile offsets through a projection: Rewrite never
// panics or changes a packet's length, leaves a dropped packet untouched, and puts a forwarded
// one on the stream's SSRC with the codec fields still parseable.
func FuzzRewrite(f *testing.F) {
	f.Fuzz(func(t *testing.T, pkt []byte, codec uint8, payloadOff, ddOff, ddLen int, layers uint8) {
		c := Codec(codec % 6)
		p := NewProjection(true, 90000)
		s := &Stream{SSRC: 0x5eed}
		p.SetStream(s)
		p.SetTarget(0)
		p.SetLayers(int(layers&3)-1, int(layers>>2&3)-1)
		in := Packet{Codec: c, PayloadOffset: payloadOff, DDOffset: ddOff, DDLen: ddLen}
		if h, ok := ParseRTP(pkt); ok {
			in.Seq, in.TS, in.Marker = h.Seq, h.TS, h.Marker
			if layers&0x10 != 0 { // honest offsets
				in.PayloadOffset, in.PayloadEnd = h.HeaderLen, h.PayloadEnd
			}
			switch c {
			case CodecVP8:
				ParseVP8(h.Payload(pkt), &in.Frame)
			case CodecVP9:
				ParseVP9(h.Payload(pkt), &in.Frame)
			}
		}
		in.Keyframe, in.StartOfFrame = true, true
		for i := range 3 {
			b := bytes.Clone(pkt)
			ok := p.Rewrite(b, in, int64(i)*33e6)
			if len(b) != len(pkt) {
				t.Fatal("length changed")
			}
			if !ok {
				if !bytes.Equal(b, pkt) {
					t.Fatal("dropped packet changed")
				}
				continue
			}
			if h, hok := ParseRTP(b); hok && h.SSRC != s.SSRC {
				t.Fatalf("forwarded on SSRC %#x", h.SSRC)
			}
			var g FrameInfo
			if c == CodecVP8 && !ParseVP8(b[in.PayloadOffset:], &g) {
				t.Fatal("rewritten VP8 payload no longer parses")
			}
			in.Seq++
			in.Keyframe = false
		}
	})
}
