package bwe

import (
	"testing"
	"time"
)

// The send history starts small and grows only while packets wait for their reports: a
// receiver whose feedback keeps up holds gccHistoryInitial packets, one whose feedback lags
// up to gccHistorySize, and every packet still waiting stays findable; packets that waited
// gccReportWait give their place up instead of growing it.
func TestSendHistoryGrowsOnlyForUnreportedPackets(t *testing.T) {
	d := newGCCSteadyDriver(t)
	if d.e.history.packets != nil {
		t.Fatal("a new estimator holds a send history before its first packet")
	}
	for range 20 * gccHistoryInitial {
		d.packet() // feedback every gccBatch packets
	}
	if n := len(d.e.history.packets); n != gccHistoryInitial {
		t.Errorf("history of %d with feedback every %d packets, want %d", n, gccBatch, gccHistoryInitial)
	}

	e := NewEstimator(DefaultEstimatorConfig())
	const unreported = 3*gccHistoryInitial + 10
	for i := range unreported {
		e.OnPacketSent(uint16(60000+i), 1200, gccSimEpoch+int64(i)*int64(time.Millisecond), -1)
	}
	if n := len(e.history.packets); n != 4*gccHistoryInitial {
		t.Errorf("history of %d with %d packets unreported, want %d", n, unreported, 4*gccHistoryInitial)
	}
	for i := range unreported {
		if p := e.history.lookup(e.history.unwrap(uint16(60000 + i))); p == nil || p.state != gccStateSent {
			t.Fatalf("unreported packet %d lost when the history grew", 60000+i)
		}
	}
	start := gccSimEpoch + int64(time.Second)
	for i := range 2 * gccHistorySize { // 10 000 packets/s: the cap holds 0.4 s of them
		e.OnPacketSent(uint16(i), 1200, start+int64(i)*int64(100*time.Microsecond), -1)
	}
	if n := len(e.history.packets); n != gccHistorySize {
		t.Errorf("history of %d with no feedback at 10 000 packets/s, want the cap %d", n, gccHistorySize)
	}

	// 1000 packets/s and no feedback ever: the history holds gccReportWait's worth (1000
	// packets, so 1024 places) and stops growing.
	e = NewEstimator(DefaultEstimatorConfig())
	for i := range 10 * gccHistoryInitial * 4 {
		e.OnPacketSent(uint16(i), 1200, gccSimEpoch+int64(i)*int64(time.Millisecond), -1)
	}
	if n := len(e.history.packets); n != 1024 {
		t.Errorf("history of %d after 10 s without feedback at 1000 packets/s, want 1024 (1 s of packets)", n)
	}
}
