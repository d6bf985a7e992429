package channel

import (
	"encoding/json"
	"slices"
)

// colibriClass values, one per message class of spec §1.5.
const (
	ClassClientHello                           = "ClientHello"
	ClassServerHello                           = "ServerHello"
	ClassEndpointMessage                       = "EndpointMessage"
	ClassEndpointStats                         = "EndpointStats"
	ClassLastNChangedEvent                     = "LastNChangedEvent"
	ClassReceiverVideoConstraints              = "ReceiverVideoConstraints"
	ClassSourceVideoTypeMessage                = "SourceVideoTypeMessage"
	ClassVideoTypeMessage                      = "VideoTypeMessage"
	ClassReceiverAudioSubscription             = "ReceiverAudioSubscription"
	ClassDominantSpeakerEndpointChangeEvent    = "DominantSpeakerEndpointChangeEvent"
	ClassEndpointConnectivityStatusChangeEvent = "EndpointConnectivityStatusChangeEvent"
	ClassForwardedSources                      = "ForwardedSources"
	ClassSenderSourceConstraints               = "SenderSourceConstraints"
	ClassVideoSourcesMap                       = "VideoSourcesMap"
	ClassAudioSourcesMap                       = "AudioSourcesMap"
	ClassConnectionStats                       = "ConnectionStats"
	ClassSyntheticSourceSendingChangeEvent     = "SyntheticSourceSendingChangeEvent"
	ClassAddReceiver                           = "AddReceiver"
	ClassRemoveReceiver                        = "RemoveReceiver"
)

// Limits applied by Parse before any JSON decoding.
const (
	// MaxMessageSize is the largest accepted message in bytes; larger ones fail with ErrTooLarge.
	MaxMessageSize = 64 << 10
	// MaxDepth is the deepest accepted nesting of objects and arrays (the envelope object is
	// depth 1); deeper input fails with ErrTooDeep.
	MaxDepth = 32
)

// Video types as normalised by Parse (JVB's VideoType enum, matched case-insensitively).
// VideoTypeNone is deprecated in JVB in favour of VideoTypeDisabled; both mean "not sending".
const (
	VideoTypeCamera         = "camera"
	VideoTypeDesktop        = "desktop"
	VideoTypeDesktopHighFPS = "desktop_high_fps"
	VideoTypeDisabled       = "disabled"
	VideoTypeNone           = "none"
)

// Audio subscription modes (the legacy "mode" values, also derived from the new format).
const (
	AudioAll     = "All"
	AudioNone    = "None"
	AudioInclude = "Include"
	AudioExclude = "Exclude"
)

// Message is one decoded bridge channel message. All implementations are pointer types.
type Message interface {
	// Class returns the message's colibriClass.
	Class() string
}

// ClientHello (client→bridge) asks the bridge to reply with ServerHello on the same channel.
type ClientHello struct{}

// ServerHello (bridge→client) is sent when a WebSocket is accepted and in reply to ClientHello.
type ServerHello struct {
	// Version is announced only when configured; "version" is omitted when empty.
	Version string
}

// EndpointMessage is an endpoint-to-endpoint message routed by the bridge.
//
// To == "" means broadcast to every other endpoint (JVB treats a blank "to" as broadcast);
// otherwise it names one endpoint. A message without a string "to" is malformed (JVB rejects
// it too). Payload is "msgPayload" exactly as received, nil when absent. The bridge does not
// look inside the payload: like JVB it forwards any JSON value, even though lib-jitsi-meet
// ignores messages whose msgPayload is not an object (see PayloadIsObject). Raw is the whole
// object as received (a copy, safe to keep); forward it with WithFrom, which sets "from" to the
// real sender.
type EndpointMessage struct {
	To      string
	Payload json.RawMessage
	Raw     []byte
}

// PayloadIsObject reports whether msgPayload is a JSON object, the only kind lib-jitsi-meet
// delivers to the application.
func (m *EndpointMessage) PayloadIsObject() bool {
	return len(m.Payload) > 0 && m.Payload[0] == '{'
}

// EndpointStats carries free-form statistics from one endpoint (bitrate, connectionQuality,
// jvbRTT, ...) that the bridge forwards to interested endpoints with "from" set (WithFrom).
// Raw is the whole object as received (a copy).
type EndpointStats struct {
	Raw []byte
}

// LastNChangedEvent (client→bridge) sets the receiver's lastN; -1 means unlimited. "lastN"
// is required.
type LastNChangedEvent struct {
	LastN int
}

