package bwe

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// gccSendRun sends n packets of size bytes from seq on, one per ms from t0 (bridge clock), and
// returns their arrivals at the receiver (bridge clock): 20 ms later, spaced by gap.
func gccSendRun(e *Estimator, firstExt int64, n int, t0, gap int64) []gccSimArrival {
	got := make([]gccSimArrival, n)
	for i := range n {
		ext := firstExt + int64(i)
		send := t0 + int64(i)*int64(time.Millisecond)
		e.OnPacketSent(uint16(ext), 1200, send, -1)
		got[i] = gccSimArrival{ext: ext, arrival: t0 + 20*int64(time.Millisecond) + int64(i)*gap}
	}
	return got
}

func TestEstimatorDefaultsAndConfig(t *testing.T) {
	e := NewEstimator(EstimatorConfig{})
	if got := e.Target(); got != 2_500_000 {
		t.Fatalf("initial target %d, want 2.5 Mbps", got)
	}
	if got := e.RTT(); got != 200*time.Millisecond {
		t.Fatalf("initial RTT %v, want 200 ms", got)
	}
	e = NewEstimator(EstimatorConfig{InitialBitrate: 100_000_000, MinBitrate: 50_000, MaxBitrate: 1_000_000})
	if got := e.Target(); got != 1_000_000 {
		t.Fatalf("initial above max: target %d, want the max", got)
	}
	e = NewEstimator(EstimatorConfig{InitialBitrate: 1000, MinBitrate: 50_000})
	if got := e.Target(); got != 50_000 {
		t.Fatalf("initial below min: target %d, want the min", got)
	}
}

func TestEstimatorFeedbackAcrossSequenceWrap(t *testing.T) {
	e := NewEstimator(DefaultEstimatorConfig())
	got := gccSendRun(e, 65530, 16, gccSimEpoch, int64(time.Millisecond)) // 65530..65535, 0..9
	e.OnTransportFeedback(gccMarshal(t, gccBuildFeedback(65530, 65545, got, gccSimRecvOffset, 0)), gccSimEpoch+int64(40*time.Millisecond))
	st := e.Stats()
	if st.UnknownStatuses != 0 || st.MalformedFeedback != 0 || len(e.results) != 16 {
		t.Fatalf("unknown %d, malformed %d, results %d; want 0, 0, 16", st.UnknownStatuses, st.MalformedFeedback, len(e.results))
	}
	for i, r := range e.results {
		if i > 0 && r.arrival-e.results[i-1].arrival != int64(time.Millisecond) {
			t.Fatalf("result %d arrives %v after the previous, want 1 ms", i, time.Duration(r.arrival-e.results[i-1].arrival))
		}
		if want := gccSimEpoch + int64(i)*int64(time.Millisecond); r.sendTime != want {
			t.Fatalf("result %d send time %d, want %d", i, r.sendTime, want)
		}
	}
}

func TestEstimatorDuplicateFeedbackChangesNothing(t *testing.T) {
	e := NewEstimator(DefaultEstimatorConfig())
	got := gccSendRun(e, 100, 40, gccSimEpoch, int64(time.Millisecond))
	fb := gccMarshal(t, gccBuildFeedback(100, 139, got, gccSimRecvOffset, 0))
	now := gccSimEpoch + int64(80*time.Millisecond)
	e.OnTransportFeedback(fb, now)
	aimd, trend, acked, loss := e.aimd, e.trendline, e.acked, e.loss
	e.OnTransportFeedback(fb, now+int64(time.Millisecond))
	if st := e.Stats(); st.DuplicateStatuses != 40 {
		t.Fatalf("duplicates %d, want 40", st.DuplicateStatuses)
	}
	if e.aimd != aimd || e.trendline != trend || e.acked != acked || e.loss != loss {
		t.Fatalf("a duplicated feedback changed the estimator's state")
	}
}

func TestEstimatorReorderedFeedbackIsConsumed(t *testing.T) {
	e := NewEstimator(DefaultEstimatorConfig())
	got := gccSendRun(e, 1000, 60, gccSimEpoch, int64(time.Millisecond))
	first := gccMarshal(t, gccBuildFeedback(1000, 1029, got[:30], gccSimRecvOffset, 0))
	second := gccMarshal(t, gccBuildFeedback(1030, 1059, got[30:], gccSimRecvOffset, 1))
	now := gccSimEpoch + int64(100*time.Millisecond)
	e.OnTransportFeedback(second, now)
	e.OnTransportFeedback(first, now+int64(time.Millisecond))
	if st := e.Stats(); st.UnknownStatuses != 0 || st.DuplicateStatuses != 0 || st.ClockResyncs != 0 {
		t.Fatalf("stats %+v: want no unknown, duplicate or resync", st)
	}
	for ext := int64(1000); ext < 1060; ext++ {
		if p := e.history.lookup(e.history.unwrap(uint16(ext))); p == nil || p.state != gccStateReceived {
			t.Fatalf("packet %d not recorded as received", ext)
		}
	}
}

