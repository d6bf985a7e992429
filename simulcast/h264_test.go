package simulcast

import (
	"encoding/binary"
	"testing"
)

func stapA(nals ...[]byte) []byte {
	b := []byte{0x78} // F=0 NRI=3 type 24
	for _, n := range nals {
		b = binary.BigEndian.AppendUint16(b, uint16(len(n)))
		b = append(b, n...)
	}
	return b
}

func fuA(start, end bool, nalType byte, body ...byte) []byte {
	h := nalType
	if start {
		h |= 0x80
	}
	if end {
		h |= 0x40
	}
	return append([]byte{0x7c, h}, body...)
}

var (
	h264SPSNAL      = []byte{0x67, 0x42, 0xc0, 0x1f, 0x8c, 0x8d}
	h264PPSNAL      = []byte{0x68, 0xce, 0x3c, 0x80}
	h264IDRFirst    = []byte{0x65, 0x88, 0x84, 0x00} // first_mb_in_slice = 0
	h264IDRLater    = []byte{0x65, 0x41, 0x9a, 0x00} // first_mb_in_slice != 0
	h264SliceFirst  = []byte{0x41, 0x9a, 0x02, 0x00}
	h264SliceLater  = []byte{0x41, 0x01, 0x9a, 0x00}
	h264AUDNAL      = []byte{0x09, 0xf0}
	h264SEIMessage  = []byte{0x06, 0x05, 0x01, 0x00}
	h264FillerNAL12 = []byte{0x0c, 0xff, 0xff}
)

func TestParseH264(t *testing.T) {
	for _, tc := range []struct {
		name            string
		p               []byte
		keyframe, start bool
	}{
		{"single IDR first slice", h264IDRFirst, true, true},
		{"single IDR later slice", h264IDRLater, true, false},
		{"single SPS", h264SPSNAL, true, true},
		{"single PPS", h264PPSNAL, false, true},
		{"single non-IDR first slice", h264SliceFirst, false, true},
		{"single non-IDR later slice", h264SliceLater, false, false},
		{"single AUD", h264AUDNAL, false, true},
		{"single filler", h264FillerNAL12, false, false},
		{"STAP-A SPS PPS IDR", stapA(h264SPSNAL, h264PPSNAL, h264IDRFirst), true, true},
		{"STAP-A IDR after SEI", stapA(h264SEIMessage, h264IDRLater), true, true},
		{"STAP-A non-IDR slices", stapA(h264SliceLater, h264SliceLater), false, false},
		{"FU-A start IDR", fuA(true, false, 5, 0x88, 0x84), true, true},
		{"FU-A start IDR later slice", fuA(true, false, 5, 0x41), true, false},
		{"FU-A middle IDR", fuA(false, false, 5, 0x88, 0x84), false, false},
		{"FU-A end IDR", fuA(false, true, 5, 0x88), false, false},
		{"FU-A start non-IDR", fuA(true, false, 1, 0x9a), false, true},
		{"FU-A start with empty body", fuA(true, false, 5), true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := FrameInfo{TID: 3}
			if !ParseH264(tc.p, &f) {
				t.Fatalf("ParseH264(% x) not ok", tc.p)
			}
			want := FrameInfo{}
			want.Reset()
			want.Keyframe, want.StartOfFrame = tc.keyframe, tc.start
			if f != want {
				t.Fatalf("ParseH264(% x)\n got %+v\nwant %+v", tc.p, f, want)
			}
		})
	}
}

func TestParseH264RejectsMalformed(t *testing.T) {
	full := stapA(h264SPSNAL, h264PPSNAL, h264IDRFirst)
	var unknown FrameInfo
	unknown.Reset()
	var f FrameInfo
	// A STAP-A cut anywhere but at a NAL unit boundary is malformed.
	boundaries := map[int]bool{1 + 2 + len(h264SPSNAL): true, 1 + 2 + len(h264SPSNAL) + 2 + len(h264PPSNAL): true}
	for n := range len(full) {
		ok := ParseH264(full[:n], &f)
		if ok != boundaries[n] {
			t.Errorf("ParseH264 of %d-byte STAP-A prefix ok = %v, want %v", n, ok, boundaries[n])
		}
		if !ok && f != unknown {
			t.Errorf("ParseH264 of %d-byte prefix left %+v", n, f)
		}
	}
	for name, p := range map[string][]byte{
		"empty":               {},
		"NAL type 0":          {0x00, 1, 2},
		"FU-A without header": {0x7c},
		"STAP-A zero size":    {0x78, 0, 0, 0x65},
	} {
		if ParseH264(p, &f) || f != unknown {
			t.Errorf("%s: ParseH264(% x) ok or not reset: %+v", name, p, f)
		}
	}
}