// VideoConstraints limits one video source: MaxHeight and MaxFrameRate are -1 for unlimited,
// 0 for disabled, otherwise the limit. MaxHeight is really the smaller frame dimension. JSON:
// {"maxHeight": int, "maxFrameRate": number}; "maxHeight" is required, a missing
// "maxFrameRate" decodes as -1. Other negative values are malformed, as in JVB.
type VideoConstraints struct {
	MaxHeight    int
	MaxFrameRate float64
}

// ReceiverVideoConstraints (client→bridge) is what a receiver wants to see (spec §3.1). Every
// field is optional and an absent field leaves the receiver's state unchanged; a JSON null counts
// as absent.
type ReceiverVideoConstraints struct {
	// LastN is nil when "lastN" is absent.
	LastN *int
	// SelectedSources/OnStageSources hold the lists; HasSelected/HasOnStage say whether the
	// field was present, so a present empty list (clear the selection) differs from an absent
	// one. Empty lists decode as nil slices.
	SelectedSources []string
	OnStageSources  []string
	HasSelected     bool
	HasOnStage      bool
	// DefaultConstraints is nil when "defaultConstraints" is absent.
	DefaultConstraints *VideoConstraints
	// Constraints maps source name to constraints; nil when absent, empty non-nil when "{}".
	Constraints map[string]VideoConstraints
	// AssumedBandwidthBps is nil when "assumedBandwidthBps" is absent.
	AssumedBandwidthBps *int64
}

// SourceVideoTypeMessage (client→bridge, bridge→relay) sets one source's video type. VideoType is
// one of the VideoType* constants (decoded case-insensitively; unknown values are malformed).
// EndpointID is set only on relays ("endpointId", omitted when empty).
type SourceVideoTypeMessage struct {
	SourceName string
	VideoType  string
	EndpointID string
}

// VideoTypeMessage is the deprecated per-endpoint form of SourceVideoTypeMessage; JVB maps it to
// source "<endpointId>-v0".
type VideoTypeMessage struct {
	VideoType  string
	EndpointID string
}

// ReceiverAudioSubscription (client→bridge) selects which audio sources the receiver gets.
//
// All, Include and Exclude are JVB's current model: a source named in Exclude is never received;
// one named in Include always is (the only way to get a synthetic source); any other source is
// received iff All. Both wire formats decode into it:
//   - new {"all": bool, "include": [...], "exclude": [...]}, each optional ("all" defaults to
//     false, so an empty message subscribes to nothing, as in JVB);
//   - legacy {"mode": m, "list": [...]}, which wins when "mode" is present: "All" → All;
//     "None" → nothing; "Include" → Include=list; "Exclude" → All, Exclude=list. Any other mode
//     is malformed.
//
// Mode and List summarise the same state in the legacy vocabulary, derived by Parse exactly so:
//   - All and Exclude empty → Mode "All", List nil;
//   - All and Exclude non-empty → Mode "Exclude", List = Exclude;
//   - not All → the names of Include that are not in Exclude; none → Mode "None", List nil;
//     otherwise Mode "Include" with those names.
//
// The summary drops Include when All is set (it matters only for synthetic sources). Encode
// writes the new format from All/Include/Exclude and ignores Mode/List; build values to encode
// with NewAudioSubscription.
type ReceiverAudioSubscription struct {
	Mode    string
	List    []string
	All     bool
	Include []string
	Exclude []string
}

// NewAudioSubscription returns a subscription with Mode and List derived from all, include and
// exclude as Parse derives them. Empty lists are stored as nil.
func NewAudioSubscription(all bool, include, exclude []string) *ReceiverAudioSubscription {
	s := &ReceiverAudioSubscription{All: all, Include: nilIfEmpty(include), Exclude: nilIfEmpty(exclude)}
	switch {
	case all && len(s.Exclude) == 0:
		s.Mode = AudioAll
	case all:
		s.Mode, s.List = AudioExclude, s.Exclude
	default:
		var list []string
		for _, name := range s.Include {
			if !slices.Contains(s.Exclude, name) {
				list = append(list, name)
			}
		}
		if len(list) == 0 {
			s.Mode = AudioNone
		} else {
			s.Mode, s.List = AudioInclude, list
		}
	}
	return s
}

// DominantSpeakerEndpointChangeEvent (bridge→client): the dominant speaker, the other recent
// speakers in order, and whether the conference is silent.
type DominantSpeakerEndpointChangeEvent struct {
	DominantSpeakerEndpoint string
	PreviousSpeakers        []string
	Silence                 bool
}

// EndpointConnectivityStatusChangeEvent (bridge→client) reports that an endpoint became
// (in)active. On the wire "active" is the string "true"/"false", not a JSON boolean.
type EndpointConnectivityStatusChangeEvent struct {
	Endpoint string
	Active   bool
}

