package simulcast

import "strings"

// Codec is the media codec of an RTP stream, as negotiated by payload type.
type Codec uint8

// The codecs the bridge tells apart.
const (
	CodecUnknown Codec = iota
	CodecOpus
	CodecVP8
	CodecVP9
	CodecAV1
	CodecH264
)

var codecNames = [...]string{
	CodecUnknown: "unknown",
	CodecOpus:    "opus",
	CodecVP8:     "VP8",
	CodecVP9:     "VP9",
	CodecAV1:     "AV1",
	CodecH264:    "H264",
}

// CodecFromName maps an SDP/COLIBRI encoding name ("opus", "VP8", "VP9", "AV1", "H264", any
// case) to a Codec; anything else is CodecUnknown.
func CodecFromName(name string) Codec {
	for c := CodecOpus; c <= CodecH264; c++ {
		if strings.EqualFold(name, codecNames[c]) {
			return c
		}
	}
	return CodecUnknown
}

func (c Codec) String() string {
	if int(c) < len(codecNames) {
		return codecNames[c]
	}
	return codecNames[CodecUnknown]
}

// MaxSpatialLayers is the most spatial layers a VP9 scalability structure can describe, and
// the most this package accepts in an AV1 template dependency structure.
const MaxSpatialLayers = 8

// FrameInfo is what the forwarding decisions need of one video packet. The Parse functions
// reset it first; integer fields are -1 when the packet does not say.
type FrameInfo struct {
	// Keyframe is set on the packet that starts a keyframe (VP8, VP9, AV1) or that carries an
	// IDR slice or SPS (H.264).
	Keyframe bool
	// StartOfFrame and EndOfFrame delimit a (layer) frame. VP8 and H.264 payloads do not mark
	// the end of a frame: there EndOfFrame stays false and the RTP marker bit says it.
	StartOfFrame, EndOfFrame bool
	// LayerSync is the codec's switching point flag: VP8 Y bit, VP9 U bit.
	LayerSync bool
	// TID and SID are the temporal and spatial layer ids. A VP8 stream has only SID 0; AV1
	// needs the template structure (see ParseAV1DDWith); H.264 does not say.
	TID, SID int8
	// PictureID is the VP8/VP9 picture ID (7 or 15 bits) or the AV1 DD frame_number (16 bits).
	PictureID int32
	// TL0PICIDX is the VP8/VP9 temporal-level-zero index.
	TL0PICIDX int16
	// Width and Height are the frame size from a VP8 keyframe header, a VP9 scalability
	// structure or an AV1 DD structure's render resolutions (the size of the packet's own
	// spatial layer); only packets that carry one of those report it.
	Width, Height int
	// SpatialLayers is the number of spatial layers a VP9 scalability structure or an AV1
	// template dependency structure declares, with their sizes in LayerWidth/LayerHeight when it
	// carries them; -1 in packets without a structure.
	SpatialLayers int8
	LayerWidth    [MaxSpatialLayers]uint16
	LayerHeight   [MaxSpatialLayers]uint16
}

// Reset marks every field unknown.
func (f *FrameInfo) Reset() {
	*f = FrameInfo{TID: -1, SID: -1, PictureID: -1, TL0PICIDX: -1, Width: -1, Height: -1, SpatialLayers: -1}
}
