package bwe

import (
	"math/rand"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// A simulated path from the bridge to one receiver: a FIFO bottleneck of some capacity with a
// tail-drop queue, random loss before it, and a propagation delay each way. The receiver
// answers with transport-cc feedback every 100 ms, marshalled and parsed like the real thing.

const (
	gccSimStep       = int64(time.Millisecond)
	gccSimEpoch      = int64(1_700_000_000) * int64(time.Second) // bridge clock at t=0
	gccSimRecvOffset = int64(12345678) * int64(time.Millisecond) // receiver clock - bridge clock
	gccSimPacket     = 1200
)

type gccSimLink struct {
	capacity   float64 // bps
	queueLimit int64   // ns of queueing delay before tail drop
	prop       int64   // ns one way
	loss       float64 // random loss before the bottleneck
	busyUntil  int64

	// bucket > 0 makes the bottleneck a token bucket like the kernel's tbf: up to bucket
	// bytes of tokens gather while the link is idle and let packets through at once; beyond
	// them packets leave at capacity. 0 is a plain FIFO.
	bucket  float64
	tokens  float64
	lastDep int64
}

// send returns when the packet arrives, or false if it is lost.
func (l *gccSimLink) send(now int64, size int, rng *rand.Rand) (int64, bool) {
	if l.loss > 0 && rng.Float64() < l.loss {
		return 0, false
	}
	start := max(now, l.busyUntil)
	if start-now > l.queueLimit {
		return 0, false
	}
	tokens := min(l.bucket, l.tokens+l.capacity/8*float64(start-l.lastDep)/1e9)
	dep := start
	if tokens >= float64(size) {
		tokens -= float64(size)
	} else {
		dep += int64((float64(size) - tokens) * 8 / l.capacity * 1e9)
		tokens = 0
	}
	if dep-now > l.queueLimit {
		return 0, false
	}
	l.tokens, l.lastDep, l.busyUntil = tokens, dep, dep
	return dep + l.prop, true
}

// tbf makes the link a kernel tbf with burst bytes and latency: a token bucket with a queue
// of latency at the rate.
func (l *gccSimLink) tbf(capacity, burst float64, latency time.Duration) {
	l.capacity, l.bucket, l.queueLimit = capacity, burst, int64(latency)
}

type gccSimArrival struct {
	ext     int64
	arrival int64 // bridge clock
}

type gccSimFeedback struct {
	at  int64
	raw []byte
}

type gccSim struct {
	t        int64 // ns since start
	est      *Estimator
	link     gccSimLink
	rng      *rand.Rand
	desired  uint64
	nextExt  int64 // extended seq of the next packet to send
	inFlight []gccSimArrival
	received []gccSimArrival // arrived, not yet reported
	reported int64           // next ext the receiver has not reported
	fbs      []gccSimFeedback
	budget   float64
	fbCount  uint8

	// frames sends media as a burst every 33 ms, as a forwarded video frame, instead of evenly
	frames bool
	// layers (bps, lowest first), when set, make the sender application limited like the
	// bridge's allocator: it sends the highest layer strictly below the target (the lowest
	// at least) and desires 1.25 × the top one (the ideal, with room for the allocator's
	// upgrade margin); chosen records the layer per 100 ms.
	layers []float64
	chosen []int
	lost   int // media packets the link dropped
	sent   int

	// impairments of the feedback path
	duplicate, reorder bool
	held               *gccSimFeedback

	samples []gccSimSample
}

type gccSimSample struct {
	t      int64
	target uint64
}

func newGCCSim(capacity float64, startSeq uint16) *gccSim {
	s := &gccSim{
		est:     NewEstimator(DefaultEstimatorConfig()),
		link:    gccSimLink{capacity: capacity, queueLimit: int64(200 * time.Millisecond), prop: int64(25 * time.Millisecond)},
		rng:     rand.New(rand.NewSource(1)),
		desired: 20_000_000,
		nextExt: int64(startSeq),
	}
	s.reported = s.nextExt
	return s
}

func (s *gccSim) now() int64 { return gccSimEpoch + s.t }

func (s *gccSim) sendPacket(size, cluster int) {
	seq := uint16(s.nextExt)
	s.est.OnPacketSent(seq, size, s.now(), cluster)
	arr, ok := s.link.send(s.t, size, s.rng)
	if ok {
		s.inFlight = append(s.inFlight, gccSimArrival{ext: s.nextExt, arrival: arr})
	}
	if cluster < 0 {
		s.sent++
		if !ok {
			s.lost++
		}
	}
	s.nextExt++
}

// layer is the index of the layer the target allows.
func (s *gccSim) layer() int {
	target := float64(s.est.Target())
	i := 0
	for i+1 < len(s.layers) && s.layers[i+1] < target {
		i++
	}
	return i
}

// layerRate is what an application-limited sender sends, and sets what it desires.
func (s *gccSim) layerRate() float64 {
	i := s.layer()
	s.desired = uint64(1.25 * s.layers[len(s.layers)-1])
	return s.layers[i]
}

func (s *gccSim) run(t *testing.T, d time.Duration) {
	t.Helper()
	end := s.t + int64(d)
	for ; s.t < end; s.t += gccSimStep {
		// media at min(target, desired), continuous, or at the layer the target allows
		rate := float64(min(s.est.Target(), s.desired))
		if len(s.layers) > 0 {
			rate = s.layerRate()
		}
		s.budget += rate / 8 * float64(gccSimStep) / 1e9
		for s.budget >= gccSimPacket && (!s.frames || s.t%int64(33*time.Millisecond) == 0) {
			s.sendPacket(gccSimPacket, -1)
			s.budget -= gccSimPacket
		}
		if s.t%int64(5*time.Millisecond) == 0 {
			n, cluster := s.est.WantProbe(s.desired, s.now())
			for n > 0 {
				size := min(n, gccSimPacket)
				s.sendPacket(size, cluster)
				n -= size
			}
		}
		// deliveries (FIFO: arrivals are in order)
		i := 0
		for ; i < len(s.inFlight) && s.inFlight[i].arrival <= s.t; i++ {
			s.received = append(s.received, s.inFlight[i])
		}
		s.inFlight = s.inFlight[:copy(s.inFlight, s.inFlight[i:])]
		if s.t%int64(100*time.Millisecond) == 0 && len(s.received) > 0 {
			s.feedback(t)
		}
		j := 0
		for ; j < len(s.fbs) && s.fbs[j].at <= s.t; j++ {
			s.est.OnTransportFeedback(s.fbs[j].raw, s.now())
		}
		s.fbs = s.fbs[:copy(s.fbs, s.fbs[j:])]
		if s.t%int64(25*time.Millisecond) == 0 {
			s.est.Process(s.now())
		}
		if s.t%int64(time.Second) == 0 {
			queue := max(s.link.busyUntil-s.t, 0)
			s.est.OnRTT(time.Duration(2*s.link.prop+queue), s.now())
		}
		if s.t%int64(100*time.Millisecond) == 0 {
			s.samples = append(s.samples, gccSimSample{t: s.t, target: s.est.Target()})
			if len(s.layers) > 0 {
				s.chosen = append(s.chosen, s.layer())
			}
		}
	}
}

// feedback reports everything from the last reported packet to the newest received one.
func (s *gccSim) feedback(t *testing.T) {
	t.Helper()
	last := s.received[len(s.received)-1].ext
	fb := gccBuildFeedback(s.reported, last, s.received, gccSimRecvOffset, s.fbCount)
	s.fbCount++
	s.reported = last + 1
	s.received = s.received[:0]
	f := gccSimFeedback{at: s.t + s.link.prop, raw: gccMarshal(t, fb)}
	switch {
	case s.reorder && s.held == nil:
		s.held = &f
		return
	case s.reorder:
		f.at += int64(time.Millisecond) // the later one overtakes the held one
		held := *s.held
		held.at = f.at + int64(time.Millisecond)
		s.held = nil
		s.fbs = append(s.fbs, f, held)
	default:
		s.fbs = append(s.fbs, f)
	}
	if s.duplicate {
		d := f
		d.at += int64(2 * time.Millisecond)
		s.fbs = append(s.fbs, d)
	}
}

// gccBuildFeedback builds a transport-cc feedback for extended sequence numbers from..to, of
// which got arrived (bridge clock; the receiver's clock is offset by recvOffset).
func gccBuildFeedback(from, to int64, got []gccSimArrival, recvOffset int64, count uint8) *rtcp.TransportLayerCC {
	fb := &rtcp.TransportLayerCC{
		Header:             rtcp.Header{Count: rtcp.FormatTCC, Type: rtcp.TypeTransportSpecificFeedback},
		SenderSSRC:         1,
		MediaSSRC:          2,
		BaseSequenceNumber: uint16(from),
		PacketStatusCount:  uint16(to - from + 1),
		FbPktCount:         count,
	}
	refUnits := (got[0].arrival + recvOffset) / gccRefTimeUnit
	fb.ReferenceTime = uint32(refUnits % gccRefTimeModulo)
	prev := refUnits * gccRefTimeUnit / 1000 // µs
	symbols := make([]uint16, 0, to-from+1)
	k := 0
	for ext := from; ext <= to; ext++ {
		if k < len(got) && got[k].ext == ext {
			at := (got[k].arrival + recvOffset) / 1000 / rtcp.TypeTCCDeltaScaleFactor * rtcp.TypeTCCDeltaScaleFactor
			delta := at - prev
			prev = at
			typ := uint16(rtcp.TypeTCCPacketReceivedSmallDelta)
			if delta < 0 || delta/rtcp.TypeTCCDeltaScaleFactor > 255 {
				typ = rtcp.TypeTCCPacketReceivedLargeDelta
			}
			symbols = append(symbols, typ)
			fb.RecvDeltas = append(fb.RecvDeltas, &rtcp.RecvDelta{Type: typ, Delta: delta})
			k++
		} else {
			symbols = append(symbols, rtcp.TypeTCCPacketNotReceived)
		}
	}
	fb.PacketChunks = gccChunks(symbols)
	gccFinishHeader(fb)
	return fb
}

// gccFinishHeader sets the header's length, and its padding bit only when padding is needed
// (pion/rtcp writes the padding count over the last delta byte of an aligned packet).
func gccFinishHeader(fb *rtcp.TransportLayerCC) {
	n := gccTCCHeaderLen + 2*len(fb.PacketChunks)
	for _, d := range fb.RecvDeltas {
		n++
		if d.Type == rtcp.TypeTCCPacketReceivedLargeDelta {
			n++
		}
	}
	fb.Header.Padding = n%4 != 0
	fb.Header.Length = uint16(fb.Len()/4 - 1)
}

// gccMarshal is fb on the wire, checked to parse back with pion/rtcp.
func gccMarshal(t testing.TB, fb *rtcp.TransportLayerCC) []byte {
	t.Helper()
	raw, err := fb.Marshal()
	if err != nil {
		t.Fatalf("marshal feedback: %v", err)
	}
	if err := new(rtcp.TransportLayerCC).Unmarshal(raw); err != nil {
		t.Fatalf("pion/rtcp does not parse the feedback built: %v", err)
	}
	return raw
}

// gccChunks encodes symbols as run-length chunks for long runs and two-bit vectors otherwise.
func gccChunks(symbols []uint16) []rtcp.PacketStatusChunk {
	var chunks []rtcp.PacketStatusChunk
	for i := 0; i < len(symbols); {
		run := 1
		for i+run < len(symbols) && symbols[i+run] == symbols[i] && run < 8191 {
			run++
		}
		if run >= 14 {
			chunks = append(chunks, &rtcp.RunLengthChunk{
				Type: rtcp.TypeTCCRunLengthChunk, PacketStatusSymbol: symbols[i], RunLength: uint16(run),
			})
			i += run
			continue
		}
		list := make([]uint16, 7)
		copy(list, symbols[i:min(i+7, len(symbols))])
		chunks = append(chunks, &rtcp.StatusVectorChunk{
			Type: rtcp.TypeTCCStatusVectorChunk, SymbolSize: rtcp.TypeTCCSymbolSizeTwoBit, SymbolList: list,
		})
		i += 7
	}
	return chunks
}

// reachTime is the first time after from the target was within ±tol of want, or -1.
func (s *gccSim) reachTime(from int64, want, tol float64) time.Duration {
	for _, x := range s.samples {
		if d := float64(x.target) - want; x.t >= from && d <= tol*want && d >= -tol*want {
			return time.Duration(x.t - from)
		}
	}
	return -1
}

// within is the share of samples from from on that are within ±tol of want.
func (s *gccSim) within(from int64, want, tol float64) float64 {
	n, in := 0, 0
	for _, x := range s.samples {
		if x.t < from {
			continue
		}
		n++
		if d := float64(x.target) - want; d <= tol*want && d >= -tol*want {
			in++
		}
	}
	return float64(in) / float64(max(n, 1))
}

// firstBelow is the time after from at which the target first went at or under limit, or -1.
func (s *gccSim) firstBelow(from int64, limit float64) time.Duration {
	for _, x := range s.samples {
		if x.t >= from && float64(x.target) <= limit {
			return time.Duration(x.t - from)
		}
	}
	return -1
}

func (s *gccSim) minMax(from int64) (lo, hi uint64) {
	lo = ^uint64(0)
	for _, x := range s.samples {
		if x.t >= from {
			lo, hi = min(lo, x.target), max(hi, x.target)
		}
	}
	return lo, hi
}

// gccCheckConverged asserts the target reached ±20 % of capacity within bound and then stayed
// there (GCC saw-tooths: decreases go to 0.85 × the received rate) for at least 90 % of the
// time, never under 60 % or over 130 % of it.
func gccCheckConverged(t *testing.T, s *gccSim, from int64, capacity float64, bound time.Duration) {
	t.Helper()
	reach := s.reachTime(from, capacity, 0.2)
	steady := from + int64(reach) + int64(2*time.Second)
	share := s.within(steady, capacity, 0.2)
	lo, hi := s.minMax(steady)
	st := s.est.Stats()
	t.Logf("C=%.0f kbps: within ±20%% after %v; from 2 s later %.0f%% of the time within, range %d..%d kbps; probes %d/%d",
		capacity/1e3, reach, share*100, lo/1000, hi/1000, st.ProbesSucceeded, st.ProbesStarted)
	if reach < 0 || reach > bound {
		t.Fatalf("reached ±20%% of capacity after %v, want within %v", reach, bound)
	}
	if share < 0.9 || float64(lo) < 0.6*capacity || float64(hi) > 1.3*capacity {
		t.Fatalf("did not stay near capacity: %.0f%% within ±20%%, range %d..%d", share*100, lo, hi)
	}
}

func TestEstimatorConvergesToBottleneck(t *testing.T) {
	for _, tc := range []struct {
		name     string
		capacity float64
		frames   bool
	}{
		{"500kbps", 500e3, false},
		{"2Mbps", 2e6, false},
		{"8Mbps", 8e6, false},
		{"500kbps-frames", 500e3, true},
		{"2Mbps-frames", 2e6, true},
		{"8Mbps-frames", 8e6, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newGCCSim(tc.capacity, 65000) // wraps the sequence numbers early on
			s.frames = tc.frames
			s.run(t, 30*time.Second)
			gccCheckConverged(t, s, 0, tc.capacity, 5*time.Second)
		})
	}
}

