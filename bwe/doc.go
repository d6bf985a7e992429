// Package bwe is the bridge's per-receiver bandwidth estimation and video allocation, as pure
// logic:
//
//   - Settings: a receiver's ReceiverVideoConstraints state; Prioritize and EffectiveLastN: the
//     order in which other endpoints' sources are considered and the LastN-adjusted constraints.
//   - Estimator: send-side bandwidth estimation toward one receiver from its transport-cc
//     feedback (the GoogCC family: trendline delay detector, AIMD, loss bound, probes), REMB
//     as the fallback.
//   - Pacer: a token bucket at 2.5 × the estimate that spreads what the bridge sends one
//     receiver (keyframes, several sources at once) over time.
//   - Allocator: JVB's allocation loop over the sources' layers (on-stage first, lastN order,
//     strictly-below steps, oversend for an on-stage screenshare) with hysteresis, and
//     RateMeter for the layer bitrates it allocates with.
//   - SenderConstraints: all receivers' effective constraints per source, which become
//     SenderSourceConstraints; ReceiveStats: the bridge's receiver reports toward senders.
//   - Allocate: the bandwidth-free choice (the highest encoding that fits each source's
//     constraint), kept for callers without layer bitrates.
//
// Everything here works on values passed in: no goroutines, no wall clock (times are passed
// in), no locks, no logging. Callers own the values and serialise access (the receiver's own
// goroutine). It must never import any other package of this module (gojvb/...): the media core
// and the control plane import it, not the other way round.
package bwe