// gccSetLength rewrites an RTCP packet's length field (and clears padding) after editing it.
func gccSetLength(raw []byte) []byte {
	raw[0] &^= 0x20
	for len(raw)%4 != 0 {
		raw = append(raw, 0)
	}
	binary.BigEndian.PutUint16(raw[2:4], uint16(len(raw)/4-1))
	return raw
}

func TestEstimatorHostileFeedbackIsCounted(t *testing.T) {
	e := NewEstimator(DefaultEstimatorConfig())
	got := gccSendRun(e, 10, 20, gccSimEpoch, int64(time.Millisecond))
	now := gccSimEpoch + int64(100*time.Millisecond)
	valid := gccMarshal(t, gccBuildFeedback(10, 29, got, gccSimRecvOffset, 1))

	// not transport-cc feedback, or cut short
	for _, bad := range [][]byte{nil, valid[:19], valid[:len(valid)-4], append([]byte{0x80, 201}, valid[2:]...)} {
		e.OnTransportFeedback(bad, now)
	}
	if st := e.Stats(); st.MalformedFeedback != 4 || st.Feedbacks != 0 {
		t.Fatalf("malformed %d, consumed %d: want 4, 0", st.MalformedFeedback, st.Feedbacks)
	}

	// statuses for packets never sent: a run of 1000 past the last one, with deltas
	beyond := gccSetLength(append(append([]byte{}, valid[:20]...), 0x20|0x03, 0xe8)) // run: small delta × 1000
	binary.BigEndian.PutUint16(beyond[12:14], 30)
	binary.BigEndian.PutUint16(beyond[14:16], 1000)
	for range 1000 {
		beyond = append(beyond, 4)
	}
	e.OnTransportFeedback(gccSetLength(beyond), now)
	if st := e.Stats(); st.UnknownStatuses != 1000 || len(e.results) != 0 {
		t.Fatalf("unknown %d, results %d; want 1000, 0", st.UnknownStatuses, len(e.results))
	}

	// a status count beyond the chunks present: dropped whole
	over := append([]byte{}, valid...)
	binary.BigEndian.PutUint16(over[14:16], 60000)
	e.OnTransportFeedback(over, now)
	if st := e.Stats(); st.MalformedFeedback != 5 || len(e.results) != 0 {
		t.Fatalf("malformed %d, results %d; want 5, 0", st.MalformedFeedback, len(e.results))
	}

	// fewer deltas than received statuses: used up to where they end
	short := gccMarshal(t, gccBuildFeedback(10, 14, got[:5], gccSimRecvOffset, 1))
	short = gccSetLength(short[:len(short)-4])
	e.OnTransportFeedback(short, now+int64(time.Millisecond))
	if st := e.Stats(); st.MalformedFeedback != 6 || len(e.results) == 0 || len(e.results) >= 5 {
		t.Fatalf("malformed %d, results %d; want 6 and some of the 5", st.MalformedFeedback, len(e.results))
	}

	// a reference time half the 24-bit range away re-anchors the receiver clock
	jump := gccMarshal(t, gccBuildFeedback(15, 29, got[5:], gccSimRecvOffset, 2))
	jump[16] ^= 0x80
	e.OnTransportFeedback(jump, now+int64(2*time.Millisecond))
	if st := e.Stats(); st.ClockResyncs != 1 {
		t.Fatalf("clock resyncs %d, want 1", st.ClockResyncs)
	}
	if got := e.Target(); got < 30_000 || got > 20_000_000 {
		t.Fatalf("target %d out of bounds", got)
	}
}

func TestEstimatorREMBFallback(t *testing.T) {
	e := NewEstimator(DefaultEstimatorConfig())
	now := gccSimEpoch
	e.OnREMB(1_000_000, now)
	if got, _ := e.Process(now); got != 1_000_000 {
		t.Fatalf("target %d after REMB 1 Mbps, want 1 Mbps", got)
	}
	e.OnREMB(5_000_000, now+int64(100*time.Millisecond))
	if got, changed := e.Process(now + int64(100*time.Millisecond)); got != 5_000_000 || !changed {
		t.Fatalf("target %d (changed %v) after REMB 5 Mbps in the start phase, want 5 Mbps", got, changed)
	}
	if _, changed := e.Process(now + int64(125*time.Millisecond)); changed {
		t.Fatalf("Process reported a change without one")
	}
	// once transport-cc is seen, REMB no longer bounds the estimate
	got := gccSendRun(e, 0, 10, now, int64(time.Millisecond))
	e.OnTransportFeedback(gccMarshal(t, gccBuildFeedback(0, 9, got, 0, 0)), now+int64(200*time.Millisecond))
	e.OnREMB(100_000, now+int64(300*time.Millisecond))
	if st := e.Stats(); st.RembIgnored != 1 || e.Target() < 1_000_000 {
		t.Fatalf("REMB ignored %d, target %d: want 1 and a target not bound by the REMB", st.RembIgnored, e.Target())
	}
}

