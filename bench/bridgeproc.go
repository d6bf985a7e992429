package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// BridgeProcess is a bridge binary started by the load test, so its CPU and memory can be read
// from /proc/<pid>.
type BridgeProcess struct {
	URL    string // private HTTP base URL (COLIBRI2 REST, /metrics)
	cmd    *exec.Cmd
	done   chan struct{}
	err    error
	stderr *tailBuffer
}

// BridgeConfig says how to start a bridge binary.
type BridgeConfig struct {
	Binary string   // path to the cmd/jvb binary
	Env    []string // extra KEY=VALUE on top of the defaults below
	Args   []string // extra command-line flags, e.g. --pprof
	HTTP   string   // private HTTP HOST:PORT passed as --http; "" = 127.0.0.1:0 (port 0: read from the log)
	// XMPP, when set, connects the bridge to this prosody under XMPP.BridgeNick (which must be
	// set) with REST COLIBRI2 off, instead of REST only.
	XMPP    *XMPPConfig
	Logger  *slog.Logger
	Timeout time.Duration // to become ready (default 20s)
}

// BuildBridge compiles ./cmd/jvb of the module rooted at moduleDir into dir and returns the path.
func BuildBridge(ctx context.Context, moduleDir, dir string) (string, error) {
	out := filepath.Join(dir, "jvb")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/jvb")
	cmd.Dir = moduleDir
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/jvb in %s: %w: %s", moduleDir, err, bytes.TrimSpace(b))
	}
	return out, nil
}

