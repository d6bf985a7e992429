package bwe

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// gccSteadyDriver sends 1200-byte packets 1 ms apart and answers every 50 with one reused
// feedback (all received, 1 ms apart), the way a receiver's sender goroutine would drive the
// estimator, with Process every 25 packets and WantProbe every 5.
type gccSteadyDriver struct {
	e   *Estimator
	fb  []byte // one feedback for gccBatch packets, patched in place for each batch
	seq uint16
	now int64
}

const gccBatch = 50

func newGCCSteadyDriver(tb testing.TB) *gccSteadyDriver {
	d := &gccSteadyDriver{e: NewEstimator(DefaultEstimatorConfig()), now: gccSimEpoch, seq: 65000}
	fb := &rtcp.TransportLayerCC{
		Header:            rtcp.Header{Count: rtcp.FormatTCC, Type: rtcp.TypeTransportSpecificFeedback},
		PacketStatusCount: gccBatch,
		PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{
			PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: gccBatch,
		}},
	}
	for range gccBatch {
		fb.RecvDeltas = append(fb.RecvDeltas, &rtcp.RecvDelta{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 1000})
	}
	gccFinishHeader(fb)
	d.fb = gccMarshal(tb, fb)
	return d
}

// packet sends one packet, and every gccBatch packets the feedback for the batch.
func (d *gccSteadyDriver) packet() {
	d.e.OnPacketSent(d.seq, 1200, d.now, -1)
	d.seq++
	d.now += int64(time.Millisecond)
	if d.seq%5 == 0 {
		d.e.WantProbe(1_000_000, d.now) // below the estimate: no probe, but the check runs
	}
	if d.seq%25 == 0 {
		d.e.Process(d.now)
	}
	if d.seq%gccBatch == 0 {
		binary.BigEndian.PutUint16(d.fb[12:14], d.seq-gccBatch)
		ref := uint32(d.now / gccRefTimeUnit)
		d.fb[16], d.fb[17], d.fb[18] = byte(ref>>16), byte(ref>>8), byte(ref)
		d.fb[19]++
		d.e.OnTransportFeedback(d.fb, d.now+int64(20*time.Millisecond))
	}
}

func TestEstimatorSteadyStateDoesNotAllocate(t *testing.T) {
	d := newGCCSteadyDriver(t)
	for range 10 * gccBatch { // warm up: the results buffer reaches its size
		d.packet()
	}
	allocs := testing.AllocsPerRun(100, func() {
		for range gccBatch {
			d.packet()
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per %d packets and their feedback, want 0", allocs, gccBatch)
	}
	if st := d.e.Stats(); st.Feedbacks < 100 || st.UnknownStatuses != 0 {
		t.Fatalf("the driver's feedback was not consumed: %+v", st)
	}
}

// BenchmarkEstimatorPacketAndFeedback is the per-packet cost of OnPacketSent plus its share of
// OnTransportFeedback (one per 50 packets), Process and WantProbe.
func BenchmarkEstimatorPacketAndFeedback(b *testing.B) {
	d := newGCCSteadyDriver(b)
	for range 10 * gccBatch {
		d.packet()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		d.packet()
	}
}
