package sfu

import (
	"fmt"
	"time"
)

// defaultReaderSilence is how long a socket reader may stay away from its socket before Alive
// fails (Bridge.readerSilence). A healthy reader comes back at least every second, even idle.
const defaultReaderSilence = 5 * time.Second

// senderStall is how long a sender goroutine may leave packets queued before Alive fails. A
// healthy one drains within microseconds of its wakeup.
const senderStall = 2 * time.Second

// Alive fails when forwarding stopped making progress: a socket reader has not come back from
// its socket within the reader silence limit, or an endpoint's sender goroutine has left packets
// queued for longer than senderStall (stuck in a handler, on a lock, or in a write that never
// returns). Health checks call it; it does not block.
func (b *Bridge) Alive() error {
	if b.mux != nil {
		if err := b.mux.Alive(b.readerSilence); err != nil {
			return fmt.Errorf("sfu: %w", err)
		}
	}
	now := time.Now().UnixNano()
	for _, c := range b.Conferences() {
		for _, e := range c.Endpoints() {
			// An idle sender with work pending was just handed it: markBusy is about to run.
			if e.queue.pending() && !e.senderIdle.Load() && now-e.lastDrain.Load() > int64(senderStall) {
				return fmt.Errorf("sfu: sender of endpoint %s in conference %s has not drained its queue for %v",
					e.id, c.id, time.Duration(now-e.lastDrain.Load()).Round(time.Millisecond))
			}
		}
	}
	return nil
}

// markBusy is called when packets are queued for e's sender (once per reader batch). If the
// sender was parked with nothing to do, the stall clock starts now: its last drain may be long
// ago in an idle conference, and measuring from it would report a stall for the first packet.
// A sender that is busy, or stuck in a drain, never set senderIdle, so its clock keeps running.
func (e *Endpoint) markBusy(now int64) {
	if e.senderIdle.Load() && e.senderIdle.CompareAndSwap(true, false) {
		e.lastDrain.Store(now)
	}
}
