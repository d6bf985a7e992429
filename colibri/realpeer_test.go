package colibri

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// offerFromColibri builds the SDP offer jicofo would put into the Jingle session-initiate from
// the bridge's ICE-UDP transport (ParticipantInviteRunnable copies it verbatim): one bundled
// audio section with the bridge's ufrag, pwd, fingerprint (setup actpass) and candidates.
func offerFromColibri(t *ICEUDPTransport) string {
	var b strings.Builder
	b.WriteString("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n")
	b.WriteString("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\n")
	fmt.Fprintf(&b, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n", t.Ufrag, t.Pwd)
	for _, f := range t.Fingerprints {
		fmt.Fprintf(&b, "a=fingerprint:%s %s\r\na=setup:%s\r\n", f.Hash, f.Value, f.Setup)
	}
	if t.RTCPMux {
		b.WriteString("a=rtcp-mux\r\n")
	}
	b.WriteString("a=rtpmap:111 opus/48000/2\r\n")
	for _, c := range t.Candidates {
		fmt.Fprintf(&b, "a=candidate:%s %d %s %d %s %d typ %s generation %d\r\n",
			c.Foundation, c.Component, c.Protocol, c.Priority, c.IP, c.Port, c.Type, c.Generation)
	}
	b.WriteString("a=end-of-candidates\r\n")
	return b.String()
}

// transportFromAnswer is the inverse mapping jicofo does for the session-accept.
func transportFromAnswer(t *testing.T, answer string) *ICEUDPTransport {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(answer); err != nil {
		t.Fatal(err)
	}
	out := &ICEUDPTransport{RTCPMux: true}
	attrs := append([]sdp.Attribute{}, sd.Attributes...)
	for _, m := range sd.MediaDescriptions {
		attrs = append(attrs, m.Attributes...)
	}
	setup := ""
	for _, a := range attrs {
		if a.Key == "setup" {
			setup = a.Value
		}
	}
	for _, a := range attrs {
		switch a.Key {
		case "ice-ufrag":
			out.Ufrag = a.Value
		case "ice-pwd":
			out.Pwd = a.Value
		case "fingerprint":
			hash, val, _ := strings.Cut(a.Value, " ")
			out.Fingerprints = append(out.Fingerprints, Fingerprint{Hash: hash, Setup: setup, Value: val})
		case "candidate":
			f := strings.Fields(a.Value)
			if len(f) < 8 {
				t.Fatalf("candidate %q", a.Value)
			}
			comp, _ := strconv.Atoi(f[1])
			prio, _ := strconv.ParseUint(f[3], 10, 32)
			port, _ := strconv.Atoi(f[5])
			out.Candidates = append(out.Candidates, Candidate{Foundation: f[0], Component: comp, Protocol: strings.ToLower(f[2]),
				Priority: uint32(prio), IP: f[4], Port: port, Type: f[7], ID: "c" + f[0]})
		}
	}
	return out
}

// TestRealPeerConnectsThroughColibri drives a pion/webrtc peer with nothing but what the
// COLIBRI2 exchange carries: the bridge's transport from the allocation response becomes the
// peer's offer, the peer's answer goes back as a session-accept. ICE and DTLS must complete,
// and the peer's RTP must reach the endpoint (LastActivity), which is what expiry relies on.
func TestRealPeerConnectsThroughColibri(t *testing.T) {
	h, b := newSFUHandler(t)
	r := ok(t, do(t, h, allocate("m", "pion", true, "")))
	offer := offerFromColibri(r.Endpoints[0].Transport.ICEUDP)

	var se webrtc.SettingEngine
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	var me webrtc.MediaEngine
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(&me))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pc.Close() }()
	connected := make(chan struct{})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			close(connected)
		}
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		t.Fatalf("offer rejected: %v\n%s", err, offer)
	}
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "pion")
	if err != nil {
		t.Fatal(err)
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	remote := transportFromAnswer(t, pc.LocalDescription().SDP)
	if len(remote.Candidates) == 0 || remote.Fingerprints[0].Setup != "active" {
		t.Fatalf("answer transport %+v", remote)
	}
	ssrc := uint32(sender.GetParameters().Encodings[0].SSRC)

	accept := &ConferenceModify{MeetingID: "m", Endpoints: []Endpoint{{
		ID:        "pion",
		Transport: &Transport{ICEUDP: remote},
		Sources: &Sources{MediaSources: []MediaSource{{Type: "audio", ID: "pion-a0",
			Sources: []Source{{SSRC: ssrc, Name: "pion-a0"}}}}},
	}}}
	raw, err := accept.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ok(t, do(t, h, string(raw)))

	select {
	case <-connected:
	case <-time.After(15 * time.Second):
		t.Fatalf("peer not connected: %v", pc.ConnectionState())
	}
	ep := NewSFUBridge(b).Conference("m").Endpoint("pion")
	created := ep.CreatedAt()
	deadline := time.Now().Add(10 * time.Second)
	for !ep.LastActivity().After(created) || ep.ConnState() != ConnConnected {
		if time.Now().After(deadline) {
			t.Fatalf("no media at the bridge: state %v, last activity %v, created %v", ep.ConnState(), ep.LastActivity(), created)
		}
		if err := track.WriteSample(media.Sample{Data: []byte{0xf8, 0xff, 0xfe}, Duration: 20 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
