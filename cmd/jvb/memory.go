package main

import "runtime/debug"

// defaultGCPercent is the bridge's garbage-collection target when GOGC is not set: the heap may
// grow to 1.5 times what is live after a collection, not the runtime's default 2 times.
//
// The bridge's live heap is mostly long-lived per-endpoint state (transports, projections,
// retransmission histories, pooled packets) and its forwarding path allocates nothing, so
// garbage comes only from signalling, RTCP and allocation decisions: a few MB/s in the
// 100-endpoint meeting. Collections stay rare at 50 (one every several seconds), while the
// headroom the default leaves over the live heap is about as much memory again, most of
// which ends up resident.
const defaultGCPercent = 50

// gcPercent returns the GC percent to set, and false when the operator chose one with GOGC
// (which the runtime has already applied).
func gcPercent(env func(string) (string, bool)) (int, bool) {
	if v, ok := env("GOGC"); ok && v != "" {
		return 0, false
	}
	return defaultGCPercent, true
}

// tuneGC applies defaultGCPercent unless GOGC is set. It changes process-wide runtime state,
// so only main calls it.
func tuneGC(env func(string) (string, bool)) {
	if p, ok := gcPercent(env); ok {
		debug.SetGCPercent(p)
	}
}
