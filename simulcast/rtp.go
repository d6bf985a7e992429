package simulcast

import "encoding/binary"

// RTP header layout (RFC 3550 §5.1) and header extension profiles (RFC 8285 §4).
const (
	rtpFixedHeaderLen  = 12
	rtpVersion         = 2
	oneByteProfile     = 0xBEDE
	twoByteProfileMask = 0xFFF0
	twoByteProfile     = 0x1000
	oneByteReservedID  = 15
)

// RTPInfo is the parsed fixed header of one RTP packet and the positions of its variable parts.
// All offsets index the packet that was parsed.
type RTPInfo struct {
	PT     uint8
	Marker bool
	Seq    uint16
	TS     uint32
	SSRC   uint32
	// HeaderLen is the offset of the payload: fixed header, CSRCs and header extension.
	HeaderLen int
	// PayloadEnd is the end of the payload, i.e. the packet length minus any padding. A
	// padding-only packet has PayloadEnd == HeaderLen.
	PayloadEnd int
	// ExtOffset and ExtLen locate the header extension data (after its 4-byte profile and
	// length word); both are 0 when the packet has no extension.
	ExtOffset, ExtLen int
	// ExtProfile is the extension's "defined by profile" field: 0xBEDE for one-byte elements,
	// 0x100X for two-byte elements, 0 without an extension.
	ExtProfile uint16
}

// Payload returns the payload of pkt without padding, as located by h.
func (h *RTPInfo) Payload(pkt []byte) []byte {
	if h.HeaderLen < 0 || h.HeaderLen > h.PayloadEnd || h.PayloadEnd > len(pkt) {
		return nil
	}
	return pkt[h.HeaderLen:h.PayloadEnd:h.PayloadEnd]
}

// ParseRTP parses the header of a decrypted RTP packet. ok is false for anything that is not a
// well-formed version-2 RTP packet: too short for its CSRC list or extension, or with a padding
// count of zero or larger than the payload.
func ParseRTP(pkt []byte) (h RTPInfo, ok bool) {
	if len(pkt) < rtpFixedHeaderLen || pkt[0]>>6 != rtpVersion {
		return RTPInfo{}, false
	}
	b0 := pkt[0]
	off := rtpFixedHeaderLen + 4*int(b0&0x0f)
	if off > len(pkt) {
		return RTPInfo{}, false
	}
	h.PT = pkt[1] & 0x7f
	h.Marker = pkt[1]&0x80 != 0
	h.Seq = binary.BigEndian.Uint16(pkt[2:4])
	h.TS = binary.BigEndian.Uint32(pkt[4:8])
	h.SSRC = binary.BigEndian.Uint32(pkt[8:12])
	if b0&0x10 != 0 {
		if off+4 > len(pkt) {
			return RTPInfo{}, false
		}
		h.ExtProfile = binary.BigEndian.Uint16(pkt[off : off+2])
		h.ExtLen = 4 * int(binary.BigEndian.Uint16(pkt[off+2:off+4]))
		h.ExtOffset = off + 4
		off = h.ExtOffset + h.ExtLen
		if off > len(pkt) {
			return RTPInfo{}, false
		}
	}
	h.HeaderLen = off
	h.PayloadEnd = len(pkt)
	if b0&0x20 != 0 {
		if len(pkt) == off {
			return RTPInfo{}, false
		}
		pad := int(pkt[len(pkt)-1])
		if pad == 0 || pad > len(pkt)-off {
			return RTPInfo{}, false
		}
		h.PayloadEnd -= pad
	}
	return h, true
}

// Extension returns the value of the header extension element with the given local id, or nil
// if the packet has no such element (or its extension block is malformed before reaching it).
// Both RFC 8285 forms are understood: one-byte elements (profile 0xBEDE, ids 1-14) and two-byte
// elements (profile 0x100X, ids 1-255). A present two-byte element of length zero yields an
// empty, non-nil slice. The result aliases pkt and has no spare capacity.
func Extension(pkt []byte, h *RTPInfo, id uint8) []byte {
	off, n, ok := ExtensionAt(pkt, h, id)
	if !ok {
		return nil
	}
	return pkt[off : off+n : off+n]
}

// ExtensionAt is Extension returning where the element's value lies in pkt: its offset and
// length (for rewriting it in place, e.g. Packet.DDOffset and DDLen); ok is false if there is
// no such element.
func ExtensionAt(pkt []byte, h *RTPInfo, id uint8) (offset, length int, ok bool) {
	if id == 0 || h.ExtLen <= 0 || h.ExtOffset < 0 || h.ExtLen > len(pkt)-h.ExtOffset {
		return 0, 0, false
	}
	base := h.ExtOffset
	ext := pkt[base : base+h.ExtLen]
	switch {
	case h.ExtProfile == oneByteProfile:
		if id >= oneByteReservedID {
			return 0, 0, false
		}
		for i := 0; i < len(ext); {
			b := ext[i]
			if b == 0 { // padding
				i++
				continue
			}
			eid := b >> 4
			if eid == oneByteReservedID {
				return 0, 0, false
			}
			end := i + 1 + int(b&0x0f) + 1
			if end > len(ext) {
				return 0, 0, false
			}
			if eid == id {
				return base + i + 1, end - i - 1, true
			}
			i = end
		}
	case h.ExtProfile&twoByteProfileMask == twoByteProfile:
		for i := 0; i < len(ext); {
			eid := ext[i]
			if eid == 0 { // padding
				i++
				continue
			}
			if i+2 > len(ext) {
				return 0, 0, false
			}
			end := i + 2 + int(ext[i+1])
			if end > len(ext) {
				return 0, 0, false
			}
			if eid == id {
				return base + i + 2, end - i - 2, true
			}
			i = end
		}
	}
	return 0, 0, false
}

// AudioLevel decodes the ssrc-audio-level element (RFC 6464): the level in -dBov (0 loudest,
// 127 silence) and the voice activity flag. ok is false for an empty element.
func AudioLevel(ext []byte) (level uint8, voice bool, ok bool) {
	if len(ext) < 1 {
		return 0, false, false
	}
	return ext[0] & 0x7f, ext[0]&0x80 != 0, true
}

// SetSeq overwrites the sequence number of an RTP packet; it does nothing to a packet shorter
// than the fixed header.
func SetSeq(pkt []byte, seq uint16) {
	if len(pkt) >= rtpFixedHeaderLen {
		binary.BigEndian.PutUint16(pkt[2:4], seq)
	}
}

// SetTimestamp overwrites the RTP timestamp; it does nothing to a packet shorter than the fixed
// header.
func SetTimestamp(pkt []byte, ts uint32) {
	if len(pkt) >= rtpFixedHeaderLen {
		binary.BigEndian.PutUint32(pkt[4:8], ts)
	}
}

// SetSSRC overwrites the SSRC; it does nothing to a packet shorter than the fixed header.
func SetSSRC(pkt []byte, ssrc uint32) {
	if len(pkt) >= rtpFixedHeaderLen {
		binary.BigEndian.PutUint32(pkt[8:12], ssrc)
	}
}

// SetMarker sets or clears the marker bit (the VP9 projection marks the last forwarded spatial
// layer of a picture); it does nothing to a packet shorter than the fixed header.
func SetMarker(pkt []byte, marker bool) {
	if len(pkt) < rtpFixedHeaderLen {
		return
	}
	if marker {
		pkt[1] |= 0x80
	} else {
		pkt[1] &^= 0x80
	}
}
