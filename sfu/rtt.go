package sfu

import (
	"encoding/binary"
	"sync/atomic"
	"time"
)

// This file measures the round-trip time to a receiver the way RFC 3550 §6.4.1 lets a sender:
// the bridge remembers when it sent each sender report (forwarded senders' SRs, whose NTP time
// is the sender's clock, so the bridge keys them by the NTP value it sent, not by its own
// clock), and a receiver report block naming that SR (LSR) with the receiver's delay since it
// (DLSR) gives now - sent - DLSR. Values above maxRTT are ignored (JVB: 7 s).

const (
	rtcpRR    = 201
	maxRTT    = 7 * time.Second
	srHistory = 16
)

// srSent is one sender report sent to the receiver.
type srSent struct {
	lsr uint32 // middle 32 bits of its NTP time
	at  int64  // unix nanoseconds it was sent
}

// rttState belongs to the receiver's sender goroutine.
type rttState struct {
	sent [srHistory]srSent
	next int
	rtt  time.Duration // smoothed; 0 until measured
	// published is rtt for other goroutines (Stats), read with publishedRTT.
	published int64
}

// sentSR notes an SR (as rewritten for the receiver) sent at now.
func (r *rttState) sentSR(sr []byte, now int64) {
	if len(sr) < 16 {
		return
	}
	r.sent[r.next] = srSent{lsr: binary.BigEndian.Uint32(sr[10:14]), at: now}
	r.next = (r.next + 1) % srHistory
}

// receiverReport takes the report blocks of an RR or SR from the receiver, updates the RTT and
// returns the largest fraction lost they report (ok false without blocks).
func (r *rttState) receiverReport(pkt []byte, now int64) (maxLost uint8, ok bool) {
	if len(pkt) < 8 {
		return 0, false
	}
	count := int(pkt[0] & 0x1f)
	blocks := pkt[8:]
	if pkt[1] == rtcpSR {
		if len(pkt) < srLen {
			return 0, false
		}
		blocks = pkt[srLen:]
	}
	for i := 0; i < count && len(blocks) >= 24; i, blocks = i+1, blocks[24:] {
		maxLost, ok = max(maxLost, blocks[4]), true
		lsr, dlsr := binary.BigEndian.Uint32(blocks[16:20]), binary.BigEndian.Uint32(blocks[20:24])
		if lsr == 0 {
			continue
		}
		for _, s := range r.sent {
			if s.at == 0 || s.lsr != lsr {
				continue
			}
			rtt := time.Duration(now-s.at) - time.Duration(dlsr)*time.Second/65536
			if rtt < 0 || rtt > maxRTT {
				break
			}
			if r.rtt == 0 {
				r.rtt = rtt
			} else {
				r.rtt = (7*r.rtt + rtt) / 8
			}
			atomic.StoreInt64(&r.published, int64(r.rtt))
			break
		}
	}
	return maxLost, ok
}

// publishedRTT is the receiver's smoothed round-trip time for any goroutine (0: not measured).
func (r *rttState) publishedRTT() time.Duration {
	return time.Duration(atomic.LoadInt64(&r.published))
}
