//go:build soak

package colibri

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"gojvb/sfu/transport/transporttest"
)

// TestSoak holds the COLIBRI2-level soak scenarios of issue 14; built only with -tags soak:
//
//	go test -tags soak -run TestSoak/network-drop-expiry -timeout 30m -v ./colibri/
func TestSoak(t *testing.T) {
	t.Run("network-drop-expiry", soakNetworkDropExpiry)
}

// realPeer allocates endpoint ep in meeting through COLIBRI2 like jicofo and connects a pion
// client (on n when set) that answers the bridge's transport; it returns the client's opus track.
func realPeer(t *testing.T, h *Handler, meeting, ep string, create bool, opts transporttest.PeerOptions) *webrtc.TrackLocalStaticSample {
	t.Helper()
	r := ok(t, do(t, h, allocate(meeting, ep, create, "")))
	offer := transporttest.OfferSDP(r.Endpoints[0].Transport.ICEUDP.Description(), transporttest.OfferOptions{Audio: true, NoData: true})
	client, err := transporttest.NewPeer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	if err := client.SetOffer(offer); err != nil {
		t.Fatal(err)
	}
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", ep)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.AddTrack(track, nil); err != nil {
		t.Fatal(err)
	}
	answer, err := client.AnswerTransport()
	if err != nil {
		t.Fatal(err)
	}
	accept := &ConferenceModify{MeetingID: meeting, Endpoints: []Endpoint{{ID: ep, Transport: &Transport{ICEUDP: NewICEUDPTransport(answer)}}}}
	raw, err := accept.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ok(t, do(t, h, string(raw)))
	if err := client.WaitConnected(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	return track
}

// An endpoint's network drops (its client neither sends nor receives anything) while another
// endpoint of the conference carries on: with JVB's default expiry (1 min inactivity, a check
// every minute) the dropped endpoint is expired at the first check after its transport failed
// (ICE gives up 30 s after the last packet), the other one is left alone.
func soakNetworkDropExpiry(t *testing.T) {
	h, b := newSFUHandler(t)
	fn, err := transporttest.NewFaultNet()
	if err != nil {
		t.Fatal(err)
	}
	dropTrack := realPeer(t, h, "m", "dropped", true, transporttest.PeerOptions{Net: fn})
	otherTrack := realPeer(t, h, "m", "other", false, transporttest.PeerOptions{})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // both clients send opus every 20 ms
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for _, tr := range []*webrtc.TrackLocalStaticSample{dropTrack, otherTrack} {
				_ = tr.WriteSample(media.Sample{Data: []byte{0xf8, 0xff, 0xfe}, Duration: 20 * time.Millisecond})
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	conf := NewSFUBridge(b).Conference("m")
	deadline := time.Now().Add(10 * time.Second)
	for _, id := range []string{"dropped", "other"} {
		ep := conf.Endpoint(id)
		for !ep.LastActivity().After(ep.CreatedAt()) {
			if time.Now().After(deadline) {
				t.Fatalf("no media from %s at the bridge", id)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	expiry := make(chan error, 1)
	started := time.Now()
	go func() { expiry <- h.RunExpiry(ctx, ExpiryConfig{}) }() // JVB's defaults
	defer func() { cancel(); <-expiry }()
	firstCheck := started.Add(time.Minute)

	fn.Set(transporttest.FaultDrop)
	dropped := time.Now()
	var failedAt time.Duration
	for conf.Endpoint("dropped") != nil {
		if failedAt == 0 && conf.Endpoint("dropped").ConnState() == ConnFailed {
			failedAt = time.Since(dropped)
		}
		if time.Since(dropped) > 2*time.Minute {
			t.Fatalf("the dropped endpoint is still there 2 min later (state %v)", conf.Endpoint("dropped").ConnState())
		}
		time.Sleep(100 * time.Millisecond)
	}
	expiredAt := time.Since(dropped)
	t.Logf("network dropped: transport failed after %v, endpoint expired after %v (check interval 1 min)",
		failedAt.Round(100*time.Millisecond), expiredAt.Round(100*time.Millisecond))
	// The first check is a minute after RunExpiry started, just before the drop: the transport
	// has failed by then (30 s), so that check expires it.
	if failedAt < 25*time.Second || failedAt > 40*time.Second {
		t.Errorf("transport failed %v after the drop, want about 30 s (ICE disconnected 5 s + failed 25 s)", failedAt)
	}
	if want := firstCheck.Sub(dropped); expiredAt < want-time.Second || expiredAt > want+5*time.Second {
		t.Errorf("expired %v after the drop, want at the first check (%v after the drop)", expiredAt, want.Round(100*time.Millisecond))
	}
	other := conf.Endpoint("other")
	if other == nil || conf.Expired() {
		t.Fatal("the other endpoint or the conference was expired too")
	}
	if idle := time.Since(other.LastActivity()); idle > 2*time.Second {
		t.Errorf("the other endpoint's last media is %v old", idle)
	}
	if st := b.Stats(); st.Endpoints != 1 {
		t.Errorf("%d endpoints on the bridge, want 1", st.Endpoints)
	}
}
