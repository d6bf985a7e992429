package sfu

import (
	"errors"
	"fmt"
)

// Errors returned by the control-plane API. Callers compare with errors.Is.
var (
	errRemoteEndpoint   = errors.New("sfu: an endpoint behind a relay has no transport of its own")
	ErrConferenceExists = errors.New("sfu: conference already exists")
	ErrEndpointExists   = errors.New("sfu: endpoint already exists")
	ErrRelayExists      = errors.New("sfu: relay already exists")
	ErrSSRCConflict     = errors.New("sfu: SSRC is owned by another endpoint")
	ErrExpired          = errors.New("sfu: expired")
	ErrInvalidSource    = errors.New("sfu: invalid source")
	ErrNoDataChannel    = errors.New("sfu: no data channel")
)

// MediaType is the kind of media a source, payload type or header extension belongs to.
type MediaType uint8

// The media types the bridge forwards.
const (
	MediaAudio MediaType = iota + 1
	MediaVideo
)

// String returns "audio", "video" or a descriptive placeholder for invalid values.
func (m MediaType) String() string {
	switch m {
	case MediaAudio:
		return "audio"
	case MediaVideo:
		return "video"
	default:
		return fmt.Sprintf("MediaType(%d)", uint8(m))
	}
}

// EndpointConfig is what the control plane knows about an endpoint when it creates it.
type EndpointConfig struct {
	ID, StatsID    string
	Visitor        bool
	ICEControlling bool
	SCTP           bool
	SSRCRewriting  bool // the endpoint learns remote sources from VideoSourcesMap/AudioSourcesMap
	InitialLastN   int  // -1 unlimited
	PayloadTypes   []PayloadType
	HeaderExts     []HeaderExtension
}

// PayloadType is one negotiated RTP payload type.
type PayloadType struct {
	Media     MediaType
	ID        uint8
	Name      string
	ClockRate uint32
	Channels  int
	Params    map[string]string
	Feedback  []RTCPFeedback
}

// RTCPFeedback is one rtcp-fb attribute of a payload type ("nack" "pli", "ccm" "fir", ...).
type RTCPFeedback struct{ Type, Subtype string }

// HeaderExtension is one negotiated RTP header extension.
type HeaderExtension struct {
	Media MediaType
	ID    int
	URI   string
}

// Source is one SSRC an endpoint sends, with the source name it belongs to ("<ep>-v0").
type Source struct {
	SSRC      uint32
	Name      string
	VideoType string
	RID       string
}

// SSRCGroup ties SSRCs of one source together: "SIM" (simulcast), "FID" (RTX), "FEC-FR".
type SSRCGroup struct {
	Semantics string
	SSRCs     []uint32
}

// MediaSource is everything an endpoint signalled for one media type and source name.
type MediaSource struct {
	Type    MediaType
	Name    string
	Sources []Source
	Groups  []SSRCGroup
}
