package colibri

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// A REST request in the shape of JVB doc/rest-colibri2.md: numbers of payload types as strings,
// hdrext ids as numbers, a nameless RED parameter keyed "null", capabilities as strings, sources
// with bare SSRCs and objects, ssrc-groups of bare SSRCs.
const restCreate = `{
  "meeting-id": "beccf2ed",
  "name": "room@muc.meet.jitsi",
  "create": true,
  "callstats-enabled": false,
  "endpoints": [{
    "create": true, "id": "79f0273d", "stats-id": "Garett", "muc-role": "moderator",
    "medias": [{
      "type": "audio",
      "payload-types": [
        {"name": "red", "id": "112", "channels": "2", "clockrate": "48000", "parameters": {"null": "111/111"}},
        {"name": "opus", "id": "111", "channels": "2", "clockrate": "48000",
         "parameters": {"useinbandfec": "1", "minptime": "10"}, "rtcp-fbs": [{"type": "transport-cc"}]}
      ],
      "rtp-hdrexts": [{"uri": "urn:ietf:params:rtp-hdrext:ssrc-audio-level", "id": 1}],
      "extmap-allow-mixed": true
    }],
    "transport": {"ice-controlling": true, "sctp": {"role": "server", "port": 5000}},
    "sources": [
      {"type": "video", "id": "79f0273d-v0",
       "sources": [437485591, {"ssrc": 2958490935, "name": "79f0273d-v0", "videoType": "camera", "parameters": {"msid": "a b"}}],
       "ssrc-groups": [{"semantics": "FID", "sources": [437485591, 2958490935]}]}
    ],
    "force-mute": {"audio": true, "video": false},
    "capabilities": ["source-names"],
    "initial-last-n": {"value": 3}
  }],
  "connects": [{"url": "wss://example.com/audio", "protocol": "mediajson", "type": "transcriber", "audio": true}]
}`

func TestParseRESTRequest(t *testing.T) {
	m, err := ParseConferenceModifyJSON([]byte(restCreate))
	if err != nil {
		t.Fatal(err)
	}
	if m.MeetingID != "beccf2ed" || m.Name != "room@muc.meet.jitsi" || !m.Create {
		t.Fatalf("conference attrs: %+v", m)
	}
	ep := m.Endpoints[0]
	if !ep.Create || ep.ID != "79f0273d" || ep.StatsID != "Garett" || ep.MUCRole != "moderator" {
		t.Fatalf("endpoint attrs: %+v", ep)
	}
	red := ep.Media[0].PayloadTypes[0]
	if red.ID != 112 || red.ClockRate != 48000 || red.Channels != 2 || !reflect.DeepEqual(red.Parameters, Parameters{{Name: "", Value: "111/111"}}) {
		t.Fatalf("red: %+v", red)
	}
	opus := ep.Media[0].PayloadTypes[1]
	if !reflect.DeepEqual(opus.Parameters, Parameters{{"useinbandfec", "1"}, {"minptime", "10"}}) || opus.RTCPFeedback[0].Type != "transport-cc" {
		t.Fatalf("opus: %+v", opus)
	}
	if ep.Media[0].HeaderExtensions[0].ID != 1 || !ep.Media[0].ExtmapAllowMixed {
		t.Fatalf("media: %+v", ep.Media[0])
	}
	if ep.Transport.ICEControlling == nil || !*ep.Transport.ICEControlling || ep.Transport.SCTP.Port != 5000 {
		t.Fatalf("transport: %+v", ep.Transport)
	}
	ms := ep.Sources.MediaSources[0]
	wantSrc := []Source{{SSRC: 437485591}, {SSRC: 2958490935, Name: "79f0273d-v0", VideoType: "camera", Parameters: Parameters{{"msid", "a b"}}}}
	if !reflect.DeepEqual(ms.Sources, wantSrc) || !reflect.DeepEqual(ms.SSRCGroups[0].Sources, []SSRCSource{{437485591}, {2958490935}}) {
		t.Fatalf("sources: %+v", ms)
	}
	if !bool(ep.ForceMute.Audio) || bool(ep.ForceMute.Video) || !ep.HasCapability(CapSourceNames) || ep.InitialLastN.Value != 3 {
		t.Fatalf("force-mute/capabilities/last-n: %+v", ep)
	}
	if c := m.Connects.Connects[0]; c.URL != "wss://example.com/audio" || c.Type != "transcriber" || !c.Audio {
		t.Fatalf("connects: %+v", m.Connects)
	}
}

