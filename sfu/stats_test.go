package sfu

import (
	"fmt"
	"syscall"
	"testing"

	"gojvb/sfu/transport"

	"github.com/pion/rtcp"
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

func (w *overloadedWriter) FlushTo(*transport.Batch) error { return w.Flush() }

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

// A retransmission the kernel refuses is a send_failed drop, not a retransmission sent: with
// room for 2 datagrams, a NACK for 5 cached packets counts 2 retransmissions and 3 drops.
func TestRetransmissionsCountWhatTheKernelAccepted(t *testing.T) {
	tb, c := jvbBridge(t, nil)
	a := joinMeet(t, c, "a", false)
	r := joinMeet(t, c, "r", false)
	for _, cl := range []*client{a, r} {
		cl.ep.AddPayloadTypes(rtxMedia, nil)
	}
	v := videoSource("a-v0", 2, 3)
	v.Groups = []SSRCGroup{{Semantics: "FID", SSRCs: []uint32{2, 3}}}
	if err := a.ep.SetSources([]MediaSource{v}); err != nil {
		t.Fatal(err)
	}
	r.say(`{"colibriClass":"ReceiverVideoConstraints","lastN":-1}`)
	settle(a, r)
	for seq := uint16(100); seq < 108; seq++ {
		a.ep.receiveOne(a.protect(t, a.vp8(2, seq, uint32(seq)*3000, seq == 100)), false)
	}
	if got := r.rtpOut(t, tb); len(got) != 8 {
		t.Fatalf("r got %d packets, want 8", len(got))
	}
	failedBefore := r.ep.tx.failed.Load()
	slow := &overloadedWriter{room: 2}
	r.ep.writer = slow // manual bridge: no sender goroutine owns it
	nack := &rtcp.TransportLayerNack{SenderSSRC: 9, MediaSSRC: 2, Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{101, 102, 103, 104, 105})}
	raw, err := nack.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	r.ep.receiveOne(r.protectRTCP(t, raw), true)
	r.ep.drain()
	s := r.ep.Stats()
	if s.Retransmissions != 2 || s.PacketsSent != 2 || s.DroppedSendFailed-failedBefore != 3 {
		t.Fatalf("retransmissions %d, sent %d, send_failed %d; want 2, 2 and 3",
			s.Retransmissions, s.PacketsSent, s.DroppedSendFailed-failedBefore)
	}
}
