package colibri

import (
	"encoding/json"
	"encoding/xml"
	"reflect"
	"strings"
	"testing"
)

// fullRequest uses every element and attribute of spec 2.2 (not a request jicofo would send in
// one piece: the handler would refuse endpoints and relays together), with the children in a
// shuffled order and unknown attributes/children sprinkled in.
const fullRequest = `<conference-modify xmlns='jitsi:colibri2' meeting-id='m-1' name='room@muc.meet.jitsi' create='true' expire='false' rtcstats-enabled='true' callstats-enabled='false'>
 <trace-parent xmlns='urn:example:otel' value='00-abc'/>
 <endpoint id='ep1' create='true' expire='false' stats-id='Alice-1' muc-role='visitor' unknown-attr='x'>
  <capability name='source-names'/>
  <capability name='ssrc-rewriting'/>
  <initial-last-n value='5'/>
  <force-mute audio='true' video='false'/>
  <media type='audio'>
   <payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='111' name='opus' clockrate='48000' channels='2'>
    <parameter name='useinbandfec' value='1'/>
    <rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='transport-cc'/>
   </payload-type>
   <payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='112' name='red' clockrate='48000' channels='2'>
    <parameter value='111/111'/>
   </payload-type>
   <rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='1' uri='urn:ietf:params:rtp-hdrext:ssrc-audio-level'/>
   <extmap-allow-mixed xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0'/>
  </media>
  <sources>
   <media-source type='video' id='ep1-v0' synthetic='true'>
    <ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='FID'><source ssrc='1'/><source ssrc='2'/></ssrc-group>
    <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1' name='ep1-v0' videoType='desktop' rid='h'>
     <parameter name='msid' value='s t'/>
    </source>
    <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='2' name='ep1-v0'/>
   </media-source>
  </sources>
  <transport ice-controlling='true' use-unique-port='true' ice-restart='false'>
   <sctp role='server' port='5000'/>
   <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='uf' pwd='pw' ice-generation='1'>
    <candidate component='1' foundation='f1' generation='0' id='cid' network='1' priority='2130706431' protocol='udp' type='srflx' ip='192.0.2.1' port='10000' rel-addr='10.0.0.1' rel-port='9' tcptype='passive'/>
    <web-socket xmlns='http://jitsi.org/protocol/colibri' url='wss://x/colibri-ws/a' active='true'/>
    <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='active' cryptex='true'>AA:BB</fingerprint>
    <rtcp-mux/>
   </transport>
  </transport>
 </endpoint>
 <relay id='10.0.0.2:4096' create='true' expire='false' mesh-id='2'>
  <endpoints>
   <endpoint id='r-ep' create='true' stats-id='Bob'><capability name='source-names'/><sources/></endpoint>
  </endpoints>
  <transport use-unique-port='true' ice-controlling='false'><sctp role='client'/></transport>
  <media type='video'><payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='100' name='VP8' clockrate='90000'/></media>
 </relay>
 <connects>
  <connect url='wss://t/x' protocol='mediajson' type='transcriber' audio='true' video='false' id='c1' create='true' expire='false'>
   <http-header name='Authorization' value='Bearer t'/>
   <ping interval='10' timeout='5'/>
   <exports><export name='a'/></exports>
   <requests><request name='r'/></requests>
  </connect>
 </connects>
</conference-modify>`

func boolp(b bool) *Bool { v := Bool(b); return &v }

