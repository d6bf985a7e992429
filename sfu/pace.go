package sfu

import "time"

// This file paces what the sender goroutine sends one receiver (bwe.Pacer, at 2.5 × its
// estimate once the estimate is trusted) and spreads probe clusters over time. Pacing works at
// the granularity of the receiver's flushes: drain takes packets off the receiver's queue while
// the pacer allows and leaves the rest queued (they stay in the queue, in order); paceAt tells
// the sender loop when to come back. It holds only this receiver's state, on its own goroutine.

const (
	// maxPaceHold is how long the pacer may keep packets queued before it lets everything
	// go: a burst bigger than the pacing rate can spread in that time (an estimate far below
	// what the allocation sends while a lower layer waits for its keyframe) is better sent
	// late than dropped by a full queue or delayed for seconds.
	maxPaceHold = int64(250 * time.Millisecond)
	// maxPaceBacklog is the queue length at which the pacer stops holding for the same reason.
	maxPaceBacklog = queueSize / 4
	// probeTick is how often a running probe cluster's bytes are handed out.
	probeTick = int64(5 * time.Millisecond)
	// probeHeadroom is how far above the allocation's next step up the bridge probes: the
	// allocator's hysteresis needs a layer's bitrate plus its upgrade margin (15 %) to fit.
	probeHeadroom = 1.25
)

// mayDequeue says whether drain may take the next packet off q now. When the pacer holds it
// back it schedules the sender's next wakeup.
func (rs *receiverState) mayDequeue(q *packetQueue, now int64) bool {
	backlog := q.backlog()
	if backlog == 0 {
		rs.heldSince = 0 // the queue emptied: nothing is held
		return false
	}
	if rs.pacer.Allow(now) {
		return true
	}
	if rs.heldSince == 0 {
		rs.heldSince = now
	}
	if now-rs.heldSince >= maxPaceHold || backlog >= maxPaceBacklog {
		rs.paceOverrides++
		rs.heldSince = now
		return true
	}
	rs.wakeAt(now + int64(rs.pacer.Delay(now)))
	return false
}

// paced takes n bytes just sent out of the pacer.
func (rs *receiverState) paced(n int, now int64) {
	rs.pacer.Sent(n, now)
}

// wakeAt asks the sender loop to drain again at at (unix ns), keeping the earliest request.
func (rs *receiverState) wakeAt(at int64) {
	if rs.paceAt == 0 || at < rs.paceAt {
		rs.paceAt = at
	}
}

// paceProbe hands out a running probe cluster's bytes that are due, and schedules the next.
func (e *Endpoint) paceProbe(now int64) {
	rs := &e.rs
	if rs.est == nil || rs.probeDesired == 0 || !rs.est.Probing() {
		return
	}
	e.probe(rs.probeDesired, now)
}