// ForwardedSources (bridge→client) lists the video sources currently forwarded to the receiver.
// "forwardedSources" is always an array, never null.
type ForwardedSources struct {
	Sources []string
}

// SenderSourceConstraints (bridge→client) caps the height the sender should encode a source at.
type SenderSourceConstraints struct {
	SourceName string
	MaxHeight  int
}

// VideoSourceMapping maps one forwarded video source to the bridge's send SSRCs (SSRC
// rewriting). SSRC and RTX are JSON numbers; Mid is omitted when empty. VideoType is written as
// given: JVB writes its enum name in upper case ("CAMERA", "DESKTOP", ...), not the lower-case
// values clients send in SourceVideoTypeMessage.
type VideoSourceMapping struct {
	Source    string
	Owner     string
	SSRC      uint32
	RTX       uint32
	VideoType string
	Mid       string
}

// VideoSourcesMap (bridge→client) announces new or changed video mappings ("mappedSources").
type VideoSourcesMap struct {
	Mapped []VideoSourceMapping
}

// AudioSourceMapping maps one audio source to a bridge send SSRC; Mid is omitted when empty.
type AudioSourceMapping struct {
	Source string
	Owner  string
	SSRC   uint32
	Mid    string
}

// AudioSourcesMap (bridge→client) announces new or changed audio mappings ("mappedSources").
type AudioSourcesMap struct {
	Mapped []AudioSourceMapping
}

// ConnectionStats (bridge→client) reports the bridge's downlink bandwidth estimate in bps.
type ConnectionStats struct {
	EstimatedDownlinkBandwidth int64
}

// SyntheticSourceSendingChangeEvent (bridge→client) says a synthetic (bridge-generated) audio
// source started or stopped sending at RTP timestamp Timestamp.
type SyntheticSourceSendingChangeEvent struct {
	SourceName string
	Sending    bool
	Timestamp  uint32
}

// AddReceiver (bridge→bridge) asks a relay to send a source with the given constraints.
// EndpointID is the legacy single-stream form ("endpointId", omitted when empty).
type AddReceiver struct {
	BridgeID         string
	SourceName       string
	EndpointID       string
	VideoConstraints *VideoConstraints
}

// RemoveReceiver (bridge→bridge) says a bridge no longer wants an endpoint's video.
type RemoveReceiver struct {
	BridgeID   string
	EndpointID string
}

// Unknown is returned by Parse, together with an error wrapping ErrUnknownClass, for a
// well-formed message whose colibriClass is not known here. ClassName is whatever the sender
// wrote (up to MaxMessageSize bytes): log it truncated and never use it as a metric label.
type Unknown struct {
	ClassName string
}

func (*ClientHello) Class() string               { return ClassClientHello }
func (*ServerHello) Class() string               { return ClassServerHello }
func (*EndpointMessage) Class() string           { return ClassEndpointMessage }
func (*EndpointStats) Class() string             { return ClassEndpointStats }
func (*LastNChangedEvent) Class() string         { return ClassLastNChangedEvent }
func (*ReceiverVideoConstraints) Class() string  { return ClassReceiverVideoConstraints }
func (*SourceVideoTypeMessage) Class() string    { return ClassSourceVideoTypeMessage }
func (*VideoTypeMessage) Class() string          { return ClassVideoTypeMessage }
func (*ReceiverAudioSubscription) Class() string { return ClassReceiverAudioSubscription }
func (*DominantSpeakerEndpointChangeEvent) Class() string {
	return ClassDominantSpeakerEndpointChangeEvent
}
func (*EndpointConnectivityStatusChangeEvent) Class() string {
	return ClassEndpointConnectivityStatusChangeEvent
}
func (*ForwardedSources) Class() string        { return ClassForwardedSources }
func (*SenderSourceConstraints) Class() string { return ClassSenderSourceConstraints }
func (*VideoSourcesMap) Class() string         { return ClassVideoSourcesMap }
func (*AudioSourcesMap) Class() string         { return ClassAudioSourcesMap }
func (*ConnectionStats) Class() string         { return ClassConnectionStats }
func (*SyntheticSourceSendingChangeEvent) Class() string {
	return ClassSyntheticSourceSendingChangeEvent
}
func (*AddReceiver) Class() string    { return ClassAddReceiver }
func (*RemoveReceiver) Class() string { return ClassRemoveReceiver }

// Class returns the unknown colibriClass as received.
func (u *Unknown) Class() string { return u.ClassName }

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
