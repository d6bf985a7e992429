package channel

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// encodeCases pins the exact JSON object each message encodes to (spec §1.5 field names),
// compared after decoding into map[string]any (numbers are float64).
var encodeCases = []struct {
	name string
	msg  Message
	want map[string]any
}{
	{"ServerHello", &ServerHello{}, map[string]any{"colibriClass": "ServerHello"}},
	{"ServerHello with version", &ServerHello{Version: "2.3-1"}, map[string]any{"colibriClass": "ServerHello", "version": "2.3-1"}},
	{"DominantSpeaker", &DominantSpeakerEndpointChangeEvent{DominantSpeakerEndpoint: "e1", PreviousSpeakers: []string{"e2", "e3"}, Silence: true},
		map[string]any{"colibriClass": "DominantSpeakerEndpointChangeEvent", "dominantSpeakerEndpoint": "e1", "previousSpeakers": []any{"e2", "e3"}, "silence": true}},
	{"DominantSpeaker no previous", &DominantSpeakerEndpointChangeEvent{DominantSpeakerEndpoint: "e1"},
		map[string]any{"colibriClass": "DominantSpeakerEndpointChangeEvent", "dominantSpeakerEndpoint": "e1", "previousSpeakers": []any{}, "silence": false}},
	{"ForwardedSources empty is an array", &ForwardedSources{},
		map[string]any{"colibriClass": "ForwardedSources", "forwardedSources": []any{}}},
	{"ForwardedSources", &ForwardedSources{Sources: []string{"e1-v0", "e2-v1"}},
		map[string]any{"colibriClass": "ForwardedSources", "forwardedSources": []any{"e1-v0", "e2-v1"}}},
	{"SenderSourceConstraints", &SenderSourceConstraints{SourceName: "endpoint1-v0", MaxHeight: 180},
		map[string]any{"colibriClass": "SenderSourceConstraints", "sourceName": "endpoint1-v0", "maxHeight": 180.0}},
	{"VideoSourcesMap", &VideoSourcesMap{Mapped: []VideoSourceMapping{
		{Source: "e1-v0", Owner: "e1", SSRC: 3000000000, RTX: 12, VideoType: "CAMERA"},
		{Source: "e2-v0", Owner: "e2", SSRC: 1, RTX: 2, VideoType: "DESKTOP", Mid: "v1"}}},
		map[string]any{"colibriClass": "VideoSourcesMap", "mappedSources": []any{
			map[string]any{"source": "e1-v0", "owner": "e1", "ssrc": 3000000000.0, "rtx": 12.0, "videoType": "CAMERA"},
			map[string]any{"source": "e2-v0", "owner": "e2", "ssrc": 1.0, "rtx": 2.0, "videoType": "DESKTOP", "mid": "v1"}}}},
	{"VideoSourcesMap empty", &VideoSourcesMap{}, map[string]any{"colibriClass": "VideoSourcesMap", "mappedSources": []any{}}},
	{"AudioSourcesMap", &AudioSourcesMap{Mapped: []AudioSourceMapping{{Source: "e1-a0", Owner: "e1", SSRC: 7}, {Source: "e2-a0", Owner: "e2", SSRC: 8, Mid: "a0"}}},
		map[string]any{"colibriClass": "AudioSourcesMap", "mappedSources": []any{
			map[string]any{"source": "e1-a0", "owner": "e1", "ssrc": 7.0},
			map[string]any{"source": "e2-a0", "owner": "e2", "ssrc": 8.0, "mid": "a0"}}}},
	{"ConnectionStats", &ConnectionStats{EstimatedDownlinkBandwidth: 2500000},
		map[string]any{"colibriClass": "ConnectionStats", "estimatedDownlinkBandwidth": 2500000.0}},
	{"Connectivity inactive", &EndpointConnectivityStatusChangeEvent{Endpoint: "e1"},
		map[string]any{"colibriClass": "EndpointConnectivityStatusChangeEvent", "endpoint": "e1", "active": "false"}},
	{"Connectivity active", &EndpointConnectivityStatusChangeEvent{Endpoint: "e1", Active: true},
		map[string]any{"colibriClass": "EndpointConnectivityStatusChangeEvent", "endpoint": "e1", "active": "true"}},
	{"SyntheticSourceSending", &SyntheticSourceSendingChangeEvent{SourceName: "5-a0.hi", Sending: true, Timestamp: 4294967295},
		map[string]any{"colibriClass": "SyntheticSourceSendingChangeEvent", "sourceName": "5-a0.hi", "sending": true, "timestamp": 4294967295.0}},
	{"AddReceiver", &AddReceiver{BridgeID: "b1", SourceName: "e1-v0", VideoConstraints: &VideoConstraints{MaxHeight: 360, MaxFrameRate: -1}},
		map[string]any{"colibriClass": "AddReceiver", "bridgeId": "b1", "sourceName": "e1-v0", "videoConstraints": map[string]any{"maxHeight": 360.0, "maxFrameRate": -1.0}}},
	{"RemoveReceiver", &RemoveReceiver{BridgeID: "b1", EndpointID: "e1"},
		map[string]any{"colibriClass": "RemoveReceiver", "bridgeId": "b1", "endpointId": "e1"}},
	// Client→bridge classes, handy for tests and test clients.
	{"ClientHello", &ClientHello{}, map[string]any{"colibriClass": "ClientHello"}},
	{"EndpointMessage", &EndpointMessage{To: "e2", Payload: json.RawMessage(`{"a":1}`)},
		map[string]any{"colibriClass": "EndpointMessage", "to": "e2", "msgPayload": map[string]any{"a": 1.0}}},
	{"EndpointMessage broadcast", &EndpointMessage{},
		map[string]any{"colibriClass": "EndpointMessage", "to": ""}},
	{"EndpointStats raw", &EndpointStats{Raw: []byte(`{"colibriClass":"EndpointStats","jvbRTT":5}`)},
		map[string]any{"colibriClass": "EndpointStats", "jvbRTT": 5.0}},
	{"LastN", &LastNChangedEvent{LastN: 0}, map[string]any{"colibriClass": "LastNChangedEvent", "lastN": 0.0}},
	{"ReceiverVideoConstraints absent fields omitted", &ReceiverVideoConstraints{},
		map[string]any{"colibriClass": "ReceiverVideoConstraints"}},
	{"ReceiverVideoConstraints empty lists and map are kept", &ReceiverVideoConstraints{HasSelected: true, HasOnStage: true, Constraints: map[string]VideoConstraints{}},
		map[string]any{"colibriClass": "ReceiverVideoConstraints", "selectedSources": []any{}, "onStageSources": []any{}, "constraints": map[string]any{}}},
	{"ReceiverVideoConstraints", &ReceiverVideoConstraints{LastN: ptr(-1), HasSelected: true, OnStageSources: []string{"A-v1"}, HasOnStage: true,
		DefaultConstraints: &VideoConstraints{MaxHeight: 0, MaxFrameRate: 0}, Constraints: map[string]VideoConstraints{"A-v1": {MaxHeight: -1, MaxFrameRate: 30}},
		AssumedBandwidthBps: ptr(int64(1e6))},
		map[string]any{"colibriClass": "ReceiverVideoConstraints", "lastN": -1.0, "selectedSources": []any{}, "onStageSources": []any{"A-v1"},
			"defaultConstraints": map[string]any{"maxHeight": 0.0, "maxFrameRate": 0.0},
			"constraints":        map[string]any{"A-v1": map[string]any{"maxHeight": -1.0, "maxFrameRate": 30.0}}, "assumedBandwidthBps": 1e6}},
	{"SourceVideoType", &SourceVideoTypeMessage{SourceName: "e1-v0", VideoType: VideoTypeCamera},
		map[string]any{"colibriClass": "SourceVideoTypeMessage", "sourceName": "e1-v0", "videoType": "camera"}},
	{"SourceVideoType to relay", &SourceVideoTypeMessage{SourceName: "e1-v0", VideoType: VideoTypeDisabled, EndpointID: "e1"},
		map[string]any{"colibriClass": "SourceVideoTypeMessage", "sourceName": "e1-v0", "videoType": "disabled", "endpointId": "e1"}},
	{"VideoTypeMessage", &VideoTypeMessage{VideoType: VideoTypeDesktop},
		map[string]any{"colibriClass": "VideoTypeMessage", "videoType": "desktop"}},
	{"ReceiverAudioSubscription", NewAudioSubscription(true, nil, []string{"e2-a0"}),
		map[string]any{"colibriClass": "ReceiverAudioSubscription", "all": true, "include": []any{}, "exclude": []any{"e2-a0"}}},
}