func expectedFull() *ConferenceModify {
	return &ConferenceModify{
		XMLName:   xml.Name{Space: NS, Local: "conference-modify"},
		MeetingID: "m-1", Name: "room@muc.meet.jitsi", Create: true, RTCStatsEnabled: true,
		Endpoints: []Endpoint{{
			ID: "ep1", Create: true, StatsID: "Alice-1", MUCRole: "visitor",
			Media: []Media{{
				Type: "audio",
				PayloadTypes: []PayloadType{
					{ID: 111, Name: "opus", ClockRate: 48000, Channels: 2,
						Parameters:   Parameters{{Name: "useinbandfec", Value: "1"}},
						RTCPFeedback: []RTCPFb{{Type: "transport-cc"}}},
					{ID: 112, Name: "red", ClockRate: 48000, Channels: 2, Parameters: Parameters{{Value: "111/111"}}},
				},
				HeaderExtensions: []RTPHdrExt{{ID: 1, URI: "urn:ietf:params:rtp-hdrext:ssrc-audio-level"}},
				ExtmapAllowMixed: true,
			}},
			Transport: &Transport{
				ICEControlling: boolp(true), UseUniquePort: true,
				ICEUDP: &ICEUDPTransport{
					Ufrag: "uf", Pwd: "pw", ICEGeneration: "1", RTCPMux: true,
					Fingerprints: []Fingerprint{{Hash: "sha-256", Setup: "active", Cryptex: true, Value: "AA:BB"}},
					Candidates: []Candidate{{Component: 1, Foundation: "f1", Generation: 0, ID: "cid", Network: 1,
						Priority: 2130706431, Protocol: "udp", Type: "srflx", IP: "192.0.2.1", Port: 10000,
						RelAddr: "10.0.0.1", RelPort: 9, TCPType: "passive"}},
					WebSockets: []WebSocket{{URL: "wss://x/colibri-ws/a", Active: true}},
				},
				SCTP: &SCTP{Role: "server", Port: 5000},
			},
			Sources: &Sources{MediaSources: []MediaSource{{
				Type: "video", ID: "ep1-v0", Synthetic: true,
				Sources: []Source{
					{SSRC: 1, Name: "ep1-v0", VideoType: "desktop", RID: "h", Parameters: Parameters{{Name: "msid", Value: "s t"}}},
					{SSRC: 2, Name: "ep1-v0"},
				},
				SSRCGroups: []SSRCGroup{{Semantics: "FID", Sources: []SSRCSource{{1}, {2}}}},
			}}},
			ForceMute:    &ForceMute{Audio: true},
			Capabilities: []Capability{{CapSourceNames}, {CapSSRCRewriting}},
			InitialLastN: &InitialLastN{Value: 5},
		}},
		Relays: []Relay{{
			ID: "10.0.0.2:4096", Create: true, MeshID: "2",
			Media:     []Media{{Type: "video", PayloadTypes: []PayloadType{{ID: 100, Name: "VP8", ClockRate: 90000}}}},
			Transport: &Transport{ICEControlling: boolp(false), UseUniquePort: true, SCTP: &SCTP{Role: "client"}},
			Endpoints: &RelayEndpoints{Endpoints: []Endpoint{{ID: "r-ep", Create: true, StatsID: "Bob",
				Capabilities: []Capability{{CapSourceNames}}, Sources: &Sources{}}}},
		}},
		Connects: &Connects{Connects: []Connect{{
			URL: "wss://t/x", Protocol: "mediajson", Type: "transcriber", Audio: true, ID: "c1", Create: true,
			HTTPHeaders: []HTTPHeader{{Name: "Authorization", Value: "Bearer t"}},
			Ping:        &Ping{Interval: 10, Timeout: 5},
			Exports:     &Exports{Exports: []Named{{"a"}}},
			Requests:    &Requests{Requests: []Named{{"r"}}},
		}}},
	}
}

