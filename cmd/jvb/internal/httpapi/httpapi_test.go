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
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type softErr struct{ msg string }

func (e softErr) Error() string { return e.msg }
func (e softErr) Soft() bool    { return true }

type drainFlag struct {
	mu sync.Mutex
	on bool
}

func (d *drainFlag) Drain() bool      { d.mu.Lock(); defer d.mu.Unlock(); return d.on }
func (d *drainFlag) SetDrain(on bool) { d.mu.Lock(); d.on = on; d.mu.Unlock() }

type fixture struct {
	healthErr error
	drain     drainFlag
	shutdowns []bool
	srv       *httptest.Server
}

func allGates() Gates {
	return Gates{Colibri: true, Shutdown: true, Debug: true, Drain: true, Health: true, Prometheus: true, Version: true}
}

func newFixture(t *testing.T, g Gates) *fixture {
	f := &fixture{}
	var mu sync.Mutex
	h := NewHandler(Deps{
		Version: "2.3.0-test",
		Gates:   g,
		Health:  func() error { mu.Lock(); defer mu.Unlock(); return f.healthErr },
		Stats:   func() []byte { return []byte(`{"conferences":1,"drain":false}`) },
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "jitsi_jvb_conferences 1\n") }),
		Drain:   &f.drain,
		Shutdown: func(graceful bool) {
			mu.Lock()
			f.shutdowns = append(f.shutdowns, graceful)
			mu.Unlock()
		},
		Debug: func(conf, ep string, full bool) (any, error) {
			switch {
			case conf == "":
				return map[string]any{"conferences": map[string]any{"c1": map[string]any{}}, "full": full}, nil
			case conf == "c1" && ep == "":
				return map[string]any{"id": "c1"}, nil
			case conf == "c1" && ep == "e1":
				return map[string]any{"id": "e1"}, nil
			}
			return nil, fmt.Errorf("conference %q endpoint %q: %w", conf, ep, ErrNotFound)
		},
		Colibri: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }),
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) do(t *testing.T, method, path, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestHealth(t *testing.T) {
	f := newFixture(t, allGates())
	code, body, hdr := f.do(t, "GET", "/about/health", "")
	if code != 200 || body != "" || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("healthy: %d %q %v", code, body, hdr)
	}
	f.healthErr = errors.New("udp: the media UDP port is not bound")
	if code, body, _ = f.do(t, "GET", "/about/health", ""); code != 500 || !strings.Contains(body, "not bound") {
		t.Fatalf("hard failure: %d %q", code, body)
	}
	f.healthErr = softErr{"xmpp: none of 1 XMPP connections is up"}
	if code, body, _ = f.do(t, "GET", "/about/health", ""); code != 503 || !strings.Contains(body, "XMPP") {
		t.Fatalf("soft failure: %d %q", code, body)
	}
	f.healthErr = errors.Join(softErr{"xmpp down"}, errors.New("udp down"))
	if code, _, _ = f.do(t, "GET", "/about/health", ""); code != 500 {
		t.Fatalf("hard+soft must be 500: %d", code)
	}
}

func TestVersion(t *testing.T) {
	f := newFixture(t, allGates())
	code, body, _ := f.do(t, "GET", "/about/version", "")
	var v map[string]string
	if err := json.Unmarshal([]byte(body), &v); err != nil || code != 200 {
		t.Fatalf("%d %q %v", code, body, err)
	}
	if body != `{"name":"JVB","version":"2.3.0-test","os":"Linux"}` {
		t.Fatalf("version = %v", v)
	}
}

func TestStatsAndMetrics(t *testing.T) {
	f := newFixture(t, allGates())
	if code, body, hdr := f.do(t, "GET", "/colibri/stats", ""); code != 200 || body != `{"conferences":1,"drain":false}` || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("stats: %d %q", code, body)
	}
	if code, body, _ := f.do(t, "GET", "/metrics", ""); code != 200 || !strings.Contains(body, "jitsi_jvb_conferences") {
		t.Fatalf("metrics: %d %q", code, body)
	}
}

