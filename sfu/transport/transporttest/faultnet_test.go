package transporttest

import (
	"errors"
	"net"
	"testing"
	"time"
)

// Each mode does to a client socket what it says: drop both ways, stop reading, close.
func TestFaultNetModes(t *testing.T) {
	fn, err := NewFaultNet()
	if err != nil {
		t.Fatal(err)
	}
	c, err := fn.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	buf := make([]byte, 64)
	// leaves says whether a datagram written by the client reaches the peer.
	leaves := func() bool {
		if _, err := c.WriteTo([]byte("out"), peer.LocalAddr()); err != nil {
			return false
		}
		_ = peer.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, _, err := peer.ReadFrom(buf)
		return err == nil
	}
	// arrives says whether a datagram from the peer is read by the client.
	arrives := func() bool {
		if _, err := peer.WriteTo([]byte("in"), c.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, _, err := c.ReadFrom(buf)
		return err == nil && string(buf[:n]) == "in"
	}
	if !leaves() || !arrives() {
		t.Fatal("FaultNone: traffic does not pass")
	}
	fn.Set(FaultDrop)
	if leaves() {
		t.Error("FaultDrop: a datagram left the client")
	}
	if arrives() {
		t.Error("FaultDrop: a datagram reached the client")
	}
	fn.Set(FaultNone)
	if !leaves() || !arrives() {
		t.Error("traffic does not pass once the network is back")
	}
	fn.Set(FaultClosed)
	if _, err := c.WriteTo([]byte("x"), peer.LocalAddr()); !errors.Is(err, ErrFaultClosed) {
		t.Errorf("FaultClosed write: %v", err)
	}
	if _, _, err := c.ReadFrom(buf); !errors.Is(err, ErrFaultClosed) {
		t.Errorf("FaultClosed read: %v", err)
	}
}
