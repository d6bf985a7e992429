package httpapi

import (
	"errors"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Limits bound what clients can hold on the private server; zero fields take the defaults.
type Limits struct {
	ReadHeaderTimeout time.Duration // headers of one request (10 s)
	// ReadTimeout bounds reading a whole request, body included (30 s): a client dribbling a
	// body a byte at a time loses its connection then.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration // writing a response (2 min, above pprof's 30 s profile)
	IdleTimeout  time.Duration // a keep-alive connection between requests (1 min)
	// MaxHeaderBytes bounds request headers (64 KiB).
	MaxHeaderBytes int
	// MaxConns bounds open connections (512, well under the usual 1024 file descriptors);
	// MaxConnsPerIP bounds them per client address (64), so that one client cannot take
	// them all and /about/health and /metrics keep answering. A connection over either is
	// closed as soon as it is accepted.
	MaxConns, MaxConnsPerIP int
}

// Default limits.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 2 * time.Minute
	DefaultIdleTimeout       = time.Minute
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxConns          = 512
	DefaultMaxConnsPerIP     = 64
)

func (l Limits) withDefaults() Limits {
	or := func(v, d time.Duration) time.Duration {
		if v <= 0 {
			return d
		}
		return v
	}
	l.ReadHeaderTimeout = or(l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	l.ReadTimeout = or(l.ReadTimeout, DefaultReadTimeout)
	l.WriteTimeout = or(l.WriteTimeout, DefaultWriteTimeout)
	l.IdleTimeout = or(l.IdleTimeout, DefaultIdleTimeout)
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxConns <= 0 {
		l.MaxConns = DefaultMaxConns
	}
	if l.MaxConnsPerIP <= 0 {
		l.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	return l
}

// ConnStats counts what the connection limits did, for /metrics.
type ConnStats struct {
	Refused      atomic.Uint64 // connections closed on accept: over MaxConns or MaxConnsPerIP
	AcceptErrors atomic.Uint64 // failed accepts (e.g. out of file descriptors)
}

// limitListener enforces MaxConns and MaxConnsPerIP, and counts and reports failed accepts
// (http.Server would only retry them quietly).
type limitListener struct {
	net.Listener
	max, perIP int
	stats      *ConnStats
	log        *slog.Logger

	mu      sync.Mutex
	open    int
	byIP    map[netip.Addr]int
	lastLog time.Time
}

func newLimitListener(ln net.Listener, l Limits, st *ConnStats, log *slog.Logger) *limitListener {
	return &limitListener{Listener: ln, max: l.MaxConns, perIP: l.MaxConnsPerIP, stats: st, log: log, byIP: map[netip.Addr]int{}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				l.stats.AcceptErrors.Add(1)
				l.warn("HTTP accept failed", err)
			}
			return nil, err
		}
		ip := remoteIP(c)
		l.mu.Lock()
		ok := l.open < l.max && l.byIP[ip] < l.perIP
		if ok {
			l.open++
			l.byIP[ip]++
		}
		l.mu.Unlock()
		if ok {
			return &limitedConn{Conn: c, l: l, ip: ip}, nil
		}
		l.stats.Refused.Add(1)
		l.warn("HTTP connection refused: too many open", nil, "remote", ip.String())
		_ = c.Close()
	}
}

// warn logs at most once every 10 s, so that a flood does not flood the log too.
func (l *limitListener) warn(msg string, err error, attrs ...any) {
	l.mu.Lock()
	now := time.Now()
	quiet := now.Sub(l.lastLog) < 10*time.Second
	if !quiet {
		l.lastLog = now
	}
	l.mu.Unlock()
	if quiet {
		return
	}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	l.log.Warn(msg, append(attrs, "refused_total", l.stats.Refused.Load(), "accept_errors_total", l.stats.AcceptErrors.Load())...)
}

func (l *limitListener) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

func remoteIP(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

type limitedConn struct {
	net.Conn
	l    *limitListener
	ip   netip.Addr
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}

// guard refuses state-changing requests that a web page could forge: cross-origin browser
// requests (403, by Sec-Fetch-Site or Origin against Host), and any body that is not
// declared as JSON (415), since a page may post text/plain or a form to any address without
// the browser asking first.
func guard(h http.Handler) http.Handler {
	jsonOnly := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !safeMethod(r.Method) && hasBody(r) && !IsJSON(r.Header.Get("Content-Type")) {
			http.Error(w, "request body must be Content-Type: application/json", http.StatusUnsupportedMediaType)
			return
		}
		h.ServeHTTP(w, r)
	})
	return http.NewCrossOriginProtection().Handler(jsonOnly)
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func hasBody(r *http.Request) bool { return r.ContentLength != 0 }

// IsJSON says whether a Content-Type header value is application/json (any parameters).
func IsJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}
