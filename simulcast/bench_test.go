package simulcast

import (
	"testing"
	"time"
)

// Extension ids of jicofo's default offer (media-plane spec §2.6).
const (
	extAudioLevel   = 1
	extAbsSendTime  = 3
	extTCC          = 5
	extMid          = 10
	extAV1DD        = 11
	benchPacketSize = 1200
)

// vp8Packet1200 is a 1200-byte VP8 simulcast keyframe packet as Chrome sends it: abs-send-time,
// transport-cc and mid extensions, a full descriptor, the keyframe header.
func vp8Packet1200() []byte {
	body := vp8Keyframe(1280, 720)
	desc := buildVP8(vp8Desc{start: true, pictureID: 0x1234, wide: true, tl0: 200, tid: 0, keyIdx: -1}, body)
	pkt := buildRTP(rtpPacket{pt: 100, marker: true, seq: 4711, ts: 90000, ssrc: 0x11223344, profile: 0xBEDE,
		ext: oneByteExt(extAbsSendTime, []byte{1, 2, 3}, extTCC, []byte{0, 42}, extMid, []byte{'1'})})
	pkt = append(pkt, desc...)
	return append(pkt, make([]byte, benchPacketSize-len(pkt))...)
}

// av1Packet1200 is a 1200-byte AV1 packet with the given Dependency Descriptor.
func av1Packet1200(dd []byte) []byte {
	elems := []any{extAbsSendTime, []byte{1, 2, 3}, extTCC, []byte{0, 42}, extAV1DD, dd}
	p := rtpPacket{pt: 41, seq: 1, ts: 2, ssrc: 3}
	if len(dd) > 16 { // too long for a one-byte element: Chrome switches to two-byte elements
		p.profile, p.ext = 0x1000, twoByteExt(elems...)
	} else {
		p.profile, p.ext = 0xBEDE, oneByteExt(elems...)
	}
	pkt := buildRTP(p)
	return append(pkt, make([]byte, benchPacketSize-len(pkt))...)
}

// parseVideoPacket is the per-packet work of the receive path for a VP8 stream.
func parseVideoPacket(pkt []byte, f *FrameInfo) bool {
	h, ok := ParseRTP(pkt)
	if !ok || Extension(pkt, &h, extTCC) == nil {
		return false
	}
	return ParseVP8(h.Payload(pkt), f)
}

func parseAV1Packet(pkt []byte, s *AV1Structure, f *FrameInfo) bool {
	h, ok := ParseRTP(pkt)
	if !ok || Extension(pkt, &h, extTCC) == nil {
		return false
	}
	return ParseAV1DDWith(Extension(pkt, &h, extAV1DD), s, f)
}

func TestPerPacketParsingDoesNotAllocate(t *testing.T) {
	vp8 := vp8Packet1200()
	av1Key, av1Delta := av1Packet1200(buildDD(true, false, 62, 0x1234, l1t3)), av1Packet1200(buildDD(true, true, 1, 0x1235, nil))
	var f FrameInfo
	var s AV1Structure
	if !parseVideoPacket(vp8, &f) || !f.Keyframe || f.Width != 1280 || f.Height != 720 {
		t.Fatalf("benchmark VP8 packet parses as %+v", f)
	}
	if !parseAV1Packet(av1Key, &s, &f) || !f.Keyframe || f.PictureID != 0x1234 || f.Height != 720 {
		t.Fatalf("benchmark AV1 keyframe packet parses as %+v", f)
	}
	if !parseAV1Packet(av1Delta, &s, &f) || f.Keyframe || f.TID != 2 {
		t.Fatalf("benchmark AV1 delta packet parses as %+v", f)
	}
	pool := NewSlotPool(DefaultSlotLimit, seededRand(1))
	pool.Get("a-v0", t0)
	for name, fn := range map[string]func(){
		"VP8":             func() { parseVideoPacket(vp8, &f) },
		"AV1 DD keyframe": func() { parseAV1Packet(av1Key, &s, &f) },
		"AV1 DD delta":    func() { parseAV1Packet(av1Delta, &s, &f) },
		"AV1 DD keyframe without state": func() {
			h, _ := ParseRTP(av1Key)
			ParseAV1DD(Extension(av1Key, &h, extAV1DD), &f)
		},
		"rewrite": func() {
			h, _ := ParseRTP(vp8)
			SetSeq(vp8, 1)
			SetTimestamp(vp8, 2)
			SetSSRC(vp8, 3)
			SetVP8PictureID(h.Payload(vp8), 4)
			SetVP8TL0PICIDX(h.Payload(vp8), 5)
		},
		"slot of a mapped source": func() { pool.Get("a-v0", t0) },
	} {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocations per packet, want 0", name, n)
		}
	}
}

func BenchmarkParseVP8Packet1200(b *testing.B) {
	pkt := vp8Packet1200()
	var f FrameInfo
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		if !parseVideoPacket(pkt, &f) {
			b.Fatal("parse failed")
		}
	}
}

func BenchmarkParseAV1DDPacket1200(b *testing.B) {
	for _, bc := range []struct {
		name string
		dd   []byte
	}{
		{"keyframe-structure", buildDD(true, false, 62, 0x1234, l1t3)},
		{"delta", buildDD(true, true, 1, 0x1235, nil)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			pkt := av1Packet1200(bc.dd)
			var s AV1Structure
			ParseAV1DDWith(buildDD(true, false, 62, 1, l1t3), &s, new(FrameInfo))
			var f FrameInfo
			b.ReportAllocs()
			for b.Loop() {
				if !parseAV1Packet(pkt, &s, &f) {
					b.Fatal("parse failed")
				}
			}
		})
	}
}

func BenchmarkParseVP9SS(b *testing.B) {
	p := buildVP9(vp9Desc{start: true, pictureID: 0x1abc, wide: true, layers: true, tl0: 17,
		ss: vp9SS([][2]uint16{{320, 180}, {640, 360}, {1280, 720}}, [][]int{{0, 1}, {1, 1}})}, make([]byte, 1100))
	var f FrameInfo
	b.ReportAllocs()
	for b.Loop() {
		if !ParseVP9(p, &f) {
			b.Fatal("parse failed")
		}
	}
}

func BenchmarkRewriteVP8Packet(b *testing.B) {
	pkt := vp8Packet1200()
	h, _ := ParseRTP(pkt)
	payload := h.Payload(pkt)
	b.ReportAllocs()
	var i uint16
	for b.Loop() {
		i++
		SetSeq(pkt, i)
		SetTimestamp(pkt, uint32(i)*3000)
		SetSSRC(pkt, 0xabcdef01)
		SetVP8PictureID(payload, i)
		SetVP8TL0PICIDX(payload, uint8(i))
	}
}

func BenchmarkSlotPoolGetMapped(b *testing.B) {
	p := NewSlotPool(DefaultSlotLimit, seededRand(1))
	for i := range DefaultSlotLimit {
		p.Get(string(rune('A'+i)), t0)
	}
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		p.Get("Q", now)
	}
}
