package channel

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

func TestParseDecodesClientMessages(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Message
	}{
		{"ClientHello", `{"colibriClass":"ClientHello"}`, &ClientHello{}},
		{"LastN", `{"colibriClass":"LastNChangedEvent","lastN":-1}`, &LastNChangedEvent{LastN: -1}},
		{"ReceiverVideoConstraints full", `{"colibriClass":"ReceiverVideoConstraints","lastN":2,
			"selectedSources":["A-v0","B-v0"],"onStageSources":["A-v1"],
			"defaultConstraints":{"maxHeight":180},
			"constraints":{"A-v1":{"maxHeight":720},"B-v0":{"maxHeight":360,"maxFrameRate":30}},
			"assumedBandwidthBps":-1}`,
			&ReceiverVideoConstraints{
				LastN:           ptr(2),
				SelectedSources: []string{"A-v0", "B-v0"}, HasSelected: true,
				OnStageSources: []string{"A-v1"}, HasOnStage: true,
				DefaultConstraints: &VideoConstraints{MaxHeight: 180, MaxFrameRate: -1},
				Constraints: map[string]VideoConstraints{
					"A-v1": {MaxHeight: 720, MaxFrameRate: -1},
					"B-v0": {MaxHeight: 360, MaxFrameRate: 30},
				},
				AssumedBandwidthBps: ptr(int64(-1)),
			}},
		{"SourceVideoType", `{"colibriClass":"SourceVideoTypeMessage","sourceName":"e1-v0","videoType":"desktop"}`,
			&SourceVideoTypeMessage{SourceName: "e1-v0", VideoType: VideoTypeDesktop}},
		{"SourceVideoType upper case, relay endpointId", `{"colibriClass":"SourceVideoTypeMessage","sourceName":"e1-v0","videoType":"DESKTOP_HIGH_FPS","endpointId":"e1"}`,
			&SourceVideoTypeMessage{SourceName: "e1-v0", VideoType: VideoTypeDesktopHighFPS, EndpointID: "e1"}},
		{"VideoTypeMessage", `{"colibriClass":"VideoTypeMessage","videoType":"none","endpointId":"e2"}`,
			&VideoTypeMessage{VideoType: VideoTypeNone, EndpointID: "e2"}},
		{"EndpointStats", `{"colibriClass":"EndpointStats","bitrate":{"upload":1},"jvbRTT":12}`,
			&EndpointStats{Raw: []byte(`{"colibriClass":"EndpointStats","bitrate":{"upload":1},"jvbRTT":12}`)}},
		{"AddReceiver", `{"colibriClass":"AddReceiver","bridgeId":"b1","sourceName":"e1-v0","videoConstraints":{"maxHeight":360,"maxFrameRate":15.0}}`,
			&AddReceiver{BridgeID: "b1", SourceName: "e1-v0", VideoConstraints: &VideoConstraints{MaxHeight: 360, MaxFrameRate: 15}}},
		{"RemoveReceiver", `{"colibriClass":"RemoveReceiver","bridgeId":"b1","endpointId":"e1"}`,
			&RemoveReceiver{BridgeID: "b1", EndpointID: "e1"}},
		{"echoed ServerHello", `{"colibriClass":"ServerHello","version":"2.3"}`, &ServerHello{Version: "2.3"}},
		{"echoed connectivity, string active", `{"colibriClass":"EndpointConnectivityStatusChangeEvent","endpoint":"e1","active":"true"}`,
			&EndpointConnectivityStatusChangeEvent{Endpoint: "e1", Active: true}},
		{"VideoSourcesMap with numeric ssrc", `{"colibriClass":"VideoSourcesMap","mappedSources":[{"source":"e1-v0","owner":"e1","ssrc":4294967295,"rtx":2,"videoType":"CAMERA","mid":"v0"}]}`,
			&VideoSourcesMap{Mapped: []VideoSourceMapping{{Source: "e1-v0", Owner: "e1", SSRC: 4294967295, RTX: 2, VideoType: "CAMERA", Mid: "v0"}}}},
		{"escaped class key", `{"colibri\u0043lass":"ClientHello"}`, &ClientHello{}},
		{"escaped class value", `{"colibriClass":"Client\u0048ello"}`, &ClientHello{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestReceiverVideoConstraintsAbsentDiffersFromEmpty(t *testing.T) {
	absent, err := Parse([]byte(`{"colibriClass":"ReceiverVideoConstraints"}`))
	if err != nil {
		t.Fatal(err)
	}
	a := absent.(*ReceiverVideoConstraints)
	if a.LastN != nil || a.HasSelected || a.HasOnStage || a.DefaultConstraints != nil || a.Constraints != nil || a.AssumedBandwidthBps != nil {
		t.Fatalf("absent fields decoded as present: %#v", a)
	}
	empty, err := Parse([]byte(`{"colibriClass":"ReceiverVideoConstraints","selectedSources":[],"onStageSources":[],"constraints":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	e := empty.(*ReceiverVideoConstraints)
	if !e.HasSelected || !e.HasOnStage || e.SelectedSources != nil || e.OnStageSources != nil {
		t.Fatalf("empty lists: %#v", e)
	}
	if e.Constraints == nil || len(e.Constraints) != 0 {
		t.Fatalf("empty constraints map should be non-nil and empty: %#v", e.Constraints)
	}
	nulls, err := Parse([]byte(`{"colibriClass":"ReceiverVideoConstraints","lastN":null,"selectedSources":null,"defaultConstraints":null,"constraints":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if n := nulls.(*ReceiverVideoConstraints); n.LastN != nil || n.HasSelected || n.DefaultConstraints != nil || n.Constraints != nil {
		t.Fatalf("null should count as absent: %#v", n)
	}
}

func TestParseIgnoresUnknownFields(t *testing.T) {
	got, err := Parse([]byte(`{"colibriClass":"LastNChangedEvent","lastN":3,"extra":{"deep":[1,2,{"x":null}]},"selectedEndpoints":["a"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, &LastNChangedEvent{LastN: 3}) {
		t.Fatalf("got %#v", got)
	}
	got, err = Parse([]byte(`{"colibriClass":"ReceiverVideoConstraints","constraints":{"a":{"maxHeight":1,"future":true}},"onStageEndpoints":["x"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if c := got.(*ReceiverVideoConstraints).Constraints["a"]; c.MaxHeight != 1 {
		t.Fatalf("got %#v", got)
	}
}

func TestParseUnknownClassIsCounted(t *testing.T) {
	got, err := Parse([]byte(`{"colibriClass":"SenderVideoConstraints","videoConstraints":{"idealHeight":180}}`))
	if !errors.Is(err, ErrUnknownClass) {
		t.Fatalf("err = %v, want ErrUnknownClass", err)
	}
	if u, ok := got.(*Unknown); !ok || u.Class() != "SenderVideoConstraints" {
		t.Fatalf("got %#v, want *Unknown", got)
	}
	if DropReason(err) != "unknown_class" {
		t.Fatalf("DropReason = %q", DropReason(err))
	}
}

func TestParseRejectsMalformed(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ``},
		{"not JSON", `colibriClass`},
		{"trailing garbage", `{"colibriClass":"ClientHello"} x`},
		{"array", `[{"colibriClass":"ClientHello"}]`},
		{"string", `"ClientHello"`},
		{"no class", `{"lastN":1}`},
		{"class only in another case", `{"ColibriClass":"ClientHello"}`},
		{"class not string", `{"colibriClass":7}`},
		{"class null", `{"colibriClass":null}`},
		{"duplicate class", `{"colibriClass":"EndpointMessage","to":"","colibriClass":"ServerHello"}`},
		{"duplicate class via escape", `{"colibriClass":"EndpointMessage","to":"","colibri\u0043lass":"ForwardedSources"}`},
		{"invalid UTF-8", "{\"colibriClass\":\"EndpointStats\",\"x\":\"\xff\"}"},
		{"lastN string", `{"colibriClass":"LastNChangedEvent","lastN":"5"}`},
		{"lastN missing", `{"colibriClass":"LastNChangedEvent"}`},
		{"lastN float", `{"colibriClass":"LastNChangedEvent","lastN":1.5}`},
		{"lastN beyond int32", `{"colibriClass":"LastNChangedEvent","lastN":4294967296}`},
		{"rvc lastN bool", `{"colibriClass":"ReceiverVideoConstraints","lastN":true}`},
		{"rvc selected not list", `{"colibriClass":"ReceiverVideoConstraints","selectedSources":"A-v0"}`},
		{"rvc selected of numbers", `{"colibriClass":"ReceiverVideoConstraints","selectedSources":[1]}`},
		{"rvc maxHeight string", `{"colibriClass":"ReceiverVideoConstraints","defaultConstraints":{"maxHeight":"180"}}`},
		{"rvc maxHeight missing", `{"colibriClass":"ReceiverVideoConstraints","defaultConstraints":{"maxFrameRate":30}}`},
		{"rvc maxHeight -2", `{"colibriClass":"ReceiverVideoConstraints","constraints":{"a":{"maxHeight":-2}}}`},
		{"rvc maxFrameRate -0.5", `{"colibriClass":"ReceiverVideoConstraints","constraints":{"a":{"maxHeight":1,"maxFrameRate":-0.5}}}`},
		{"rvc constraint null", `{"colibriClass":"ReceiverVideoConstraints","constraints":{"a":null}}`},
		{"rvc constraints list", `{"colibriClass":"ReceiverVideoConstraints","constraints":[]}`},
		{"rvc bandwidth string", `{"colibriClass":"ReceiverVideoConstraints","assumedBandwidthBps":"1e6"}`},
		{"video type unknown", `{"colibriClass":"SourceVideoTypeMessage","sourceName":"a","videoType":"webcam"}`},
		{"video type missing", `{"colibriClass":"SourceVideoTypeMessage","sourceName":"a"}`},
		{"source name missing", `{"colibriClass":"SourceVideoTypeMessage","videoType":"camera"}`},
		{"deprecated video type number", `{"colibriClass":"VideoTypeMessage","videoType":1}`},
		{"audio mode unknown", `{"colibriClass":"ReceiverAudioSubscription","mode":"Custom"}`},
		{"audio all string", `{"colibriClass":"ReceiverAudioSubscription","all":"true"}`},
		{"audio list object", `{"colibriClass":"ReceiverAudioSubscription","mode":"Include","list":{}}`},
		{"endpoint message no to", `{"colibriClass":"EndpointMessage","msgPayload":{}}`},
		{"endpoint message to number", `{"colibriClass":"EndpointMessage","to":1,"msgPayload":{}}`},
		{"endpoint message to null", `{"colibriClass":"EndpointMessage","to":null}`},
		{"ssrc negative", `{"colibriClass":"VideoSourcesMap","mappedSources":[{"source":"a","ssrc":-1,"rtx":1}]}`},
		{"ssrc string", `{"colibriClass":"AudioSourcesMap","mappedSources":[{"source":"a","ssrc":"1"}]}`},
		{"ssrc too big", `{"colibriClass":"AudioSourcesMap","mappedSources":[{"source":"a","ssrc":4294967296}]}`},
		{"active not boolean-ish", `{"colibriClass":"EndpointConnectivityStatusChangeEvent","endpoint":"a","active":"yes"}`},
		{"forwarded not list", `{"colibriClass":"ForwardedSources","forwardedSources":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.in))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse = %#v, %v; want ErrMalformed", m, err)
			}
			if m != nil {
				t.Fatalf("malformed message returned a value: %#v", m)
			}
			if DropReason(err) != "malformed" {
				t.Fatalf("DropReason = %q", DropReason(err))
			}
		})
	}
}

func TestParseBoundsHostileInput(t *testing.T) {
	deep := func(n int) []byte {
		return []byte(`{"colibriClass":"EndpointStats","x":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`)
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"100000 brackets", bytes.Repeat([]byte("["), 100000), ErrTooLarge},
		{"60000 brackets", bytes.Repeat([]byte("["), 60000), ErrTooDeep},
		{"60000 braces unclosed", bytes.Repeat([]byte(`{"a":`), 12000), ErrTooDeep},
		{"depth 33", deep(MaxDepth), ErrTooDeep},
		{"oversized valid", []byte(`{"colibriClass":"EndpointStats","x":"` + strings.Repeat("a", MaxMessageSize) + `"}`), ErrTooLarge},
		{"brackets inside a string do not count", []byte(`{"colibriClass":"EndpointStats","x":"` + strings.Repeat("[", 1000) + `\"` + `"}`), nil},
		{"depth 32 is fine", deep(MaxDepth - 1), nil},
		{"exactly MaxMessageSize is fine", []byte(`{"colibriClass":"EndpointStats","x":"` + strings.Repeat("a", MaxMessageSize-40) + `"}`), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.in)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("len %d: %v", len(tt.in), err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestEndpointMessageKeepsACopyOfTheRawObject(t *testing.T) {
	in := []byte(`{"colibriClass":"EndpointMessage","to":"","msgPayload":{"type":"chat","text":"hi"},"custom":1}`)
	m, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	em := m.(*EndpointMessage)
	want := append([]byte(nil), in...)
	for i := range in {
		in[i] = 'x' // the caller reuses its read buffer
	}
	if em.To != "" || !bytes.Equal(em.Raw, want) || string(em.Payload) != `{"type":"chat","text":"hi"}` || !em.PayloadIsObject() {
		t.Fatalf("got %#v", em)
	}
}

func TestEndpointMessagePayloadShapes(t *testing.T) {
	tests := []struct {
		in         string
		to         string
		payload    string
		isObject   bool
		hasPayload bool
	}{
		{`{"colibriClass":"EndpointMessage","to":"e2","msgPayload":{}}`, "e2", `{}`, true, true},
		{`{"colibriClass":"EndpointMessage","to":"e2","msgPayload":"text"}`, "e2", `"text"`, false, true},
		{`{"colibriClass":"EndpointMessage","to":"e2","msgPayload":[1]}`, "e2", `[1]`, false, true},
		{`{"colibriClass":"EndpointMessage","to":"","msgPayload":null}`, "", ``, false, false},
		{`{"colibriClass":"EndpointMessage","to":"a\"b"}`, `a"b`, ``, false, false},
		{`{"colibriClass":"EndpointMessage","to":"first","to":"last"}`, "last", ``, false, false},
		{`{"colibriClass":"EndpointMessage","TO":"ignored","to":"e3"}`, "e3", ``, false, false},
	}
	for _, tt := range tests {
		m, err := Parse([]byte(tt.in))
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		em := m.(*EndpointMessage)
		if em.To != tt.to || string(em.Payload) != tt.payload || em.PayloadIsObject() != tt.isObject || (em.Payload != nil) != tt.hasPayload {
			t.Errorf("%s: got to=%q payload=%q", tt.in, em.To, em.Payload)
		}
	}
}

func TestAudioSubscriptionFormats(t *testing.T) {
	tests := []struct {
		in   string
		want ReceiverAudioSubscription
	}{
		{`{"all":true}`, ReceiverAudioSubscription{Mode: AudioAll, All: true}},
		{`{}`, ReceiverAudioSubscription{Mode: AudioNone}},
		{`{"all":true,"include":[],"exclude":[]}`, ReceiverAudioSubscription{Mode: AudioAll, All: true}},
		{`{"all":true,"exclude":["b-a0"]}`, ReceiverAudioSubscription{Mode: AudioExclude, List: []string{"b-a0"}, All: true, Exclude: []string{"b-a0"}}},
		{`{"all":true,"include":["t-a0"]}`, ReceiverAudioSubscription{Mode: AudioAll, All: true, Include: []string{"t-a0"}}},
		{`{"all":false,"include":["a-a0","b-a0"],"exclude":["b-a0"]}`,
			ReceiverAudioSubscription{Mode: AudioInclude, List: []string{"a-a0"}, Include: []string{"a-a0", "b-a0"}, Exclude: []string{"b-a0"}}},
		{`{"all":false,"include":["b-a0"],"exclude":["b-a0"]}`,
			ReceiverAudioSubscription{Mode: AudioNone, Include: []string{"b-a0"}, Exclude: []string{"b-a0"}}},
		{`{"mode":"All"}`, ReceiverAudioSubscription{Mode: AudioAll, All: true}},
		{`{"mode":"None","all":true}`, ReceiverAudioSubscription{Mode: AudioNone}},
		{`{"mode":"Include","list":["a-a0"]}`, ReceiverAudioSubscription{Mode: AudioInclude, List: []string{"a-a0"}, Include: []string{"a-a0"}}},
		{`{"mode":"Include","list":[]}`, ReceiverAudioSubscription{Mode: AudioNone}},
		{`{"mode":"Exclude","list":["a-a0"]}`, ReceiverAudioSubscription{Mode: AudioExclude, List: []string{"a-a0"}, All: true, Exclude: []string{"a-a0"}}},
		{`{"mode":"Exclude"}`, ReceiverAudioSubscription{Mode: AudioAll, All: true}},
	}
	for _, tt := range tests {
		in := `{"colibriClass":"ReceiverAudioSubscription"}`
		if tt.in != "{}" {
			in = `{"colibriClass":"ReceiverAudioSubscription",` + strings.TrimPrefix(tt.in, "{")
		}
		m, err := Parse([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := m.(*ReceiverAudioSubscription); !reflect.DeepEqual(*got, tt.want) {
			t.Errorf("%s:\ngot  %#v\nwant %#v", tt.in, *got, tt.want)
		}
	}
}

func TestHostileInputIsRejectedBeforeDecoding(t *testing.T) {
	inputs := map[string][]byte{
		"deep":     bytes.Repeat([]byte("["), 60000),
		"oversize": bytes.Repeat([]byte(" "), MaxMessageSize+1),
	}
	for name, in := range inputs {
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := Parse(in); err == nil {
				t.Fatal("accepted")
			}
		})
		if allocs > 8 { // just the wrapped error (more under -race): no decoder ran
			t.Errorf("%s: %v allocations, want <= 8", name, allocs)
		}
	}
}
