// Package shutdown is the bridge's shutdown state machine and drain flag, the same states as
// JVB's ShutdownManager: RUNNING -> GRACEFUL_SHUTDOWN (no new conferences; presence
// graceful_shutdown=true) -> SHUTTING_DOWN (presence shutting_down=true, jicofo moves everyone
// away) -> STOPPED (the process exits 0) after shutting-down-delay, or as soon as no local
// endpoint is left (JVB always waits the delay). Transitions are pure functions of the time and the
// local endpoint count passed to Step, so tests drive them with a synthetic clock.
//
// It must never import the media core or the control protocols: callers feed it numbers.
package shutdown

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// State is where the bridge is in its shutdown.
type State int

const (
	Running State = iota
	GracefulShutdown
	ShuttingDown
	Stopped // the process should exit now
)

func (s State) String() string {
	switch s {
	case Running:
		return "RUNNING"
	case GracefulShutdown:
		return "GRACEFUL_SHUTDOWN"
	case ShuttingDown:
		return "SHUTTING_DOWN"
	case Stopped:
		return "STOPPED"
	}
	return "UNKNOWN"
}

// Config is videobridge.shutdown.*.
type Config struct {
	MaxDuration       time.Duration // graceful-shutdown-max-duration (24 h)
	MinParticipants   int           // graceful-shutdown-min-participants (0)
	ShuttingDownDelay time.Duration // shutting-down-delay (1 min)
}

// Manager holds the state and the drain flag. Its methods are safe for concurrent use.
type Manager struct {
	cfg Config
	log *slog.Logger

	drain atomic.Bool

	onChange func(State) // called outside the lock after every transition

	mu         sync.Mutex
	state      State
	gracefulAt time.Time // when GRACEFUL_SHUTDOWN started
	shutAt     time.Time // when SHUTTING_DOWN started
	stopped    chan struct{}
}

// New returns a Manager in RUNNING with drain set to initialDrain. onChange (may be nil) is
// called after every state transition, without locks held, e.g. to republish presence.
func New(cfg Config, initialDrain bool, log *slog.Logger, onChange func(State)) *Manager {
	if log == nil {
		log = slog.Default()
	}
	if onChange == nil {
		onChange = func(State) {}
	}
	m := &Manager{cfg: cfg, log: log, onChange: onChange, stopped: make(chan struct{})}
	m.drain.Store(initialDrain)
	return m
}

// State returns the current state.
func (m *Manager) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

// AcceptsConferences reports whether new conferences may be created (only while RUNNING).
func (m *Manager) AcceptsConferences() bool { return m.State() == Running }

// Drain reports the drain flag.
func (m *Manager) Drain() bool { return m.drain.Load() }

// SetDrain sets the drain flag; it changes nothing else.
func (m *Manager) SetDrain(on bool) {
	if m.drain.Swap(on) != on {
		m.log.Info("drain mode changed", "drain", on)
	}
}

// Stopped is closed when the state reaches STOPPED.
func (m *Manager) Stopped() <-chan struct{} { return m.stopped }

// Initiate starts a shutdown at now: graceful goes RUNNING -> GRACEFUL_SHUTDOWN, otherwise
// straight to SHUTTING_DOWN. It never goes back; a graceful request during a shutdown changes
// nothing. It returns the resulting state.
func (m *Manager) Initiate(graceful bool, now time.Time) State {
	m.mu.Lock()
	before := m.state
	switch {
	case graceful && m.state == Running:
		m.setLocked(GracefulShutdown, now)
	case !graceful && m.state < ShuttingDown:
		m.setLocked(ShuttingDown, now)
	}
	return m.unlockNotify(before)
}

// unlockNotify releases the lock and reports a transition from before, if any.
func (m *Manager) unlockNotify(before State) State {
	after := m.state
	m.mu.Unlock()
	if after != before {
		m.onChange(after)
	}
	return after
}

// Exit jumps to STOPPED at once (second SIGTERM, SIGINT).
func (m *Manager) Exit(now time.Time) {
	m.mu.Lock()
	before := m.state
	if m.state != Stopped {
		m.setLocked(Stopped, now)
	}
	m.unlockNotify(before)
}

// Step applies the time-driven transitions at now, given the number of local endpoints, and
// returns the resulting state.
func (m *Manager) Step(now time.Time, localEndpoints int) State {
	m.mu.Lock()
	before := m.state
	if m.state == GracefulShutdown {
		switch {
		case localEndpoints <= m.cfg.MinParticipants:
			m.log.Info("graceful shutdown: few enough participants left", "endpoints", localEndpoints)
			m.setLocked(ShuttingDown, now)
		case now.Sub(m.gracefulAt) >= m.cfg.MaxDuration:
			m.log.Info("graceful shutdown: max duration reached", "endpoints", localEndpoints, "max", m.cfg.MaxDuration)
			m.setLocked(ShuttingDown, now)
		}
	}
	// The delay is there for jicofo to move participants away; with nobody left there is
	// nothing to wait for.
	if m.state == ShuttingDown && (localEndpoints == 0 || now.Sub(m.shutAt) >= m.cfg.ShuttingDownDelay) {
		m.setLocked(Stopped, now)
	}
	return m.unlockNotify(before)
}

func (m *Manager) setLocked(s State, now time.Time) {
	m.log.Info("shutdown state", "from", m.state, "to", s)
	m.state = s
	switch s {
	case GracefulShutdown:
		m.gracefulAt = now
	case ShuttingDown:
		m.shutAt = now
		m.log.Info("shutting down: exiting when no endpoint is left, at the latest after the delay", "delay", m.cfg.ShuttingDownDelay)
	case Stopped:
		close(m.stopped)
	}
}

// Run calls Step every tick with time.Now() and localEndpoints() until the state is STOPPED
// or ctx ends.
func (m *Manager) Run(ctx context.Context, tick time.Duration, localEndpoints func() int) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.stopped:
			return
		case now := <-t.C:
			if m.State() == Running {
				continue
			}
			m.Step(now, localEndpoints())
		}
	}
}
