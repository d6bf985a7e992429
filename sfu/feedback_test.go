package sfu

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtcp"

	"gojvb/bwe"
)

// The bridge answers a sender with receiver reports for its SSRCs and transport-cc feedback for
// the packets that carried a transport-wide sequence number.
func TestSenderGetsReceiverReportsAndTransportCCFeedback(t *testing.T) {
	tb, c := jvbBridge(t, nil)
	a := joinMeet(t, c, "a", false)
	a.ep.AddPayloadTypes(nil, []HeaderExtension{{Media: MediaVideo, ID: 5, URI: extTransportCC}})
	if err := a.ep.SetSources([]MediaSource{audioSource("a-a0", 1), videoSource("a-v0", 2)}); err != nil {
		t.Fatal(err)
	}
	settle(a)
	for i := uint16(0); i < 20; i++ {
		if i == 7 {
			continue // lost
		}
		p := a.vp8(2, 100+i, 3000*uint32(i), i == 0)
		// Add a one-byte extension block with the transport-wide sequence number.
		ext := []byte{0xbe, 0xde, 0, 1, 5<<4 | 1, byte((500 + i) >> 8), byte(500 + i), 0}
		p[0] |= 0x10
		p = append(p[:12:12], append(ext, p[12:]...)...)
		a.ep.receiveOne(a.protect(t, p), false)
	}
	a.ep.receiveOne(a.protect(t, a.opus(1, 9, 30)), false)
	tb.writer("a").take()

	a.ep.tick(time.Now().UnixNano() + int64(time.Second))
	var rr *rtcp.ReceiverReport
	var tcc *rtcp.TransportLayerCC
	_, fbVideo := c.FeedbackSSRCs()
	for _, d := range tb.writer("a").take() {
		plain, err := a.recv.DecryptRTCP(nil, d, nil)
		if err != nil {
			t.Fatalf("bridge RTCP does not decrypt: %v", err)
		}
		pkts, err := rtcp.Unmarshal(plain)
		if err != nil {
			t.Fatalf("bridge RTCP does not parse: %v", err)
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.ReceiverReport:
				rr = p
			case *rtcp.TransportLayerCC:
				tcc = p
			}
		}
	}
	if rr == nil || rr.SSRC != fbVideo || len(rr.Reports) != 2 {
		t.Fatalf("receiver report %+v, want one from %d with blocks for SSRCs 1 and 2", rr, fbVideo)
	}
	for _, b := range rr.Reports {
		if b.SSRC == 2 && (b.TotalLost != 1 || b.LastSequenceNumber != 119) {
			t.Errorf("video block %+v, want 1 lost, highest 119", b)
		}
	}
	if tcc == nil || tcc.BaseSequenceNumber != 500 || tcc.PacketStatusCount != 20 {
		t.Fatalf("transport-cc feedback %+v, want base 500 covering 20 packets", tcc)
	}
}

var rtxMedia = append(slices.Clone(meetMedia),
	PayloadType{Media: MediaVideo, ID: 96, Name: "rtx", ClockRate: testClock, Params: map[string]string{"apt": "100"}})

func init() {
	for i := range rtxMedia {
		if rtxMedia[i].ID == ptVP8 {
			rtxMedia[i].Feedback = []RTCPFeedback{{Type: "nack"}, {Type: "nack", Subtype: "pli"}}
		}
	}
}

// rtcpAt returns the RTCP packets the bridge sent cl.
func rtcpAt(t *testing.T, tb *testBridge, cl *client) []rtcp.Packet {
	t.Helper()
	var out []rtcp.Packet
	for _, d := range tb.writer(cl.ep.id).take() {
		if d[1] < 192 || d[1] > 223 {
			continue
		}
		plain, err := cl.recv.DecryptRTCP(nil, d, nil)
		if err != nil {
			t.Fatalf("bridge RTCP does not decrypt: %v", err)
		}
		pkts, err := rtcp.Unmarshal(plain)
		if err != nil {
			t.Fatalf("bridge RTCP does not parse: %v", err)
		}
		out = append(out, pkts...)
	}
	return out
}

