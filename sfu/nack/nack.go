// Package nack decides which packets of one incoming RTP stream the bridge asks its sender to
// retransmit (RFC 4585 generic NACK) and which arrivals are duplicates, following JVB's
// retransmission requester: a gap shorter than MaxGap is asked for at once and again every
// Interval, at most MaxTries times; a longer jump restarts the stream without asking. It is pure
// logic with an injected clock and no goroutines; it must never import the rest of gojvb.
package nack

import "time"

const (
	// MaxGap is the largest sequence gap whose packets are asked for (JVB: 100).
	MaxGap = 100
	// Interval is how long the requester waits before asking for a packet again (JVB: 150 ms).
	Interval = int64(150 * time.Millisecond)
	// MaxTries is how often one packet is asked for (JVB: 10).
	MaxTries = 10
	// maxMissing bounds the packets tracked as missing at once.
	maxMissing = 256
)

type missing struct {
	seq    uint16
	lastAt int64 // 0: never asked
	tries  uint8
}

// Requester tracks one incoming stream. The zero value is ready to use.
type Requester struct {
	started bool
	highest uint16
	missing []missing
	// window remembers which of the last 64 sequence numbers up to highest arrived, to tell a
	// duplicate from a late packet.
	window uint64
}

// Received records the arrival of seq at now and reports whether it is new: false for a
// duplicate (or a packet too old to tell), which the caller drops.
func (r *Requester) Received(seq uint16, now int64) bool {
	if !r.started {
		r.started, r.highest, r.window = true, seq, 1
		return true
	}
	switch d := int16(seq - r.highest); {
	case d > 0 && d <= MaxGap:
		for s := r.highest + 1; s != seq; s++ {
			if len(r.missing) < maxMissing {
				r.missing = append(r.missing, missing{seq: s})
			}
		}
		r.shift(uint(d))
		r.highest = seq
		r.window |= 1
		return true
	case d > MaxGap || d < -MaxGap*10:
		// a jump (a sender restart, or a long outage): start over, ask for nothing
		r.highest, r.window = seq, 1
		r.missing = r.missing[:0]
		return true
	case d == 0:
		return false
	default: // late: new only if it was missing
		for i, m := range r.missing {
			if m.seq == seq {
				r.missing = append(r.missing[:i], r.missing[i+1:]...)
				if -d < 64 {
					r.window |= 1 << uint(-d)
				}
				return true
			}
		}
		if -d < 64 {
			if r.window&(1<<uint(-d)) != 0 {
				return false
			}
			r.window |= 1 << uint(-d)
			return true
		}
		return false
	}
}

func (r *Requester) shift(n uint) {
	if n >= 64 {
		r.window = 0
		return
	}
	r.window <<= n
}

// Due appends to out the sequence numbers to ask for at now (each at most every Interval, at
// most MaxTries times) and forgets those asked for too often.
func (r *Requester) Due(now int64, out []uint16) []uint16 {
	kept := r.missing[:0]
	for _, m := range r.missing {
		if m.lastAt == 0 || now-m.lastAt >= Interval {
			if m.tries >= MaxTries {
				continue
			}
			m.tries++
			m.lastAt = now
			out = append(out, m.seq)
		}
		kept = append(kept, m)
	}
	r.missing = kept
	return out
}

// Missing reports how many packets are currently waited for.
func (r *Requester) Missing() int { return len(r.missing) }
