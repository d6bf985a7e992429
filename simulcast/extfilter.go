package simulcast

// ExtensionSet is a set of RTP header extension ids (1-255).
type ExtensionSet [4]uint64

// Add puts id in the set.
func (s *ExtensionSet) Add(id uint8) { s[id>>6] |= 1 << (id & 63) }

// Has reports whether id is in the set.
func (s *ExtensionSet) Has(id uint8) bool { return s[id>>6]&(1<<(id&63)) != 0 }

// KeepExtensions removes, in place, every header extension element of pkt whose id is not in
// keep, by overwriting it with padding bytes (RFC 8285 allows padding between elements), so the
// packet keeps its size and every offset into it stays valid. It reports false, leaving pkt
// unchanged, for a malformed extension block.
func KeepExtensions(pkt []byte, h *RTPInfo, keep *ExtensionSet) bool {
	if h.ExtLen <= 0 {
		return true
	}
	if h.ExtOffset < 0 || h.ExtLen > len(pkt)-h.ExtOffset {
		return false
	}
	ext := pkt[h.ExtOffset : h.ExtOffset+h.ExtLen]
	// First pass validates, so a malformed block is left alone rather than half cleared.
	if !walkExtensions(ext, h.ExtProfile, nil) {
		return false
	}
	walkExtensions(ext, h.ExtProfile, func(id uint8, start, _, end int) {
		if !keep.Has(id) {
			clear(ext[start:end])
		}
	})
	return true
}

// ExtensionSpans calls f for every element of pkt's header extension block with its id and its
// offsets in pkt: where the element starts (its header), where its value starts, and where it
// ends. It reports false for a malformed block; f may then have seen the elements before the
// malformed one, which the caller discards.
func ExtensionSpans(pkt []byte, h *RTPInfo, f func(id uint8, start, value, end int)) bool {
	if h.ExtLen <= 0 {
		return true
	}
	if h.ExtOffset < 0 || h.ExtLen > len(pkt)-h.ExtOffset {
		return false
	}
	ext := pkt[h.ExtOffset : h.ExtOffset+h.ExtLen]
	base := h.ExtOffset
	return walkExtensions(ext, h.ExtProfile, func(id uint8, start, value, end int) {
		f(id, base+start, base+value, base+end)
	})
}

// walkExtensions calls f for every element (id, and the offsets of the element header, its value
// and its end) and reports whether the block is well formed.
func walkExtensions(ext []byte, profile uint16, f func(id uint8, start, value, end int)) bool {
	switch {
	case profile == oneByteProfile:
		for i := 0; i < len(ext); {
			b := ext[i]
			if b == 0 {
				i++
				continue
			}
			id := b >> 4
			if id == oneByteReservedID {
				return true // the rest is to be ignored (RFC 8285 §4.2)
			}
			end := i + 1 + int(b&0x0f) + 1
			if end > len(ext) {
				return false
			}
			if f != nil {
				f(id, i, i+1, end)
			}
			i = end
		}
	case profile&twoByteProfileMask == twoByteProfile:
		for i := 0; i < len(ext); {
			id := ext[i]
			if id == 0 {
				i++
				continue
			}
			if i+2 > len(ext) {
				return false
			}
			end := i + 2 + int(ext[i+1])
			if end > len(ext) {
				return false
			}
			if f != nil {
				f(id, i, i+2, end)
			}
			i = end
		}
	}
	return true
}
