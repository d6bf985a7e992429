// Package prosodytest runs a real prosody (Debian's prosody 0.12) for
// tests, configured like docker-jitsi-meet's auth.meet.jitsi host and
// internal-muc.meet.jitsi brewery component, on a free loopback port in a
// temporary directory, with the users jvb and focus registered. It also
// offers Focus, a minimal jicofo stand-in XMPP client.
//
// Tests skip when prosody is not installed, except when CI=true, where
// they fail. This package is for tests only; production code must never
// import it.
package prosodytest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// Names and credentials provisioned in every server.
const (
	Domain        = "auth.meet.jitsi"
	MUCDomain     = "internal-muc.meet.jitsi"
	Brewery       = "jvbbrewery@" + MUCDomain
	JVBUser       = "jvb"
	JVBPassword   = "jvbpass"
	FocusUser     = "focus"
	FocusPassword = "focuspass"
)

// Options change the generated configuration.
type Options struct {
	// PlaintextAllowed sets c2s_require_encryption = false (STARTTLS still
	// offered). The default mirrors docker: TLS required.
	PlaintextAllowed bool
	// StanzaSizeLimit sets c2s_stanza_size_limit (prosody default 256 KiB).
	StanzaSizeLimit int
}

// Server is a running prosody.
type Server struct {
	Dir  string
	Host string
	Port int
	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{}
}

// Addr is host:port of the c2s listener.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Require skips the test when prosody is not installed, or fails it when
// CI=true.
func Require(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"prosody", "prosodyctl", "openssl"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI=true but %s is not installed: %v", bin, err)
			}
			t.Skipf("%s not installed (apt-get install -y prosody); skipping", bin)
		}
	}
}

const configTemplate = `pidfile = "{{.Dir}}/prosody.pid"
data_path = "{{.Dir}}/data"
certificates = "{{.Dir}}/certs"
run_as_root = true
log = { { levels = { min = "info" }, to = "file", filename = "{{.Dir}}/prosody.log" } }

c2s_ports = { {{.Port}} }
c2s_interfaces = { "127.0.0.1" }
c2s_direct_tls_ports = {}
s2s_ports = {}
s2s_direct_tls_ports = {}
component_ports = {}
http_ports = {}
https_ports = {}
network_backend = "epoll"
{{if .StanzaLimit}}c2s_stanza_size_limit = {{.StanzaLimit}}
{{end}}
admins = { "focus@auth.meet.jitsi", "jvb@auth.meet.jitsi" }
modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "ping"; "posix"; "smacks"; }
modules_disabled = { "s2s"; "offline"; }

c2s_require_encryption = {{.RequireTLS}}
s2s_require_encryption = false
authentication = "internal_hashed"
storage = "internal"

VirtualHost "auth.meet.jitsi"
  authentication = "internal_hashed"
  ssl = { key = "{{.Dir}}/certs/auth.meet.jitsi.key"; certificate = "{{.Dir}}/certs/auth.meet.jitsi.crt"; }

Component "internal-muc.meet.jitsi" "muc"
  storage = "memory"
  modules_enabled = { "ping"; }
  restrict_room_creation = true
  muc_room_locking = false
  muc_room_default_public_jids = true
  muc_room_cache_size = 1000
  muc_tombstones = false
  muc_room_allow_persistent = false
`

// Start provisions and starts prosody; it is stopped when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	Require(t)
	dir := t.TempDir()
	for _, d := range []string{"data", "certs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	s := &Server{Dir: dir, Host: "127.0.0.1", Port: freePort(t), t: t}
	var cfg bytes.Buffer
	err := template.Must(template.New("cfg").Parse(configTemplate)).Execute(&cfg, map[string]any{
		"Dir": dir, "Port": s.Port, "RequireTLS": !opts.PlaintextAllowed, "StanzaLimit": opts.StanzaSizeLimit,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.configPath(), cfg.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
		"-subj", "/CN="+Domain, "-addext", "subjectAltName=DNS:"+Domain+",DNS:"+MUCDomain,
		"-keyout", filepath.Join(dir, "certs", Domain+".key"), "-out", filepath.Join(dir, "certs", Domain+".crt"))
	run(t, "prosodyctl", "--config", s.configPath(), "register", JVBUser, Domain, JVBPassword)
	run(t, "prosodyctl", "--config", s.configPath(), "register", FocusUser, Domain, FocusPassword)
	s.start()
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) configPath() string { return filepath.Join(s.Dir, "prosody.cfg.lua") }

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *Server) start() {
	s.t.Helper()
	out, err := os.OpenFile(filepath.Join(s.Dir, "prosody.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command("prosody", "--config", s.configPath(), "-F")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		s.t.Fatalf("start prosody: %v", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); out.Close(); close(s.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-s.done:
			s.t.Fatalf("prosody exited during startup: %s", s.Logs())
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			s.t.Fatalf("prosody not listening on %s after 10s: %s", s.Addr(), s.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills prosody (SIGKILL: memory MUC, file accounts; nothing to
// flush) and waits for it. Safe to call twice.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart stops prosody and starts it again on the same port; all MUC
// state (memory storage) is lost, as after a real restart.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Logs returns prosody's log files, for failure messages.
func (s *Server) Logs() string {
	var b strings.Builder
	for _, f := range []string{"prosody.log", "prosody.out"} {
		data, _ := os.ReadFile(filepath.Join(s.Dir, f))
		fmt.Fprintf(&b, "--- %s ---\n%s", f, data)
	}
	return b.String()
}
