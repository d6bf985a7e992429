//go:build !linux

package transport

// fastSockets is nil off Linux: every mux takes the portable path (one socket, plain reads
// and writes).
var fastSockets *socketAPI
