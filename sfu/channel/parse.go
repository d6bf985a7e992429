package channel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// Parse decodes one message received from an endpoint (or relay). It never panics and does not
// retain data (Raw fields are copies).
//
// Checks run cheapest first: size (ErrTooLarge), nesting depth by a byte scan (ErrTooDeep),
// UTF-8 and JSON syntax, a single string "colibriClass" in a top-level object (ErrMalformed).
// An unknown class returns (*Unknown, error wrapping ErrUnknownClass). A known class whose
// fields have the wrong JSON type or a value JVB would reject returns an error wrapping
// ErrMalformed (and the json error, when there is one). Unknown fields are ignored.
//
// Bridge→client and bridge→bridge classes are known too: if an endpoint echoes one, Parse
// decodes it and the caller decides to ignore it.
func Parse(data []byte) (Message, error) {
	if len(data) > MaxMessageSize {
		return nil, fmt.Errorf("%d bytes > %d: %w", len(data), MaxMessageSize, ErrTooLarge)
	}
	if err := checkDepth(data); err != nil {
		return nil, fmt.Errorf("more than %d levels: %w", MaxDepth, err)
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("invalid UTF-8: %w", ErrMalformed)
	}
	if !json.Valid(data) {
		return nil, fmt.Errorf("invalid JSON: %w", ErrMalformed)
	}
	class, err := envelopeClass(data)
	if err != nil {
		return nil, err
	}
	m, err := decodeClass(class, data)
	if err != nil {
		if m != nil { // unknown class
			return m, err
		}
		return nil, fmt.Errorf("%s: %w", class, err)
	}
	return m, nil
}

// envelopeClass returns the value of the single top-level "colibriClass" (exact, case-sensitive
// key, as browsers read it).
func envelopeClass(data []byte) (string, error) {
	var (
		count int
		val   []byte
	)
	isObject := forEachMember(data, func(m member) {
		if keyIs(m.key, "colibriClass") {
			count++
			val = m.val
		}
	})
	switch {
	case !isObject:
		return "", fmt.Errorf("not a JSON object: %w", ErrMalformed)
	case count == 0:
		return "", fmt.Errorf("no colibriClass: %w", ErrMalformed)
	case count > 1:
		return "", fmt.Errorf("duplicate colibriClass: %w", ErrMalformed)
	case val[0] != '"':
		return "", fmt.Errorf("colibriClass is not a string: %w", ErrMalformed)
	}
	if bytes.IndexByte(val, '\\') < 0 {
		return string(val[1 : len(val)-1]), nil
	}
	var class string
	if err := json.Unmarshal(val, &class); err != nil {
		return "", fmt.Errorf("colibriClass: %w: %w", ErrMalformed, err)
	}
	return class, nil
}

// malformed wraps a json error (or a description) as ErrMalformed.
func malformed(err error) error { return fmt.Errorf("%w: %w", ErrMalformed, err) }

func malformedf(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrMalformed)
}

func decodeInto(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return malformed(err)
	}
	return nil
}

func decodeClass(class string, data []byte) (Message, error) {
	switch class {
	case ClassClientHello:
		return &ClientHello{}, nil
	case ClassEndpointMessage:
		return parseEndpointMessage(data)
	case ClassEndpointStats:
		return &EndpointStats{Raw: bytes.Clone(data)}, nil
	case ClassLastNChangedEvent:
		var w struct {
			LastN *int `json:"lastN"`
		}
		if err := decodeInto(data, &w); err != nil {
			return nil, err
		}
		if w.LastN == nil {
			return nil, malformedf("lastN missing")
		}
		if err := checkInt32("lastN", *w.LastN); err != nil {
			return nil, err
		}
		return &LastNChangedEvent{LastN: *w.LastN}, nil
	case ClassReceiverVideoConstraints:
		return parseReceiverVideoConstraints(data)
	case ClassSourceVideoTypeMessage:
		var w struct {
			SourceName *string `json:"sourceName"`
			VideoType  *string `json:"videoType"`
			EndpointID string  `json:"endpointId"`
		}
		if err := decodeInto(data, &w); err != nil {
			return nil, err
		}
		if w.SourceName == nil {
			return nil, malformedf("sourceName missing")
		}
		vt, err := videoType(w.VideoType)
		if err != nil {
			return nil, err
		}
		return &SourceVideoTypeMessage{SourceName: *w.SourceName, VideoType: vt, EndpointID: w.EndpointID}, nil
	case ClassVideoTypeMessage:
		var w struct {
			VideoType  *string `json:"videoType"`
			EndpointID string  `json:"endpointId"`
		}
		if err := decodeInto(data, &w); err != nil {
			return nil, err
		}
		vt, err := videoType(w.VideoType)
		if err != nil {
			return nil, err
		}
		return &VideoTypeMessage{VideoType: vt, EndpointID: w.EndpointID}, nil
	case ClassReceiverAudioSubscription:
		return parseAudioSubscription(data)
	}
	return decodeBridgeClass(class, data)
}

