package sfu

import (
	"fmt"
	"time"
)

// defaultReaderSilence is how long a socket reader may stay away from its socket before Alive
// fails (Bridge.readerSilence). A healthy reader comes back at least every second, even idle.
const defaultReaderSilence = 5 * time.Second

// Alive fails when forwarding stopped making progress: a socket reader has not come back from
// its socket within the reader silence limit. Readers do the whole per-packet path, the sends
// included (pipeline.go), so one stuck in a handler, on a lock or in a write that never returns
// shows here. Health checks call it; it does not block.
func (b *Bridge) Alive() error {
	if b.mux == nil {
		return nil
	}
	if err := b.mux.Alive(b.readerSilence); err != nil {
		return fmt.Errorf("sfu: %w", err)
	}
	return nil
}
