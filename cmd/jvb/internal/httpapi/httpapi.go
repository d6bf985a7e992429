// Package httpapi is the bridge's private HTTP server: /about/health, /about/version,
// /metrics, /colibri/stats, /colibri/drain, /colibri/shutdown, /debug, the COLIBRI2 REST API
// and optional pprof, with JVB's status codes and gates (a disabled API answers 404).
//
// Everything it serves comes through the small interfaces in Deps; it must never import the
// media core or the XMPP client.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"
)

// Gates mirrors videobridge.apis.rest.enabled and videobridge.rest.*.enabled.
type Gates struct {
	Colibri    bool // /colibri/stats, /colibri/v2/*, and (with Shutdown) /colibri/shutdown
	Shutdown   bool
	Debug      bool
	Drain      bool
	Health     bool
	Prometheus bool
	Version    bool
	Pprof      bool
}

// Drainer is the drain flag.
type Drainer interface {
	Drain() bool
	SetDrain(on bool)
}

// ErrNotFound makes Debug answer 404.
var ErrNotFound = errors.New("not found")

// Deps is what the server serves.
type Deps struct {
	Version string
	Gates   Gates
	// Health returns nil when healthy. An error with a `Soft() bool` method returning true is
	// answered 503, any other 500; the body is the error text.
	Health func() error
	// Stats returns the cached /colibri/stats JSON object.
	Stats   func() []byte
	Metrics http.Handler
	Drain   Drainer
	// Shutdown starts a graceful or immediate shutdown.
	Shutdown func(graceful bool)
	// Debug returns the state of all conferences (confID ""), one conference, or one endpoint
	// (ErrNotFound when unknown), as a JSON-encodable value.
	Debug func(confID, epID string, full bool) (any, error)
	// Colibri serves /colibri/v2/conferences[/...] (nil: 404).
	Colibri http.Handler
	// Fallback serves every path no API claims (the standalone page); nil: 404.
	Fallback http.Handler
	Log      *slog.Logger
}

// NewHandler returns the router, behind guard (no cross-origin or non-JSON state changes).
func NewHandler(d Deps) http.Handler {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	s := &server{d: d}
	mux := http.NewServeMux()
	g := d.Gates
	handle := func(pattern string, on bool, h http.HandlerFunc) {
		if !on {
			h = http.NotFound
		}
		mux.HandleFunc(pattern, h)
	}
	handle("GET /about/health", g.Health && d.Health != nil, s.health)
	handle("GET /about/version", g.Version, s.version)
	if g.Prometheus && d.Metrics != nil {
		mux.Handle("GET /metrics", d.Metrics)
	} else {
		mux.HandleFunc("/metrics", http.NotFound)
	}
	handle("GET /colibri/stats", g.Colibri && d.Stats != nil, s.stats)
	handle("GET /colibri/drain", g.Drain && d.Drain != nil, s.drainGet)
	handle("POST /colibri/drain/enable", g.Drain && d.Drain != nil, s.drainSet(true))
	handle("POST /colibri/drain/disable", g.Drain && d.Drain != nil, s.drainSet(false))
	handle("POST /colibri/drain", g.Drain && d.Drain != nil, s.drainJSON)
	handle("POST /colibri/shutdown", g.Colibri && g.Shutdown && d.Shutdown != nil, s.shutdown)
	if g.Colibri && d.Colibri != nil {
		mux.Handle("/colibri/v2/", d.Colibri)
	}
	handle("GET /debug", g.Debug && d.Debug != nil, s.debug)
	handle("GET /debug/{conf}", g.Debug && d.Debug != nil, s.debug)
	handle("GET /debug/{conf}/{ep}", g.Debug && d.Debug != nil, s.debug)
	if d.Fallback != nil {
		// The API's own trees never fall through to the page.
		mux.HandleFunc("/colibri/", http.NotFound)
		mux.HandleFunc("/about/", http.NotFound)
		mux.Handle("/", d.Fallback)
	}
	if g.Pprof {
		// pprof.Index also serves the named profiles (/debug/pprof/heap, ...).
		mux.HandleFunc("GET /debug/pprof/{$}", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/{name}", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return guard(mux)
}

type server struct{ d Deps }

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (s *server) health(w http.ResponseWriter, _ *http.Request) {
	err := s.d.Health()
	if err == nil {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return
	}
	status := http.StatusInternalServerError
	if !hasHard(err) {
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, err.Error())
}

// hasHard reports whether a joined error contains a failure that is not soft.
func hasHard(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if hasHard(e) {
				return true
			}
		}
		return false
	}
	var soft interface{ Soft() bool }
	return !errors.As(err, &soft) || !soft.Soft()
}

