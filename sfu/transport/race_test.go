//go:build race

package transport

// raceEnabled: the race detector makes sync.Pool drop items and adds allocations.
const raceEnabled = true