func TestEstimatorReceiverReportLoss(t *testing.T) {
	e := NewEstimator(DefaultEstimatorConfig())
	now := gccSimEpoch + int64(3*time.Second) // past the start phase
	e.Process(gccSimEpoch)
	e.OnLoss(64, now) // 25 %
	got, _ := e.Process(now)
	if want := uint64(2_500_000 * (1 - 0.125)); got != want {
		t.Fatalf("target %d after 25 %% loss, want %d", got, want)
	}
	// the same sample does not cut twice
	if again, _ := e.Process(now + int64(time.Second)); again != got {
		t.Fatalf("target %d, want %d: one cut per loss report", again, got)
	}
	e.OnLoss(13, now+int64(2*time.Second)) // 5 %: hold
	if held, _ := e.Process(now + int64(2*time.Second)); held != got {
		t.Fatalf("target %d at 5 %% loss, want held at %d", held, got)
	}
	e.OnLoss(0, now+int64(3*time.Second)) // grows again
	if up, _ := e.Process(now + int64(3*time.Second)); up <= got {
		t.Fatalf("target %d without loss, want above %d", up, got)
	}
}

func TestGCCRefTimeDeltaWraps(t *testing.T) {
	for _, tc := range []struct{ from, to, want int64 }{
		{10, 12, 2},
		{12, 10, -2},
		{gccRefTimeModulo - 1, 0, 1},
		{0, gccRefTimeModulo - 1, -1},
		{gccRefTimeModulo - 3, 4, 7},
	} {
		if got := gccRefTimeDelta(tc.from, tc.to); got != tc.want {
			t.Errorf("delta %d -> %d = %d, want %d", tc.from, tc.to, got, tc.want)
		}
	}
}

func TestEstimatorRTT(t *testing.T) {
	e := NewEstimator(DefaultEstimatorConfig())
	e.OnRTT(50*time.Millisecond, 0)
	e.OnRTT(8*time.Second, 0)
	e.OnRTT(-time.Second, 0)
	if got := e.RTT(); got != 50*time.Millisecond {
		t.Fatalf("RTT %v, want 50 ms (out-of-range values ignored)", got)
	}
}

func TestEstimatorProbeLifecycle(t *testing.T) {
	e := NewEstimator(DefaultEstimatorConfig())
	now := gccSimEpoch
	if n, c := e.WantProbe(10_000_000, now); n != 0 || c != -1 {
		t.Fatalf("probe before any transport-cc feedback: %d bytes cluster %d", n, c)
	}
	got := gccSendRun(e, 0, 20, now, int64(time.Millisecond))
	now += int64(100 * time.Millisecond)
	e.OnTransportFeedback(gccMarshal(t, gccBuildFeedback(0, 19, got, 0, 0)), now)
	if n, c := e.WantProbe(e.Target(), now); n != 0 || c != -1 {
		t.Fatalf("probe when the desired rate is the target: %d bytes cluster %d", n, c)
	}
	n, c := e.WantProbe(10_000_000, now)
	// first probe at 3 × 2.5 Mbps, 10 ms of it handed out at once
	if c < 0 || n != int(7_500_000/8*0.010) {
		t.Fatalf("first probe: %d bytes cluster %d, want %d bytes", n, c, 7_500_000/8/100)
	}
	// the cluster is paced: sending what was asked leaves nothing due until time passes
	for sent := 0; sent < n; sent += 1000 {
		e.OnPacketSent(uint16(20+sent/1000), min(1000, n-sent), now, c)
	}
	if more, _ := e.WantProbe(10_000_000, now); more != 0 {
		t.Fatalf("%d more bytes due at the same instant", more)
	}
	more, c2 := e.WantProbe(10_000_000, now+int64(5*time.Millisecond))
	if c2 != c || more <= 0 {
		t.Fatalf("5 ms later: %d bytes cluster %d, want more of cluster %d", more, c2, c)
	}
	// after the cluster ran its course, no new one starts while its result is awaited
	if n, c := e.WantProbe(10_000_000, now+int64(100*time.Millisecond)); n != 0 || c != -1 {
		t.Fatalf("a second probe started while the first awaits its result: %d bytes cluster %d", n, c)
	}
	if st := e.Stats(); st.ProbesStarted != 1 {
		t.Fatalf("probes started %d, want 1", st.ProbesStarted)
	}
}

