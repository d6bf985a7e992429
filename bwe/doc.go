// Package bwe is the bridge's per-receiver video allocation: the receiver's
// ReceiverVideoConstraints state (Settings), the order in which other endpoints' video sources
// are considered (Prioritize), the LastN-adjusted "effective" constraints and the encoding
// chosen for each source (Allocate), and the per-sender aggregation of all receivers' effective
// constraints that becomes SenderSourceConstraints (SenderConstraints).
//
// It will also hold bandwidth estimation and the bandwidth-driven allocation loop; until then
// Allocate behaves as if bandwidth were unlimited: each source within LastN gets the highest
// encoding whose height fits the receiver's constraint.
//
// Everything here is pure logic on values passed in: no goroutines, no clocks, no locks, no
// logging. Callers own the values and serialise access (one control goroutine per conference).
// It must never import any other package of this module (gojvb/...): the media core and the
// control plane import it, not the other way round.
package bwe
