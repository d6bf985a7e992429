package bwe

import (
	"testing"
	"time"
)

func TestReceiveStatsLossAcrossWrapAndIntervals(t *testing.T) {
	s := ReceiveStats{ClockRate: 90000}
	now := int64(1e12)
	if _, ok := s.Report(now); ok {
		t.Fatal("report before any packet")
	}
	seq := uint16(65530)
	for i := 0; i < 20; i++ { // 20 packets across the wrap, every 5th lost
		if i%5 != 4 {
			s.Packet(seq, uint32(i)*3000, now+int64(i)*int64(33*time.Millisecond))
		}
		seq++
	}
	b, ok := s.Report(now + int64(time.Second))
	if !ok {
		t.Fatal("no report")
	}
	if b.ExtendedHighestSeq != 1<<16|uint32(seq-2) {
		t.Errorf("extended highest seq %#x, want %#x (the last received, one cycle)", b.ExtendedHighestSeq, 1<<16|uint32(seq-2))
	}
	if b.TotalLost != 3 { // the 20th (i=19) was lost too but is past the highest received
		t.Errorf("total lost %d, want 3", b.TotalLost)
	}
	if b.FractionLost != uint8(3*256/19) {
		t.Errorf("fraction lost %d, want %d", b.FractionLost, 3*256/19)
	}
	// The next interval: only the packet lost at the end of the first one.
	for i := 0; i < 10; i++ {
		s.Packet(seq, 0, now)
		seq++
	}
	if b, _ := s.Report(now); b.FractionLost != 256/11 || b.TotalLost != 4 {
		t.Errorf("second interval: fraction %d total %d, want %d and 4", b.FractionLost, b.TotalLost, 256/11)
	}
	// And then none.
	s.Packet(seq, 0, now)
	if b, _ := s.Report(now); b.FractionLost != 0 {
		t.Errorf("third interval: fraction %d, want 0", b.FractionLost)
	}
}

func TestReceiveStatsJitterAndSenderReportDelay(t *testing.T) {
	s := ReceiveStats{ClockRate: 90000}
	now := int64(1e12)
	// Perfectly paced packets: no jitter.
	for i := 0; i < 50; i++ {
		s.Packet(uint16(i), uint32(i)*3000, now+int64(i)*int64(time.Second)/30)
	}
	if b, _ := s.Report(now); b.Jitter > 2 {
		t.Errorf("paced stream jitter %d, want about 0", b.Jitter)
	}
	// Alternating 10 ms early/late arrivals: jitter converges towards 20 ms of 90 kHz.
	for i := 50; i < 500; i++ {
		off := int64(10 * time.Millisecond)
		if i%2 == 0 {
			off = -off
		}
		s.Packet(uint16(i), uint32(i)*3000, now+int64(i)*int64(time.Second)/30+off)
	}
	if b, _ := s.Report(now); b.Jitter < 1500 || b.Jitter > 1900 {
		t.Errorf("jittery stream jitter %d, want about 1800", b.Jitter)
	}
	s.SenderReport(0x1122334455667788, now)
	b, _ := s.Report(now + int64(500*time.Millisecond))
	if b.LastSR != 0x33445566 || b.DelaySinceLastSR != 32768 {
		t.Errorf("LSR %#x DLSR %d, want 0x33445566 and 32768", b.LastSR, b.DelaySinceLastSR)
	}
}

func TestReceiveStatsJumpRestartsTheSequence(t *testing.T) {
	s := ReceiveStats{ClockRate: 48000}
	for i := uint16(0); i < 10; i++ {
		s.Packet(i, 0, 0)
	}
	for i := uint16(30000); i < 30010; i++ {
		s.Packet(i, 0, 0)
	}
	if b, _ := s.Report(0); b.TotalLost != 0 {
		t.Errorf("a jump (a sender restart) counted as %d lost", b.TotalLost)
	}
}
