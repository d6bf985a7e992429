package colibri

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock drives RunExpiry: tick(d) advances the time and delivers a tick.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	ticks chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) tick(t *testing.T, h *Handler, d time.Duration) {
	t.Helper()
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	c.mu.Unlock()
	// The channel is unbuffered: the second send completes only after RunExpiry has queued
	// the first tick's checks (the second pass at the same instant changes nothing).
	c.ticks <- now
	c.ticks <- now
}

func startExpiry(t *testing.T, h *Handler, start time.Time) *fakeClock {
	t.Helper()
	clk := &fakeClock{now: start, ticks: make(chan time.Time)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- h.RunExpiry(ctx, ExpiryConfig{Now: clk.Now, Ticks: clk.ticks})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("RunExpiry returned %v", err)
		}
	})
	return clk
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
	conf.ep("active").set(ConnConnected, start)
	conf.ep("idle").set(ConnConnected, start)
	conf.ep("failed").set(ConnFailed, time.Time{})

	clk := startExpiry(t, h, start)
	step := func(d time.Duration) {
		clk.tick(t, h, d)
		syncMeeting(t, h, "m")
	}
	alive := func(ids ...string) {
		t.Helper()
		for _, id := range ids {
			if conf.ep(id) == nil {
				t.Fatalf("at +%v: %s expired too early", clk.Now().Sub(start), id)
			}
		}
	}
	gone := func(ids ...string) {
		t.Helper()
		for _, id := range ids {
			if conf.ep(id) != nil {
				t.Fatalf("at +%v: %s not expired", clk.Now().Sub(start), id)
			}
		}
	}

	step(30 * time.Second)
	gone("failed")
	alive("never", "active", "idle")

	conf.ep("active").set(ConnConnected, start.Add(50*time.Second))
	step(30 * time.Second) // +60 s: idle since +0 for 1 min
	gone("idle")
	alive("never", "active")

	conf.ep("active").set(ConnConnected, start.Add(110*time.Second))
	step(59 * time.Second) // +119 s: no ICE for 119 s is still fine
	alive("never", "active")
	step(1 * time.Second) // +120 s: no ICE connection 2 min after creation
	gone("never")
	alive("active")

	step(70 * time.Second) // +190 s: active silent since +110 s
	gone("active")
	if fb.conf("m") == nil {
		t.Fatal("conference expired the moment its last endpoint did")
	}
	step(19 * time.Second)
	if fb.conf("m") == nil {
		t.Fatal("empty conference expired before 20 s")
	}
	step(1 * time.Second)
	if fb.conf("m") != nil {
		t.Fatal("conference empty for 20 s not expired")
	}
	// Jicofo learns about it on its next request.
	wantErr(t, do(t, h, trickle("m", "active", 1)), CondItemNotFound, ReasonConferenceNotFound, "")
}

func TestExpiryEmptyConferenceFromCreation(t *testing.T) {
	h, fb := newTestHandler(t, nil)
	ok(t, do(t, h, `<conference-modify xmlns='jitsi:colibri2' meeting-id='e' create='true'/>`))
	clk := startExpiry(t, h, fb.now)
	clk.tick(t, h, 19*time.Second)
	syncMeeting(t, h, "e")
	if fb.conf("e") == nil {
		t.Fatal("expired before 20 s")
	}
	clk.tick(t, h, time.Second)
	syncMeeting(t, h, "e")
	if fb.conf("e") != nil {
		t.Fatal("conference without endpoints since creation not expired after 20 s")
	}
}

func TestExpiryForgetsMeetingsEndedElsewhere(t *testing.T) {
	h, fb := newTestHandler(t, nil)
	visitor := strings.Replace(allocate("gone", "v", true, ""), `stats-id='v-stats'`, `stats-id='v-stats' muc-role='visitor'`, 1)
	ok(t, do(t, h, visitor))
	ok(t, do(t, h, allocate("kept", "a", true, "")))
	fb.conf("gone").Expire() // the media core ended it on its own
	clk := startExpiry(t, h, fb.now)
	clk.tick(t, h, time.Second)
	syncMeeting(t, h, "gone")
	syncMeeting(t, h, "kept")
	tracked := h.trackedMeetings()
	if slices.Contains(tracked, "gone") || !slices.Contains(tracked, "kept") {
		t.Fatalf("tracked meetings %v", tracked)
	}
	// A new conference for the same meeting starts clean: "v" is no longer a visitor there.
	ok(t, do(t, h, allocate("gone", "v", true, "")))
	ok(t, do(t, h, sessionAccept("gone", "v")))
}
