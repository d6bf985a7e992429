package simulcast

import (
	"encoding/binary"
	"math/bits"
)

// Dependency Descriptor limits (AV1 RTP spec appendix A): template ids are 6 bits.
const (
	av1DDMandatoryLen = 3 // start_of_frame(1) end_of_frame(1) template_id(6) frame_number(16)
	av1MaxTemplates   = 64
	// av1MaxTemporalLayers keeps temporal ids within the 3 bits of a layer index.
	av1MaxTemporalLayers = 8
)

// AV1Structure is what the forwarding needs of an AV1 template dependency structure: the
// spatial and temporal layer of every frame dependency template, and the render resolution of
// every spatial layer. Only keyframes carry the structure, so the receive path keeps the last
// one per stream and passes it to ParseAV1DDWith. The zero value knows no templates.
type AV1Structure struct {
	TemplateIDOffset uint8
	Templates        int // number of templates, 0 = no structure seen
	DecodeTargets    int
	SpatialLayers    int8
	TemporalLayers   int8
	HasResolutions   bool
	Width, Height    [MaxSpatialLayers]uint16 // render resolution per spatial layer
	templateSID      [av1MaxTemplates]uint8
	templateTID      [av1MaxTemplates]uint8
}

// Layer returns the spatial and temporal id of the template a descriptor names; ok is false
// if the structure has no such template.
func (s *AV1Structure) Layer(templateID uint8) (sid, tid int8, ok bool) {
	i := (int(templateID&0x3f) + av1MaxTemplates - int(s.TemplateIDOffset)) % av1MaxTemplates
	if i >= s.Templates {
		return -1, -1, false
	}
	return int8(s.templateSID[i]), int8(s.templateTID[i]), true
}

// ParseAV1DD reads an AV1 Dependency Descriptor header extension value on its own: start and
// end of frame, frame_number (into PictureID), and Keyframe when it carries a template
// dependency structure (only the first packet of a keyframe does). Such a packet also reports
// its layers (TID, SID) and, if the structure has them, the render resolutions; other packets
// need the stream's last structure, see ParseAV1DDWith. ok is false for fewer than three bytes
// or a malformed structure.
func ParseAV1DD(dd []byte, f *FrameInfo) bool {
	return ParseAV1DDWith(dd, nil, f)
}

// ParseAV1DDWith is ParseAV1DD for a stream whose last template dependency structure s holds:
// a descriptor that carries a structure replaces *s (a malformed one leaves it alone), and
// TID/SID come from s's template for the descriptor's template id (-1 if s has none). A nil s
// stands for a stream with no structure yet, and keeps none.
func ParseAV1DDWith(dd []byte, s *AV1Structure, f *FrameInfo) bool {
	var none AV1Structure
	if s == nil {
		s = &none
	}
	f.Reset()
	if len(dd) < av1DDMandatoryLen {
		return false
	}
	templateID := dd[0] & 0x3f
	if len(dd) > av1DDMandatoryLen && dd[av1DDMandatoryLen]&0x80 != 0 {
		// extended_descriptor_fields: structure present, active decode targets present,
		// custom dtis, custom fdiffs, custom chains; then the structure.
		r := bitReader{b: dd, pos: 8*av1DDMandatoryLen + 5}
		var st AV1Structure
		if !st.parse(&r) {
			return false
		}
		*s = st
		f.Keyframe = true
		f.SpatialLayers = st.SpatialLayers
		if st.HasResolutions {
			f.LayerWidth, f.LayerHeight = st.Width, st.Height
		}
	}
	f.StartOfFrame = dd[0]&0x80 != 0
	f.EndOfFrame = dd[0]&0x40 != 0
	f.PictureID = int32(binary.BigEndian.Uint16(dd[1:3]))
	if sid, tid, ok := s.Layer(templateID); ok {
		f.SID, f.TID = sid, tid
		if f.Keyframe && s.HasResolutions {
			f.Width, f.Height = int(s.Width[sid]), int(s.Height[sid])
		}
	}
	return true
}

// AV1DDTemplateID returns the frame_dependency_template_id of a Dependency Descriptor, which the
// projection rewrites together with frame_number; ok is false for fewer than three bytes.
func AV1DDTemplateID(dd []byte) (id uint8, ok bool) {
	if len(dd) < av1DDMandatoryLen {
		return 0, false
	}
	return dd[0] & 0x3f, true
}

// parse reads template_dependency_structure(). Structures with more than MaxSpatialLayers
// spatial layers, 8 temporal layers or 64 templates are rejected.
func (s *AV1Structure) parse(r *bitReader) bool {
	s.TemplateIDOffset = uint8(r.read(6))
	s.DecodeTargets = int(r.read(5)) + 1
	// template_layers: next_layer_idc 0 = same layer, 1 = next temporal, 2 = next spatial,
	// 3 = no more templates.
	var sid, tid, maxTID uint8
	for {
		if s.Templates == av1MaxTemplates || sid >= MaxSpatialLayers || tid >= av1MaxTemporalLayers {
			return false
		}
		s.templateSID[s.Templates], s.templateTID[s.Templates] = sid, tid
		s.Templates++
		idc := r.read(2)
		if r.short {
			return false
		}
		if idc == 3 {
			break
		}
		switch idc {
		case 1:
			tid++
			maxTID = max(maxTID, tid)
		case 2:
			sid++
			tid = 0
		}
	}
	s.SpatialLayers, s.TemporalLayers = int8(sid)+1, int8(maxTID)+1
	r.skip(2 * s.Templates * s.DecodeTargets) // template_dtis
	for range s.Templates {                   // template_fdiffs
		for r.read(1) == 1 && !r.short {
			r.skip(4)
		}
	}
	if chains := int(r.ns(uint32(s.DecodeTargets) + 1)); chains > 0 { // template_chains
		for range s.DecodeTargets {
			r.ns(uint32(chains)) // decode_target_protected_by
		}
		r.skip(4 * s.Templates * chains)
	}
	s.HasResolutions = r.read(1) == 1
	if s.HasResolutions {
		for i := range int(s.SpatialLayers) {
			// render_width_minus_1: 65536 does not fit and is clamped.
			s.Width[i] = uint16(min(r.read(16)+1, 0xffff))
			s.Height[i] = uint16(min(r.read(16)+1, 0xffff))
		}
	}
	return !r.short
}

// bitReader reads big-endian bit fields; reading past the end sets short and yields zeros.
type bitReader struct {
	b     []byte
	pos   int
	short bool
}

func (r *bitReader) read(n int) uint32 {
	var v uint32
	for range n {
		if r.pos >= 8*len(r.b) {
			r.short = true
			return 0
		}
		v = v<<1 | uint32(r.b[r.pos>>3]>>(7-r.pos&7)&1)
		r.pos++
	}
	return v
}

func (r *bitReader) skip(n int) {
	r.pos += n
	if r.pos > 8*len(r.b) {
		r.short = true
	}
}

// ns reads a non-symmetric unsigned value below n (AV1 spec 4.10.10).
func (r *bitReader) ns(n uint32) uint32 {
	w := bits.Len32(n)
	m := uint32(1)<<w - n
	v := r.read(w - 1)
	if v < m {
		return v
	}
	return v<<1 - m + r.read(1)
}