// The bridge NACKs its own incoming loss, restores the RTX answer into the stream and drops a
// late duplicate; a receiver's NACK is answered from its history inside RTX.
func TestRetransmissionsBothWays(t *testing.T) {
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
	for _, seq := range []uint16{100, 101, 103} {
		a.ep.receiveOne(a.protect(t, a.vp8(2, seq, uint32(seq)*3000, seq == 100)), false)
	}
	if got := r.rtpOut(t, tb); len(got) != 3 {
		t.Fatalf("r got %d packets, want 3", len(got))
	}
	a.ep.drain() // the gap makes a's goroutine NACK at once
	var nacked []uint16
	for _, p := range rtcpAt(t, tb, a) {
		if n, ok := p.(*rtcp.TransportLayerNack); ok && n.MediaSSRC == 2 {
			for _, pair := range n.Nacks {
				nacked = append(nacked, pair.PacketList()...)
			}
		}
	}
	if !slices.Equal(nacked, []uint16{102}) {
		t.Fatalf("bridge NACKed %v, want [102]", nacked)
	}
	// a answers on its RTX SSRC: OSN 102 first in the payload.
	rtx := a.vp8(3, 7, 102*3000, false)
	rtx[1] = 96
	rtx = append(rtx[:12:12], append([]byte{0, 102}, rtx[12:]...)...)
	a.ep.receiveOne(a.protect(t, rtx), false)
	a.ep.receiveOne(a.protect(t, a.vp8(2, 102, 102*3000, false)), false) // the original, late: a duplicate
	got := r.rtpOut(t, tb)
	if len(got) != 1 || got[0].ssrc != 2 || got[0].seq != 102 {
		t.Fatalf("after the retransmission r got %+v, want seq 102 once on SSRC 2", got)
	}
	if s := a.ep.Stats(); s.RetransmissionsReceived != 1 || s.DroppedDuplicates != 1 || s.NACKsSent != 1 {
		t.Errorf("a: retransmissions %d duplicates %d NACKs %d, want 1 1 1", s.RetransmissionsReceived, s.DroppedDuplicates, s.NACKsSent)
	}

	// r lost 101: its NACK is answered inside RTX (r's payload type 96, a-v0's RTX SSRC 3).
	nack := &rtcp.TransportLayerNack{SenderSSRC: 9, MediaSSRC: 2, Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{101, 555})}
	raw, _ := nack.Marshal()
	r.ep.receiveOne(r.protectRTCP(t, raw), true)
	r.ep.drain()
	var resent [][]byte
	for _, d := range tb.writer("r").take() {
		resent = append(resent, r.unprotect(t, d))
	}
	if len(resent) != 1 {
		t.Fatalf("r got %d retransmissions, want 1", len(resent))
	}
	p := resent[0]
	if p[1]&0x7f != 96 || binary.BigEndian.Uint32(p[8:]) != 3 || binary.BigEndian.Uint16(p[12:]) != 101 {
		t.Errorf("retransmission PT %d SSRC %d OSN %d, want 96 3 101", p[1]&0x7f, binary.BigEndian.Uint32(p[8:]), binary.BigEndian.Uint16(p[12:]))
	}
	if s := r.ep.Stats(); s.Retransmissions != 1 || s.RetransmissionsNotCached != 1 || s.NACKsReceived != 1 {
		t.Errorf("r: retransmissions %d not cached %d NACKs %d, want 1 1 1", s.Retransmissions, s.RetransmissionsNotCached, s.NACKsReceived)
	}
}

// The round-trip time to a receiver comes from its report on a sender report it got.
func TestRTTFromReceiverReportsOnForwardedSenderReports(t *testing.T) {
	tb, _, a, b, _ := threeParty(t)
	a.ep.receiveOne(a.protect(t, a.rtpPacket(222, 100, 10)), false)
	a.ep.receiveOne(a.protectRTCP(t, senderReport(222)), true)
	b.ep.drain()
	tb.writer("b").take()
	// b reports on SSRC 222 naming that SR (NTP middle 32 bits 0x0a0b0c0d), no delay.
	rr := &rtcp.ReceiverReport{SSRC: 0xb, Reports: []rtcp.ReceptionReport{{SSRC: 222, LastSenderReport: 0x0a0b0c0d}}}
	raw, _ := rr.Marshal()
	b.ep.receiveOne(b.protectRTCP(t, raw), true)
	b.ep.drain()
	rtt := b.ep.rs.rtt.publishedRTT()
	if rtt <= 0 || rtt > time.Second {
		t.Fatalf("RTT %v, want a small positive value", rtt)
	}
	if s := tb.Stats(); s.AverageRTT != rtt {
		t.Errorf("bridge average RTT %v, want %v", s.AverageRTT, rtt)
	}
	// A report on an SR b never got changes nothing.
	rr.Reports[0].LastSenderReport = 0x12345678
	raw, _ = rr.Marshal()
	b.ep.receiveOne(b.protectRTCP(t, raw), true)
	b.ep.drain()
	if got := b.ep.rs.rtt.publishedRTT(); got != rtt {
		t.Errorf("RTT moved to %v on an unknown LSR", got)
	}
}

