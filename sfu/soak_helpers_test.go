//go:build soak

package sfu

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	piontransport "github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// This file holds what the soak and fault scenarios (soak_test.go, built only with -tags soak)
// share: a client network that can fail on command, a track that writes any SSRC, a paced
// sender that counts what it sent, and the process's resource counts.

// faultMode is what a faultNet does to its client's traffic.
type faultMode int32

const (
	faultNone   faultMode = iota
	faultDrop             // the network is gone: nothing leaves, nothing arrives
	faultNoRead           // the client never reads its socket again (its kernel buffer fills)
	faultClosed           // the client's socket is closed under it (the bridge's packets are refused)
)

// faultNet is the standard network for a pion client, whose UDP sockets obey the mode set.
type faultNet struct {
	*stdnet.Net
	mode  atomic.Int32
	mu    sync.Mutex
	conns []*faultConn
}

func newFaultNet(t *testing.T) *faultNet {
	t.Helper()
	n, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	return &faultNet{Net: n}
}

func (n *faultNet) ListenUDP(network string, laddr *net.UDPAddr) (piontransport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	fc := &faultConn{UDPConn: c, n: n, done: make(chan struct{})}
	n.mu.Lock()
	n.conns = append(n.conns, fc)
	n.mu.Unlock()
	return fc, nil
}

// set switches the mode; faultClosed closes every socket now.
func (n *faultNet) set(m faultMode) {
	n.mode.Store(int32(m))
	if m != faultClosed {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.conns {
		_ = c.UDPConn.Close()
	}
}

func (n *faultNet) current() faultMode { return faultMode(n.mode.Load()) }

type faultConn struct {
	piontransport.UDPConn
	n         *faultNet
	done      chan struct{}
	closeOnce sync.Once
}

var errFaultClosed = errors.New("soak: socket closed by the fault")

func (c *faultConn) Close() error {
	c.closeOnce.Do(func() { close(c.done) })
	return c.UDPConn.Close()
}

func (c *faultConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		switch c.n.current() {
		case faultNoRead:
			<-c.done
			return 0, nil, errFaultClosed
		case faultClosed:
			return 0, nil, errFaultClosed
		}
		n, addr, err := c.UDPConn.ReadFrom(b)
		if err != nil || c.n.current() == faultNone {
			return n, addr, err
		}
		// faultDrop: what arrived is lost; faultNoRead: it stays unread (this one is the last).
	}
}

func (c *faultConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	switch c.n.current() {
	case faultDrop:
		return len(b), nil
	case faultClosed:
		return 0, errFaultClosed
	}
	return c.UDPConn.WriteTo(b, addr)
}

// pacedMedia sends every peer's audio and video every 20 ms (50 packets/s each) and counts what
// each peer sent.
type pacedMedia struct {
	mu   sync.Mutex
	sent map[*peer]int
	stop func()
}

func startPacedMedia(t *testing.T, peers []*peer) *pacedMedia {
	m := &pacedMedia{sent: map[*peer]int{}}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(1); ; seq++ {
			for _, p := range peers {
				if p.ep.Expired() {
					continue
				}
				_ = p.audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 960},
					Payload: payload('a', p.idx, seq, payloadAudio)})
				_ = p.video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, Marker: true},
					Payload: payload('v', p.idx, seq, payloadVideo)})
				m.mu.Lock()
				m.sent[p] += 2
				m.mu.Unlock()
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	m.stop = func() { once.Do(func() { close(done); wg.Wait() }) }
	t.Cleanup(m.stop)
	return m
}

func (m *pacedMedia) count(p *peer) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sent[p]
}

// pairWindow measures, over window, how many of from's packets (audio and video) reached to
// and how many from sent; what to received is counted 100 ms later than what from sent, so
// that packets in flight at either end count once (forwarding takes well under that on
// loopback, and a stall of the bridge shows).
func pairWindow(m *pacedMedia, from, to *peer, window time.Duration) (forwarded, sent int) {
	const latency = 100 * time.Millisecond
	s0 := m.count(from)
	time.Sleep(latency)
	r0 := to.received(from.audioSSRC) + to.received(from.videoSSRC)
	time.Sleep(window - latency)
	s1 := m.count(from)
	time.Sleep(latency)
	r1 := to.received(from.audioSSRC) + to.received(from.videoSSRC)
	return r1 - r0, s1 - s0
}

// checkPair fails unless to got at least 90 % of what from sent in the window.
func checkPair(t *testing.T, what string, forwarded, sent int) {
	t.Helper()
	t.Logf("%s: %d forwarded of %d sent (%.1f %%)", what, forwarded, sent, 100*float64(forwarded)/float64(max(sent, 1)))
	if sent == 0 || forwarded*10 < sent*9 {
		t.Errorf("%s: the live pair got %d of %d packets: slowed by more than 10 %%", what, forwarded, sent)
	}
}

// resources is what the process holds: goroutines, live heap after a collection, open fds.
type resources struct {
	goroutines int
	heap       uint64
	fds        int
}

func (r resources) String() string {
	return fmt.Sprintf("%d goroutines, heap %.1f MiB, %d fds", r.goroutines, float64(r.heap)/(1<<20), r.fds)
}

func measureResources(t *testing.T) resources {
	t.Helper()
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("open fds: %v", err)
	}
	return resources{goroutines: runtime.NumGoroutine(), heap: ms.HeapAlloc, fds: len(ents)}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// envInt reads a scenario size from the environment (SOAK_CYCLES=100 for a quick run).
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// soakWait polls cond until it holds or timeout passes.
func soakWait(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// waitServerHello waits for the ServerHello on p's bridge channel.
func waitServerHello(t *testing.T, p *peer) {
	t.Helper()
	select {
	case m := <-p.dcMsgs:
		if m != `{"colibriClass":"ServerHello"}` {
			t.Fatalf("%s: first data channel message %q, want ServerHello", p.id, m)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no ServerHello (endpoint state %v)", p.id, p.ep.State())
	}
}
