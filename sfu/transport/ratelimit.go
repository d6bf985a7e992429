package transport

import (
	"hash/maphash"
	"net/netip"
	"sync/atomic"
	"time"
)

// STUN requests the mux passes to ICE agents, after MESSAGE-INTEGRITY was checked: per
// endpoint (a browser paces its checks at about 20/s while connecting and sends a consent check
// every few seconds afterwards) and per source IP address (many participants may share a
// NAT's address). Requests over either rate are dropped and counted: the agent never sees them,
// so it neither answers them nor learns their address.
const (
	STUNRequestRate        = 50 // per endpoint, per second
	STUNRequestBurst       = 100
	STUNSourceRequestRate  = 1000 // per source IP address, per second
	STUNSourceRequestBurst = 2000

	sourceCells = 4096 // per-source limiter cells; sources hash into them
)

// rateCell is a lock-free token bucket in one word (the generic cell rate algorithm): it holds
// the theoretical arrival time of the next conforming event, in unix nanoseconds.
type rateCell struct{ tat atomic.Int64 }

// allow takes one event at now if the rate (events per second) and burst permit it.
func (c *rateCell) allow(now int64, rate, burst int) bool {
	interval := int64(time.Second) / int64(rate)
	tolerance := interval * int64(burst)
	for {
		tat := c.tat.Load()
		next := max(tat, now) + interval
		if next-now > tolerance {
			return false
		}
		if c.tat.CompareAndSwap(tat, next) {
			return true
		}
	}
}

// sourceLimiter limits events per source IP address in a fixed number of cells: sources whose
// hashes collide share a cell, so a bounded amount of memory serves any number of sources.
type sourceLimiter struct {
	seed  maphash.Seed
	cells [sourceCells]rateCell
}

func newSourceLimiter() *sourceLimiter { return &sourceLimiter{seed: maphash.MakeSeed()} }

func (l *sourceLimiter) allow(ip netip.Addr, now int64) bool {
	b := ip.Unmap().As16()
	c := &l.cells[maphash.Bytes(l.seed, b[:])%sourceCells]
	return c.allow(now, STUNSourceRequestRate, STUNSourceRequestBurst)
}