// normalize makes parsed and expected values comparable: nil and empty slices are the same.
func normalize(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseEveryElementAndAttribute(t *testing.T) {
	got, err := ParseConferenceModify([]byte(fullRequest))
	if err != nil {
		t.Fatal(err)
	}
	want := expectedFull()
	if g, w := normalize(t, got), normalize(t, want); g != w {
		t.Fatalf("parsed request differs\n got %s\nwant %s", g, w)
	}
	// Fields that JSON does not carry are compared directly.
	if !reflect.DeepEqual(got.Endpoints[0].Transport.ICEUDP.WebSockets, want.Endpoints[0].Transport.ICEUDP.WebSockets) {
		t.Fatalf("web-sockets: %+v", got.Endpoints[0].Transport.ICEUDP.WebSockets)
	}
	if got.Endpoints[0].Sources.MediaSources[0].Sources[0].Parameters[0].Value != "s t" {
		t.Fatal("source parameter lost")
	}
}

func TestXMLRoundTripEveryElement(t *testing.T) {
	want := expectedFull()
	out, err := want.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseConferenceModify(out)
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(normalize(t, got), normalize(t, want)) {
		t.Fatalf("round trip differs\n got %s\nwant %s\nxml %s", normalize(t, got), normalize(t, want), out)
	}
	s := string(out)
	for _, frag := range []string{
		`<conference-modify xmlns="jitsi:colibri2" meeting-id="m-1"`,
		`<payload-type xmlns="urn:xmpp:jingle:apps:rtp:1" id="111" name="opus" clockrate="48000" channels="2"><parameter name="useinbandfec" value="1"></parameter><rtcp-fb xmlns="urn:xmpp:jingle:apps:rtp:rtcp-fb:0" type="transport-cc"></rtcp-fb></payload-type>`,
		`<parameter value="111/111"></parameter>`,
		`<rtp-hdrext xmlns="urn:xmpp:jingle:apps:rtp:rtp-hdrext:0" id="1" uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"></rtp-hdrext><extmap-allow-mixed xmlns="urn:xmpp:jingle:apps:rtp:rtp-hdrext:0"></extmap-allow-mixed>`,
		`<transport ice-controlling="true" use-unique-port="true"><transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="uf" pwd="pw" ice-generation="1"><rtcp-mux></rtcp-mux><fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" hash="sha-256" setup="active" cryptex="true">AA:BB</fingerprint><candidate component="1" foundation="f1" generation="0" id="cid" network="1" priority="2130706431" protocol="udp" type="srflx" ip="192.0.2.1" port="10000" rel-addr="10.0.0.1" rel-port="9" tcptype="passive"></candidate><web-socket xmlns="http://jitsi.org/protocol/colibri" url="wss://x/colibri-ws/a" active="true"></web-socket></transport><sctp role="server" port="5000"></sctp></transport>`,
		`<media-source type="video" id="ep1-v0" synthetic="true"><source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="1" name="ep1-v0" videoType="desktop" rid="h"><parameter name="msid" value="s t"></parameter></source>`,
		`<ssrc-group xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" semantics="FID"><source ssrc="1"></source><source ssrc="2"></source></ssrc-group>`,
		`<force-mute audio="true" video="false"></force-mute><capability name="source-names"></capability><capability name="ssrc-rewriting"></capability><initial-last-n value="5"></initial-last-n>`,
		`<relay id="10.0.0.2:4096" create="true" mesh-id="2">`,
		`<endpoints><endpoint id="r-ep" create="true" stats-id="Bob"><sources></sources><capability name="source-names"></capability></endpoint></endpoints>`,
		`<connect url="wss://t/x" protocol="mediajson" type="transcriber" audio="true" id="c1" create="true"><http-header name="Authorization" value="Bearer t"></http-header><ping interval="10" timeout="5"></ping><exports><export name="a"></export></exports><requests><request name="r"></request></requests></connect>`,
	} {
		if !strings.Contains(s, frag) {
			t.Errorf("marshalled XML lacks %s\nin %s", frag, s)
		}
	}
	// The only namespace declarations are the ones jicofo/Smack expect.
	if strings.Contains(s, `xmlns:`) || strings.Contains(s, `_xmlns`) {
		t.Errorf("prefixed namespace declarations in %s", s)
	}
}

func TestParseLenientBooleansAndUnknowns(t *testing.T) {
	m, err := ParseConferenceModify([]byte(`<conference-modify xmlns='jitsi:colibri2' meeting-id='m' create='TRUE' expire='yes'><bogus/><endpoint id='e' foo='bar'><force-mute audio='1' video='True'/></endpoint></conference-modify>`))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Create || m.Expire {
		t.Fatalf("create=%v expire=%v: want Java parseBoolean semantics", m.Create, m.Expire)
	}
	fm := m.Endpoints[0].ForceMute
	if fm.Audio || !fm.Video {
		t.Fatalf("force-mute %+v", fm)
	}
}

func TestParseRejectsWrongRootOrNamespace(t *testing.T) {
	for _, in := range []string{
		`<conference-modify meeting-id='m'/>`,
		`<conference-modify xmlns='jitsi:colibri' meeting-id='m'/>`,
		`<conference-modified xmlns='jitsi:colibri2'/>`,
		`<conference-modify xmlns='jitsi:colibri2' meeting-id='m'><endpoint id='e'>`,
		``,
	} {
		if _, err := ParseConferenceModify([]byte(in)); err == nil {
			t.Errorf("%q parsed without error", in)
		}
	}
}

func TestConferenceModifiedShape(t *testing.T) {
	resp := &ConferenceModified{
		Endpoints: []Endpoint{{ID: "ep1", Transport: &Transport{
			ICEUDP: &ICEUDPTransport{Ufrag: "u", Pwd: "p", RTCPMux: true,
				Fingerprints: []Fingerprint{{Hash: "sha-256", Setup: "actpass", Value: "AA"}},
				Candidates: []Candidate{{Component: 1, Foundation: "1", Priority: 1, Protocol: "udp", Type: "host",
					IP: "127.0.0.1", Port: 10000}}},
			SCTP: &SCTP{Role: "server", Port: 5000},
		}}, {ID: "ep2", Expire: true}},
		Sources: feedbackSources(&fakeConf{fbAudio: 7, fbVideo: 8}),
	}
	out, err := resp.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `<conference-modified xmlns="jitsi:colibri2">` +
		`<endpoint id="ep1"><transport><transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="u" pwd="p"><rtcp-mux></rtcp-mux>` +
		`<fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" hash="sha-256" setup="actpass">AA</fingerprint>` +
		`<candidate component="1" foundation="1" generation="0" network="0" priority="1" protocol="udp" type="host" ip="127.0.0.1" port="10000"></candidate>` +
		`</transport><sctp role="server" port="5000"></sctp></transport></endpoint>` +
		`<endpoint id="ep2" expire="true"></endpoint>` +
		`<sources><media-source type="audio" id="jvb-a0"><source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="7" name="jvb-a0"></source></media-source>` +
		`<media-source type="video" id="jvb-v0"><source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="8" name="jvb-v0"></source></media-source></sources>` +
		`</conference-modified>`
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	back, err := ParseConferenceModified(out)
	if err != nil {
		t.Fatal(err)
	}
	if normalize(t, back) != normalize(t, resp) {
		t.Fatalf("re-parse differs: %s", normalize(t, back))
	}
	// Parse what Smack emits (redundant xmlns, self-closing elements).
	smack := `<conference-modified xmlns="jitsi:colibri2"><endpoint xmlns="jitsi:colibri2" id="x"><transport><transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" pwd="p" ufrag="u"><rtcp-mux/><fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" setup="actpass" hash="sha-256">F1</fingerprint></transport></transport></endpoint><sources xmlns="jitsi:colibri2"><media-source type="audio" id="jvb-a0"><source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="411312308" name="jvb-a0"/></media-source></sources></conference-modified>`
	sm, err := ParseConferenceModified([]byte(smack))
	if err != nil {
		t.Fatal(err)
	}
	if sm.Endpoints[0].Transport.ICEUDP.Fingerprints[0].Value != "F1" || !bool(sm.Endpoints[0].Transport.ICEUDP.RTCPMux) ||
		sm.Sources.MediaSources[0].Sources[0].SSRC != 411312308 {
		t.Fatalf("smack form parsed as %s", normalize(t, sm))
	}
}
