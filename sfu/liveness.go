package sfu

import (
	"fmt"
	"time"
)

// Liveness limits. Readers wake at least every second, so a reader silent for
// defaultReaderSilence (Bridge.readerSilence) is stuck (in a handler) or gone; a sender
// goroutine is woken by Alive and must drain within senderReply.
const (
	defaultReaderSilence = 5 * time.Second
	senderReply          = time.Second
)

// Alive fails when the forwarding goroutines stopped making progress: a socket reader has not
// come back from its socket within readerSilence, or an endpoint's sender goroutine does not
// answer a wake within senderReply (it is blocked, e.g. in a write that never returns). It
// wakes every sender once and waits at most senderReply in total. Health checks call it.
func (b *Bridge) Alive() error {
	if b.mux != nil {
		if err := b.mux.Alive(b.readerSilence); err != nil {
			return fmt.Errorf("sfu: %w", err)
		}
	}
	if b.manualSend {
		return nil
	}
	b.statsMu.Lock()
	eps := make([]*Endpoint, 0, len(b.live))
	for e := range b.live {
		eps = append(eps, e)
	}
	b.statsMu.Unlock()
	before := make([]uint64, len(eps))
	for i, e := range eps {
		before[i] = e.senderBeats.Load()
		e.wakeSender()
	}
	deadline := time.Now().Add(senderReply)
	for i, e := range eps {
		for e.senderBeats.Load() == before[i] {
			select {
			case <-e.senderDone: // expired meanwhile: nothing to wait for
			case <-time.After(time.Millisecond):
				if time.Now().After(deadline) {
					return fmt.Errorf("sfu: sender goroutine of endpoint %s (conference %s) did not answer a wake within %v",
						e.id, e.conf.meetingID, senderReply)
				}
				continue
			}
			break
		}
	}
	return nil
}
