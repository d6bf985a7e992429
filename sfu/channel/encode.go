package channel

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Encode returns the JSON text of m, {"colibriClass": ..., ...}, with the field names of spec
// §1.5. It handles every class Parse knows, so tests and relays can use it for client→bridge
// messages too. EndpointMessage and EndpointStats encode as their Raw bytes when set (use
// WithFrom to stamp the sender); an EndpointMessage without Raw is built from To and Payload.
// Encoding an *Unknown, a nil pointer or a foreign type is an error.
func Encode(m Message) ([]byte, error) {
	w, err := wireOf(m)
	if err != nil {
		return nil, err
	}
	if b, ok := w.([]byte); ok {
		return b, nil
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", m.Class(), err)
	}
	return b, nil
}

var errNil = errors.New("nil message")

// wireOf returns the value to marshal for m (or ready []byte).
func wireOf(m Message) (any, error) {
	type class struct {
		ColibriClass string `json:"colibriClass"`
	}
	switch v := m.(type) {
	case *ClientHello:
		if v != nil {
			return class{ClassClientHello}, nil
		}
	case *ServerHello:
		if v != nil {
			return struct {
				class
				Version string `json:"version,omitempty"`
			}{class{ClassServerHello}, v.Version}, nil
		}
	case *EndpointMessage:
		if v != nil {
			if v.Raw != nil {
				return v.Raw, nil
			}
			return struct {
				class
				To      string          `json:"to"`
				Payload json.RawMessage `json:"msgPayload,omitempty"`
			}{class{ClassEndpointMessage}, v.To, v.Payload}, nil
		}
	case *EndpointStats:
		if v != nil {
			if v.Raw != nil {
				return v.Raw, nil
			}
			return class{ClassEndpointStats}, nil
		}
	case *LastNChangedEvent:
		if v != nil {
			return struct {
				class
				LastN int `json:"lastN"`
			}{class{ClassLastNChangedEvent}, v.LastN}, nil
		}
	case *ReceiverVideoConstraints:
		if v != nil {
			return wireRVC(v), nil
		}
	case *SourceVideoTypeMessage:
		if v != nil {
			return struct {
				class
				SourceName string `json:"sourceName"`
				VideoType  string `json:"videoType"`
				EndpointID string `json:"endpointId,omitempty"`
			}{class{ClassSourceVideoTypeMessage}, v.SourceName, v.VideoType, v.EndpointID}, nil
		}
	case *VideoTypeMessage:
		if v != nil {
			return struct {
				class
				VideoType  string `json:"videoType"`
				EndpointID string `json:"endpointId,omitempty"`
			}{class{ClassVideoTypeMessage}, v.VideoType, v.EndpointID}, nil
		}
	case *ReceiverAudioSubscription:
		if v != nil {
			return struct {
				class
				All     bool     `json:"all"`
				Include []string `json:"include"`
				Exclude []string `json:"exclude"`
			}{class{ClassReceiverAudioSubscription}, v.All, nonNil(v.Include), nonNil(v.Exclude)}, nil
		}
	default:
		return wireOfBridge(m)
	}
	return nil, errNil
}

func wireOfBridge(m Message) (any, error) {
	type class struct {
		ColibriClass string `json:"colibriClass"`
	}
	switch v := m.(type) {
	case *DominantSpeakerEndpointChangeEvent:
		if v != nil {
			return struct {
				class
				DominantSpeakerEndpoint string   `json:"dominantSpeakerEndpoint"`
				PreviousSpeakers        []string `json:"previousSpeakers"`
				Silence                 bool     `json:"silence"`
			}{class{ClassDominantSpeakerEndpointChangeEvent}, v.DominantSpeakerEndpoint, nonNil(v.PreviousSpeakers), v.Silence}, nil
		}
	case *EndpointConnectivityStatusChangeEvent:
		if v != nil {
			active := "false"
			if v.Active {
				active = "true"
			}
			return struct {
				class
				Endpoint string `json:"endpoint"`
				Active   string `json:"active"`
			}{class{ClassEndpointConnectivityStatusChangeEvent}, v.Endpoint, active}, nil
		}
	case *ForwardedSources:
		if v != nil {
			return struct {
				class
				Sources []string `json:"forwardedSources"`
			}{class{ClassForwardedSources}, nonNil(v.Sources)}, nil
		}
	case *SenderSourceConstraints:
		if v != nil {
			return struct {
				class
				SourceName string `json:"sourceName"`
				MaxHeight  int    `json:"maxHeight"`
			}{class{ClassSenderSourceConstraints}, v.SourceName, v.MaxHeight}, nil
		}
	case *VideoSourcesMap:
		if v != nil {
			mapped := make([]wireVideoMapping, len(v.Mapped))
			for i, s := range v.Mapped {
				mapped[i] = wireVideoMapping(s)
			}
			return struct {
				class
				Mapped []wireVideoMapping `json:"mappedSources"`
			}{class{ClassVideoSourcesMap}, mapped}, nil
		}
	case *AudioSourcesMap:
		if v != nil {
			mapped := make([]wireAudioMapping, len(v.Mapped))
			for i, s := range v.Mapped {
				mapped[i] = wireAudioMapping(s)
			}
			return struct {
				class
				Mapped []wireAudioMapping `json:"mappedSources"`
			}{class{ClassAudioSourcesMap}, mapped}, nil
		}
	case *ConnectionStats:
		if v != nil {
			return struct {
				class
				EstimatedDownlinkBandwidth int64 `json:"estimatedDownlinkBandwidth"`
			}{class{ClassConnectionStats}, v.EstimatedDownlinkBandwidth}, nil
		}
	case *SyntheticSourceSendingChangeEvent:
		if v != nil {
			return wireSynthetic{ClassSyntheticSourceSendingChangeEvent, v.SourceName, v.Sending, v.Timestamp}, nil
		}
	case *AddReceiver:
		if v != nil {
			return wireAddReceiver{ClassAddReceiver, v.BridgeID, v.EndpointID, v.SourceName, v.VideoConstraints}, nil
		}
	case *RemoveReceiver:
		if v != nil {
			return wireRemoveReceiver{ClassRemoveReceiver, v.BridgeID, v.EndpointID}, nil
		}
	case nil:
	default:
		return nil, fmt.Errorf("cannot encode colibriClass %q (%T)", m.Class(), m)
	}
	return nil, errNil
}

