// Package colibriws serves the colibri WebSocket, the bridge channel that deployments without
// SCTP data channels use (spec media-plane 1.3): it checks the URL
// /colibri-ws/<server-id>/<conference-id>/<endpoint-id>?pwd=<password>, upgrades the request,
// and hands the connection to the endpoint as an sfu.MessageConn. It owns what is WebSocket
// about it: keepalive pings, the idle timeout, close codes, the per-connection send queue, so
// that a slow client never blocks the endpoints that send to it.
//
// It must never import the control plane (colibri, xmppcomp): it finds endpoints only
// through the Lookup it is given.
package colibriws

import (
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/websocket"

	"gojvb/sfu"
	"gojvb/sfu/channel"
)

// Path prefixes (JVB's ColibriWebSocketService). Relays are not supported: their URLs are
// checked for the server id and then refused like a wrong password.
const (
	PathPrefix      = "/colibri-ws/"
	RelayPathPrefix = "/colibri-relay-ws/"
)

// Defaults of videobridge.websockets.* (JVB's reference.conf).
const (
	DefaultPingInterval = 15 * time.Second
	DefaultIdleTimeout  = 60 * time.Second
	DefaultServerID     = "default-id"
)

// Endpoint is what the server needs of an endpoint (*sfu.Endpoint).
type Endpoint interface {
	WebSocketPassword() string
	AttachWebSocket(conn sfu.MessageConn) error
	ReceiveWebSocket(conn sfu.MessageConn, msg []byte, text bool)
	DetachWebSocket(conn sfu.MessageConn)
}

// Lookup finds an endpoint by the bridge's conference id (not the meeting id) and endpoint id;
// ok is false if either is unknown.
type Lookup func(conferenceID, endpointID string) (ep Endpoint, ok bool)

// Config configures a Server.
type Config struct {
	ServerID string // videobridge.websockets.server-id; DefaultServerID if empty
	Lookup   Lookup
	// PingInterval between keepalive pings; negative disables them
	// (send-keepalive-pings=false), 0 means DefaultPingInterval.
	PingInterval time.Duration
	// IdleTimeout closes a connection that sent nothing (not even a pong) for that long;
	// 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// QueueSize bounds the messages waiting to be written to one connection; more are dropped
	// (and counted). 0 means 256.
	QueueSize int
	Logger    *slog.Logger
}

// Stats are the server's counters.
type Stats struct {
	Accepted, Rejected, Active uint64
	// Dropped counts outgoing messages dropped because a connection's queue was full.
	Dropped uint64
}

// Server is the http.Handler for the colibri-ws paths. Close ends every connection.
type Server struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	conns  map[*conn]struct{}
	closed bool
	wg     sync.WaitGroup

	accepted, rejected, dropped atomic.Uint64
}

// NewServer returns a Server for cfg.
func NewServer(cfg Config) *Server {
	if cfg.ServerID == "" {
		cfg.ServerID = DefaultServerID
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 256
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Server{cfg: cfg, log: log.With("component", "colibri-ws"), conns: make(map[*conn]struct{})}
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	active := uint64(len(s.conns))
	s.mu.Unlock()
	return Stats{Accepted: s.accepted.Load(), Rejected: s.rejected.Load(), Active: active, Dropped: s.dropped.Load()}
}

// ServeHTTP checks the URL and password and upgrades the request. Like JVB it answers 404
// "server ID mismatch" for another bridge's URL and 403 "authentication failed" for an
// unknown conference or endpoint or a wrong password (one answer, so nothing leaks).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
	relay := false
	if !ok {
		rest, ok = strings.CutPrefix(r.URL.Path, RelayPathPrefix)
		relay = true
	}
	ids := strings.Split(rest, "/")
	if !ok || len(ids) < 3 {
		s.reject(w, r, http.StatusNotFound, "not found")
		return
	}
	if ids[0] != s.cfg.ServerID {
		s.reject(w, r, http.StatusNotFound, "server ID mismatch")
		return
	}
	var ep Endpoint
	if !relay && s.cfg.Lookup != nil {
		ep, ok = s.cfg.Lookup(ids[1], ids[2])
	}
	if relay || !ok || ep == nil || !samePassword(r.URL.Query().Get("pwd"), ep.WebSocketPassword()) {
		s.reject(w, r, http.StatusForbidden, "authentication failed")
		return
	}
	log := s.log.With("conference", ids[1], "endpoint", ids[2])
	websocket.Server{
		// Browsers send an Origin, other clients need not: JVB checks neither.
		Handshake: func(*websocket.Config, *http.Request) error { return nil },
		Handler:   func(ws *websocket.Conn) { s.serve(ws, ep, log) },
	}.ServeHTTP(w, r)
}

func samePassword(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func (s *Server) reject(w http.ResponseWriter, r *http.Request, code int, text string) {
	s.rejected.Add(1)
	s.log.Debug("WebSocket refused", "path", r.URL.Path, "status", code, "reason", text)
	http.Error(w, text, code)
}

// serve runs one accepted connection until it ends; the HTTP server closes the socket after.
func (s *Server) serve(ws *websocket.Conn, ep Endpoint, log *slog.Logger) {
	c := newConn(ws, s.cfg, &s.dropped, log)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.accepted.Add(1)
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	if err := ep.AttachWebSocket(c); err != nil {
		log.Debug("WebSocket for an endpoint that is gone", "err", err)
		_ = c.Close(sfu.WebSocketCloseGoingAway, "endpoint closed")
	} else {
		log.Debug("WebSocket connected", "remote", ws.Request().RemoteAddr)
	}
	c.readLoop(channel.MaxMessageSize, func(msg []byte, text bool) { ep.ReceiveWebSocket(c, msg, text) })
	ep.DetachWebSocket(c)
	_ = c.Close(sfu.WebSocketCloseNormal, "")
	<-writerDone
	log.Debug("WebSocket closed", "code", c.closeCode())
}

// Close ends every connection (1001 "shutting down") and waits until they are gone; new
// upgrades are refused.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close(sfu.WebSocketCloseGoingAway, "shutting down")
	}
	s.wg.Wait()
}
