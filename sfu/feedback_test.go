package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
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