func wireRVC(v *ReceiverVideoConstraints) any {
	w := struct {
		ColibriClass        string                       `json:"colibriClass"`
		LastN               *int                         `json:"lastN,omitempty"`
		SelectedSources     *[]string                    `json:"selectedSources,omitempty"`
		OnStageSources      *[]string                    `json:"onStageSources,omitempty"`
		DefaultConstraints  *VideoConstraints            `json:"defaultConstraints,omitempty"`
		Constraints         *map[string]VideoConstraints `json:"constraints,omitempty"`
		AssumedBandwidthBps *int64                       `json:"assumedBandwidthBps,omitempty"`
	}{
		ColibriClass:        ClassReceiverVideoConstraints,
		LastN:               v.LastN,
		DefaultConstraints:  v.DefaultConstraints,
		AssumedBandwidthBps: v.AssumedBandwidthBps,
	}
	if v.HasSelected {
		s := nonNil(v.SelectedSources)
		w.SelectedSources = &s
	}
	if v.HasOnStage {
		s := nonNil(v.OnStageSources)
		w.OnStageSources = &s
	}
	if v.Constraints != nil { // present, even when empty
		w.Constraints = &v.Constraints
	}
	return w
}

// MarshalJSON writes {"maxHeight": h, "maxFrameRate": f}, both always present as in JVB.
func (c VideoConstraints) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		MaxHeight    int     `json:"maxHeight"`
		MaxFrameRate float64 `json:"maxFrameRate"`
	}{c.MaxHeight, c.MaxFrameRate})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// WithFrom returns raw (one JSON object as received, e.g. EndpointMessage.Raw or
// EndpointStats.Raw) with a top-level "from" set to from. Every "from" the sender put there,
// including case variants, is removed first (anti-spoofing); all other members are kept
// byte-for-byte in their order, and "from" is appended last. raw is not modified.
func WithFrom(raw []byte, from string) ([]byte, error) {
	if len(raw) > MaxMessageSize {
		return nil, fmt.Errorf("with from: %d bytes: %w", len(raw), ErrTooLarge)
	}
	if err := checkDepth(raw); err != nil {
		return nil, fmt.Errorf("with from: %w", err)
	}
	if !json.Valid(raw) {
		return nil, fmt.Errorf("with from: invalid JSON: %w", ErrMalformed)
	}
	quoted, err := json.Marshal(from)
	if err != nil {
		return nil, fmt.Errorf("with from: %w", err)
	}
	out := make([]byte, 0, len(raw)+len(quoted)+10)
	out = append(out, '{')
	isObject := forEachMember(raw, func(m member) {
		if keyFold(m.key, "from") {
			return
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, raw[m.start:m.end]...)
	})
	if !isObject {
		return nil, fmt.Errorf("with from: not a JSON object: %w", ErrMalformed)
	}
	if len(out) > 1 {
		out = append(out, ',')
	}
	out = append(out, `"from":`...)
	out = append(out, quoted...)
	return append(out, '}'), nil
}

// MarshalJSON makes each message usable with json.Marshal; it calls Encode.
func (m *ClientHello) MarshalJSON() ([]byte, error) { return Encode(m) }

func (m *ServerHello) MarshalJSON() ([]byte, error) { return Encode(m) }

func (m *EndpointMessage) MarshalJSON() ([]byte, error) { return Encode(m) }

func (m *EndpointStats) MarshalJSON() ([]byte, error) { return Encode(m) }

func (m *LastNChangedEvent) MarshalJSON() ([]byte, error) { return Encode(m) }

func (m *ReceiverVideoConstraints) MarshalJSON() ([]byte, error) { return Encode(m) }

func (m *SourceVideoTypeMessage) MarshalJSON() ([]byte, error) { return Encode(m) }

func (m *VideoTypeMessage) MarshalJSON() ([]byte, error) { return Encode(m) }

func (m *ReceiverAudioSubscription) MarshalJSON() ([]byte, error) { return Encode(m) }

func (m *DominantSpeakerEndpointChangeEvent) MarshalJSON() ([]byte, error) { return Encode(m) }

func (m *EndpointConnectivityStatusChangeEvent) MarshalJSON() ([]byte, error) { return Encode(m) }

func (m *ForwardedSources) MarshalJSON() ([]byte, error) { return Encode(m) }

func (m *SenderSourceConstraints) MarshalJSON() ([]byte, error) { return Encode(m) }

func (m *VideoSourcesMap) MarshalJSON() ([]byte, error) { return Encode(m) }

func (m *AudioSourcesMap) MarshalJSON() ([]byte, error) { return Encode(m) }

func (m *ConnectionStats) MarshalJSON() ([]byte, error) { return Encode(m) }

func (m *SyntheticSourceSendingChangeEvent) MarshalJSON() ([]byte, error) { return Encode(m) }

func (m *AddReceiver) MarshalJSON() ([]byte, error) { return Encode(m) }

func (m *RemoveReceiver) MarshalJSON() ([]byte, error) { return Encode(m) }