func TestEncodeUsesSpecFieldNames(t *testing.T) {
	for _, tt := range encodeCases {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("encoded %s\n got %#v\nwant %#v", b, got, tt.want)
			}
			viaMarshal, err := json.Marshal(tt.msg)
			if err != nil || string(viaMarshal) != string(b) {
				t.Fatalf("json.Marshal = %s, %v; Encode = %s", viaMarshal, err, b)
			}
		})
	}
}

func TestEncodeThenParseRoundTrips(t *testing.T) {
	for _, tt := range encodeCases {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(b)
			if err != nil {
				t.Fatalf("Parse(%s): %v", b, err)
			}
			if tt.msg.Class() == ClassEndpointMessage {
				em := got.(*EndpointMessage)
				if want := tt.msg.(*EndpointMessage); em.To != want.To || string(em.Payload) != string(want.Payload) {
					t.Fatalf("got %#v", em)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.msg) {
				t.Fatalf("round trip of %s\n got %#v\nwant %#v", b, got, tt.msg)
			}
		})
	}
}

func TestEncodeServerHelloIsJVBsExactText(t *testing.T) {
	b, err := Encode(&ServerHello{})
	if err != nil || string(b) != `{"colibriClass":"ServerHello"}` {
		t.Fatalf("got %s, %v", b, err)
	}
}