// decodeBridgeClass decodes the classes the bridge sends (to clients or relays). They are
// decoded leniently: absent fields are zero.
func decodeBridgeClass(class string, data []byte) (Message, error) {
	switch class {
	case ClassServerHello:
		var w struct {
			Version string `json:"version"`
		}
		if err := decodeInto(data, &w); err != nil {
			return nil, err
		}
		return &ServerHello{Version: w.Version}, nil
	case ClassDominantSpeakerEndpointChangeEvent:
		var w struct {
			DominantSpeakerEndpoint string   `json:"dominantSpeakerEndpoint"`
			PreviousSpeakers        []string `json:"previousSpeakers"`
			Silence                 bool     `json:"silence"`
		}
		if err := decodeInto(data, &w); err != nil {
			return nil, err
		}
		return &DominantSpeakerEndpointChangeEvent{
			DominantSpeakerEndpoint: w.DominantSpeakerEndpoint,
			PreviousSpeakers:        nilIfEmpty(w.PreviousSpeakers),
			Silence:                 w.Silence,
		}, nil
	case ClassEndpointConnectivityStatusChangeEvent:
		var w struct {
			Endpoint string          `json:"endpoint"`
			Active   json.RawMessage `json:"active"`
		}
		if err := decodeInto(data, &w); err != nil {
			return nil, err
		}
		m := &EndpointConnectivityStatusChangeEvent{Endpoint: w.Endpoint}
		switch string(w.Active) {
		case `"true"`, "true":
			m.Active = true
		case `"false"`, "false", "", "null":
		default:
			return nil, malformedf("active %.20s is not \"true\"/\"false\"", w.Active)
		}
		return m, nil
	case ClassForwardedSources:
		var w struct {
			Sources []string `json:"forwardedSources"`
		}
		if err := decodeInto(data, &w); err != nil {
			return nil, err
		}
		return &ForwardedSources{Sources: nilIfEmpty(w.Sources)}, nil
	case ClassSenderSourceConstraints:
		var w struct {
			SourceName string `json:"sourceName"`
			MaxHeight  int    `json:"maxHeight"`
		}
		if err := decodeInto(data, &w); err != nil {
			return nil, err
		}
		return &SenderSourceConstraints{SourceName: w.SourceName, MaxHeight: w.MaxHeight}, nil
	case ClassVideoSourcesMap:
		var w struct {
			Mapped []wireVideoMapping `json:"mappedSources"`
		}
		if err := decodeInto(data, &w); err != nil {
			return nil, err
		}
		m := &VideoSourcesMap{}
		for _, v := range w.Mapped {
			m.Mapped = append(m.Mapped, VideoSourceMapping(v))
		}
		return m, nil
	case ClassAudioSourcesMap:
		var w struct {
			Mapped []wireAudioMapping `json:"mappedSources"`
		}
		if err := decodeInto(data, &w); err != nil {
			return nil, err
		}
		m := &AudioSourcesMap{}
		for _, v := range w.Mapped {
			m.Mapped = append(m.Mapped, AudioSourceMapping(v))
		}
		return m, nil
	case ClassConnectionStats:
		var w struct {
			EstimatedDownlinkBandwidth int64 `json:"estimatedDownlinkBandwidth"`
		}
		if err := decodeInto(data, &w); err != nil {
			return nil, err
		}
		return &ConnectionStats{EstimatedDownlinkBandwidth: w.EstimatedDownlinkBandwidth}, nil
	case ClassSyntheticSourceSendingChangeEvent:
		var w wireSynthetic
		if err := decodeInto(data, &w); err != nil {
			return nil, err
		}
		return &SyntheticSourceSendingChangeEvent{SourceName: w.SourceName, Sending: w.Sending, Timestamp: w.Timestamp}, nil
	case ClassAddReceiver:
		var w wireAddReceiver
		if err := decodeInto(data, &w); err != nil {
			return nil, err
		}
		return &AddReceiver{BridgeID: w.BridgeID, SourceName: w.SourceName, EndpointID: w.EndpointID,
			VideoConstraints: w.VideoConstraints}, nil
	case ClassRemoveReceiver:
		var w wireRemoveReceiver
		if err := decodeInto(data, &w); err != nil {
			return nil, err
		}
		return &RemoveReceiver{BridgeID: w.BridgeID, EndpointID: w.EndpointID}, nil
	}
	return &Unknown{ClassName: class}, fmt.Errorf("%.64q: %w", class, ErrUnknownClass)
}