func TestJSONRoundTripEveryElement(t *testing.T) {
	want := expectedFull()
	out, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseConferenceModifyJSON(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got.XMLName = want.XMLName
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		t.Fatalf("JSON round trip differs\n got %s\nwant %s", g, out)
	}
	// And JSON -> XML -> JSON gives the same model.
	x, err := got.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseConferenceModify(x)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, want) {
		t.Fatalf("JSON->XML->model differs:\n%s", x)
	}
}

func TestConferenceModifiedJSONShape(t *testing.T) {
	resp := &ConferenceModified{
		Endpoints: []Endpoint{{ID: "ep1", Transport: &Transport{ICEUDP: &ICEUDPTransport{
			Ufrag: "u", Pwd: "p", RTCPMux: true,
			Fingerprints: []Fingerprint{{Hash: "sha-256", Setup: "actpass", Value: "AA"}},
			Candidates: []Candidate{{Component: 1, Foundation: "2", Priority: 1694498815, Protocol: "udp", Type: "srflx",
				IP: "192.0.2.1", Port: 10000, RelAddr: "10.0.0.1", RelPort: 10000, ID: "c"}},
			WebSockets: []WebSocket{{URL: "wss://x/ws"}},
		}}}},
		Sources: feedbackSources(&fakeConf{fbAudio: 3490535668, fbVideo: 1348796334}),
	}
	out, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"endpoints":[{"id":"ep1","transport":{"transport":{"xmlns":"urn:xmpp:jingle:transports:ice-udp:1",` +
		`"ufrag":"u","pwd":"p","rtcp-mux":true,"fingerprints":[{"hash":"sha-256","setup":"actpass","fingerprint":"AA"}],` +
		`"candidates":[{"component":"1","foundation":"2","generation":"0","id":"c","network":"0","priority":"1694498815",` +
		`"protocol":"udp","type":"srflx","ip":"192.0.2.1","port":"10000","rel-addr":"10.0.0.1","rel-port":"10000"}],` +
		`"web-sockets":["wss://x/ws"]}}}],` +
		`"sources":[{"type":"audio","id":"jvb-a0","sources":[{"ssrc":3490535668,"name":"jvb-a0"}]},` +
		`{"type":"video","id":"jvb-v0","sources":[{"ssrc":1348796334,"name":"jvb-v0"}]}]}`
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	back, err := ParseConferenceModifiedJSON(out)
	if err != nil {
		t.Fatal(err)
	}
	back.XMLName = resp.XMLName
	if !reflect.DeepEqual(back, resp) {
		t.Fatalf("re-parse differs: %+v", back)
	}
}

func TestJSONRejectsGarbage(t *testing.T) {
	for _, in := range []string{
		`{`, `[]`, `{"endpoints": {}}`, `{"endpoints":[{"sources":[{"sources":["x"]}]}]}`,
		`{"endpoints":[{"medias":[{"payload-types":[{"parameters":[1]}]}]}]}`,
		`{"endpoints":[{"medias":[{"payload-types":[{"id":"abc"}]}]}]}`,
	} {
		if _, err := ParseConferenceModifyJSON([]byte(in)); err == nil {
			t.Errorf("%s parsed without error", in)
		}
	}
	// An empty sources array is a full replacement with nothing, not "no sources element".
	m, err := ParseConferenceModifyJSON([]byte(`{"meeting-id":"m","endpoints":[{"id":"e","sources":[]}]}`))
	if err != nil || m.Endpoints[0].Sources == nil || len(m.Endpoints[0].Sources.MediaSources) != 0 {
		t.Fatalf("empty sources: %+v %v", m, err)
	}
	if !bytes.Contains(must(json.Marshal(m)), []byte(`"sources":[]`)) {
		t.Fatal("empty sources not kept when marshalling")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
