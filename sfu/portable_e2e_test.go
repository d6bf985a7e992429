package sfu

import (
	"net/netip"
	"testing"

	"gojvb/bwe"
	"gojvb/sfu/transport"
)

// The bridge forwards media intact on the socket path every platform but Linux takes (one
// socket, plain reads and writes), forced here on Linux: what go run ./cmd/jvb does on macOS.
func TestMediaFlowsOnPortableSockets(t *testing.T) {
	b := newBridgeOn(t, transport.Config{BindAddr: netip.MustParseAddr("127.0.0.1"), Readers: 2, PortableSockets: true})
	conf, err := b.CreateConference("portable", "portable@conference.example")
	if err != nil {
		t.Fatal(err)
	}
	peers := []*peer{joinPeer(t, conf, 0), joinPeer(t, conf, 1)}
	connectAll(t, peers)
	stop := sendMedia(t, peers)
	waitFlow(t, peers, peers, 25, nil)
	stop()
	checkIntact(t, peers)
	if s := b.Stats(); s.PacketsSent < 100 || s.Mux.PacketsSent < s.PacketsSent || s.PacketsReceived < 100 {
		t.Errorf("stats: sent %d (socket %d), received %d", s.PacketsSent, s.Mux.PacketsSent, s.PacketsReceived)
	}
}

// newBridgeOn is newLoopbackBridge with the transport configured by tc.
func newBridgeOn(t *testing.T, tc transport.Config) *Bridge {
	t.Helper()
	alloc := bwe.DefaultConfig()
	alloc.InitialMaxHeight = -1 // every source without waiting for ReceiverVideoConstraints
	b, err := New(Config{Transport: tc, Logger: quietLogger(), Allocation: &alloc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("bridge Close: %v", err)
		}
	})
	return b
}
