package sfu

import (
	"crypto/rand"
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"

	"gojvb/sfu/transport"
)

func TestTwoPionClientsExchangeMediaMessagesAndKeyframeRequests(t *testing.T) {
	b := newLoopbackBridge(t)
	conf, err := b.CreateConference("meeting-2", "two@conference.example")
	if err != nil {
		t.Fatal(err)
	}
	peers := []*peer{joinPeer(t, conf, 0), joinPeer(t, conf, 1)}
	connectAll(t, peers)
	stop := sendMedia(t, peers)
	waitFlow(t, peers, peers, 25, nil)

	// A PLI from p1 about p0's video reaches p0, sent from the conference's feedback SSRC.
	_, fbVideo := conf.FeedbackSSRCs()
	deadline := time.After(10 * time.Second)
	for got := false; !got; {
		if err := peers[1].client.PC.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{SenderSSRC: 1, MediaSSRC: peers[0].videoSSRC}}); err != nil {
			t.Fatal(err)
		}
		select {
		case pli := <-peers[0].plis:
			if pli.MediaSSRC != peers[0].videoSSRC || pli.SenderSSRC != fbVideo {
				t.Fatalf("PLI media %d sender %d, want %d from %d", pli.MediaSSRC, pli.SenderSSRC, peers[0].videoSSRC, fbVideo)
			}
			got = true
		case <-time.After(300 * time.Millisecond):
		case <-deadline:
			t.Fatal("PLI never reached the sender")
		}
	}

	// An EndpointMessage reaches its addressee with its sender.
	if err := peers[1].dc.SendText(`{"colibriClass":"EndpointMessage","to":"p0","msgPayload":{"hi":1}}`); err != nil {
		t.Fatal(err)
	}
	if m := recvClass(t, peers[0].dcMsgs, "EndpointMessage"); !strings.Contains(m, `"from":"p1"`) || !strings.Contains(m, `"hi":1`) {
		t.Errorf("p0 got %q", m)
	}
	stop()
	checkIntact(t, peers)

	s := b.Stats()
	if s.Endpoints != 2 || s.EndpointsSendingAudio != 2 || s.EndpointsSendingVideo != 2 || s.ICESucceeded != 2 {
		t.Errorf("stats: endpoints %d sending audio %d video %d ICE ok %d, want 2 each",
			s.Endpoints, s.EndpointsSendingAudio, s.EndpointsSendingVideo, s.ICESucceeded)
	}
	if s.PacketsSent < 100 || s.KeyframeRequestsForwarded < 1 || s.DataChannelMessagesReceived < 1 || s.DataChannelMessagesSent < 2 {
		t.Errorf("stats: %+v", s)
	}
}

func TestFivePionClientsAndOneLeavesMidStream(t *testing.T) {
	b := newLoopbackBridge(t)
	conf, err := b.CreateConference("meeting-5", "five@conference.example")
	if err != nil {
		t.Fatal(err)
	}
	var peers []*peer
	for i := range 5 {
		peers = append(peers, joinPeer(t, conf, i))
	}
	connectAll(t, peers)
	stop := sendMedia(t, peers)
	waitFlow(t, peers, peers, 20, nil)

	leaving, staying := peers[4], peers[:4]
	leaving.ep.Expire()
	select {
	case <-leaving.ep.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed")
	}
	if conf.Endpoint(leaving.id) != nil || b.Stats().Endpoints != 4 {
		t.Fatal("expired endpoint still in the conference")
	}
	time.Sleep(100 * time.Millisecond) // packets already on the wire
	base := snapshot(peers)
	waitFlow(t, staying, staying, 20, base)
	after := snapshot(peers)
	for ssrc, n := range after[leaving] {
		if n != base[leaving][ssrc] {
			t.Errorf("expired %s still received SSRC %d: %d -> %d", leaving.id, ssrc, base[leaving][ssrc], n)
		}
	}
	for _, p := range staying {
		if after[p][leaving.videoSSRC] != base[p][leaving.videoSSRC] {
			t.Errorf("%s still got video of the expired endpoint", p.id)
		}
	}
	stop()
	checkIntact(t, peers)
}

