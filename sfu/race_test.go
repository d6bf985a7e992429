//go:build race

package sfu

// raceEnabled: the race detector makes sync.Pool drop items and adds allocations.
const raceEnabled = true
