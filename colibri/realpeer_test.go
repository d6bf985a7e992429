package colibri

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"gojvb/sfu/transport/transporttest"
)

// TestRealPeerConnectsThroughColibri drives a pion/webrtc peer with nothing but what the
// COLIBRI2 exchange carries: the bridge's transport from the allocation response becomes the
// peer's offer, the peer's answer goes back as a session-accept. ICE and DTLS must complete,
// and the peer's RTP must reach the endpoint (LastActivity), which is what expiry relies on.
func TestRealPeerConnectsThroughColibri(t *testing.T) {
	h, b := newSFUHandler(t)
	r := ok(t, do(t, h, allocate("m", "pion", true, "")))
	// jicofo copies the bridge's transport verbatim into the session-initiate offer (setup
	// actpass, rtcp-mux) and maps the client's answer back into the session-accept.
	bridge := r.Endpoints[0].Transport.ICEUDP
	if len(bridge.Fingerprints) == 0 || bridge.Fingerprints[0].Setup != "actpass" || !bool(bridge.RTCPMux) {
		t.Fatalf("bridge transport %+v", bridge)
	}
	offer := transporttest.OfferSDP(bridge.Description(), transporttest.OfferOptions{Audio: true, NoData: true})

	client, err := transporttest.NewPeer(transporttest.PeerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.SetOffer(offer); err != nil {
		t.Fatalf("offer rejected: %v\n%s", err, offer)
	}
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "pion")
	if err != nil {
		t.Fatal(err)
	}
	ssrc, err := client.AddTrack(track, nil)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := client.AnswerTransport()
	if err != nil {
		t.Fatal(err)
	}
	remote := NewICEUDPTransport(answer)
	if len(remote.Candidates) == 0 || remote.Fingerprints[0].Setup != "active" {
		t.Fatalf("answer transport %+v", remote)
	}

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

	if err := client.WaitConnected(15 * time.Second); err != nil {
		t.Fatal(err)
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