func TestHostileInputIsDroppedAndMediaKeepsFlowing(t *testing.T) {
	b := newLoopbackBridge(t)
	conf, err := b.CreateConference("meeting-h", "")
	if err != nil {
		t.Fatal(err)
	}
	peers := []*peer{joinPeer(t, conf, 0), joinPeer(t, conf, 1)}
	connectAll(t, peers)
	p0, p1 := peers[0], peers[1]
	// p1's audio SSRC is signalled by p0: what p1 sends on it is foreign.
	if err := p1.ep.SetSources([]MediaSource{videoSource("p1-v0", p1.videoSSRC)}); err != nil {
		t.Fatal(err)
	}
	if err := p0.ep.SetSources([]MediaSource{audioSource("p0-a0", p0.audioSSRC), videoSource("p0-v0", p0.videoSSRC),
		audioSource("p0-a1", p1.audioSSRC)}); err != nil {
		t.Fatal(err)
	}
	stop := sendMedia(t, peers)
	flows := []flow{{p0, p1.videoSSRC}, {p1, p0.audioSSRC}, {p1, p0.videoSSRC}}
	waitFlows(t, flows, 10, nil)

	before := b.Stats()
	base := snapshot(peers)

	// Garbage at the socket: not STUN/DTLS/RTP (first byte 0xff), and RTP-looking datagrams from
	// an address no ICE check validated.
	conn, err := net.Dial("udp", b.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	junk := make([]byte, 200)
	for i := range 50 {
		_, _ = rand.Read(junk)
		junk[0] = 0xff
		if i%2 == 1 {
			junk[0] = 0x80
		}
		if _, err := conn.Write(junk); err != nil {
			t.Fatal(err)
		}
	}
	// SRTP with a bad auth tag delivered as p1's transport would (concurrently with its reader).
	h := endpointHandler{p1.ep}
	for i := range 50 {
		pkt := make([]byte, 300)
		_, _ = rand.Read(pkt)
		pkt[0], pkt[1] = 0x80, 100
		binary.BigEndian.PutUint32(pkt[8:], p1.videoSSRC)
		var batch transport.Batch
		batch.Start(time.Now().UnixNano())
		h.HandleSRTP(&batch, pkt, i%2 == 0)
		batch.Finish()
	}

	waitFlows(t, flows, 20, base) // what is signalled correctly keeps flowing
	stop()
	after := b.Stats()
	checkIntact(t, peers)
	if got := p0.received(p1.audioSSRC); got != 0 {
		t.Errorf("p0 received %d packets of p1's foreign audio", got)
	}
	if d := after.DroppedForeignSSRC - before.DroppedForeignSSRC; d < 20 {
		t.Errorf("foreign SSRC drops grew by %d, want >= 20", d)
	}
	if d := after.DroppedSRTPAuth - before.DroppedSRTPAuth; d < 50 {
		t.Errorf("SRTP auth drops grew by %d, want >= 50", d)
	}
	if d := after.Mux.DroppedGarbage - before.Mux.DroppedGarbage; d < 25 {
		t.Errorf("garbage drops grew by %d, want >= 25", d)
	}
	if d := after.Mux.DroppedUnknownAddr - before.Mux.DroppedUnknownAddr; d < 25 {
		t.Errorf("unknown address drops grew by %d, want >= 25", d)
	}
}

func recvWithin[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// recvClass returns the next bridge-channel message of the given colibriClass, skipping others
// (ForwardedSources, DominantSpeakerEndpointChangeEvent, ... arrive when they arrive).
func recvClass(t *testing.T, ch <-chan string, class string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-ch:
			if strings.Contains(m, `"colibriClass":"`+class+`"`) {
				return m
			}
		case <-deadline:
			t.Fatalf("timed out waiting for a %s message", class)
		}
	}
}
