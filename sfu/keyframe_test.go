package sfu

import (
	"testing"
	"time"
)

// One receiver may ask for a source's keyframe at most every 200 ms (RTT + 10 ms when that is
// shorter) and 3 times per 10 s.
func TestKeyframePacerPerReceiverAndSource(t *testing.T) {
	var k keyframePacer
	a, b := &source{ssrc: 1}, &source{ssrc: 2}
	ms := int64(time.Millisecond)
	now := int64(1e12)
	if !k.allow(a, now, 0) || k.allow(a, now+100*ms, 0) || !k.allow(b, now+100*ms, 0) {
		t.Fatal("min interval per source, independent per source")
	}
	if !k.allow(a, now+200*ms, 0) || !k.allow(a, now+400*ms, 0) || k.allow(a, now+600*ms, 0) {
		t.Fatal("3 per 10 s")
	}
	if !k.allow(a, now+10*int64(time.Second)+ms, 0) {
		t.Fatal("a new 10 s window")
	}
	// A short RTT lowers the min interval to RTT + 10 ms.
	var k2 keyframePacer
	if !k2.allow(a, now, 20*time.Millisecond) || !k2.allow(a, now+31*ms, 20*time.Millisecond) {
		t.Error("min interval with RTT 20 ms should be 30 ms")
	}
}