func (s *server) version(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		OS      string `json:"os"`
	}{"JVB", s.d.Version, "Linux"})
}

func (s *server) stats(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.d.Stats())
}

func (s *server) drainGet(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]bool{"drain": s.d.Drain.Drain()})
}

func (s *server) drainSet(on bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		s.d.Drain.SetDrain(on)
		w.WriteHeader(http.StatusOK)
	}
}

// drainJSON sets drain from a body like {"drain": true} or {"drain": "true"} (gojvb's
// addition next to JVB's /colibri/drain/enable and /disable, which take no body).
func (s *server) drainJSON(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Drain *Bool `json:"drain"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&body); err != nil {
		http.Error(w, "body must be JSON like {\"drain\": true}: "+err.Error(), http.StatusBadRequest)
		return
	}
	if body.Drain == nil {
		http.Error(w, "missing required field \"drain\" (true or false)", http.StatusBadRequest)
		return
	}
	s.d.Drain.SetDrain(bool(*body.Drain))
	w.WriteHeader(http.StatusOK)
}

// maxBody bounds request bodies of the small JSON endpoints.
const maxBody = 64 << 10

// Bool is a JSON boolean that also accepts the strings "true" and "false" (any case), as
// JVB's Jackson binding does: JVB's own graceful_shutdown.sh posts {"graceful-shutdown": "true"}.
type Bool bool

// UnmarshalJSON implements json.Unmarshaler.
func (b *Bool) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case bool:
		*b = Bool(x)
		return nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true":
			*b = true
			return nil
		case "false":
			*b = false
			return nil
		}
	}
	return fmt.Errorf("%s is not a boolean: want true, false, \"true\" or \"false\"", data)
}

func (s *server) shutdown(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Graceful *Bool `json:"graceful-shutdown"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(&body); err != nil {
		http.Error(w, "body must be JSON like {\"graceful-shutdown\": true}: "+err.Error(), http.StatusBadRequest)
		return
	}
	if body.Graceful == nil {
		http.Error(w, "missing required field \"graceful-shutdown\" (true or false)", http.StatusBadRequest)
		return
	}
	graceful := bool(*body.Graceful)
	s.d.Log.Info("shutdown requested over HTTP", "graceful", graceful, "remote", r.RemoteAddr)
	s.d.Shutdown(graceful)
	w.WriteHeader(http.StatusOK)
}

func (s *server) debug(w http.ResponseWriter, r *http.Request) {
	v, err := s.d.Debug(r.PathValue("conf"), r.PathValue("ep"), r.URL.Query().Get("full") == "true")
	switch {
	case errors.Is(err, ErrNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	default:
		writeJSON(w, http.StatusOK, v)
	}
}

// Serve runs h on ln within lim until ctx ends, then shuts the server down (giving requests in
// flight up to 5 s) and returns. st (may be nil) counts refused connections and failed accepts.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger, lim Limits, st *ConnStats) error {
	lim = lim.withDefaults()
	if st == nil {
		st = &ConnStats{}
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(newLimitListener(ln, lim, st, log)) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http: serving %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http: serving %s: %w", ln.Addr(), err)
	}
	return nil
}