// StartBridge execs the bridge with a loopback media port, COLIBRI_REST_ENABLED=true and XMPP
// off (or, with cfg.XMPP, the jitsi/jvb XMPP variables and REST COLIBRI2 off), and waits until its
// private HTTP server answers. The bridge binds port 0 for media (and for HTTP unless cfg.HTTP
// says otherwise) and StartBridge reads the ports it got from its "bridge started" log line: a
// port picked here and closed again could be taken by another process before the bridge binds it.
func StartBridge(ctx context.Context, cfg BridgeConfig) (*BridgeProcess, error) {
	if cfg.HTTP == "" {
		cfg.HTTP = "127.0.0.1:0"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 20 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.XMPP != nil && cfg.XMPP.BridgeNick == "" {
		return nil, errors.New("start bridge: XMPP.BridgeNick is empty; the bridge needs a known nick in the brewery")
	}
	env := append(os.Environ(),
		"JVB_ADVERTISE_IPS=127.0.0.1",
		"JVB_ADVERTISE_PRIVATE_CANDIDATES=true",
	)
	if cfg.XMPP != nil {
		env = append(env, cfg.XMPP.bridgeEnv(cfg.XMPP.BridgeNick)...)
	} else {
		env = append(env, "COLIBRI_REST_ENABLED=true", "JVB_DISABLE_XMPP=true")
	}
	env = append(env, cfg.Env...)
	args := append([]string{"--http", cfg.HTTP, "--port", "0"}, cfg.Args...)
	cmd := exec.Command(cfg.Binary, args...)
	cmd.Env = env
	tail := &tailBuffer{max: 16 << 10}
	started := &startWatcher{found: make(chan startedLine, 1)}
	out := io.MultiWriter(tail, started)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = stopWithParent()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start bridge %s: %w", cfg.Binary, err)
	}
	p := &BridgeProcess{cmd: cmd, done: make(chan struct{}), stderr: tail}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()

	deadline := time.Now().Add(cfg.Timeout)
	timeout := time.NewTimer(cfg.Timeout)
	defer timeout.Stop()
	select {
	case sl := <-started.found:
		p.URL = "http://" + sl.http
		log.Info("bridge started", "pid", cmd.Process.Pid, "binary", cfg.Binary, "media", sl.udp, "url", p.URL)
	case <-p.done:
		return nil, fmt.Errorf("bridge exited before it was ready (%v): %s", p.err, tail.String())
	case <-ctx.Done():
		p.Stop()
		return nil, ctx.Err()
	case <-timeout.C:
		p.Stop()
		return nil, fmt.Errorf("bridge logged no \"bridge started\" line with http= after %v; output: %s", cfg.Timeout, tail.String())
	}

	hc := &http.Client{Timeout: time.Second}
	for {
		resp, err := hc.Get(p.URL + "/about/health")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return p, nil
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("bridge not answering %s after %v: %w; output: %s", p.URL, cfg.Timeout, err, tail.String())
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("bridge exited before it was ready (%v): %s", p.err, tail.String())
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// startedLine is what the bridge's "bridge started" log line says about where it listens.
type startedLine struct{ http, udp string }

var (
	textAttr = regexp.MustCompile(`(?:^| )(http|udp)=(\S+)`)
	jsonAttr = regexp.MustCompile(`"(http|udp)":"([^"]+)"`)
)

// parseStartedLine reads the HTTP and UDP addresses from the bridge's "bridge started" line, in
// the text or the JSON log format; ok is false for any other line. An unspecified HTTP host
// (0.0.0.0, ::) becomes the loopback address, where it can be dialled.
func parseStartedLine(line string) (sl startedLine, ok bool) {
	var attrs [][]string
	switch {
	case strings.Contains(line, `msg="bridge started"`):
		attrs = textAttr.FindAllStringSubmatch(line, -1)
	case strings.Contains(line, `"msg":"bridge started"`):
		attrs = jsonAttr.FindAllStringSubmatch(line, -1)
	default:
		return sl, false
	}
	for _, a := range attrs {
		v := strings.Trim(a[2], `"`)
		if a[1] == "http" {
			sl.http = v
		} else {
			sl.udp = v
		}
	}
	if sl.http == "" {
		return sl, false
	}
	if ap, err := netip.ParseAddrPort(sl.http); err == nil && ap.Addr().IsUnspecified() {
		lo := netip.MustParseAddr("127.0.0.1")
		if ap.Addr().Is6() {
			lo = netip.IPv6Loopback()
		}
		sl.http = netip.AddrPortFrom(lo, ap.Port()).String()
	}
	return sl, true
}

// startWatcher is written the bridge's output and hands over the first "bridge started" line.
type startWatcher struct {
	mu    sync.Mutex
	line  []byte // the current incomplete line
	done  bool
	found chan startedLine // buffered 1
}

func (w *startWatcher) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return len(b), nil
	}
	rest := b
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			if len(w.line) < 64<<10 { // a line this long is not the one looked for
				w.line = append(w.line, rest...)
			}
			break
		}
		w.line = append(w.line, rest[:i]...)
		rest = rest[i+1:]
		if sl, ok := parseStartedLine(string(w.line)); ok {
			w.done, w.line = true, nil
			w.found <- sl
			break
		}
		w.line = w.line[:0]
	}
	return len(b), nil
}

// PID is the bridge's process id.
func (p *BridgeProcess) PID() int { return p.cmd.Process.Pid }

// Output returns the last lines the bridge wrote.
func (p *BridgeProcess) Output() string { return p.stderr.String() }

