package colibri

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// fakeClock drives expiry passes: tick advances the time and runs one pass (as RunExpiry does
// on each tick), then waits until the checks it queued for the given meetings have run.
type fakeClock struct {
	now time.Time
	cfg ExpiryConfig
}

func newFakeClock(start time.Time) *fakeClock {
	c := &fakeClock{now: start}
	c.cfg = ExpiryConfig{Now: func() time.Time { return c.now }}.withDefaults()
	return c
}

func (c *fakeClock) tick(t *testing.T, h *Handler, d time.Duration, meetings ...string) {
	t.Helper()
	c.now = c.now.Add(d)
	h.expireOnce(c.cfg, c.now)
	for _, m := range meetings {
		syncMeeting(t, h, m)
	}
}

// sync waits until every request and check queued for meeting so far has run.
func syncMeeting(t *testing.T, h *Handler, meeting string) {
	t.Helper()
	done := make(chan struct{})
	if err := h.enqueue(meeting, func(bool) { close(done) }); err != nil {
		t.Fatal(err)
	}
	<-done
}

func TestExpiryEndpointsAndConferences(t *testing.T) {
	h, fb := newTestHandler(t, nil)
	start := fb.now
	ok(t, do(t, h, allocate("m", "never", true, "")))
	ok(t, do(t, h, allocate("m", "active", false, "")))
	ok(t, do(t, h, allocate("m", "idle", false, "")))
	ok(t, do(t, h, allocate("m", "failed", false, "")))
	conf := fb.conf("m")
	conf.ep("active").set(ConnConnected, start.Add(time.Second))
	conf.ep("idle").set(ConnConnected, start.Add(time.Second))
	conf.ep("failed").set(ConnFailed, time.Time{})

	clk := newFakeClock(start)
	step := func(d time.Duration) { clk.tick(t, h, d, "m") }
	alive := func(ids ...string) {
		t.Helper()
		for _, id := range ids {
			if conf.ep(id) == nil {
				t.Fatalf("at +%v: %s expired too early", clk.now.Sub(start), id)
			}
		}
	}
	gone := func(ids ...string) {
		t.Helper()
		for _, id := range ids {
			if conf.ep(id) != nil {
				t.Fatalf("at +%v: %s not expired", clk.now.Sub(start), id)
			}
		}
	}

	step(30 * time.Second)
	gone("failed")
	alive("never", "active", "idle")

	conf.ep("active").set(ConnConnected, start.Add(50*time.Second))
	step(30 * time.Second) // +60 s: idle's last packet (+1 s) is 59 s old
	alive("never", "active", "idle")
	step(1 * time.Second) // +61 s: 1 min without media
	gone("idle")
	alive("never", "active")

	conf.ep("active").set(ConnConnected, start.Add(110*time.Second))
	step(58 * time.Second) // +119 s: never sent anything, but is not 2 min old yet
	alive("never", "active")
	step(1 * time.Second) // +120 s: nothing 2 min after creation
	gone("never")
	alive("active")

	step(70 * time.Second) // +190 s: active silent since +110 s
	gone("active")
	if fb.conf("m") == nil {
		t.Fatal("conference expired in the same pass as its last endpoint")
	}
	step(1 * time.Second) // next pass: empty and older than 20 s
	if fb.conf("m") != nil {
		t.Fatal("empty conference not expired")
	}
	// Jicofo learns about it on its next request.
	wantErr(t, do(t, h, trickle("m", "active", 1)), CondItemNotFound, ReasonConferenceNotFound, "")
}

func TestExpiryEmptyConferenceFromCreation(t *testing.T) {
	h, fb := newTestHandler(t, nil)
	ok(t, do(t, h, `<conference-modify xmlns='jitsi:colibri2' meeting-id='e' create='true'/>`))
	clk := newFakeClock(fb.now)
	clk.tick(t, h, 19*time.Second, "e")
	if fb.conf("e") == nil {
		t.Fatal("expired before 20 s")
	}
	clk.tick(t, h, time.Second, "e")
	if fb.conf("e") != nil {
		t.Fatal("conference without endpoints since creation not expired after 20 s")
	}
}

// TestVisitorRoleEndsWithItsConference: the visitor role belongs to the endpoint, so a
// conference the media core ended on its own leaves nothing behind for the next one.
func TestVisitorRoleEndsWithItsConference(t *testing.T) {
	h, fb := newTestHandler(t, nil)
	visitor := strings.Replace(allocate("gone", "v", true, ""), `stats-id='v-stats'`, `stats-id='v-stats' muc-role='visitor'`, 1)
	ok(t, do(t, h, visitor))
	wantErr(t, do(t, h, sessionAccept("gone", "v")), CondBadRequest, ReasonNone, "visitor")
	fb.conf("gone").Expire() // the media core ended it on its own
	// A new conference for the same meeting starts clean: "v" is no longer a visitor there.
	ok(t, do(t, h, allocate("gone", "v", true, "")))
	ok(t, do(t, h, sessionAccept("gone", "v")))
}

// TestRunExpiryFollowsTicksUntilCancelled checks the goroutine around the passes: each tick runs
// one pass at Now(), and cancelling the context ends it.
func TestRunExpiryFollowsTicksUntilCancelled(t *testing.T) {
	h, fb := newTestHandler(t, nil)
	ok(t, do(t, h, `<conference-modify xmlns='jitsi:colibri2' meeting-id='e' create='true'/>`))
	ticks := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- h.RunExpiry(ctx, ExpiryConfig{Now: func() time.Time { return fb.now.Add(time.Hour) }, Ticks: ticks})
	}()
	ticks <- time.Time{}
	ticks <- time.Time{} // accepted only after the first pass was queued
	syncMeeting(t, h, "e")
	if fb.conf("e") != nil {
		t.Fatal("tick did not run an expiry pass")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("RunExpiry returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RunExpiry did not stop")
	}
}
