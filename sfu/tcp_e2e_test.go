package sfu

import (
	"net/netip"
	"testing"

	"github.com/pion/webrtc/v4"

	"gojvb/sfu/transport"
	"gojvb/sfu/transport/transporttest"
)

// A client that can only use TCP (its network blocks UDP) connects to the bridge over ICE-TCP
// and exchanges media both ways with a UDP client: its media enters the same pipeline from the
// TCP connection, and what it receives is framed onto the connection by its BatchWriter.
func TestMediaFlowsOverICETCP(t *testing.T) {
	b := newBridgeOn(t, transport.Config{BindAddr: netip.MustParseAddr("127.0.0.1"), Readers: 2,
		TCP: transport.TCPConfig{Enabled: true}})
	conf, err := b.CreateConference("tcp", "tcp@conference.example")
	if err != nil {
		t.Fatal(err)
	}
	tcpPeer := joinPeerWith(t, conf, 0, transporttest.PeerOptions{TCPOnly: true}, nil)
	t.Cleanup(tcpPeer.client.Close)
	udpPeer := joinPeer(t, conf, 1)
	peers := []*peer{tcpPeer, udpPeer}
	var tcpCands int
	for _, c := range tcpPeer.ep.LocalTransport().Candidates {
		if c.Protocol == "tcp" {
			tcpCands++
			if c.TCPType != "passive" || c.Port != int(b.mux.TCPAddr().Port()) {
				t.Errorf("TCP candidate %+v: want tcptype passive on port %d", c, b.mux.TCPAddr().Port())
			}
		}
	}
	if tcpCands == 0 {
		t.Fatalf("no TCP candidate in %+v", tcpPeer.ep.LocalTransport().Candidates)
	}
	connectAll(t, peers)
	stop := sendMedia(t, peers)
	waitFlow(t, peers, peers, 25, nil)
	stop()
	checkIntact(t, peers)

	pair, err := tcpPeer.client.PC.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Remote.Protocol != webrtc.ICEProtocolTCP {
		t.Errorf("TCP-only client's selected pair %v (%v): want TCP", pair, err)
	}
	st := b.Stats().Mux.TCP
	if st.Bound < 1 || st.PacketsSent < 25 || st.FramesReceived < 50 || st.Open < 1 {
		t.Errorf("ICE-TCP stats %+v: want a bound connection carrying media both ways", st)
	}
}