func TestDrain(t *testing.T) {
	f := newFixture(t, allGates())
	if code, body, _ := f.do(t, "GET", "/colibri/drain", ""); code != 200 || body != `{"drain":false}` {
		t.Fatalf("%d %q", code, body)
	}
	if code, _, _ := f.do(t, "POST", "/colibri/drain/enable", ""); code != 200 || !f.drain.Drain() {
		t.Fatalf("enable: %d", code)
	}
	if code, body, _ := f.do(t, "GET", "/colibri/drain", ""); code != 200 || body != `{"drain":true}` {
		t.Fatalf("%d %q", code, body)
	}
	if code, _, _ := f.do(t, "POST", "/colibri/drain/disable", ""); code != 200 || f.drain.Drain() {
		t.Fatalf("disable: %d", code)
	}
	if code, _, _ := f.do(t, "GET", "/colibri/drain/enable", ""); code != 405 {
		t.Fatalf("GET enable: %d", code)
	}
	// JVB's enable/disable ignore a body; a JSON one with a string boolean changes nothing.
	if code, _, _ := f.do(t, "POST", "/colibri/drain/enable", `{"drain": "false"}`); code != 200 || !f.drain.Drain() {
		t.Fatalf("enable with body: %d", code)
	}
	// POST /colibri/drain takes the value from the body, boolean or string.
	for _, c := range []struct {
		body string
		code int
		want bool
	}{
		{`{"drain": "false"}`, 200, false},
		{`{"drain": true}`, 200, true},
		{`{"drain": false}`, 200, false},
		{`{"drain": "TRUE"}`, 200, true},
		{`{"drain": "maybe"}`, 400, true},
		{`{}`, 400, true},
		{`[]`, 400, true},
	} {
		if code, body, _ := f.do(t, "POST", "/colibri/drain", c.body); code != c.code || f.drain.Drain() != c.want {
			t.Errorf("POST /colibri/drain %s: %d %q drain=%v, want %d drain=%v", c.body, code, body, f.drain.Drain(), c.code, c.want)
		}
	}
}

func TestBoolAcceptsStrings(t *testing.T) {
	for in, want := range map[string]bool{`true`: true, `false`: false, `"true"`: true, `" False "`: false, `"TRUE"`: true} {
		var b Bool
		if err := b.UnmarshalJSON([]byte(in)); err != nil || bool(b) != want {
			t.Errorf("%s: %v %v", in, b, err)
		}
	}
	for _, in := range []string{`1`, `"1"`, `"yes"`, `null`, `{}`, `"`, ``} {
		b := Bool(true)
		if err := b.UnmarshalJSON([]byte(in)); err == nil {
			t.Errorf("%s accepted as %v", in, b)
		}
	}
}

func TestShutdown(t *testing.T) {
	f := newFixture(t, allGates())
	for _, c := range []struct {
		body string
		code int
	}{
		{`{"graceful-shutdown": true}`, 200},
		{`{"graceful-shutdown": false}`, 200},
		{`{}`, 400},
		{`{"graceful": true}`, 400},
		{`not json`, 400},
		{``, 400},
		{`{"graceful-shutdown": "yes"}`, 400},
		{`{"graceful-shutdown": 1}`, 400},
		{`{"graceful-shutdown": null}`, 400},
		// JVB's graceful_shutdown.sh sends the boolean as a string.
		{`{ "graceful-shutdown": "true" }`, 200},
		{`{"graceful-shutdown": "False"}`, 200},
		{`{"graceful-shutdown": true, "x": ` + strings.Repeat("1", 100<<10) + `}`, 400},
	} {
		if code, body, _ := f.do(t, "POST", "/colibri/shutdown", c.body); code != c.code {
			t.Errorf("body %.40q: %d %q, want %d", c.body, code, body, c.code)
		}
	}
	if len(f.shutdowns) != 4 || !f.shutdowns[0] || f.shutdowns[1] || !f.shutdowns[2] || f.shutdowns[3] {
		t.Fatalf("shutdown calls = %v", f.shutdowns)
	}
	if code, _, _ := f.do(t, "GET", "/colibri/shutdown", ""); code != 405 {
		t.Fatalf("GET shutdown: %d", code)
	}
}

