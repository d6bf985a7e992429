package bench

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// joinLog is what a run's joining goroutines learn, one endpoint each: the secure connection,
// join and allocation times, failures and the bridge channels that opened. Read its fields
// after the goroutines are done.
type joinLog struct {
	mu       sync.Mutex
	conns    map[*simEndpoint]*secureConn
	joins    []time.Duration
	allocs   []time.Duration
	errs     []error
	channels int
}

func newJoinLog() *joinLog { return &joinLog{conns: map[*simEndpoint]*secureConn{}} }

// joined records how e's join (s, err) went; a failure is recorded with where it happened and
// makes it return false.
func (l *joinLog) joined(e *simEndpoint, s *secureConn, err error, where string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s != nil {
		l.conns[e] = s
	}
	if e.allocated > 0 {
		l.allocs = append(l.allocs, e.allocated)
	}
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("endpoint %s (%s): %w", e.id, where, err))
		return false
	}
	l.joins = append(l.joins, e.joined)
	return true
}

// openChannel opens e's bridge channel on s and counts it.
func (l *joinLog) openChannel(ctx context.Context, e *simEndpoint, s *secureConn, wg *sync.WaitGroup, log *slog.Logger) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := e.openBridgeChannel(dctx, s, wg); err != nil {
		log.Debug("bridge channel", "endpoint", e.id, "err", err)
		return
	}
	l.mu.Lock()
	l.channels++
	l.mu.Unlock()
}
