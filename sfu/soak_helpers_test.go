//go:build soak && linux

package sfu

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"

	"gojvb/sfu/transport/transporttest"
)

// This file holds what the soak and fault scenarios (soak_test.go, built only with -tags soak)
// share: a client network that can fail on command, a paced sender that counts what it sent,
// and the process's resource counts.

// newFaultNet is a client network that fails on command.
func newFaultNet(t *testing.T) *transporttest.FaultNet {
	t.Helper()
	n, err := transporttest.NewFaultNet()
	if err != nil {
		t.Fatal(err)
	}
	return n
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