func TestEncodeRejectsWhatItCannotEncode(t *testing.T) {
	for _, m := range []Message{&Unknown{ClassName: "X"}, (*ForwardedSources)(nil), (*ClientHello)(nil), nil} {
		if b, err := Encode(m); err == nil {
			t.Errorf("Encode(%#v) = %s, want error", m, b)
		}
	}
}

func TestWithFromOverwritesSpoofedFrom(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"no from", `{"colibriClass":"EndpointMessage","to":"","msgPayload":{"from":"inner stays"}}`,
			`{"colibriClass":"EndpointMessage","to":"","msgPayload":{"from":"inner stays"},"from":"e1"}`},
		{"spoofed from", `{"from":"boss","colibriClass":"EndpointMessage","to":"e2"}`,
			`{"colibriClass":"EndpointMessage","to":"e2","from":"e1"}`},
		{"spoofed twice, case variant and escape", `{ "colibriClass" : "EndpointStats", "from":"a", "FROM":"b", "fr\u006fm":"c", "jvbRTT" : 5 }`,
			`{"colibriClass" : "EndpointStats","jvbRTT" : 5,"from":"e1"}`},
		{"only from", `{"from":1}`, `{"from":"e1"}`},
		{"empty object", `{}`, `{"from":"e1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := WithFrom([]byte(tt.in), "e1")
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			var m map[string]any
			if err := json.Unmarshal(got, &m); err != nil || m["from"] != "e1" {
				t.Fatalf("output %s: from=%v err=%v", got, m["from"], err)
			}
		})
	}
	got, err := WithFrom([]byte(`{"colibriClass":"EndpointStats"}`), "quo\"te<>")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(got, &m); err != nil || m["from"] != "quo\"te<>" {
		t.Fatalf("escaping: %s %v", got, err)
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{"a":}`, `{"a":1}}`} {
		if _, err := WithFrom([]byte(bad), "e1"); !errors.Is(err, ErrMalformed) {
			t.Errorf("WithFrom(%q) err = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestWithFromOnParsedMessageIsStillThatMessage(t *testing.T) {
	m, err := Parse([]byte(`{"colibriClass":"EndpointMessage","to":"e2","from":"spoof","msgPayload":{"x":[1,2]}}`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := WithFrom(m.(*EndpointMessage).Raw, "e1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	em := again.(*EndpointMessage)
	if em.To != "e2" || string(em.Payload) != `{"x":[1,2]}` {
		t.Fatalf("got %#v", em)
	}
}

func TestDropReasonLabels(t *testing.T) {
	for err, want := range map[error]string{
		nil:                                      "",
		ErrTooLarge:                              "too_large",
		ErrTooDeep:                               "too_deep",
		ErrMalformed:                             "malformed",
		ErrUnknownClass:                          "unknown_class",
		errors.New("x"):                          "other",
		errors.Join(errors.New("a"), ErrTooDeep): "too_deep",
	} {
		if got := DropReason(err); got != want {
			t.Errorf("DropReason(%v) = %q, want %q", err, got, want)
		}
	}
}
