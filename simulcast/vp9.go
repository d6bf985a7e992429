package simulcast

import "encoding/binary"

// VP9 payload descriptor bits (RFC 9628 §4.2).
const (
	vp9I = 0x80 // picture ID present
	vp9P = 0x40 // inter-picture predicted
	vp9L = 0x20 // layer indices present
	vp9F = 0x10 // flexible mode
	vp9B = 0x08 // start of a layer frame
	vp9E = 0x04 // end of a layer frame
	vp9V = 0x02 // scalability structure present
	vp9M = 0x80 // 15-bit picture ID

	vp9MaxPDiffs = 3
)

// ParseVP9 reads the VP9 payload descriptor (RFC 9628) in flexible or non-flexible mode,
// including the scalability structure's layer sizes. Keyframe is set on the first packet of a
// spatial-layer-0 frame that is not inter-picture predicted. ok is false for a truncated
// descriptor or structure, more than three reference indices, or an empty payload.
func ParseVP9(payload []byte, f *FrameInfo) bool {
	f.Reset()
	if !parseVP9(payload, f) {
		f.Reset()
		return false
	}
	return true
}

func parseVP9(p []byte, f *FrameInfo) bool {
	if len(p) < 1 {
		return false
	}
	b0 := p[0]
	i := 1
	if b0&vp9I != 0 {
		if i >= len(p) {
			return false
		}
		if p[i]&vp9M != 0 {
			if i+2 > len(p) {
				return false
			}
			f.PictureID = int32(binary.BigEndian.Uint16(p[i:]) & 0x7fff)
			i += 2
		} else {
			f.PictureID = int32(p[i] & 0x7f)
			i++
		}
	}
	if b0&vp9L != 0 {
		if i >= len(p) {
			return false
		}
		// TID(3) U(1) SID(3) D(1)
		f.TID = int8(p[i] >> 5)
		f.LayerSync = p[i]&0x10 != 0
		f.SID = int8(p[i] >> 1 & 0x07)
		i++
		if b0&vp9F == 0 {
			if i >= len(p) {
				return false
			}
			f.TL0PICIDX = int16(p[i])
			i++
		}
	}
	if b0&vp9F != 0 && b0&vp9P != 0 {
		// P_DIFF(7) N(1), N says another follows.
		for n := 1; ; n++ {
			if i >= len(p) || n > vp9MaxPDiffs {
				return false
			}
			more := p[i]&0x01 != 0
			i++
			if !more {
				break
			}
		}
	}
	if b0&vp9V != 0 {
		var ok bool
		if i, ok = parseVP9SS(p, i, f); !ok {
			return false
		}
	}
	if i >= len(p) {
		return false
	}
	f.StartOfFrame = b0&vp9B != 0
	f.EndOfFrame = b0&vp9E != 0
	f.Keyframe = b0&vp9P == 0 && f.StartOfFrame && f.SID <= 0
	return true
}

// parseVP9SS reads the scalability structure at p[i:] and returns the offset after it.
func parseVP9SS(p []byte, i int, f *FrameInfo) (int, bool) {
	if i >= len(p) {
		return i, false
	}
	// N_S(3) Y(1) G(1) reserved(3)
	ns := int(p[i]>>5) + 1
	hasSizes := p[i]&0x10 != 0
	hasGroups := p[i]&0x08 != 0
	i++
	f.SpatialLayers = int8(ns)
	if hasSizes {
		if i+4*ns > len(p) {
			return i, false
		}
		for s := range ns {
			f.LayerWidth[s] = binary.BigEndian.Uint16(p[i:])
			f.LayerHeight[s] = binary.BigEndian.Uint16(p[i+2:])
			i += 4
		}
		s := ns - 1
		if f.SID >= 0 && int(f.SID) < ns {
			s = int(f.SID)
		}
		f.Width, f.Height = int(f.LayerWidth[s]), int(f.LayerHeight[s])
	}
	if hasGroups {
		if i >= len(p) {
			return i, false
		}
		ng := int(p[i])
		i++
		for range ng {
			if i >= len(p) {
				return i, false
			}
			// TID(3) U(1) R(2) reserved(2), then R P_DIFFs.
			i += 1 + int(p[i]>>2&0x03)
		}
		if i > len(p) {
			return i, false
		}
	}
	return i, true
}

// vp9Fields returns the offsets of the picture ID and TL0PICIDX in a VP9 payload descriptor,
// -1 when absent; ok is false for a descriptor too short to hold them.
func vp9Fields(p []byte) (pic, tl0 int, ok bool) {
	pic, tl0 = -1, -1
	if len(p) < 1 {
		return pic, tl0, false
	}
	b0 := p[0]
	i := 1
	if b0&vp9I != 0 {
		if i >= len(p) {
			return pic, tl0, false
		}
		pic = i
		i++
		if p[pic]&vp9M != 0 {
			i++
		}
	}
	if b0&vp9L != 0 {
		i++ // TID, U, SID, D
		if b0&vp9F == 0 {
			tl0 = i
			i++
		}
	}
	return pic, tl0, i <= len(p)
}

// setVP9Fields overwrites the picture ID (keeping its width) and TL0PICIDX of a VP9 payload
// descriptor where present; it reports false, changing nothing, for a truncated descriptor.
func setVP9Fields(p []byte, pictureID uint16, tl0 uint8) bool {
	pic, t, ok := vp9Fields(p)
	if !ok {
		return false
	}
	if pic >= 0 {
		if p[pic]&vp9M != 0 {
			binary.BigEndian.PutUint16(p[pic:], vp9M<<8|pictureID&0x7fff)
		} else {
			p[pic] = byte(pictureID & 0x7f)
		}
	}
	if t >= 0 {
		p[t] = tl0
	}
	return true
}
