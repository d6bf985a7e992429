package simulcast

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// rtpPacket describes a packet for buildRTP.
type rtpPacket struct {
	pt       uint8
	marker   bool
	seq      uint16
	ts, ssrc uint32
	csrcs    []uint32
	profile  uint16 // 0: no extension
	ext      []byte // extension data, padded to 32 bits by buildRTP
	payload  []byte
	padding  int
}

func buildRTP(p rtpPacket) []byte {
	b := make([]byte, 12)
	b[0] = 2<<6 | byte(len(p.csrcs))
	b[1] = p.pt & 0x7f
	if p.marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], p.seq)
	binary.BigEndian.PutUint32(b[4:], p.ts)
	binary.BigEndian.PutUint32(b[8:], p.ssrc)
	for _, c := range p.csrcs {
		b = binary.BigEndian.AppendUint32(b, c)
	}
	if p.profile != 0 {
		b[0] |= 0x10
		ext := append([]byte(nil), p.ext...)
		for len(ext)%4 != 0 {
			ext = append(ext, 0)
		}
		b = binary.BigEndian.AppendUint16(b, p.profile)
		b = binary.BigEndian.AppendUint16(b, uint16(len(ext)/4))
		b = append(b, ext...)
	}
	b = append(b, p.payload...)
	if p.padding > 0 {
		b[0] |= 0x20
		b = append(b, make([]byte, p.padding-1)...)
		b = append(b, byte(p.padding))
	}
	return b
}

// oneByteExt encodes RFC 8285 one-byte elements id, value, id, value, ...
func oneByteExt(elems ...any) []byte {
	var b []byte
	for i := 0; i < len(elems); i += 2 {
		v := elems[i+1].([]byte)
		if len(v) < 1 || len(v) > 16 {
			panic("one-byte extension elements carry 1 to 16 bytes")
		}
		b = append(b, byte(elems[i].(int))<<4|byte(len(v)-1))
		b = append(b, v...)
	}
	return b
}

func twoByteExt(elems ...any) []byte {
	var b []byte
	for i := 0; i < len(elems); i += 2 {
		v := elems[i+1].([]byte)
		b = append(b, byte(elems[i].(int)), byte(len(v)))
		b = append(b, v...)
	}
	return b
}

func TestParseRTPHeaderFields(t *testing.T) {
	payload := []byte{0xde, 0xad, 0xbe, 0xef, 0x01}
	for _, tc := range []struct {
		name string
		pkt  rtpPacket
		want RTPInfo
	}{
		{
			name: "plain",
			pkt:  rtpPacket{pt: 100, marker: true, seq: 0xfffe, ts: 0xdeadbeef, ssrc: 0x01020304, payload: payload},
			want: RTPInfo{PT: 100, Marker: true, Seq: 0xfffe, TS: 0xdeadbeef, SSRC: 0x01020304, HeaderLen: 12, PayloadEnd: 17},
		},
		{
			name: "csrcs",
			pkt:  rtpPacket{pt: 111, seq: 1, ts: 2, ssrc: 3, csrcs: []uint32{7, 8, 9}, payload: payload},
			want: RTPInfo{PT: 111, Seq: 1, TS: 2, SSRC: 3, HeaderLen: 24, PayloadEnd: 29},
		},
		{
			name: "padding",
			pkt:  rtpPacket{pt: 96, ssrc: 5, payload: payload, padding: 7},
			want: RTPInfo{PT: 96, SSRC: 5, HeaderLen: 12, PayloadEnd: 17},
		},
		{
			name: "padding only",
			pkt:  rtpPacket{pt: 96, ssrc: 5, padding: 224},
			want: RTPInfo{PT: 96, SSRC: 5, HeaderLen: 12, PayloadEnd: 12},
		},
		{
			name: "one-byte extension and csrc and padding",
			pkt: rtpPacket{pt: 100, ssrc: 5, csrcs: []uint32{1}, profile: 0xBEDE,
				ext: oneByteExt(1, []byte{0x85}), payload: payload, padding: 3},
			want: RTPInfo{PT: 100, SSRC: 5, HeaderLen: 24, PayloadEnd: 29, ExtOffset: 20, ExtLen: 4, ExtProfile: 0xBEDE},
		},
		{
			name: "two-byte extension",
			pkt: rtpPacket{pt: 100, ssrc: 5, profile: 0x1000,
				ext: twoByteExt(20, []byte{1, 2, 3, 4, 5}), payload: payload},
			want: RTPInfo{PT: 100, SSRC: 5, HeaderLen: 24, PayloadEnd: 29, ExtOffset: 16, ExtLen: 8, ExtProfile: 0x1000},
		},
		{
			name: "empty extension block",
			pkt:  rtpPacket{pt: 100, ssrc: 5, profile: 0xBEDE, payload: payload},
			want: RTPInfo{PT: 100, SSRC: 5, HeaderLen: 16, PayloadEnd: 21, ExtOffset: 16, ExtLen: 0, ExtProfile: 0xBEDE},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkt := buildRTP(tc.pkt)
			h, ok := ParseRTP(pkt)
			if !ok {
				t.Fatalf("ParseRTP(% x) not ok", pkt)
			}
			if h != tc.want {
				t.Fatalf("ParseRTP = %+v, want %+v", h, tc.want)
			}
			if got, want := h.Payload(pkt), tc.pkt.payload; !bytes.Equal(got, want) {
				t.Fatalf("Payload = % x, want % x", got, want)
			}
		})
	}
}

