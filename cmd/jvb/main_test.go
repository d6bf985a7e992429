package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"gojvb/cmd/jvb/internal/config"
	"gojvb/sfu"
)

// TestMain doubles as the jvb binary when JVB_TEST_AS_MAIN is set, so tests can exec the real
// command (with its real signal handling) without a separate go build.
func TestMain(m *testing.M) {
	if os.Getenv("JVB_TEST_AS_MAIN") == "1" {
		env := func(k string) (string, bool) {
			if k == "JVB_TEST_AS_MAIN" {
				return "", false
			}
			return os.LookupEnv(k)
		}
		os.Exit(run(os.Args[1:], env, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}

func envOf(m map[string]string) config.Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// bridge is runBridge running in-process on loopback with a signal channel the test owns.
type bridge struct {
	base string
	sfu  *sfu.Bridge
	sig  chan os.Signal
	done chan struct{} // closed when runBridge returned; code is then set
	code int
	logs *syncBuffer
}

// waitExit returns runBridge's exit code, or fails after d.
func (b *bridge) waitExit(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-b.done:
		return b.code
	case <-time.After(d):
		t.Fatal("bridge did not exit")
		return -1
	}
}

func (b *bridge) exited() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func newSyncBuffer() *syncBuffer { s := &syncBuffer{mu: make(chan struct{}, 1)}; return s }
func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.buf.Write(p)
}
func (s *syncBuffer) String() string {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.buf.String()
}

func startBridge(t *testing.T, env map[string]string, tweak func(*config.Config)) *bridge {
	t.Helper()
	cfg, err := config.Load([]string{"--http", "127.0.0.1:0", "--port", "0"}, envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(cfg)
	}
	b := &bridge{sig: make(chan os.Signal, 2), done: make(chan struct{}), logs: newSyncBuffer()}
	ready := make(chan struct{})
	log := slog.New(slog.NewTextHandler(b.logs, nil))
	go func() {
		defer close(b.done)
		b.code = runBridge(context.Background(), cfg, log, b.sig, func(addr net.Addr, s *sfu.Bridge) {
			b.base, b.sfu = "http://"+addr.String(), s
			close(ready)
		})
	}()
	select {
	case <-ready:
	case <-b.done:
		t.Fatalf("bridge exited with %d: %s", b.code, b.logs.String())
	case <-time.After(10 * time.Second):
		t.Fatal("bridge did not start")
	}
	t.Cleanup(func() {
		if !b.exited() {
			b.sig <- syscall.SIGINT
			select {
			case <-b.done:
			case <-time.After(10 * time.Second):
				t.Error("bridge did not exit on SIGINT")
			}
		}
		http.DefaultClient.CloseIdleConnections()
	})
	return b
}

func (b *bridge) do(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, b.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func (b *bridge) metrics(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := b.do(t, "GET", "/metrics", "")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

func metricValue(t *testing.T, fams map[string]*dto.MetricFamily, name string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil || len(f.Metric) == 0 {
		t.Fatalf("no %s in /metrics", name)
	}
	if g := f.Metric[0].Gauge; g != nil {
		return g.GetValue()
	}
	return f.Metric[0].Counter.GetValue()
}

// stats polls /colibri/stats until cond holds (it is regenerated every stats interval).
func (b *bridge) stats(t *testing.T, cond func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := b.do(t, "GET", "/colibri/stats", "")
		var m map[string]any
		if code != 200 || json.Unmarshal([]byte(body), &m) != nil {
			t.Fatalf("/colibri/stats: %d %q", code, body)
		}
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("/colibri/stats never matched: %v", m)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// createEndpoint is jicofo's allocation request for one endpoint; create also creates the
// conference.
func createEndpoint(meeting, id string, create bool) string {
	return fmt.Sprintf(`{"meeting-id":%q,"name":"room@muc.example","create":%v,"endpoints":[{"create":true,"id":%q,"stats-id":%q,
		"medias":[{"type":"audio","payload-types":[{"name":"opus","id":"111","channels":"2","clockrate":"48000"}]}],
		"transport":{"ice-controlling":true},"capabilities":["source-names"]}]}`, meeting, create, id, id)
}

// createEndpoints allocates ids in meeting (a new conference) and returns the first failure.
func (b *bridge) createEndpoints(t *testing.T, meeting string, ids ...string) (int, string) {
	t.Helper()
	for i, id := range ids {
		if code, body := b.do(t, "POST", "/colibri/v2/conferences", createEndpoint(meeting, id, i == 0)); code != 200 {
			return code, body
		}
	}
	return 200, ""
}

func expireEndpoint(meeting, id string) string {
	return fmt.Sprintf(`{"meeting-id":%q,"endpoints":[{"id":%q,"expire":true}]}`, meeting, id)
}

var restEnv = map[string]string{
	"COLIBRI_REST_ENABLED":  "true",
	"SHUTDOWN_REST_ENABLED": "true",
	"JVB_ADVERTISE_IPS":     "192.0.2.1", // a usable address whatever the test host has
}

func fastStats(c *config.Config) { c.StatsInterval = 50 * time.Millisecond }

// TestEndpointsMoveMetricsStatsAndDebug drives the bridge through COLIBRI2 REST and watches
// /metrics, /colibri/stats and /debug follow endpoints joining and leaving.
func TestEndpointsMoveMetricsStatsAndDebug(t *testing.T) {
	b := startBridge(t, restEnv, fastStats)
	if code, body := b.do(t, "GET", "/about/health", ""); code != 200 || body != "" {
		t.Fatalf("health: %d %q", code, body)
	}
	code, body := b.do(t, "GET", "/about/version", "")
	if code != 200 || !strings.Contains(body, `"name":"JVB"`) || !strings.Contains(body, `"os":"Linux"`) {
		t.Fatalf("version: %d %q", code, body)
	}
	fams := b.metrics(t)
	if metricValue(t, fams, "jitsi_jvb_local_endpoints") != 0 || metricValue(t, fams, "jitsi_jvb_healthy") != 1 {
		t.Fatal("fresh bridge metrics wrong")
	}

	if code, body := b.createEndpoints(t, "m1", "a", "b", "c"); code != 200 {
		t.Fatalf("create: %d %s", code, body)
	}
	fams = b.metrics(t)
	if metricValue(t, fams, "jitsi_jvb_conferences") != 1 || metricValue(t, fams, "jitsi_jvb_local_endpoints") != 3 ||
		metricValue(t, fams, "jitsi_jvb_endpoints_total") != 3 || metricValue(t, fams, "jitsi_jvb_conferences_created_total") != 1 {
		t.Fatal("metrics did not follow 3 endpoints joining")
	}
	b.stats(t, func(m map[string]any) bool { return m["conferences"] == float64(1) && m["endpoints"] == float64(3) })

	code, body = b.do(t, "GET", "/debug", "")
	var dbg struct {
		Conferences map[string]struct {
			MeetingID string                     `json:"meeting_id"`
			Endpoints map[string]json.RawMessage `json:"endpoints"`
		} `json:"conferences"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &dbg) != nil || len(dbg.Conferences) != 1 {
		t.Fatalf("/debug: %d %s", code, body)
	}
	for id, c := range dbg.Conferences {
		if c.MeetingID != "m1" || len(c.Endpoints) != 3 {
			t.Fatalf("/debug conference: %+v", c)
		}
		if code, _ := b.do(t, "GET", "/debug/"+id+"/b", ""); code != 200 {
			t.Fatalf("/debug/%s/b: %d", id, code)
		}
		if code, _ := b.do(t, "GET", "/debug/"+id+"/zz", ""); code != 404 {
			t.Fatalf("/debug unknown endpoint: %d", code)
		}
	}

	if code, body := b.do(t, "POST", "/colibri/v2/conferences", expireEndpoint("m1", "a")); code != 200 {
		t.Fatalf("expire: %d %s", code, body)
	}
	fams = b.metrics(t)
	if metricValue(t, fams, "jitsi_jvb_local_endpoints") != 2 || metricValue(t, fams, "jitsi_jvb_endpoints_total") != 3 {
		t.Fatal("metrics did not follow an endpoint leaving")
	}
	b.stats(t, func(m map[string]any) bool { return m["endpoints"] == float64(2) })
}

// TestRelayIDAnnouncedWithOcto: with ENABLE_OCTO the bridge announces relay_id and region and
// creates relays; without it, relay requests are refused as JVB refuses them.
func TestRelayIDAnnouncedWithOcto(t *testing.T) {
	env := map[string]string{"ENABLE_OCTO": "1", "JVB_OCTO_REGION": "eu-test", "JVB_OCTO_RELAY_ID": "relay-a"}
	for k, v := range restEnv {
		env[k] = v
	}
	b := startBridge(t, env, fastStats)
	st := b.stats(t, func(m map[string]any) bool { return m["region"] == "eu-test" })
	if st["relay_id"] != "relay-a" {
		t.Fatalf("relay_id %v, want relay-a", st["relay_id"])
	}
	code, body := b.do(t, "POST", "/colibri/v2/conferences",
		`{"meeting-id":"m-relay","create":true,"relays":[{"id":"relay-b","create":true,"transport":{"ice-controlling":true,"use-unique-port":true,"sctp":{"role":"client"}}}]}`)
	if code != http.StatusOK || !strings.Contains(body, `"ufrag"`) || !strings.Contains(body, `"role":"server"`) {
		t.Fatalf("relay create: %d %q", code, body)
	}
	b.stats(t, func(m map[string]any) bool {
		return m["total_relays"] == float64(1) && m["octo_conferences"] == float64(1)
	})

	plain := startBridge(t, restEnv, fastStats)
	st = plain.stats(t, func(map[string]any) bool { return true })
	if _, ok := st["relay_id"]; ok {
		t.Fatalf("relay_id announced without ENABLE_OCTO: %v", st)
	}
	code, body = plain.do(t, "POST", "/colibri/v2/conferences",
		`{"meeting-id":"m-relay","create":true,"relays":[{"id":"relay-b","create":true}]}`)
	if code != http.StatusBadRequest || !strings.Contains(body, "Octo") {
		t.Fatalf("relay create without ENABLE_OCTO: %d %q", code, body)
	}
}

// TestGracefulShutdownWalksTheStates: REST graceful shutdown rejects new conferences, flags
// graceful_shutdown, goes SHUTTING_DOWN at min participants and exits 0 when the last leaves.
func TestGracefulShutdownWalksTheStates(t *testing.T) {
	b := startBridge(t, restEnv, func(c *config.Config) {
		fastStats(c)
		c.Shutdown.MinParticipants = 1
	})
	if code, body := b.createEndpoints(t, "m1", "a", "b"); code != 200 {
		t.Fatalf("create: %d %s", code, body)
	}
	b.stats(t, func(m map[string]any) bool {
		return m["graceful_shutdown"] == false && m["shutting_down"] == false && m["drain"] == false
	})
	if code, _ := b.do(t, "POST", "/colibri/drain/enable", ""); code != 200 {
		t.Fatalf("drain: %d", code)
	}
	b.stats(t, func(m map[string]any) bool { return m["drain"] == true && m["graceful_shutdown"] == false })

	if code, body := b.do(t, "POST", "/colibri/shutdown", `{"graceful-shutdown": true}`); code != 200 {
		t.Fatalf("shutdown: %d %s", code, body)
	}
	b.stats(t, func(m map[string]any) bool { return m["graceful_shutdown"] == true && m["shutting_down"] == false })
	if v := metricValue(t, b.metrics(t), "jitsi_jvb_graceful_shutdown"); v != 1 {
		t.Fatalf("jitsi_jvb_graceful_shutdown = %v", v)
	}
	if code, body := b.createEndpoints(t, "m2", "x"); code == 200 {
		t.Fatalf("new conference accepted during graceful shutdown: %s", body)
	}

	// 2 endpoints > min 1: still graceful. One leaves: 1 <= 1, SHUTTING_DOWN with one left.
	b.do(t, "POST", "/colibri/v2/conferences", expireEndpoint("m1", "a"))
	b.stats(t, func(m map[string]any) bool { return m["shutting_down"] == true })
	if v := metricValue(t, b.metrics(t), "jitsi_jvb_shutting_down"); v != 1 {
		t.Fatalf("jitsi_jvb_shutting_down = %v", v)
	}
	if b.exited() {
		t.Fatalf("exited (%d) with an endpoint left before the delay", b.code)
	}
	b.do(t, "POST", "/colibri/v2/conferences", expireEndpoint("m1", "b"))
	if code := b.waitExit(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

func TestSIGTERMGracefulThenSecondSignalExitsNow(t *testing.T) {
	b := startBridge(t, restEnv, fastStats)
	if code, body := b.createEndpoints(t, "m1", "a"); code != 200 {
		t.Fatalf("create: %d %s", code, body)
	}
	b.sig <- syscall.SIGTERM
	b.stats(t, func(m map[string]any) bool { return m["graceful_shutdown"] == true })
	select { // a negative check: it must still be running a while later
	case <-b.done:
		t.Fatal("exited on the first SIGTERM with an endpoint present")
	case <-time.After(200 * time.Millisecond):
	}
	b.sig <- syscall.SIGTERM
	if code := b.waitExit(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

func TestRESTGatesFollowEnv(t *testing.T) {
	b := startBridge(t, map[string]string{"JVB_ADVERTISE_IPS": "192.0.2.1"}, nil)
	for _, p := range []struct{ method, path string }{
		{"GET", "/colibri/stats"}, {"POST", "/colibri/shutdown"}, {"POST", "/colibri/v2/conferences"},
	} {
		if code, _ := b.do(t, p.method, p.path, `{"graceful-shutdown":true}`); code != 404 {
			t.Errorf("%s %s without COLIBRI_REST_ENABLED: %d", p.method, p.path, code)
		}
	}
	if code, body := b.do(t, "GET", "/colibri/drain", ""); code != 200 || body != `{"drain":false}` {
		t.Fatalf("drain: %d %q", code, body)
	}
	// Without XMPP the standalone page is served at /.
	if code, body := b.do(t, "GET", "/", ""); code != 200 || !strings.Contains(strings.ToLower(body), "<html") {
		t.Fatalf("standalone page: %d %.80q", code, body)
	}
}

func TestBadConfigurationRefusesToStart(t *testing.T) {
	var out bytes.Buffer
	code := run([]string{"--port", "x"}, envOf(map[string]string{"JVB_ADVERTISE_IPS": "no pe"}), &out)
	if code != exitConfig {
		t.Fatalf("exit code %d, want %d", code, exitConfig)
	}
	for _, want := range []string{"refusing to start", "--port", "JVB_ADVERTISE_IPS", `"no pe"`, "IP address"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output %q lacks %q", out.String(), want)
		}
	}
	out.Reset()
	if code := run([]string{"-h"}, envOf(nil), &out); code != 0 || !strings.Contains(out.String(), "--log-format") {
		t.Fatalf("-h: %d %q", code, out.String())
	}
}

func TestHealthcheckSubcommand(t *testing.T) {
	b := startBridge(t, restEnv, nil)
	addr := strings.TrimPrefix(b.base, "http://")
	var out bytes.Buffer
	if code := run([]string{"healthcheck", "--http", addr}, envOf(nil), &out); code != 0 {
		t.Fatalf("healthy bridge: %d %s", code, out.String())
	}
	// A port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	if code := run([]string{"healthcheck", "--http", dead}, envOf(nil), &out); code != exitFailed {
		t.Fatalf("dead bridge: %d", code)
	}
	if got := loopbackFor("0.0.0.0:8080"); got != "127.0.0.1:8080" {
		t.Fatalf("loopbackFor = %s", got)
	}
	if got := loopbackFor("[::]:8080"); got != "[::1]:8080" {
		t.Fatalf("loopbackFor = %s", got)
	}
}

// TestNoConfigurationStartsAndExplains execs the command with an empty environment: it must
// start without XMPP, say how to connect it to prosody, serve health, and exit 0 on SIGTERM.
func TestNoConfigurationStartsAndExplains(t *testing.T) {
	// Port 0: the bridge logs where it listens. (A port picked here and closed again could be
	// taken by a parallel test's connection before the bridge binds it.)
	cmd := exec.Command(os.Args[0], "--http", "127.0.0.1:0", "--port", "0")
	cmd.Env = []string{"JVB_TEST_AS_MAIN=1", "PATH=" + os.Getenv("PATH")}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var seen []string
	var explained bool
	var httpAddr string
	deadline := time.After(20 * time.Second)
	const wanted = "XMPP disabled: set JVB_AUTH_PASSWORD and XMPP_SERVER to connect to prosody"
	pageAt := regexp.MustCompile(`standalone mode: open http://([^/ ]+)/`)
	for !explained || httpAddr == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("exited early: %v", seen)
			}
			seen = append(seen, l)
			if strings.Contains(l, wanted) {
				explained = true
			}
			if m := pageAt.FindStringSubmatch(l); m != nil {
				httpAddr = m[1]
			}
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("no %q and standalone page address in %v", wanted, seen)
		}
	}
	resp, err := http.Get("http://" + httpAddr + "/about/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The test host may lack a non-loopback address; anything but a crash is fine here.
	if resp.StatusCode != 200 && resp.StatusCode != 500 {
		t.Fatalf("health: %d", resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		seen = append(seen, l)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, strings.Join(seen, "\n"))
	}
	if !strings.Contains(strings.Join(seen, "\n"), "shutdown complete") {
		t.Fatalf("no shutdown log: %v", seen)
	}
}