// Wire shapes shared by Parse and Encode.
type (
	wireVideoMapping struct {
		Source    string `json:"source"`
		Owner     string `json:"owner"`
		SSRC      uint32 `json:"ssrc"`
		RTX       uint32 `json:"rtx"`
		VideoType string `json:"videoType"`
		Mid       string `json:"mid,omitempty"`
	}
	wireAudioMapping struct {
		Source string `json:"source"`
		Owner  string `json:"owner"`
		SSRC   uint32 `json:"ssrc"`
		Mid    string `json:"mid,omitempty"`
	}
	wireSynthetic struct {
		ColibriClass string `json:"colibriClass"`
		SourceName   string `json:"sourceName"`
		Sending      bool   `json:"sending"`
		Timestamp    uint32 `json:"timestamp"`
	}
	wireAddReceiver struct {
		ColibriClass     string            `json:"colibriClass"`
		BridgeID         string            `json:"bridgeId"`
		EndpointID       string            `json:"endpointId,omitempty"`
		SourceName       string            `json:"sourceName"`
		VideoConstraints *VideoConstraints `json:"videoConstraints,omitempty"`
	}
	wireRemoveReceiver struct {
		ColibriClass string `json:"colibriClass"`
		BridgeID     string `json:"bridgeId"`
		EndpointID   string `json:"endpointId"`
	}
)

func parseEndpointMessage(data []byte) (Message, error) {
	raw := bytes.Clone(data)
	m := &EndpointMessage{Raw: raw}
	var to []byte
	forEachMember(raw, func(mem member) {
		switch {
		case keyIs(mem.key, "to"):
			to = mem.val
		case keyIs(mem.key, "msgPayload"):
			m.Payload = json.RawMessage(mem.val)
		}
	})
	if to == nil {
		return nil, malformedf("to missing")
	}
	if to[0] != '"' {
		return nil, malformedf("to is not a string")
	}
	if err := json.Unmarshal(to, &m.To); err != nil {
		return nil, malformed(err)
	}
	if string(m.Payload) == "null" {
		m.Payload = nil
	}
	return m, nil
}

// wireConstraints is VideoConstraints as decoded inside messages: plain fields, so decoding a map
// of them needs no nested json.Unmarshal; check validates it afterwards.
type wireConstraints struct {
	MaxHeight    *int     `json:"maxHeight"`
	MaxFrameRate *float64 `json:"maxFrameRate"`
}

// check applies JVB's validation: maxHeight required and -1 or 0..2^31-1, maxFrameRate -1 or
// >= 0 (default -1).
func (w wireConstraints) check() (VideoConstraints, error) {
	if w.MaxHeight == nil {
		return VideoConstraints{}, malformedf("maxHeight missing")
	}
	h := *w.MaxHeight
	if h < -1 || h > math.MaxInt32 {
		return VideoConstraints{}, malformedf("maxHeight %d: want -1 or 0..2^31-1", h)
	}
	fr := -1.0
	if w.MaxFrameRate != nil {
		fr = *w.MaxFrameRate
	}
	if fr != -1 && !(fr >= 0) {
		return VideoConstraints{}, malformedf("maxFrameRate %g: want -1 or >= 0", fr)
	}
	return VideoConstraints{MaxHeight: h, MaxFrameRate: fr}, nil
}