func TestParseRTPRejectsMalformed(t *testing.T) {
	good := buildRTP(rtpPacket{pt: 100, ssrc: 5, csrcs: []uint32{1, 2}, profile: 0xBEDE,
		ext: oneByteExt(1, []byte{0x85}, 3, []byte{1, 2, 3}), payload: []byte{0x00, 0xff, 0xfe}, padding: 4})
	if _, ok := ParseRTP(good); !ok {
		t.Fatal("reference packet does not parse")
	}
	// Every strict prefix loses header bytes or ends in a byte that is no valid padding count
	// (payload 00 ff fe, padding 00 00 00 04).
	for n := range len(good) {
		if h, ok := ParseRTP(good[:n]); ok {
			t.Errorf("ParseRTP of %d-byte prefix = %+v, want not ok", n, h)
		}
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for name, pkt := range map[string][]byte{
		"version 1":            mutate(func(b []byte) []byte { b[0] = b[0]&0x3f | 1<<6; return b }),
		"version 0":            mutate(func(b []byte) []byte { b[0] &= 0x3f; return b }),
		"csrc count too big":   mutate(func(b []byte) []byte { b[0] |= 0x0f; return b }),
		"extension too long":   mutate(func(b []byte) []byte { b[22] = 0xff; return b }),
		"zero padding count":   mutate(func(b []byte) []byte { b[len(b)-1] = 0; return b }),
		"padding beyond body":  mutate(func(b []byte) []byte { b[len(b)-1] = 8; return b }),
		"padding bit, no body": func() []byte { b := buildRTP(rtpPacket{pt: 1}); b[0] |= 0x20; return b }(),
	} {
		if h, ok := ParseRTP(pkt); ok {
			t.Errorf("%s: ParseRTP = %+v, want not ok", name, h)
		}
	}
}

func TestParseRTPPaddingCoversWholePayload(t *testing.T) {
	// 3 payload bytes + padding 4: a count of 7 still fits (payload turns into padding).
	pkt := buildRTP(rtpPacket{pt: 1, payload: []byte{1, 2, 3}, padding: 4})
	pkt[len(pkt)-1] = 7
	h, ok := ParseRTP(pkt)
	if !ok || h.PayloadEnd != h.HeaderLen {
		t.Fatalf("ParseRTP = %+v, %v; want ok with empty payload", h, ok)
	}
}

func TestExtension(t *testing.T) {
	dd := []byte{0x80, 0x00, 0x01, 0x80, 0x11}
	oneByte := buildRTP(rtpPacket{pt: 100, profile: 0xBEDE, payload: []byte{9},
		// padding bytes between elements are allowed (RFC 8285 §4.2)
		ext: append(append(oneByteExt(1, []byte{0x85}), 0, 0), oneByteExt(5, []byte{0x12, 0x34}, 11, dd)...)})
	twoByte := buildRTP(rtpPacket{pt: 100, profile: 0x1001, payload: []byte{9},
		ext: append(append(twoByteExt(1, []byte{0x85}, 30, []byte{}), 0), twoByteExt(200, dd)...)})
	stop := buildRTP(rtpPacket{pt: 100, profile: 0xBEDE, payload: []byte{9},
		ext: append(append(oneByteExt(1, []byte{0x85}), 0xf0), oneByteExt(5, []byte{1, 2})...)})
	truncated := buildRTP(rtpPacket{pt: 100, profile: 0xBEDE, payload: []byte{9},
		ext: append(oneByteExt(1, []byte{0x85}), 0x5f)}) // element 5 claims 16 bytes
	otherProfile := buildRTP(rtpPacket{pt: 100, profile: 0x1234, payload: []byte{9}, ext: oneByteExt(1, []byte{0x85})})
	noExt := buildRTP(rtpPacket{pt: 100, payload: []byte{9}})
	for _, tc := range []struct {
		name string
		pkt  []byte
		id   uint8
		want []byte // nil: absent
	}{
		{"one-byte first", oneByte, 1, []byte{0x85}},
		{"one-byte after padding", oneByte, 5, []byte{0x12, 0x34}},
		{"one-byte last", oneByte, 11, dd},
		{"one-byte absent", oneByte, 3, nil},
		{"one-byte id 0", oneByte, 0, nil},
		{"one-byte id 15", oneByte, 15, nil},
		{"one-byte id beyond 14", oneByte, 200, nil},
		{"two-byte first", twoByte, 1, []byte{0x85}},
		{"two-byte zero length", twoByte, 30, []byte{}},
		{"two-byte large id after padding", twoByte, 200, dd},
		{"two-byte absent", twoByte, 2, nil},
		{"before id 15", stop, 1, []byte{0x85}},
		{"after id 15 ignored", stop, 5, nil},
		{"before truncated element", truncated, 1, []byte{0x85}},
		{"truncated element", truncated, 5, nil},
		{"unknown profile", otherProfile, 1, nil},
		{"no extension", noExt, 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, ok := ParseRTP(tc.pkt)
			if !ok {
				t.Fatalf("ParseRTP(% x) not ok", tc.pkt)
			}
			got := Extension(tc.pkt, &h, tc.id)
			if (got == nil) != (tc.want == nil) || !bytes.Equal(got, tc.want) {
				t.Fatalf("Extension(%d) = % x (nil %v), want % x (nil %v)", tc.id, got, got == nil, tc.want, tc.want == nil)
			}
			if cap(got) != len(got) {
				t.Errorf("Extension returned spare capacity %d > %d: appends would overwrite the packet", cap(got), len(got))
			}
		})
	}
}

