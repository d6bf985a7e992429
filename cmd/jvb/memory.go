package main

import "runtime/debug"

// defaultGCPercent is the bridge's garbage-collection target when GOGC is not set: the heap may
// grow to 1.25 times what is live after a collection, not the runtime's default 2 times.
//
// The bridge's live heap is mostly long-lived per-endpoint state (transports, projections,
// retransmission histories, pooled packets) and its forwarding path allocates nothing, so
// garbage comes only from signalling, RTCP and allocation decisions: a few MB/s in the
// 100-endpoint meeting. Collections stay rare even at 25, while the headroom over the live heap
// ends up resident: in jvb-bench's meeting100 preset the bridge's resident memory per endpoint
// was about 560 KiB at 50, 485-507 KiB at 30 and 496 KiB at 25, for no measurable CPU per
// forwarded packet (README, "Performance").
const defaultGCPercent = 25

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
