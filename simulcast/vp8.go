package simulcast

import "encoding/binary"

// VP8 payload descriptor bits (RFC 7741 §4.2).
const (
	vp8X = 0x80 // extended control bits present
	vp8S = 0x10 // start of VP8 partition
	vp8I = 0x80 // picture ID present
	vp8L = 0x40 // TL0PICIDX present
	vp8T = 0x20 // TID present
	vp8K = 0x10 // KEYIDX present
	vp8M = 0x80 // 15-bit picture ID
	vp8Y = 0x20 // layer sync
)

// vp8Fields are the offsets of the optional VP8 descriptor fields, -1 when absent.
type vp8Fields struct {
	pictureID, tl0, tidKey, payload int
}

// vp8Layout walks the payload descriptor; ok is false if it is truncated or not followed by
// at least one byte of VP8 payload.
func vp8Layout(p []byte) (l vp8Fields, ok bool) {
	l = vp8Fields{pictureID: -1, tl0: -1, tidKey: -1}
	if len(p) < 1 {
		return l, false
	}
	i := 1
	if p[0]&vp8X != 0 {
		if i >= len(p) {
			return l, false
		}
		x := p[i]
		i++
		if x&vp8I != 0 {
			if i >= len(p) {
				return l, false
			}
			l.pictureID = i
			if p[i]&vp8M != 0 {
				i += 2
			} else {
				i++
			}
		}
		if x&vp8L != 0 {
			l.tl0 = i
			i++
		}
		if x&(vp8T|vp8K) != 0 {
			l.tidKey = i
			i++
		}
	}
	if i >= len(p) {
		return l, false
	}
	l.payload = i
	return l, true
}

// ParseVP8 reads the VP8 payload descriptor (RFC 7741) and, on the first packet of a keyframe,
// the frame size from the keyframe header. ok is false for a truncated descriptor or an empty
// payload.
func ParseVP8(payload []byte, f *FrameInfo) bool {
	f.Reset()
	l, ok := vp8Layout(payload)
	if !ok {
		return false
	}
	p := payload
	f.SID = 0
	if i := l.pictureID; i >= 0 {
		if p[i]&vp8M != 0 {
			f.PictureID = int32(binary.BigEndian.Uint16(p[i:]) & 0x7fff)
		} else {
			f.PictureID = int32(p[i] & 0x7f)
		}
	}
	if i := l.tl0; i >= 0 {
		f.TL0PICIDX = int16(p[i])
	}
	if i := l.tidKey; i >= 0 && p[1]&vp8T != 0 {
		f.TID = int8(p[i] >> 6)
		f.LayerSync = p[i]&vp8Y != 0
	}
	f.StartOfFrame = p[0]&vp8S != 0 && p[0]&0x07 == 0
	if !f.StartOfFrame {
		return true
	}
	// VP8 payload header (RFC 7741 §4.3): bit 0 of the frame tag is the inverse key frame
	// flag; a keyframe continues with the start code 9d 01 2a and 14-bit width and height.
	h := p[l.payload:]
	f.Keyframe = h[0]&0x01 == 0
	if f.Keyframe && len(h) >= 10 && h[3] == 0x9d && h[4] == 0x01 && h[5] == 0x2a {
		f.Width = int(binary.LittleEndian.Uint16(h[6:]) & 0x3fff)
		f.Height = int(binary.LittleEndian.Uint16(h[8:]) & 0x3fff)
	}
	return true
}

// SetVP8PictureID overwrites the picture ID in place, keeping the descriptor's width (a 7-bit
// field gets id mod 128, a 15-bit one id mod 32768). It reports false, changing nothing, if the
// descriptor is malformed or has no picture ID.
func SetVP8PictureID(payload []byte, id uint16) bool {
	l, ok := vp8Layout(payload)
	if !ok || l.pictureID < 0 {
		return false
	}
	i := l.pictureID
	if payload[i]&vp8M != 0 {
		binary.BigEndian.PutUint16(payload[i:], vp8M<<8|id&0x7fff)
	} else {
		payload[i] = byte(id & 0x7f)
	}
	return true
}

// SetVP8TL0PICIDX overwrites TL0PICIDX in place. It reports false, changing nothing, if the
// descriptor is malformed or has no TL0PICIDX.
func SetVP8TL0PICIDX(payload []byte, v uint8) bool {
	l, ok := vp8Layout(payload)
	if !ok || l.tl0 < 0 {
		return false
	}
	payload[l.tl0] = v
	return true
}
