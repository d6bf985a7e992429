package httpapi

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
)

// failingListener fails its first accepts as a process out of file descriptors would, then
// reports itself closed.
type failingListener struct {
	net.Listener
	fails int
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.fails > 0 {
		l.fails--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return nil, net.ErrClosed
}

// A failed accept is counted and logged at WARN with the error (at most once per 10 s); the
// listener being closed is neither.
func TestAcceptErrorsCountedAndLoggedAtWarn(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var st ConnStats
	l := newLimitListener(&failingListener{fails: 3}, Limits{}.withDefaults(), &st, log)
	for range 3 {
		if _, err := l.Accept(); !errors.Is(err, syscall.EMFILE) {
			t.Fatalf("accept: %v, want EMFILE passed on", err)
		}
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("accept after the failures: %v", err)
	}
	if n := st.AcceptErrors.Load(); n != 3 {
		t.Errorf("accept errors counted %d, want 3", n)
	}
	out := logs.String()
	if strings.Count(out, "level=WARN") != 1 || !strings.Contains(out, "HTTP accept failed") ||
		!strings.Contains(out, "too many open files") || !strings.Contains(out, "accept_errors_total=1") {
		t.Errorf("log: want one WARN naming the failed accept and its error:\n%s", out)
	}
}
