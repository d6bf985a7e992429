package shutdown

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	t0    = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg   = Config{MaxDuration: time.Hour, MinParticipants: 2, ShuttingDownDelay: time.Minute}
)

func isStopped(m *Manager) bool {
	select {
	case <-m.Stopped():
		return true
	default:
		return false
	}
}

func TestGracefulWaitsForParticipantsThenDelay(t *testing.T) {
	m := New(cfg, false, quiet, nil)
	if m.Step(t0, 0) != Running || !m.AcceptsConferences() {
		t.Fatal("a running bridge must stay running whatever the count")
	}
	if got := m.Initiate(true, t0); got != GracefulShutdown {
		t.Fatalf("Initiate(graceful) = %v", got)
	}
	if m.AcceptsConferences() {
		t.Fatal("graceful shutdown must reject new conferences")
	}
	if got := m.Step(t0.Add(10*time.Minute), 3); got != GracefulShutdown {
		t.Fatalf("3 endpoints > min 2: %v", got)
	}
	if got := m.Step(t0.Add(11*time.Minute), 2); got != ShuttingDown {
		t.Fatalf("2 endpoints <= min 2: %v", got)
	}
	if got := m.Step(t0.Add(11*time.Minute+59*time.Second), 1); got != ShuttingDown || isStopped(m) {
		t.Fatalf("before the shutting-down delay: %v", got)
	}
	if got := m.Step(t0.Add(12*time.Minute), 1); got != Stopped || !isStopped(m) {
		t.Fatalf("after the shutting-down delay: %v", got)
	}
}

func TestGracefulMaxDuration(t *testing.T) {
	m := New(cfg, false, quiet, nil)
	m.Initiate(true, t0)
	if got := m.Step(t0.Add(time.Hour-time.Second), 50); got != GracefulShutdown {
		t.Fatalf("before max duration: %v", got)
	}
	if got := m.Step(t0.Add(time.Hour), 50); got != ShuttingDown {
		t.Fatalf("at max duration: %v", got)
	}
	// Participants still present do not keep a SHUTTING_DOWN bridge alive.
	if got := m.Step(t0.Add(time.Hour+time.Minute), 50); got != Stopped {
		t.Fatalf("after delay: %v", got)
	}
}

func TestNonGracefulGoesStraightToShuttingDown(t *testing.T) {
	m := New(cfg, false, quiet, nil)
	if got := m.Initiate(false, t0); got != ShuttingDown {
		t.Fatalf("Initiate(false) = %v", got)
	}
	if got := m.Step(t0.Add(time.Minute), 10); got != Stopped {
		t.Fatalf("after delay = %v", got)
	}
}

func TestNoWayBackAndNonGracefulEscalates(t *testing.T) {
	m := New(cfg, false, quiet, nil)
	m.Initiate(true, t0)
	if got := m.Initiate(true, t0.Add(time.Second)); got != GracefulShutdown {
		t.Fatalf("second graceful: %v", got)
	}
	if got := m.Initiate(false, t0.Add(2*time.Second)); got != ShuttingDown {
		t.Fatalf("non-graceful during graceful: %v", got)
	}
	if got := m.Initiate(true, t0.Add(3*time.Second)); got != ShuttingDown {
		t.Fatalf("graceful during shutting down went back: %v", got)
	}
	// The delay counts from when SHUTTING_DOWN started (t0+2s).
	if m.Step(t0.Add(61*time.Second), 1) != ShuttingDown || m.Step(t0.Add(62*time.Second), 1) != Stopped {
		t.Fatal("delay not counted from the SHUTTING_DOWN transition")
	}
}

func TestShuttingDownWithNobodyLeftStopsAtOnce(t *testing.T) {
	m := New(Config{MaxDuration: time.Hour, MinParticipants: 5, ShuttingDownDelay: time.Minute}, false, quiet, nil)
	m.Initiate(true, t0)
	if got := m.Step(t0.Add(time.Second), 3); got != ShuttingDown {
		t.Fatalf("3 <= 5 participants: %v", got)
	}
	if got := m.Step(t0.Add(2*time.Second), 3); got != ShuttingDown {
		t.Fatalf("participants still there must wait the delay: %v", got)
	}
	if got := m.Step(t0.Add(3*time.Second), 0); got != Stopped {
		t.Fatalf("nobody left: %v", got)
	}
}

func TestExitStopsAtOnce(t *testing.T) {
	m := New(cfg, false, quiet, nil)
	m.Initiate(true, t0)
	m.Exit(t0)
	m.Exit(t0) // idempotent: must not close twice
	if m.State() != Stopped || !isStopped(m) {
		t.Fatal("Exit did not stop")
	}
}

func TestDrainOnlySetsTheFlag(t *testing.T) {
	m := New(cfg, true, quiet, nil)
	if !m.Drain() {
		t.Fatal("initial drain mode lost")
	}
	m.SetDrain(false)
	if m.Drain() {
		t.Fatal("drain still on")
	}
	m.SetDrain(true)
	if m.State() != Running || !m.AcceptsConferences() {
		t.Fatal("drain must not change the shutdown state")
	}
}

func TestOnChangeSeesEveryTransitionOnce(t *testing.T) {
	var seen []State
	m := New(cfg, false, quiet, func(s State) { seen = append(seen, s) })
	m.Step(t0, 0)
	m.Initiate(true, t0)
	m.Initiate(true, t0)
	m.Step(t0.Add(time.Second), 5)
	m.Step(t0.Add(2*time.Second), 2)
	m.Step(t0.Add(3*time.Second), 0)
	m.Exit(t0.Add(4 * time.Second))
	want := []State{GracefulShutdown, ShuttingDown, Stopped}
	if len(seen) != len(want) {
		t.Fatalf("transitions = %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("transitions = %v, want %v", seen, want)
		}
	}
}

func TestRunStepsUntilStopped(t *testing.T) {
	m := New(Config{MaxDuration: time.Hour, ShuttingDownDelay: 0}, false, quiet, nil)
	done := make(chan struct{})
	go func() { defer close(done); m.Run(context.Background(), time.Millisecond, func() int { return 0 }) }()
	m.Initiate(true, time.Now())
	select {
	case <-m.Stopped():
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not reach STOPPED")
	}
	<-done
}
