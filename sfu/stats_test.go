package sfu

import (
	"fmt"
	"syscall"
	"testing"

	"gojvb/sfu/transport"
)

// overloadedWriter stands in for a BatchWriter on a socket whose send buffer is nearly full:
// each Flush gets room datagrams out and drops the rest of the batch (EAGAIN), counting each.
type overloadedWriter struct {
	buf     [maxPacket]byte
	room    int
	queued  []int // sizes of the datagrams committed since the last Flush
	counted transport.WriteStats
}

func (w *overloadedWriter) Buffer() []byte  { return w.buf[:0] }
func (w *overloadedWriter) Commit(b []byte) { w.queued = append(w.queued, len(b)) }

func (w *overloadedWriter) Flush() error {
	defer func() { w.queued = w.queued[:0] }()
	for i, n := range w.queued {
		if i >= w.room {
			w.counted.Dropped += uint64(len(w.queued) - i)
			return fmt.Errorf("sendmmsg: %w", syscall.EAGAIN)
		}
		w.counted.Packets++
		w.counted.Bytes += uint64(n)
	}
	return nil
}

func (w *overloadedWriter) Stats() transport.WriteStats { return w.counted }

// With a receiver's socket overloaded, what the bridge reports (and /metrics exports as
// packets_sent and dropped_packets_total{reason="send_failed"}) adds up to exactly what the send
// side tried to send: the kernel's refusals are drops, not sent packets, one per datagram.
func TestSentAndDroppedAddUpToAttemptedUnderOverload(t *testing.T) {
	tb, _, a, b, c := threeParty(t)
	slow := &overloadedWriter{room: 3}
	b.ep.writer = slow // manual bridge: no sender goroutine owns it
	const rounds, perRound = 10, 8
	for range rounds {
		for range perRound {
			a.ep.receiveOne(a.protect(t, a.rtpPacket(222, 100, 500)), false)
		}
		b.ep.drain()
		c.ep.drain()
	}
	attempted, accepted := uint64(rounds*perRound), uint64(rounds*slow.room)
	bs := b.ep.Stats()
	if bs.PacketsSent != accepted || bs.DroppedSendFailed != attempted-accepted {
		t.Fatalf("overloaded receiver: sent %d, send_failed %d; want %d and %d",
			bs.PacketsSent, bs.DroppedSendFailed, accepted, attempted-accepted)
	}
	if cs := c.ep.Stats(); cs.PacketsSent != attempted || cs.DroppedSendFailed != 0 {
		t.Fatalf("healthy receiver: sent %d, send_failed %d; want %d and 0", cs.PacketsSent, cs.DroppedSendFailed, attempted)
	}
	s := tb.Stats()
	if got := s.PacketsSent + s.DroppedSendFailed; got != 2*attempted {
		t.Fatalf("bridge: packets_sent %d + send_failed %d = %d, want the %d packets the pipeline tried",
			s.PacketsSent, s.DroppedSendFailed, got, 2*attempted)
	}
	if s.BytesSent != bs.BytesSent+c.ep.Stats().BytesSent || bs.BytesSent >= c.ep.Stats().BytesSent {
		t.Fatalf("bytes sent: bridge %d, overloaded %d, healthy %d", s.BytesSent, bs.BytesSent, c.ep.Stats().BytesSent)
	}
}