func TestEstimatorFollowsCapacityDrop(t *testing.T) {
	s := newGCCSim(4e6, 0)
	s.run(t, 15*time.Second)
	if got := float64(s.est.Target()); got < 0.75*4e6 || got > 1.2*4e6 {
		t.Fatalf("before the drop: target %.0f, want about 4 Mbps", got)
	}
	drop := s.t
	s.link.capacity = 1e6
	s.run(t, 20*time.Second)
	down := s.firstBelow(drop, 1.2e6)
	t.Logf("4 -> 1 Mbps: under 1.2 Mbps after %v", down)
	if down < 0 || down > 2500*time.Millisecond {
		t.Fatalf("took %v to follow the drop, want about 2 s", down)
	}
	gccCheckConverged(t, s, drop, 1e6, 3*time.Second)
}

func TestEstimatorRandomLoss(t *testing.T) {
	initial := float64(DefaultEstimatorConfig().InitialBitrate)
	for _, tc := range []struct {
		loss float64
		ok   func(end float64) bool
		want string
	}{
		{0.05, func(end float64) bool { return end >= 0.9*initial }, "at least 90% of the initial rate"},
		{0.20, func(end float64) bool { return end <= 0.25*initial }, "under a quarter of the initial rate"},
	} {
		s := newGCCSim(50e6, 100) // no queueing: the link is far above what is sent
		s.desired = 3_000_000
		s.link.loss = tc.loss
		s.run(t, 20*time.Second)
		end := float64(s.est.Target())
		lo, _ := s.minMax(0)
		t.Logf("loss %.0f%%: target %.0f kbps at 20 s (minimum %d kbps), loss seen %.3f",
			tc.loss*100, end/1e3, lo/1000, s.est.Stats().LossFraction)
		if !tc.ok(end) {
			t.Errorf("loss %.0f%%: target %.0f, want %s", tc.loss*100, end, tc.want)
		}
	}
}

func TestEstimatorReorderedAndDuplicatedFeedback(t *testing.T) {
	s := newGCCSim(2e6, 65500)
	s.reorder, s.duplicate = true, true
	s.run(t, 30*time.Second)
	gccCheckConverged(t, s, 0, 2e6, 5*time.Second)
	if st := s.est.Stats(); st.DuplicateStatuses == 0 {
		t.Fatalf("duplicated feedback was not recognised")
	}
}