func parseReceiverVideoConstraints(data []byte) (Message, error) {
	var w struct {
		LastN               *int                       `json:"lastN"`
		SelectedSources     *[]string                  `json:"selectedSources"`
		OnStageSources      *[]string                  `json:"onStageSources"`
		DefaultConstraints  *wireConstraints           `json:"defaultConstraints"`
		Constraints         map[string]wireConstraints `json:"constraints"`
		AssumedBandwidthBps *int64                     `json:"assumedBandwidthBps"`
	}
	if err := decodeInto(data, &w); err != nil {
		return nil, err
	}
	if w.LastN != nil {
		if err := checkInt32("lastN", *w.LastN); err != nil {
			return nil, err
		}
	}
	m := &ReceiverVideoConstraints{LastN: w.LastN, AssumedBandwidthBps: w.AssumedBandwidthBps}
	if w.DefaultConstraints != nil {
		c, err := w.DefaultConstraints.check()
		if err != nil {
			return nil, fmt.Errorf("defaultConstraints: %w", err)
		}
		m.DefaultConstraints = &c
	}
	if w.Constraints != nil {
		m.Constraints = make(map[string]VideoConstraints, len(w.Constraints))
		for source, wc := range w.Constraints {
			c, err := wc.check() // a null entry has no maxHeight
			if err != nil {
				return nil, fmt.Errorf("constraints[%.64q]: %w", source, err)
			}
			m.Constraints[source] = c
		}
	}
	if w.SelectedSources != nil {
		m.HasSelected, m.SelectedSources = true, nilIfEmpty(*w.SelectedSources)
	}
	if w.OnStageSources != nil {
		m.HasOnStage, m.OnStageSources = true, nilIfEmpty(*w.OnStageSources)
	}
	return m, nil
}

func parseAudioSubscription(data []byte) (Message, error) {
	var w struct {
		Mode    *string  `json:"mode"`
		List    []string `json:"list"`
		All     bool     `json:"all"`
		Include []string `json:"include"`
		Exclude []string `json:"exclude"`
	}
	if err := decodeInto(data, &w); err != nil {
		return nil, err
	}
	if w.Mode == nil {
		return NewAudioSubscription(w.All, w.Include, w.Exclude), nil
	}
	switch *w.Mode {
	case AudioAll:
		return NewAudioSubscription(true, nil, nil), nil
	case AudioNone:
		return NewAudioSubscription(false, nil, nil), nil
	case AudioInclude:
		return NewAudioSubscription(false, w.List, nil), nil
	case AudioExclude:
		return NewAudioSubscription(true, nil, w.List), nil
	}
	return nil, malformedf("unknown audio subscription mode %.40q", *w.Mode)
}

// videoType normalises a required video type (JVB matches its enum case-insensitively).
func videoType(v *string) (string, error) {
	if v == nil {
		return "", malformedf("videoType missing")
	}
	for _, t := range [...]string{VideoTypeCamera, VideoTypeDesktop, VideoTypeDesktopHighFPS, VideoTypeDisabled, VideoTypeNone} {
		if strings.EqualFold(*v, t) {
			return t, nil
		}
	}
	return "", malformedf("unknown videoType %.40q", *v)
}

func checkInt32(name string, v int) error {
	if v < math.MinInt32 || v > math.MaxInt32 {
		return malformedf("%s %d out of range", name, v)
	}
	return nil
}

// UnmarshalJSON decodes {"maxHeight": int, "maxFrameRate": number} with JVB's validation:
// maxHeight is required and -1 or ≥ 0, maxFrameRate defaults to -1 and is -1 or ≥ 0. JSON null
// is an error.
func (c *VideoConstraints) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return malformedf("null video constraints")
	}
	var w wireConstraints
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	v, err := w.check()
	if err != nil {
		return err
	}
	*c = v
	return nil
}