// Stop sends SIGTERM, then SIGKILL after 5 s, and waits for the process to exit.
func (p *BridgeProcess) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > t.max {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-t.max:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// resourceSample is the bridge's cumulative CPU time and current memory at one instant.
type resourceSample struct {
	at       time.Time
	cpu      time.Duration
	rssBytes uint64
}

// resourceProbe reads a bridge's CPU and RSS: from the kernel when the pid is local, else
// from the bridge's Prometheus /metrics (process_cpu_seconds_total, process_resident_memory_bytes).
type resourceProbe struct {
	pid    int
	url    string
	hc     *http.Client
	source string
}

func newResourceProbe(pid int, baseURL string) *resourceProbe {
	r := &resourceProbe{pid: pid, url: strings.TrimRight(baseURL, "/"), hc: &http.Client{Timeout: 3 * time.Second}}
	if pid > 0 {
		r.source = "proc"
	} else {
		r.source = "metrics"
	}
	return r
}

func (r *resourceProbe) sample(ctx context.Context) (resourceSample, error) {
	if r.pid > 0 {
		return procSample(r.pid)
	}
	return r.metricsSample(ctx)
}

// procSample reads the process CPU clock (ns resolution; falls back to /proc/<pid>/stat ticks)
// and VmRSS from /proc/<pid>/status.
func procSample(pid int) (resourceSample, error) {
	s := resourceSample{at: time.Now()}
	if cpu, ok := processCPU(pid); ok {
		s.cpu = cpu
	} else {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return s, fmt.Errorf("read bridge CPU: %w", err)
		}
		// Fields after the ")" of comm: state is field 3, utime 14, stime 15.
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			return s, errors.New("short /proc stat")
		}
		ut, _ := strconv.ParseUint(f[11], 10, 64)
		st, _ := strconv.ParseUint(f[12], 10, 64)
		s.cpu = time.Duration(ut+st) * (time.Second / 100) // USER_HZ is 100 on Linux
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("read bridge memory: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			s.rssBytes = kb * 1024
		}
	}
	return s, nil
}

func (r *resourceProbe) metricsSample(ctx context.Context) (resourceSample, error) {
	s := resourceSample{at: time.Now()}
	resp, err := r.scrape(ctx)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	var haveCPU, haveRSS bool
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if name, val, ok := strings.Cut(line, " "); ok {
			switch name {
			case "process_cpu_seconds_total":
				v, err := strconv.ParseFloat(strings.Fields(val)[0], 64)
				if err == nil {
					s.cpu, haveCPU = time.Duration(v*float64(time.Second)), true
				}
			case "process_resident_memory_bytes":
				v, err := strconv.ParseFloat(strings.Fields(val)[0], 64)
				if err == nil {
					s.rssBytes, haveRSS = uint64(v), true
				}
			}
		}
	}
	if !haveCPU || !haveRSS {
		return s, fmt.Errorf("%s/metrics has no process_cpu_seconds_total/process_resident_memory_bytes", r.url)
	}
	return s, nil
}

// dropCounters scrapes jitsi_jvb_dropped_packets_total{reason=...} from the bridge's /metrics,
// so a run can tell packets the bridge dropped (and why) from packets lost on the way.
func (r *resourceProbe) dropCounters(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := r.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s/metrics: %w", r.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s/metrics: HTTP %d", r.url, resp.StatusCode)
	}
	out := map[string]float64{}
	const prefix = `jitsi_jvb_dropped_packets_total{reason="`
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		reason, val, ok := strings.Cut(rest, `"}`)
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			out[reason] = v
		}
	}
	return out, sc.Err()
}

// udpSocketDrops sums the kernel's per-socket drop counter (/proc/<pid>/net/udp{,6}, last
// column) over the UDP sockets process pid has open: datagrams lost because that process did
// not read them fast enough (receive buffer full).
func udpSocketDrops(pid int) (uint64, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, fmt.Errorf("list sockets of pid %d: %w", pid, err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err != nil {
			continue
		}
		if in, ok := strings.CutPrefix(l, "socket:["); ok {
			inodes[strings.TrimSuffix(in, "]")] = true
		}
	}
	var total uint64
	for _, f := range []string{"udp", "udp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			continue
		}
		for i, line := range strings.Split(string(b), "\n") {
			fl := strings.Fields(line)
			if i == 0 || len(fl) < 13 || !inodes[fl[9]] {
				continue
			}
			d, _ := strconv.ParseUint(fl[len(fl)-1], 10, 64)
			total += d
		}
	}
	return total, nil
}

// scrape GETs the bridge's /metrics in the text format; the caller closes the body of an OK
// response.
func (r *resourceProbe) scrape(ctx context.Context) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := r.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s/metrics: %w", r.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("scrape %s/metrics: HTTP %d", r.url, resp.StatusCode)
	}
	return resp, nil
}
