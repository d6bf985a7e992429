// Package bench is the packet-forwarding load test for the bridge: it starts (or targets) a
// bridge, allocates conferences and endpoints over REST COLIBRI2, runs simulated endpoints that
// are real ICE + DTLS-SRTP clients sending opus and VP8 simulcast, and measures what the bridge
// forwards (rates, loss, reordering, latency, join time) against the bridge process's CPU and
// memory. A baseline mode pushes the same flow through a minimal in-process UDP relay.
//
// It talks to the bridge only over the network and /proc, like an outside client would; it must
// never import the bridge's own packages (sfu, colibri, cmd/jvb internals).
package bench