func TestGCCTrendlineDetectsOveruse(t *testing.T) {
	var tl gccTrendline
	tl.reset()
	at := 0.0
	for range 40 { // steady: groups 5 ms apart, arriving 5 ms apart
		at += 5
		tl.update(5, 5, at)
	}
	if tl.usage != gccNormal {
		t.Fatalf("steady delays: %v, want normal", tl.usage)
	}
	for range 20 { // each group arrives 2 ms later than sent: a growing queue
		at += 7
		tl.update(7, 5, at)
	}
	if tl.usage != gccOverusing {
		t.Fatalf("growing delays: %v, want overusing", tl.usage)
	}
	for range 60 { // the queue drains
		at += 3
		tl.update(3, 5, at)
	}
	if tl.usage != gccUnderusing {
		t.Fatalf("shrinking delays: %v, want underusing", tl.usage)
	}
}

func TestGCCAIMDDecreasesToBackoffOfAcknowledged(t *testing.T) {
	var a gccAIMD
	a.init(2_000_000, 30_000, 20_000_000)
	a.update(gccOverusing, 1_000_000, 1_000_000_000)
	if a.bitrate != 850_000 {
		t.Fatalf("after overuse at 1 Mbps acknowledged: %.0f, want 850000", a.bitrate)
	}
	a.update(gccNormal, 850_000, 1_100_000_000)
	start := a.bitrate
	a.update(gccNormal, 850_000, 2_100_000_000)
	if inc := a.bitrate - start; inc <= 0 || inc > 0.08*start {
		t.Fatalf("one second of normal use added %.0f to %.0f: want an additive step near capacity", inc, start)
	}
}

func TestGCCParsesEveryChunkKind(t *testing.T) {
	e := NewEstimator(DefaultEstimatorConfig())
	gccSendRun(e, 200, 30, gccSimEpoch, int64(time.Millisecond))
	small := func(us int64) *rtcp.RecvDelta {
		return &rtcp.RecvDelta{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: us}
	}
	fb := &rtcp.TransportLayerCC{
		Header:             rtcp.Header{Count: rtcp.FormatTCC, Type: rtcp.TypeTransportSpecificFeedback},
		BaseSequenceNumber: 200,
		PacketStatusCount:  30,
		ReferenceTime:      1000,
		PacketChunks: []rtcp.PacketStatusChunk{
			// 200..213: one-bit, every other packet received
			&rtcp.StatusVectorChunk{Type: rtcp.TypeTCCStatusVectorChunk, SymbolSize: rtcp.TypeTCCSymbolSizeOneBit,
				SymbolList: []uint16{1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0}},
			// 214..222: a run of 9 lost
			&rtcp.RunLengthChunk{Type: rtcp.TypeTCCRunLengthChunk, PacketStatusSymbol: rtcp.TypeTCCPacketNotReceived, RunLength: 9},
			// 223..229: two-bit, a large negative delta (reordered) then small ones
			&rtcp.StatusVectorChunk{Type: rtcp.TypeTCCStatusVectorChunk, SymbolSize: rtcp.TypeTCCSymbolSizeTwoBit,
				SymbolList: []uint16{2, 1, 1, 0, 1, 1, 1}},
		},
	}
	for range 7 {
		fb.RecvDeltas = append(fb.RecvDeltas, small(2000))
	}
	fb.RecvDeltas = append(fb.RecvDeltas, &rtcp.RecvDelta{Type: rtcp.TypeTCCPacketReceivedLargeDelta, Delta: -5000})
	for range 5 {
		fb.RecvDeltas = append(fb.RecvDeltas, small(250))
	}
	gccFinishHeader(fb)
	e.OnTransportFeedback(gccMarshal(t, fb), gccSimEpoch+int64(100*time.Millisecond))

	// expected: arrivals relative to the reference time, in µs, in sequence order
	want := []int64{2000, 4000, 6000, 8000, 10000, 12000, 14000, 9000, 9250, 9500, 9750, 10000, 10250}
	if st := e.Stats(); st.MalformedFeedback != 0 || st.UnknownStatuses != 0 || len(e.results) != len(want) {
		t.Fatalf("malformed %d, unknown %d, results %d; want 0, 0, %d", st.MalformedFeedback, st.UnknownStatuses, len(e.results), len(want))
	}
	// results are sorted by arrival; the reordered ones (from 223) come before 213's
	arrivals := make(map[int64]bool)
	for _, r := range e.results {
		arrivals[(r.arrival-e.results[0].arrival)/1000] = true
	}
	for _, w := range want {
		if !arrivals[w-2000] {
			t.Errorf("no packet arriving at +%d µs; got %v", w-2000, arrivals)
		}
	}
	if got := e.loss.lost; got != 17 { // 7 from the one-bit vector, 9 from the run, 1 two-bit
		t.Errorf("lost %d, want 17", got)
	}
}
