package standalone

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed web
var webFiles embed.FS

// Defaults for Config's zero values.
const (
	DefaultParticipantTimeout = 30 * time.Second
	DefaultPollTimeout        = 20 * time.Second
	DefaultMUCDomain          = "conference.standalone"
	DefaultMaxParticipants    = 50
	DefaultMaxRooms           = 20
	bridgeTimeout             = 15 * time.Second // jicofo's reply timeout
	maxRequestBody            = 256 << 10
)

// Config configures the standalone focus.
type Config struct {
	Modifier           Modifier // the COLIBRI2 handler (required)
	Logger             *slog.Logger
	MUCDomain          string        // domain of the room JIDs sent as conference names (DefaultMUCDomain)
	ParticipantTimeout time.Duration // a page silent this long is removed (DefaultParticipantTimeout)
	PollTimeout        time.Duration // long-poll duration (DefaultPollTimeout); < ParticipantTimeout
	MaxParticipants    int           // per room (DefaultMaxParticipants)
	MaxRooms           int           // rooms at once (DefaultMaxRooms)
	// AllowedHosts are the host names (without port) the page and API answer to besides IP
	// literals and localhost: any other Host header is refused, so that a web site whose name
	// is made to resolve to this bridge (DNS rebinding) cannot use the API from a browser.
	AllowedHosts []string
}

// Server is the standalone focus and its page, served as one http.Handler (mount it at "/").
// Close it to expire every conference it created and stop its goroutine.
type Server struct {
	f           *focus
	mux         *http.ServeMux
	hosts       map[string]bool // AllowedHosts, lower-case
	csrf        *http.CrossOriginProtection
	pollTimeout time.Duration
	log         *slog.Logger

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

func newServer(m modifier, cfg Config) (*Server, error) {
	if m == nil {
		return nil, errors.New("standalone: Config.Modifier is nil, expected the COLIBRI2 handler")
	}
	if cfg.ParticipantTimeout < 0 || cfg.PollTimeout < 0 {
		return nil, fmt.Errorf("standalone: negative timeout (participant %v, poll %v), expected >= 0 (0 = default)",
			cfg.ParticipantTimeout, cfg.PollTimeout)
	}
	if cfg.MaxRooms < 0 {
		return nil, fmt.Errorf("standalone: MaxRooms %d, expected >= 0 (0 = default %d)", cfg.MaxRooms, DefaultMaxRooms)
	}
	if cfg.MaxParticipants < 0 || cfg.MaxParticipants > maxSlots/2 {
		return nil, fmt.Errorf("standalone: MaxParticipants %d, expected 0 (default %d) to %d",
			cfg.MaxParticipants, DefaultMaxParticipants, maxSlots/2)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "standalone")
	s := &Server{
		f: &focus{bridge: m, log: log, timeout: cmp.Or(cfg.ParticipantTimeout, DefaultParticipantTimeout),
			domain: cmp.Or(cfg.MUCDomain, DefaultMUCDomain), maxParticipants: cmp.Or(cfg.MaxParticipants, DefaultMaxParticipants),
			maxRooms: cmp.Or(cfg.MaxRooms, DefaultMaxRooms),
			rooms:    map[string]*room{}, byID: map[string]*participant{}},
		pollTimeout: cmp.Or(cfg.PollTimeout, DefaultPollTimeout),
		log:         log,
		stop:        make(chan struct{}),
		hosts:       map[string]bool{"localhost": true},
		csrf:        http.NewCrossOriginProtection(),
	}
	for _, h := range cfg.AllowedHosts {
		s.hosts[strings.ToLower(h)] = true
	}
	if s.pollTimeout >= s.f.timeout {
		return nil, fmt.Errorf("standalone: PollTimeout %v must be shorter than ParticipantTimeout %v",
			s.pollTimeout, s.f.timeout)
	}
	page, err := fs.Sub(webFiles, "web")
	if err != nil {
		return nil, fmt.Errorf("standalone: embedded page: %w", err)
	}
	s.mux = http.NewServeMux()
	s.mux.Handle("GET /", http.FileServerFS(page))
	s.mux.HandleFunc("POST /api/join", s.handleJoin)
	s.mux.HandleFunc("POST /api/answer", s.handleAnswer)
	s.mux.HandleFunc("GET /api/offer", s.handleOffer)
	s.mux.HandleFunc("POST /api/leave", s.handleLeave)
	s.mux.HandleFunc("GET /api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorResponse{Error: "no such API call: GET " + r.URL.Path})
	})

	s.wg.Go(s.expireLoop)
	return s, nil
}

// ServeHTTP serves the page (GET /) and the signalling API (/api/...) to requests for an
// allowed host (421 otherwise); state changes from another origin are refused (403).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !s.allowedHost(r.Host) {
		writeJSON(w, http.StatusMisdirectedRequest, errorResponse{Error: fmt.Sprintf(
			"host %q is not served here: use an IP address, localhost or a configured host name", r.Host)})
		return
	}
	s.csrf.Handler(s.mux).ServeHTTP(w, r)
}

// allowedHost says whether a Host header names this server: an IP literal, localhost or one
// of AllowedHosts.
func (s *Server) allowedHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return s.hosts[strings.ToLower(strings.TrimSuffix(host, "."))]
}

// Close ends the long-polls, stops the expiry goroutine and expires every conference the focus
// created on the bridge. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), bridgeTimeout)
		defer cancel()
		s.f.shutdown(ctx)
	})
	return nil
}

