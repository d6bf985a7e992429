package transporttest

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"
)

// Two Peers connect over loopback (one offers through pion directly), RTP sent on a local track
// arrives through OnRTP, and Close leaves no goroutine behind.
func TestPeersConnectExchangeRTPAndCloseCleanly(t *testing.T) {
	defer goleak.VerifyNone(t)
	a, err := NewPeer(PeerOptions{Interceptors: true, MaxBundle: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := NewPeer(PeerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	audio := OpusTrack("a")
	ssrc, err := a.AddTrack(audio, nil)
	if err != nil || ssrc == 0 {
		t.Fatalf("AddTrack: ssrc %d, %v", ssrc, err)
	}
	var got, wrong atomic.Int64
	b.OnRTP(func(tr *webrtc.TrackRemote, pkt *rtp.Packet) {
		if pkt.SSRC != ssrc || tr.Codec().MimeType != webrtc.MimeTypeOpus || len(pkt.Payload) != 3 {
			wrong.Add(1)
		}
		got.Add(1)
	})
	offer, err := a.PC.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(a.PC)
	if err := a.PC.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := b.SetOffer(a.PC.LocalDescription().SDP); err != nil {
		t.Fatal(err)
	}
	answer, err := b.Answer()
	if err != nil {
		t.Fatal(err)
	}
	desc, err := DescriptionFromSDP(answer)
	if err != nil || len(desc.Candidates) == 0 || desc.Fingerprints[0].Setup != "active" {
		t.Fatalf("answer transport %+v, %v", desc, err)
	}
	for _, c := range desc.Candidates {
		if c.IP != "127.0.0.1" {
			t.Errorf("non-loopback candidate %+v", c)
		}
	}
	if err := a.PC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*Peer{a, b} {
		if err := p.WaitConnected(10 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for seq := uint16(1); got.Load() < 5; seq++ {
		if time.Now().After(deadline) {
			t.Fatalf("received %d RTP packets", got.Load())
		}
		if err := audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 960},
			Payload: []byte{1, 2, 3}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := wrong.Load(); n != 0 {
		t.Errorf("%d packets with the wrong SSRC, codec or payload", n)
	}
	a.Close() // the deferred second Close must be harmless
	b.Close()
}
