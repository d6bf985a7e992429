package bwe

import "time"

// ReceiveStats is what the bridge knows of one incoming RTP stream (one SSRC of a sender), kept
// to write the report block of its receiver reports (RFC 3550 §6.4.1, appendix A.3 and A.8):
// extended highest sequence number, cumulative and interval loss, interarrival jitter, and the
// last sender report for the sender's round-trip time. Pure logic: times are passed in; the
// caller serialises.
type ReceiveStats struct {
	ClockRate uint32

	started       bool
	baseSeq       uint32 // extended sequence number of the first packet
	maxSeq        uint16
	cycles        uint32 // sequence number wrap-arounds, shifted by 16
	received      uint32
	expectedPrior uint32
	receivedPrior uint32
	transit       int64
	jitter        float64 // in timestamp units, scaled as RFC 3550 A.8 (without the <<4)
	lastSR        uint32  // middle 32 bits of the NTP time of the last SR
	lastSRAt      int64   // unix nanoseconds it arrived
}

// maxDropout and maxMisorder bound what counts as a jump rather than loss or reordering (RFC
// 3550 A.1).
const (
	maxDropout  = 3000
	maxMisorder = 100
)

// Packet records one received packet's sequence number and RTP timestamp, arrived at now
// (unix nanoseconds).
func (s *ReceiveStats) Packet(seq uint16, ts uint32, now int64) {
	if !s.started {
		s.started = true
		s.baseSeq = uint32(seq)
		s.maxSeq = seq
		s.received = 1
		s.transit = s.arrival(now) - int64(ts)
		return
	}
	switch delta := seq - s.maxSeq; {
	case delta != 0 && delta < maxDropout:
		if seq < s.maxSeq {
			s.cycles += 1 << 16
		}
		s.maxSeq = seq
	case delta == 0, delta > 0xffff-maxMisorder:
		// duplicate or reordered: counted, no new maximum
	default:
		// a jump: restart the sequence as RFC 3550 A.1 does after a large gap
		s.baseSeq = s.cycles | uint32(seq)
		s.maxSeq = seq
		s.expectedPrior, s.receivedPrior = 0, 0
		s.received = 0
	}
	s.received++
	transit := s.arrival(now) - int64(ts)
	d := transit - s.transit
	s.transit = transit
	if d < 0 {
		d = -d
	}
	s.jitter += (float64(d) - s.jitter) / 16
}

// arrival converts a unix-nanosecond time to the stream's timestamp units.
func (s *ReceiveStats) arrival(now int64) int64 {
	rate := int64(s.ClockRate)
	if rate == 0 {
		rate = 90000
	}
	return now / 1000 * rate / 1_000_000
}

// SenderReport records the arrival of a sender report carrying NTP time ntp.
func (s *ReceiveStats) SenderReport(ntp uint64, now int64) {
	s.lastSR = uint32(ntp >> 16)
	s.lastSRAt = now
}

// ReportBlock is one RFC 3550 reception report block.
type ReportBlock struct {
	FractionLost             uint8
	TotalLost                uint32 // 24 bits
	ExtendedHighestSeq       uint32
	Jitter                   uint32
	LastSR, DelaySinceLastSR uint32
}

// Report returns the block for a receiver report sent at now and starts a new interval. ok is
// false before the first packet.
func (s *ReceiveStats) Report(now int64) (b ReportBlock, ok bool) {
	if !s.started {
		return b, false
	}
	ext := s.cycles | uint32(s.maxSeq)
	expected := ext - s.baseSeq + 1
	lost := int64(expected) - int64(s.received)
	switch {
	case lost < 0:
		lost = 0
	case lost > 0x7fffff:
		lost = 0x7fffff
	}
	expInterval := expected - s.expectedPrior
	recvInterval := s.received - s.receivedPrior
	s.expectedPrior, s.receivedPrior = expected, s.received
	if lostInterval := int64(expInterval) - int64(recvInterval); expInterval > 0 && lostInterval > 0 {
		b.FractionLost = uint8(lostInterval << 8 / int64(expInterval))
	}
	b.TotalLost = uint32(lost)
	b.ExtendedHighestSeq = ext
	b.Jitter = uint32(s.jitter)
	if s.lastSRAt != 0 {
		b.LastSR = s.lastSR
		b.DelaySinceLastSR = uint32(time.Duration(now-s.lastSRAt).Seconds() * 65536)
	}
	return b, true
}