func (s *Server) expireLoop() {
	t := time.NewTicker(s.f.timeout / 4)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), bridgeTimeout)
			s.f.expireStale(ctx, now)
			cancel()
		}
	}
}

// The JSON messages of the signalling protocol (docs/standalone.md).
type (
	joinRequest struct {
		Room string `json:"room"`
		// SSRCRewriting: the page handles VideoSourcesMap/AudioSourcesMap (lib-jitsi-meet's
		// ssrc-rewriting-1 feature); its offers then carry no remote sources.
		SSRCRewriting bool `json:"ssrcRewriting,omitempty"`
	}
	offerMessage struct {
		Version      int      `json:"version"`
		SDP          string   `json:"sdp"`
		Participants []string `json:"participants"` // the other endpoints in the room, join order
	}
	joinResponse struct {
		EndpointID    string       `json:"endpointId"`
		Token         string       `json:"token"`
		Room          string       `json:"room"`
		SSRCRewriting bool         `json:"ssrcRewriting"`
		Offer         offerMessage `json:"offer"`
	}
	answerRequest struct {
		EndpointID string   `json:"endpointId"`
		Token      string   `json:"token"`
		Version    int      `json:"version"`
		SDP        string   `json:"sdp"`
		Candidates []string `json:"candidates"`
	}
	leaveRequest struct {
		EndpointID string `json:"endpointId"`
		Token      string `json:"token"`
	}
	errorResponse struct {
		Error string `json:"error"`
	}
)

// bridgeContext detaches a bridge call from the HTTP request: a browser that goes away in the
// middle of an allocation must not leave the focus and the bridge disagreeing.
func bridgeContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), bridgeTimeout)
}

func (s *Server) handleJoin(w http.ResponseWriter, r *http.Request) {
	var req joinRequest
	if !decode(w, r, &req) {
		return
	}
	ctx, cancel := bridgeContext(r)
	defer cancel()
	p, err := s.f.join(ctx, req.Room, req.SSRCRewriting)
	if err != nil {
		s.fail(w, err)
		return
	}
	o, _, _ := s.f.current(p)
	writeJSON(w, http.StatusOK, joinResponse{EndpointID: p.id, Token: p.token, Room: p.room.name,
		SSRCRewriting: p.rewriting, Offer: o})
}

func (s *Server) handleAnswer(w http.ResponseWriter, r *http.Request) {
	var req answerRequest
	if !decode(w, r, &req) {
		return
	}
	p, err := s.f.participant(req.EndpointID, req.Token)
	if err != nil {
		s.fail(w, err)
		return
	}
	ctx, cancel := bridgeContext(r)
	defer cancel()
	if err := s.f.answer(ctx, p, req.Version, req.SDP, req.Candidates); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleOffer is the long-poll: it answers as soon as the participant's offer is newer than
// ?after=, or with 204 after the poll timeout.
func (s *Server) handleOffer(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after := 0
	if a := q.Get("after"); a != "" {
		var err error
		if after, err = strconv.Atoi(a); err != nil {
			writeJSON(w, http.StatusBadRequest, errorResponse{Error: fmt.Sprintf("after=%q: expected an integer offer version", a)})
			return
		}
	}
	p, err := s.f.participant(q.Get("endpoint"), q.Get("token"))
	if err != nil {
		s.fail(w, err)
		return
	}
	s.f.setPolling(p, 1)
	defer s.f.setPolling(p, -1)
	timer := time.NewTimer(s.pollTimeout)
	defer timer.Stop()
	for {
		o, changed, left := s.f.current(p)
		if left {
			writeJSON(w, http.StatusGone, errorResponse{Error: "participant has left"})
			return
		}
		if o.Version > after {
			writeJSON(w, http.StatusOK, o)
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusNoContent)
			return
		case <-r.Context().Done():
			return
		case <-s.stop:
			writeJSON(w, http.StatusServiceUnavailable, errorResponse{Error: errClosed.Error()})
			return
		}
	}
}

func (s *Server) handleLeave(w http.ResponseWriter, r *http.Request) {
	var req leaveRequest
	if !decode(w, r, &req) {
		return
	}
	p, err := s.f.participant(req.EndpointID, req.Token)
	if err != nil {
		s.fail(w, err)
		return
	}
	ctx, cancel := bridgeContext(r)
	defer cancel()
	if err := s.f.leave(ctx, p, "left"); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// requestError marks an error caused by what the page sent (HTTP 400).
type requestError struct{ err error }

func (e *requestError) Error() string { return e.err.Error() }
func (e *requestError) Unwrap() error { return e.err }

func (s *Server) fail(w http.ResponseWriter, err error) {
	status := http.StatusBadGateway // the bridge refused or failed
	var re *requestError
	switch {
	case errors.As(err, &re), errors.Is(err, errBadRoom):
		status = http.StatusBadRequest
	case errors.Is(err, errUnknownParticipant):
		status = http.StatusNotFound
	case errors.Is(err, errConferenceGone), errors.Is(err, errEndpointGone):
		status = http.StatusGone // the page must join again
	case errors.Is(err, errClosed), errors.Is(err, errRoomFull), errors.Is(err, errTooManyRooms):
		status = http.StatusServiceUnavailable
	}
	if status == http.StatusBadGateway {
		s.log.Warn("bridge request failed", "err", err)
	}
	writeJSON(w, status, errorResponse{Error: err.Error()})
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeJSON(w, http.StatusUnsupportedMediaType, errorResponse{Error: "request body must be Content-Type: application/json"})
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("more than one JSON value in the body")
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorResponse{Error: "request body: " + err.Error()})
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