func TestExtensionIgnoresInconsistentInfo(t *testing.T) {
	pkt := buildRTP(rtpPacket{pt: 100, profile: 0xBEDE, ext: oneByteExt(1, []byte{0x85})})
	h, _ := ParseRTP(pkt)
	for _, bad := range []RTPInfo{
		{ExtProfile: 0xBEDE, ExtOffset: 16, ExtLen: 400},
		{ExtProfile: 0xBEDE, ExtOffset: -4, ExtLen: 4},
		{ExtProfile: 0xBEDE, ExtOffset: 1 << 62, ExtLen: 1 << 62},
	} {
		if got := Extension(pkt, &bad, 1); got != nil {
			t.Errorf("Extension with %+v = % x, want nil", bad, got)
		}
	}
	if got := Extension(pkt[:10], &h, 1); got != nil {
		t.Errorf("Extension of a shorter buffer = % x, want nil", got)
	}
}

func TestAudioLevel(t *testing.T) {
	for _, tc := range []struct {
		ext   []byte
		level uint8
		voice bool
		ok    bool
	}{
		{[]byte{0x85}, 5, true, true},
		{[]byte{0x7f}, 127, false, true},
		{[]byte{0x00, 0x00, 0x00}, 0, false, true}, // padded element
		{[]byte{}, 0, false, false},
		{nil, 0, false, false},
	} {
		level, voice, ok := AudioLevel(tc.ext)
		if level != tc.level || voice != tc.voice || ok != tc.ok {
			t.Errorf("AudioLevel(% x) = %d, %v, %v; want %d, %v, %v", tc.ext, level, voice, ok, tc.level, tc.voice, tc.ok)
		}
	}
}

func TestSetHeaderFields(t *testing.T) {
	pkt := buildRTP(rtpPacket{pt: 100, seq: 1, ts: 2, ssrc: 3, csrcs: []uint32{4}, payload: []byte{5}})
	orig := append([]byte(nil), pkt...)
	SetSeq(pkt, 0xabcd)
	SetTimestamp(pkt, 0x01020304)
	SetSSRC(pkt, 0xcafebabe)
	SetMarker(pkt, true)
	h, ok := ParseRTP(pkt)
	if !ok || h.Seq != 0xabcd || h.TS != 0x01020304 || h.SSRC != 0xcafebabe || !h.Marker || h.PT != 100 {
		t.Fatalf("after setters ParseRTP = %+v, %v", h, ok)
	}
	if !bytes.Equal(pkt[12:], orig[12:]) || pkt[0] != orig[0] {
		t.Fatalf("setters touched bytes outside their fields: % x -> % x", orig, pkt)
	}
	SetMarker(pkt, false)
	if h, _ := ParseRTP(pkt); h.Marker || h.PT != 100 {
		t.Fatalf("SetMarker(false) gave %+v", h)
	}
	short := []byte{0x80, 1, 2}
	SetSeq(short, 1)
	SetTimestamp(short, 1)
	SetSSRC(short, 1)
	SetMarker(short, true)
	if !bytes.Equal(short, []byte{0x80, 1, 2}) {
		t.Fatalf("setters changed a short packet: % x", short)
	}
}

func TestCodecFromName(t *testing.T) {
	for name, want := range map[string]Codec{
		"opus": CodecOpus, "OPUS": CodecOpus, "VP8": CodecVP8, "vp8": CodecVP8, "Vp9": CodecVP9,
		"av1": CodecAV1, "AV1": CodecAV1, "h264": CodecH264, "H264": CodecH264,
		"": CodecUnknown, "H265": CodecUnknown, "red": CodecUnknown, "vp8 ": CodecUnknown,
	} {
		if got := CodecFromName(name); got != want {
			t.Errorf("CodecFromName(%q) = %v, want %v", name, got, want)
		}
	}
	if got := Codec(200).String(); got != "unknown" {
		t.Errorf("Codec(200).String() = %q", got)
	}
}
