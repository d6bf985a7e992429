package sfu

import (
	"fmt"
	"testing"

	"github.com/pion/srtp/v3"

	"gojvb/sfu/transport"
)

const aesCM = srtp.ProtectionProfileAes128CmHmacSha1_80

// packetFeed hands out SRTP packets of one sender in sequence order, protecting them a chunk at
// a time so that generating them can be kept out of the measured time.
type packetFeed struct {
	cl     *client
	ssrc   uint32
	plain  []byte
	bufs   [][]byte
	out    [][]byte
	next   int
	timing testing.TB
}

func newPacketFeed(tb testing.TB, cl *client, ssrc uint32, size, chunk int) *packetFeed {
	f := &packetFeed{cl: cl, ssrc: ssrc, bufs: make([][]byte, chunk), out: make([][]byte, chunk), timing: tb}
	for i := range f.bufs {
		f.bufs[i] = make([]byte, 0, maxPacket)
	}
	f.plain = cl.rtpPacket(ssrc, 100, size-12)
	f.plain[12], f.plain[13], f.plain[14] = 0x90, 0x80, 0x01 // VP8 descriptor: X, I, picture id
	f.fill()
	return f
}

func (f *packetFeed) fill() {
	for i := range f.out {
		f.cl.seq++
		f.plain[2], f.plain[3] = byte(f.cl.seq>>8), byte(f.cl.seq)
		out, err := f.cl.send.EncryptRTP(f.bufs[i][:0], f.plain, &f.cl.hdr)
		if err != nil {
			f.timing.Fatal(err)
		}
		f.out[i] = out
	}
	f.next = 0
}

// packet returns the next packet; b, if not nil, has its timer stopped while a chunk is made.
func (f *packetFeed) packet(b *testing.B) []byte {
	if f.next == len(f.out) {
		if b != nil {
			b.StopTimer()
		}
		f.fill()
		if b != nil {
			b.StartTimer()
		}
	}
	f.next++
	return f.out[f.next-1]
}

// forwardSetup is one sender (video SSRC 1) and n receivers, all secure, no sender goroutines.
func forwardSetup(tb testing.TB, profile srtp.ProtectionProfile, n int) (*client, []*client) {
	br := newTestBridge(tb, true, true)
	c, err := br.CreateConference("bench", "")
	if err != nil {
		tb.Fatal(err)
	}
	sender := joinSecure(tb, c, "sender", profile)
	if err := sender.ep.SetSources([]MediaSource{videoSource("sender-v0", 1)}); err != nil {
		tb.Fatal(err)
	}
	receivers := make([]*client, n)
	for i := range receivers {
		receivers[i] = joinSecure(tb, c, fmt.Sprintf("r%02d", i), profile)
	}
	settle(receivers...)
	return sender, receivers
}

// forwardOne is the measured unit: one SRTP packet in (a batch of one), decrypted once, fanned
// out and re-encrypted for every receiver (the socket write excluded).
func forwardOne(sender *client, receivers []*client, pkt []byte) {
	batch.Start(0)
	sender.ep.handleSRTP(&batch, pkt, false)
	batch.Finish()
	for _, r := range receivers {
		r.ep.drain()
	}
}

// batch is the benchmarks' socket reader batch, reused like a reader reuses its own.
var batch transport.Batch

func BenchmarkForward1200GCM(b *testing.B)   { benchmarkForward(b, gcm) }
func BenchmarkForward1200AESCM(b *testing.B) { benchmarkForward(b, aesCM) }

func benchmarkForward(b *testing.B, profile srtp.ProtectionProfile) {
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("receivers=%d", n), func(b *testing.B) {
			sender, receivers := forwardSetup(b, profile, n)
			feed := newPacketFeed(b, sender, 1, 1200, 4096)
			forwardOne(sender, receivers, feed.packet(nil)) // create the projections
			b.SetBytes(int64(1200 * n))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				forwardOne(sender, receivers, feed.packet(b))
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/forwarded")
			if s := receivers[0].ep.Stats(); s.PacketsSent < uint64(b.N) {
				b.Fatalf("receiver sent %d packets, want >= %d", s.PacketsSent, b.N)
			}
		})
	}
}

func TestForwardDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	for _, tc := range []struct {
		profile srtp.ProtectionProfile
		inline  bool // the reader sends at the batch's end (sendInline), as in production
	}{{gcm, false}, {aesCM, false}, {gcm, true}} {
		profile := tc.profile
		sender, receivers := forwardSetup(t, profile, 10)
		// No sender goroutines were started; with manualSend off the batch's end drains
		// every receiver inline and forwardOne's own drains find nothing left.
		sender.ep.conf.bridge.manualSend = !tc.inline
		feed := newPacketFeed(t, sender, 1, 1200, 1024)
		// Steady state: the receivers' retransmission histories hold references to the last
		// historyMax packets, so the pool has to grow that far once.
		for range historyMax + 88 {
			forwardOne(sender, receivers, feed.packet(nil))
		}
		allocs := testing.AllocsPerRun(200, func() { forwardOne(sender, receivers, feed.packet(nil)) })
		if allocs != 0 {
			t.Errorf("%v (inline %v): %.1f allocations per forwarded packet, want 0", profile, tc.inline, allocs)
		}
		if s, want := receivers[9].ep.Stats(), uint64(historyMax+88+201); s.PacketsSent != want {
			t.Errorf("%v (inline %v): receiver sent %d packets, want %d", profile, tc.inline, s.PacketsSent, want)
		}
	}
}

// BenchmarkForward1200GCMPaced is the same with every receiver's pacer at work (an estimate of
// 1 Gbit/s, so it takes every packet out of its bucket without holding any): the pacing check
// per packet costs no allocation either.
func BenchmarkForward1200GCMPaced(b *testing.B) {
	const n = 10
	sender, receivers := forwardSetup(b, gcm, n)
	for _, r := range receivers {
		r.ep.rs.pacer.SetEstimate(1_000_000_000, 0)
	}
	feed := newPacketFeed(b, sender, 1, 1200, 4096)
	forwardOne(sender, receivers, feed.packet(nil))
	b.SetBytes(int64(1200 * n))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		forwardOne(sender, receivers, feed.packet(b))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/forwarded")
	if !receivers[0].ep.rs.pacer.Pacing() {
		b.Fatal("the pacer was not pacing")
	}
	if s := receivers[0].ep.Stats(); s.PacketsSent < uint64(b.N) {
		b.Fatalf("receiver sent %d packets, want >= %d (the pacer held some)", s.PacketsSent, b.N)
	}
}