func TestDebug(t *testing.T) {
	f := newFixture(t, allGates())
	if code, body, _ := f.do(t, "GET", "/debug?full=true", ""); code != 200 || !strings.Contains(body, `"full":true`) {
		t.Fatalf("%d %q", code, body)
	}
	if code, body, _ := f.do(t, "GET", "/debug/c1", ""); code != 200 || body != `{"id":"c1"}` {
		t.Fatalf("%d %q", code, body)
	}
	if code, body, _ := f.do(t, "GET", "/debug/c1/e1", ""); code != 200 || body != `{"id":"e1"}` {
		t.Fatalf("%d %q", code, body)
	}
	if code, _, _ := f.do(t, "GET", "/debug/nope", ""); code != 404 {
		t.Fatalf("unknown conference: %d", code)
	}
	if code, _, _ := f.do(t, "GET", "/debug/c1/nope", ""); code != 404 {
		t.Fatalf("unknown endpoint: %d", code)
	}
}

func TestColibriRESTRouted(t *testing.T) {
	f := newFixture(t, allGates())
	if code, _, _ := f.do(t, "POST", "/colibri/v2/conferences", "{}"); code != http.StatusTeapot {
		t.Fatalf("colibri v2 not routed: %d", code)
	}
}

func TestGatesAnswer404(t *testing.T) {
	// Defaults of JVB: apis.rest off, shutdown off; the rest on.
	f := newFixture(t, Gates{Debug: true, Drain: true, Health: true, Prometheus: true, Version: true})
	for _, p := range []struct{ method, path string }{
		{"GET", "/colibri/stats"}, {"POST", "/colibri/shutdown"}, {"POST", "/colibri/v2/conferences"},
		{"GET", "/debug/pprof/"},
	} {
		if code, _, _ := f.do(t, p.method, p.path, `{"graceful-shutdown":true}`); code != 404 {
			t.Errorf("%s %s with apis.rest off: %d", p.method, p.path, code)
		}
	}
	if len(f.shutdowns) != 0 {
		t.Fatal("shutdown ran while gated")
	}
	if code, _, _ := f.do(t, "GET", "/colibri/drain", ""); code != 200 {
		t.Fatalf("drain is not gated by apis.rest: %d", code)
	}
	// Shutdown needs both gates.
	f = newFixture(t, Gates{Colibri: true})
	if code, _, _ := f.do(t, "POST", "/colibri/shutdown", `{"graceful-shutdown":true}`); code != 404 {
		t.Fatalf("shutdown without rest.shutdown: %d", code)
	}
	for _, p := range []string{"/about/health", "/about/version", "/metrics", "/debug", "/colibri/drain"} {
		if code, _, _ := f.do(t, "GET", p, ""); code != 404 {
			t.Errorf("%s disabled: %d", p, code)
		}
	}
}

func TestFallbackGetsOtherPaths(t *testing.T) {
	h := NewHandler(Deps{Gates: allGates(), Health: func() error { return nil },
		Fallback: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "page "+r.URL.Path) })})
	for path, want := range map[string]string{"/": "page /", "/api/join": "page /api/join", "/about/health": ""} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 || rec.Body.String() != want {
			t.Errorf("%s: %d %q, want %q", path, rec.Code, rec.Body.String(), want)
		}
	}
	// Gated-off APIs stay 404 rather than reaching the page.
	h = NewHandler(Deps{Health: func() error { return nil },
		Fallback: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "page") })})
	for _, path := range []string{"/colibri/v2/conferences", "/colibri/stats", "/about/health", "/colibri/shutdown"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", path, nil))
		if rec.Code != 404 {
			t.Errorf("gated %s reached the fallback: %d %q", path, rec.Code, rec.Body.String())
		}
	}
}

func TestPprofBehindFlag(t *testing.T) {
	g := allGates()
	g.Pprof = true
	f := newFixture(t, g)
	if code, body, _ := f.do(t, "GET", "/debug/pprof/", ""); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("pprof: %d", code)
	}
}

func TestServeStopsWithContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}), slog.New(slog.NewTextHandler(io.Discard, nil)), Limits{}, nil)
	}()
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	http.DefaultClient.CloseIdleConnections()
}