// A receiver's transport-cc feedback on the bridge's own sequence numbers drives its estimate,
// which the allocation then uses and ConnectionStats reports.
func TestReceiverFeedbackDrivesItsEstimate(t *testing.T) {
	tb, c := jvbBridge(t, nil)
	a := joinMeet(t, c, "a", false)
	r := joinMeet(t, c, "r", false)
	tccExt := []HeaderExtension{{Media: MediaVideo, ID: 5, URI: extTransportCC}}
	a.ep.AddPayloadTypes(nil, tccExt)
	r.ep.AddPayloadTypes(rtxMedia, tccExt) // the estimate is used for receivers with RTX
	if err := a.ep.SetSources([]MediaSource{videoSource("a-v0", 2)}); err != nil {
		t.Fatal(err)
	}
	r.say(`{"colibriClass":"ReceiverVideoConstraints","lastN":-1}`)
	settle(a, r)
	send := func(from, n uint16) []uint16 {
		var seqs []uint16
		for i := from; i < from+n; i++ {
			p := a.vp8(2, i, uint32(i)*3000, i == 0)
			ext := []byte{0xbe, 0xde, 0, 1, 5<<4 | 1, byte(i >> 8), byte(i), 0}
			p[0] |= 0x10
			p = append(p[:12:12], append(ext, p[12:]...)...)
			a.ep.receiveOne(a.protect(t, p), false)
		}
		r.ep.drain()
		for _, d := range tb.writer("r").take() {
			if d[1] >= 192 && d[1] <= 223 {
				continue
			}
			plain := r.unprotect(t, d)
			seqs = append(seqs, binary.BigEndian.Uint16(plain[17:19]))
		}
		return seqs
	}
	feedback := func(seqs []uint16) {
		fb := &rtcp.TransportLayerCC{SenderSSRC: 9, MediaSSRC: 1, BaseSequenceNumber: seqs[0],
			PacketStatusCount: uint16(len(seqs)), ReferenceTime: 1, FbPktCount: uint8(seqs[0])}
		fb.PacketChunks = []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: uint16(len(seqs))}}
		for range seqs {
			fb.RecvDeltas = append(fb.RecvDeltas, &rtcp.RecvDelta{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 1000})
		}
		raw, err := fb.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		// pion marshals the header as given: fill it in for the packet's length.
		fb.Header = rtcp.Header{Count: rtcp.FormatTCC, Type: rtcp.TypeTransportSpecificFeedback, Length: uint16(len(raw)/4 - 1)}
		if raw, err = fb.Marshal(); err != nil {
			t.Fatal(err)
		}
		r.ep.receiveOne(r.protectRTCP(t, raw), true)
		r.ep.drain()
	}
	first := send(0, 10)
	if len(first) != 10 || first[0] != 1 || first[9] != 10 {
		t.Fatalf("transport-wide sequence numbers r got %v, want 1..10 (its own)", first)
	}
	feedback(first) // the first feedback shows r sends it; packets are recorded from then on
	second := send(10, 30)
	feedback(second)
	now := time.Now().UnixNano() + int64(11*time.Second)
	r.ep.tick(now)
	if r.ep.rs.est == nil || !r.ep.rs.trusted || r.ep.rs.estimate == 0 {
		t.Fatalf("estimator %v trusted %v estimate %d", r.ep.rs.est != nil, r.ep.rs.trusted, r.ep.rs.estimate)
	}
	cs := messages(tb, r, "ConnectionStats")
	if len(cs) == 0 || cs[0]["estimatedDownlinkBandwidth"].(float64) <= 0 {
		t.Errorf("ConnectionStats %v", cs)
	}
	// The pacer follows the estimate, and the allocation is published with it.
	if got, want := r.ep.rs.pacer.RateBps(), 5*r.ep.rs.est.Target()/2; got < want*99/100 || got > want*101/100 {
		t.Errorf("pacing at %d bps for an estimate of %d, want 2.5 times it", got, r.ep.rs.est.Target())
	}
	if st := r.ep.Allocation(); st == nil || st.Estimate != r.ep.rs.estimate || len(st.Sources) != 1 || st.Sources[0].Target == "" {
		t.Fatalf("published allocation %+v, want a-v0 forwarded against estimate %d", st, r.ep.rs.estimate)
	}
	if s := tb.Stats(); s.EndpointsWithSuspendedSources != 0 || s.SourcesBelowIdeal[bwe.ReasonBandwidth] != 0 {
		t.Errorf("%d endpoints with suspended sources (%v below ideal) before any suspension",
			s.EndpointsWithSuspendedSources, s.SourcesBelowIdeal)
	}
	// An allocation that suspends a source and oversends shows in the gauges and /debug.
	layers := map[string][]bwe.Layer{"a-v0": {{Encoding: 0, Temporal: 2, Bitrate: 100_000}}}
	r.ep.publishAllocation(&bwe.LayerAllocation{BWE: 1, Oversending: true, Sources: []bwe.SourceLayers{
		{Name: "a-v0", Target: -1, Ideal: 0, Suspended: true, Reason: bwe.ReasonBandwidth}}}, layers)
	st := r.ep.Allocation()
	if st == nil || st.Suspended != 1 || st.Sources[0].Reason != bwe.ReasonBandwidth || st.Sources[0].Target != "" ||
		st.Sources[0].Ideal != "E0S0T2" {
		t.Fatalf("published %+v, want a-v0 suspended (ideal E0S0T2) for %s", st, bwe.ReasonBandwidth)
	}
	if s := tb.Stats(); s.EndpointsWithSuspendedSources != 1 || s.EndpointsOversending != 1 ||
		s.SourcesBelowIdeal[bwe.ReasonBandwidth] != 1 || len(s.SourcesBelowIdeal) != 1 {
		t.Errorf("gauges: %d with suspended sources, %d oversending, below ideal %v; want 1, 1 and one %s",
			s.EndpointsWithSuspendedSources, s.EndpointsOversending, s.SourcesBelowIdeal, bwe.ReasonBandwidth)
	}
}
