package sfu

import (
	"testing"
	"time"
)

// A receiver's keyframe pacing remembers the sources it asked keyframes of; once a sender
// leaves, its sources (and through them the whole departed endpoint) must not stay reachable
// from every receiver that ever asked, which the join/leave soak's churn would pile up to the
// pacer's 256-entry cap per receiver.
func TestKeyframePacingForgetsDepartedSources(t *testing.T) {
	_, _, a, b, _ := threeParty(t)
	now := time.Now().UnixNano()
	b.ep.keyframeRequested(222, now) // a-v0, as b's client would ask
	held := func() (n int) {
		for src := range b.ep.rs.keyframePace.bySource {
			if src.owner == a.ep {
				n++
			}
		}
		return n
	}
	if held() != 1 {
		t.Fatalf("b's pacer holds %d of a's sources after a request, want 1", held())
	}
	a.ep.Expire()
	b.ep.rs.syncSources(b.ep) // what b's sender goroutine does on its next packet or kick
	if n := held(); n != 0 {
		t.Errorf("b's pacer still holds %d of a's sources after a left", n)
	}
}
