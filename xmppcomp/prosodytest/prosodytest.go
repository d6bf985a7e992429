// Package prosodytest runs a real prosody (Debian's prosody 0.12) for
// tests, configured like docker-jitsi-meet's auth.meet.jitsi host and
// internal-muc.meet.jitsi brewery component, on a free loopback port in a
// temporary directory, with the users jvb and focus registered. It also
// offers Focus, a minimal jicofo stand-in XMPP client.
//
// Tests skip when prosody is not installed, except when CI=true, where
// they fail. Launch and DialWith are the same without a testing.TB, for
// test tools such as jvb-bench. The bridge itself (sfu, colibri, xmppcomp,
// cmd/jvb) must never import this package outside its tests.
package prosodytest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
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

// Server is a running prosody owned by a test: a Process stopped when the test ends.
type Server struct {
	*Process
	t testing.TB
}

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

// Start provisions and starts prosody (as Launch does) in a temporary directory; it is
// stopped when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := Launch(ctx, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return &Server{Process: p, t: t}
}

// Restart stops prosody and starts it again on the same port; all MUC
// state (memory storage) is lost, as after a real restart.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The port must stay the same (clients are configured with it). If a connection took it as
	// its source port meanwhile, wait for that one to go away.
	for attempt := 1; ; attempt++ {
		err := s.start(ctx, filepath.Join(s.Dir, "prosody.cfg.lua"))
		if err == nil {
			return
		}
		if !errors.Is(err, errPortInUse) || attempt == 10 {
			s.t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
