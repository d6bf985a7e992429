package transport

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// stuckHandler blocks the socket reader in HandleSRTP until release is closed.
type stuckHandler struct {
	nopHandler
	entered chan struct{}
	release chan struct{}
}

func (h *stuckHandler) HandleSRTP(*Batch, []byte, bool) {
	select {
	case h.entered <- struct{}{}:
	default:
	}
	<-h.release
}

func TestStuckReaderFailsAliveAndKernelDropsAreCounted(t *testing.T) {
	// The smallest buffer the kernel allows, so that a few hundred datagrams overflow it.
	m, err := Listen(Config{BindAddr: netip.MustParseAddr("127.0.0.1"), Readers: 1, SocketBuffer: 1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const maxAge = readWakeup + readWakeup/2
	if err := m.Alive(maxAge); err != nil {
		t.Fatalf("fresh mux: %v", err)
	}
	h := &stuckHandler{entered: make(chan struct{}, 1), release: make(chan struct{})}
	tr, err := m.NewTransport(Options{}, h)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	released := false
	release := func() {
		if !released {
			released = true
			close(h.release)
		}
	}
	defer release()
	client, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	m.validate(client.LocalAddr().(*net.UDPAddr).AddrPort(), tr)
	tr.secure.Store(true)
	to := net.UDPAddrFromAddrPort(m.LocalAddr())
	if _, err := client.WriteToUDP(rtpPacket, to); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("SRTP never reached the handler")
	}

	// The reader is stuck: the kernel queue overflows and Alive notices.
	for range 2000 {
		if _, err := client.WriteToUDP(rtpPacket, to); err != nil {
			t.Fatal(err)
		}
	}
	if d := m.Stats().DroppedSocketOverflow; d == 0 {
		t.Error("no kernel drops counted after 2000 datagrams to a stuck reader with a tiny buffer")
	}
	deadline := time.Now().Add(maxAge + 3*time.Second)
	for m.Alive(maxAge) == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	err = m.Alive(maxAge)
	if err == nil || !strings.Contains(err.Error(), "reader 1 of 1 silent") {
		t.Fatalf("Alive with a stuck reader = %v, want reader 1 of 1 silent", err)
	}

	release()
	deadline = time.Now().Add(5 * time.Second)
	for m.Alive(maxAge) != nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := m.Alive(maxAge); err != nil {
		t.Fatalf("Alive after the reader recovered: %v", err)
	}
	m.Close()
	if err := m.Alive(maxAge); err == nil {
		t.Fatal("closed mux reported alive")
	}
}

func TestIdleReaderStaysAlive(t *testing.T) {
	m, err := Listen(Config{BindAddr: netip.MustParseAddr("127.0.0.1"), Readers: 2, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	time.Sleep(readWakeup + readWakeup/2)
	if err := m.Alive(readWakeup + readWakeup/2); err != nil {
		t.Fatalf("idle reader: %v", err)
	}
}
