package simulcast

import "encoding/binary"

// H.264 NAL unit types (RFC 6184 §5.2, H.264 table 7-1).
const (
	h264NonIDR = 1
	h264IDR    = 5
	h264SEI    = 6
	h264SPS    = 7
	h264PPS    = 8
	h264AUD    = 9
	h264STAPA  = 24
	h264FUA    = 28

	h264FUStart = 0x80
)

// ParseH264 reads the H.264 RTP payload (RFC 6184): a single NAL unit, a STAP-A aggregate or a
// FU-A fragment. Keyframe is set when the packet carries an IDR slice or an SPS (for FU-A only
// the fragment that starts the NAL unit counts). StartOfFrame is set when the first NAL unit
// the packet starts is an access unit delimiter, SPS, PPS, SEI, or the first slice of a picture
// (first_mb_in_slice = 0). TID, SID and the frame size stay -1. ok is false for NAL type 0 or a
// truncated STAP-A or FU-A.
func ParseH264(payload []byte, f *FrameInfo) bool {
	f.Reset()
	if len(payload) < 1 {
		return false
	}
	switch t := payload[0] & 0x1f; t {
	case 0:
		return false
	case h264STAPA:
		first := true
		for i := 1; i < len(payload); {
			if i+2 > len(payload) {
				f.Reset()
				return false
			}
			n := int(binary.BigEndian.Uint16(payload[i:]))
			i += 2
			if n == 0 || i+n > len(payload) {
				f.Reset()
				return false
			}
			nal := payload[i : i+n]
			i += n
			if first {
				f.StartOfFrame = h264StartsAccessUnit(nal[0]&0x1f, nal[1:])
				first = false
			}
			if t := nal[0] & 0x1f; t == h264IDR || t == h264SPS {
				f.Keyframe = true
			}
		}
		if first {
			return false // an aggregate with no NAL unit
		}
	case h264FUA:
		if len(payload) < 2 {
			return false
		}
		if payload[1]&h264FUStart != 0 {
			t := payload[1] & 0x1f
			f.StartOfFrame = h264StartsAccessUnit(t, payload[2:])
			f.Keyframe = t == h264IDR || t == h264SPS
		}
	default:
		f.StartOfFrame = h264StartsAccessUnit(t, payload[1:])
		f.Keyframe = t == h264IDR || t == h264SPS
	}
	return true
}

// h264StartsAccessUnit reports whether a NAL unit of type t whose bytes after the NAL header
// begin with rest can only be the first one of an access unit: a delimiter, parameter set or
// SEI, or a slice whose first_mb_in_slice (ue(v), first in the slice header) is 0, coded as a
// single 1 bit.
func h264StartsAccessUnit(t uint8, rest []byte) bool {
	switch t {
	case h264AUD, h264SPS, h264PPS, h264SEI:
		return true
	case h264NonIDR, h264IDR:
		return len(rest) > 0 && rest[0]&0x80 != 0
	}
	return false
}
