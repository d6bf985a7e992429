package config

import (
	"errors"
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) Env {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNoConfigurationRunsWithoutXMPP(t *testing.T) {
	cfg, err := Load(nil, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.XMPP) != 0 {
		t.Fatalf("XMPP configured without any settings: %+v", cfg.XMPP)
	}
	if !strings.Contains(cfg.XMPPOff, "JVB_AUTH_PASSWORD") || !strings.Contains(cfg.XMPPOff, "XMPP_SERVER") {
		t.Fatalf("XMPPOff does not tell how to connect: %q", cfg.XMPPOff)
	}
	if cfg.Port != 10000 || cfg.HTTPAddr != "127.0.0.1:8080" || cfg.StatsInterval != 5*time.Second ||
		cfg.PresenceInterval != 5*time.Second || cfg.Shutdown.MaxDuration != 24*time.Hour ||
		cfg.Shutdown.ShuttingDownDelay != time.Minute || !cfg.AdvertisePrivateCandidates ||
		cfg.REST.Colibri || cfg.REST.Shutdown || !cfg.REST.Health || cfg.LogFormat != "text" || !cfg.SCTP {
		t.Fatalf("defaults differ from jitsi/jvb: %+v", cfg)
	}
}

func TestEnvLikeDockerImage(t *testing.T) {
	cfg, err := Load(nil, envOf(map[string]string{
		"XMPP_SERVER":                      "xmpp.meet.jitsi, backup.example:5269",
		"JVB_AUTH_PASSWORD":                "s3cret",
		"JVB_PORT":                         "10001",
		"JVB_ADVERTISE_IPS":                "203.0.113.7,2001:db8::1#30000",
		"JVB_ADVERTISE_PRIVATE_CANDIDATES": "false",
		"COLIBRI_REST_ENABLED":             "1",
		"SHUTDOWN_REST_ENABLED":            "true",
		"HOSTNAME":                         "jvb-host",
		"ENABLE_OCTO":                      "1",
		"JVB_OCTO_RELAY_ID":                "relay-a",
		"JVB_STUN_SERVERS":                 "stun.example:443",
		"XMPP_AUTH_DOMAIN":                 "",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := []XMPPClient{
		{ID: "shard0", Hostname: "xmpp.meet.jitsi", Port: 5222, Domain: "auth.meet.jitsi", Username: "jvb",
			Password: "s3cret", MUCJIDs: []string{"jvbbrewery@internal-muc.meet.jitsi"}, MUCNickname: "jvb-host",
			DisableCertificateVerification: true},
		{ID: "shard1", Hostname: "backup.example", Port: 5269, Domain: "auth.meet.jitsi", Username: "jvb",
			Password: "s3cret", MUCJIDs: []string{"jvbbrewery@internal-muc.meet.jitsi"}, MUCNickname: "jvb-host",
			DisableCertificateVerification: true},
	}
	if !reflect.DeepEqual(cfg.XMPP, want) {
		t.Fatalf("xmpp:\n got %+v\nwant %+v", cfg.XMPP, want)
	}
	if cfg.XMPPOff != "" {
		t.Fatalf("XMPPOff = %q with a password set", cfg.XMPPOff)
	}
	wantAdv := []AdvertisedAddr{{IP: netip.MustParseAddr("203.0.113.7")}, {IP: netip.MustParseAddr("2001:db8::1"), Port: 30000}}
	if !reflect.DeepEqual(cfg.Advertised, wantAdv) {
		t.Fatalf("advertised = %v", cfg.Advertised)
	}
	if cfg.Port != 10001 || cfg.AdvertisePrivateCandidates || !cfg.REST.Colibri || !cfg.REST.Shutdown {
		t.Fatalf("env not applied: %+v", cfg)
	}
	if cfg.Relay != (Relay{Enabled: true, Region: "europe", RelayID: "relay-a"}) {
		t.Fatalf("relay = %+v", cfg.Relay)
	}
	if len(cfg.Ignored) != 0 || !reflect.DeepEqual(cfg.STUNServers, []string{"stun.example:443"}) {
		t.Fatalf("ignored = %v, stun = %v", cfg.Ignored, cfg.STUNServers)
	}
}

func TestEnvSeparateJVBXMPPServerAndDisable(t *testing.T) {
	cfg, err := Load(nil, envOf(map[string]string{
		"JVB_AUTH_PASSWORD": "p", "ENABLE_JVB_XMPP_SERVER": "true", "JVB_MUC_NICKNAME": "nick",
	}))
	if err != nil {
		t.Fatal(err)
	}
	x := cfg.XMPP[0]
	if x.Hostname != "xmpp.jvb.meet.jitsi" || x.Port != 6222 || x.Domain != "auth.jvb.meet.jitsi" ||
		x.MUCJIDs[0] != "jvbbrewery@muc.jvb.meet.jitsi" || x.MUCNickname != "nick" {
		t.Fatalf("ENABLE_JVB_XMPP_SERVER: %+v", x)
	}
	cfg, err = Load(nil, envOf(map[string]string{"JVB_AUTH_PASSWORD": "p", "JVB_DISABLE_XMPP": "1"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.XMPP) != 0 || !strings.Contains(cfg.XMPPOff, "JVB_DISABLE_XMPP") {
		t.Fatalf("JVB_DISABLE_XMPP: %+v %q", cfg.XMPP, cfg.XMPPOff)
	}
}

func TestDockerHostAddressIsLegacyAlias(t *testing.T) {
	cfg, err := Load(nil, envOf(map[string]string{"DOCKER_HOST_ADDRESS": "198.51.100.2"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Advertised) != 1 || cfg.Advertised[0].IP != netip.MustParseAddr("198.51.100.2") {
		t.Fatalf("advertised = %v", cfg.Advertised)
	}
	cfg, err = Load(nil, envOf(map[string]string{"DOCKER_HOST_ADDRESS": "198.51.100.2", "JVB_ADVERTISE_IPS": "198.51.100.3"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Advertised[0].IP != netip.MustParseAddr("198.51.100.3") {
		t.Fatalf("JVB_ADVERTISE_IPS must win over DOCKER_HOST_ADDRESS: %v", cfg.Advertised)
	}
}

const sampleConf = `
videobridge {
  ice {
    udp { port = 20000 }
    advertise-private-candidates = false
  }
  http-servers {
    private {
      host = 0.0.0.0
      port = 9090
    }
  }
  apis {
    rest.enabled = true
    xmpp-client {
      configs {
        main {
          HOSTNAME = "prosody.local"
          PORT = "5223"
          DOMAIN = "auth.example"
          USERNAME = "jvb"
          PASSWORD = "from-file"
          MUC_JIDS = "a@muc.example, b@muc.example"
          MUC_NICKNAME = "n1"
          DISABLE_CERTIFICATE_VERIFICATION = true
          IQ_HANDLER_MODE = "sync"
        }
      }
    }
  }
  shutdown {
    graceful-shutdown-max-duration = 2 hours
    graceful-shutdown-min-participants = 3
    shutting-down-delay = "30 seconds"
  }
  stats.interval = 10 seconds
  entity-expiration.timeout = 90000
  initial-drain-mode = true
  relay { enabled = true, region = "us-east", relay-id = "r1" }
  version.release = "42"
  sctp.use-usrsctp = false
  sctp.enabled = false
  some.unknown.key = [1, 2, 3]
}
ice4j.harvest.mapping.static-mappings = [
  { local-address = "10.0.0.5", public-address = "192.0.2.10", local-port = 20000, public-port = 443, name = "ip-0" }
]
`

func TestFileOnly(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "jvb.conf", sampleConf)
	cfg, err := Load([]string{"--config", p}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 20000 || cfg.AdvertisePrivateCandidates || cfg.HTTPAddr != "0.0.0.0:9090" || !cfg.REST.Colibri ||
		cfg.Shutdown != (Shutdown{MaxDuration: 2 * time.Hour, MinParticipants: 3, ShuttingDownDelay: 30 * time.Second}) ||
		cfg.StatsInterval != 10*time.Second || cfg.PresenceInterval != 10*time.Second ||
		cfg.EntityExpiration != 90*time.Second || !cfg.InitialDrain || cfg.Release != "42" || cfg.SCTP ||
		cfg.Relay != (Relay{Enabled: true, Region: "us-east", RelayID: "r1"}) {
		t.Fatalf("file not applied: %+v", cfg)
	}
	if len(cfg.Advertised) != 1 || cfg.Advertised[0] != (AdvertisedAddr{IP: netip.MustParseAddr("192.0.2.10"), Port: 443,
		Local: netip.MustParseAddr("10.0.0.5"), LocalPort: 20000}) {
		t.Fatalf("static mappings: %v", cfg.Advertised)
	}
	want := XMPPClient{ID: "main", Hostname: "prosody.local", Port: 5223, Domain: "auth.example", Username: "jvb",
		Password: "from-file", MUCJIDs: []string{"a@muc.example", "b@muc.example"}, MUCNickname: "n1",
		DisableCertificateVerification: true}
	if len(cfg.XMPP) != 1 || !reflect.DeepEqual(cfg.XMPP[0], want) {
		t.Fatalf("xmpp = %+v", cfg.XMPP)
	}
}

// TestXMPPPropertyNamesIgnoreCase: jicoco stores the connection properties upper-cased, so
// lower-case names in jvb.conf configure the connection too.
func TestXMPPPropertyNamesIgnoreCase(t *testing.T) {
	p := writeFile(t, t.TempDir(), "jvb.conf", `videobridge.apis.xmpp-client.configs.lc {
  hostname = "prosody.local", port = 5223, domain = "auth.example", username = "jvb", password = "pw",
  muc_jids = "a@muc.example", Muc_Nickname = "n1", disable_certificate_verification = true, security_mode = "ifpossible"
}
`)
	cfg, err := Load([]string{"--config", p}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := XMPPClient{ID: "lc", Hostname: "prosody.local", Port: 5223, Domain: "auth.example", Username: "jvb",
		Password: "pw", MUCJIDs: []string{"a@muc.example"}, MUCNickname: "n1",
		DisableCertificateVerification: true, SecurityMode: "ifpossible"}
	if len(cfg.XMPP) != 1 || !reflect.DeepEqual(cfg.XMPP[0], want) {
		t.Fatalf("xmpp = %+v", cfg.XMPP)
	}
}

func TestPrecedenceFlagsOverEnvOverFile(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "jvb.conf", sampleConf)
	env := map[string]string{
		"JVB_CONFIG":            p,
		"JVB_PORT":              "30000",
		"COLIBRI_REST_ENABLED":  "false",
		"JVB_AUTH_PASSWORD":     "from-env",
		"XMPP_SERVER":           "env.example",
		"SHUTDOWN_REST_ENABLED": "true",
	}
	cfg, err := Load(nil, envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 30000 || cfg.REST.Colibri || !cfg.REST.Shutdown || cfg.HTTPAddr != "0.0.0.0:9090" {
		t.Fatalf("env over file: %+v", cfg)
	}
	// Env clients are shard<i>; the file's "main" stays next to them.
	if len(cfg.XMPP) != 2 || cfg.XMPP[0].ID != "main" || cfg.XMPP[1].ID != "shard0" || cfg.XMPP[1].Password != "from-env" {
		t.Fatalf("xmpp = %+v", cfg.XMPP)
	}
	cfg, err = Load([]string{"--port=40000", "--http", "127.0.0.1:0", "--log-format=json", "--pprof", "--log-level=debug"}, envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 40000 || cfg.HTTPAddr != "127.0.0.1:0" || cfg.LogFormat != "json" || !cfg.Pprof || cfg.LogLevel.String() != "DEBUG" {
		t.Fatalf("flags over env: %+v", cfg)
	}
	// --config wins over JVB_CONFIG.
	other := writeFile(t, dir, "other.conf", "videobridge.stats.interval = 2 seconds\n")
	cfg, err = Load([]string{"--config", other}, envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StatsInterval != 2*time.Second || cfg.ConfigFile != other {
		t.Fatalf("--config over JVB_CONFIG: %+v", cfg)
	}
}

func TestIncludeRelativeToFile(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "etc")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, sub, "custom-jvb.conf", "videobridge.ice.udp.port = 12345\nvideobridge { apis.rest.enabled = true }\n")
	p := writeFile(t, sub, "jvb.conf", "videobridge {\n ice.udp.port = 11111\n stats.interval = 3 seconds\n}\ninclude \"custom-jvb.conf\"\ninclude \"missing-is-fine.conf\"\n")
	// Run from another directory: the include must resolve next to jvb.conf.
	t.Chdir(dir)
	cfg, err := Load([]string{"--config", p}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 12345 || !cfg.REST.Colibri || cfg.StatsInterval != 3*time.Second {
		t.Fatalf("include not merged over the file: %+v", cfg)
	}
	writeFile(t, sub, "req.conf", "include required(\"nope.conf\")\n")
	if _, err := Load([]string{"--config", filepath.Join(sub, "req.conf")}, envOf(nil)); err == nil || !strings.Contains(err.Error(), "nope.conf") {
		t.Fatalf("missing required include: %v", err)
	}
	writeFile(t, sub, "loop.conf", "include \"loop.conf\"\ninclude \"loop.conf\"\ninclude \"loop.conf\"\n")
	if _, err := Load([]string{"--config", filepath.Join(sub, "loop.conf")}, envOf(nil)); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("include cycle: %v", err)
	}
	// Including the same file twice side by side is fine (no cycle); a chain of two is a cycle.
	writeFile(t, sub, "twice.conf", "include \"custom-jvb.conf\"\ninclude \"custom-jvb.conf\"\n")
	if cfg, err := Load([]string{"--config", filepath.Join(sub, "twice.conf")}, envOf(nil)); err != nil || cfg.Port != 12345 {
		t.Fatalf("same include twice: %v", err)
	}
	writeFile(t, sub, "a.conf", "include \"b.conf\"\n")
	writeFile(t, sub, "b.conf", "include \"a.conf\"\n")
	if _, err := Load([]string{"--config", filepath.Join(sub, "a.conf")}, envOf(nil)); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("a->b->a: %v", err)
	}
}

func TestBadValuesNameKeyValueAndExpectation(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name  string
		args  []string
		env   map[string]string
		file  string
		wants []string // substrings of the error
	}{
		{"port", nil, map[string]string{"JVB_PORT": "abc"}, "", []string{"JVB_PORT", `"abc"`, "port number"}},
		{"port range", nil, map[string]string{"JVB_PORT": "70000"}, "", []string{"JVB_PORT", "70000", "0-65535"}},
		{"advertise", nil, map[string]string{"JVB_ADVERTISE_IPS": "meet example.com"}, "", []string{"JVB_ADVERTISE_IPS", "meet example.com", "IP address"}},
		{"advertise broken IPv4", nil, map[string]string{"JVB_ADVERTISE_IPS": "300.1.2.3"}, "", []string{"JVB_ADVERTISE_IPS", "300.1.2.3", "host name"}},
		{"advertise port", nil, map[string]string{"JVB_ADVERTISE_IPS": "192.0.2.1#0"}, "", []string{"JVB_ADVERTISE_IPS", "192.0.2.1#0", "#port"}},
		{"docker host", nil, map[string]string{"DOCKER_HOST_ADDRESS": "x y"}, "", []string{"DOCKER_HOST_ADDRESS", `"x y"`}},
		{"bool", nil, map[string]string{"COLIBRI_REST_ENABLED": "maybe"}, "", []string{"COLIBRI_REST_ENABLED", "maybe", "boolean"}},
		{"shutdown bool", nil, map[string]string{"SHUTDOWN_REST_ENABLED": "2"}, "", []string{"SHUTDOWN_REST_ENABLED", "boolean"}},
		{"private candidates", nil, map[string]string{"JVB_ADVERTISE_PRIVATE_CANDIDATES": "nah"}, "", []string{"JVB_ADVERTISE_PRIVATE_CANDIDATES", "nah"}},
		{"disable xmpp", nil, map[string]string{"JVB_DISABLE_XMPP": "x"}, "", []string{"JVB_DISABLE_XMPP", "boolean"}},
		{"xmpp port", nil, map[string]string{"JVB_AUTH_PASSWORD": "p", "XMPP_PORT": "-1"}, "", []string{"XMPP_PORT", "-1"}},
		{"xmpp server", nil, map[string]string{"JVB_AUTH_PASSWORD": "p", "XMPP_SERVER": "a:b"}, "", []string{"XMPP_SERVER", "a:b", "host:port"}},
		{"xmpp server empty", nil, map[string]string{"JVB_AUTH_PASSWORD": "p", "XMPP_SERVER": ","}, "", []string{"XMPP_SERVER", "at least one"}},
		{"flag port", []string{"--port", "x"}, nil, "", []string{"--port", `"x"`, "UDP port"}},
		{"flag http", []string{"--http", "8080"}, nil, "", []string{"--http", "HOST:PORT"}},
		{"flag log format", []string{"--log-format", "xml"}, nil, "", []string{"--log-format", "text or json"}},
		{"flag log level", []string{"--log-level", "loud"}, nil, "", []string{"--log-level", "loud"}},
		{"flag unknown", []string{"--nope"}, nil, "", []string{"nope"}},
		{"positional", []string{"run"}, nil, "", []string{"run", "positional"}},
		{"file port", nil, nil, "videobridge.ice.udp.port = 99999\n", []string{"videobridge.ice.udp.port", "99999", "0 to 65535"}},
		{"file bool", nil, nil, "videobridge.apis.rest.enabled = sometimes\n", []string{"videobridge.apis.rest.enabled", "sometimes", "boolean"}},
		{"file duration", nil, nil, "videobridge.shutdown.shutting-down-delay = \"soon\"\n", []string{"videobridge.shutdown.shutting-down-delay", "soon", "duration"}},
		{"file stats interval", nil, nil, "videobridge.stats.interval = 0\n", []string{"videobridge.stats.interval", "positive"}},
		{"file string is object", nil, nil, "videobridge.version.release { a = 1 }\n", []string{"videobridge.version.release", "a string"}},
		{"file mapping", nil, nil, "ice4j.harvest.mapping.static-mappings = [ { public-address = \"no pe\" } ]\n", []string{"static-mappings[0].public-address", "no pe", "IP address"}},
		{"file mapping port", nil, nil, "ice4j.harvest.mapping.static-mappings = [ { public-address = \"192.0.2.1\", public-port = 0 } ]\n", []string{"static-mappings[0].public-port", "1 to 65535"}},
		{"file mappings not list", nil, nil, "ice4j.harvest.mapping.static-mappings = 3\n", []string{"static-mappings", "a list"}},
		{"xmpp missing password", nil, nil, "videobridge.apis.xmpp-client.configs.x { HOSTNAME = h, USERNAME = u, MUC_JIDS = \"a@b\" }\n", []string{"configs.x.PASSWORD", "non-empty"}},
		{"xmpp missing muc", nil, nil, "videobridge.apis.xmpp-client.configs.x { HOSTNAME = h, USERNAME = u, PASSWORD = p }\n", []string{"configs.x.MUC_JIDS", "room JID"}},
		{"xmpp bad port", nil, nil, "videobridge.apis.xmpp-client.configs.x { HOSTNAME = h, PORT = 0, USERNAME = u, PASSWORD = p, MUC_JIDS = \"a@b\" }\n", []string{"configs.x.PORT", "1 to 65535"}},
		{"xmpp security mode", nil, nil, "videobridge.apis.xmpp-client.configs.x { HOSTNAME = h, USERNAME = u, PASSWORD = p, MUC_JIDS = \"a@b\", SECURITY_MODE = sometimes }\n", []string{"configs.x.SECURITY_MODE", "sometimes", "ifpossible"}},
		{"xmpp not object", nil, nil, "videobridge.apis.xmpp-client.configs.x = 5\n", []string{"configs.x", "an object"}},
		{"syntax", nil, nil, "videobridge { ice = \n", []string{"not valid HOCON"}},
		{"root array", nil, nil, "[1, 2]\n", []string{"not valid HOCON"}},
		{"missing file", []string{"--config", filepath.Join(dir, "absent.conf")}, nil, "", []string{"absent.conf"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if c.file != "" {
				args = append(args, "--config", writeFile(t, t.TempDir(), "jvb.conf", c.file))
			}
			cfg, err := Load(args, envOf(c.env))
			if err == nil {
				t.Fatalf("accepted: %+v", cfg)
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestSeveralBadValuesAreAllReported(t *testing.T) {
	_, err := Load(nil, envOf(map[string]string{"JVB_PORT": "x", "COLIBRI_REST_ENABLED": "perhaps"}))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("not a *Error: %v", err)
	}
	if !strings.Contains(err.Error(), "JVB_PORT") || !strings.Contains(err.Error(), "COLIBRI_REST_ENABLED") {
		t.Fatalf("only some errors reported: %v", err)
	}
}

func TestHelp(t *testing.T) {
	if _, err := Load([]string{"-h"}, envOf(nil)); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
}

func TestPasswordNeverInLogValue(t *testing.T) {
	x := XMPPClient{ID: "a", Password: "hunter2"}
	if strings.Contains(x.LogValue().String(), "hunter2") {
		t.Fatal("password in LogValue")
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"5 seconds": 5 * time.Second, "1 minute": time.Minute, "500 ms": 500 * time.Millisecond,
		"24 hours": 24 * time.Hour, "2s": 2 * time.Second, "1500": 1500 * time.Millisecond, "1.5 minutes": 90 * time.Second,
	} {
		got, err := parseDuration(in)
		if err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "soon", "-1 s", "5 lightyears", "1.2.3 s"} {
		if _, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) accepted", in)
		}
	}
}

// The caps read the same from jvb.conf and the environment (which wins), with the same checks.
func TestLimitsFromFileAndEnv(t *testing.T) {
	p := writeFile(t, t.TempDir(), "jvb.conf", "videobridge.limits { max-conferences = 10, max-endpoints = -1, max-endpoints-per-conference = 7 }\n")
	cfg, err := Load([]string{"--config", p}, envOf(map[string]string{"JVB_MAX_CONFERENCES": "20"}))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Limits{MaxConferences: 20, MaxEndpoints: -1, MaxEndpointsPerConference: 7}); cfg.Limits != want {
		t.Fatalf("limits %+v, want %+v", cfg.Limits, want)
	}
	for _, env := range []map[string]string{{"JVB_MAX_ENDPOINTS": "-2"}, {"JVB_MAX_ENDPOINTS": "many"}} {
		if _, err := Load(nil, envOf(env)); err == nil || !strings.Contains(err.Error(), "JVB_MAX_ENDPOINTS") {
			t.Errorf("env %v: err %v, want one naming JVB_MAX_ENDPOINTS", env, err)
		}
	}
	bad := writeFile(t, t.TempDir(), "jvb.conf", "videobridge.limits.max-conferences = -5\n")
	if _, err := Load([]string{"--config", bad}, envOf(nil)); err == nil || !strings.Contains(err.Error(), "limits.max-conferences") {
		t.Errorf("file max-conferences = -5: err %v", err)
	}
}

// A value means the same whatever its source: the media port 0 (any free port) is accepted
// from the environment as from jvb.conf and --port; XMPP servers take IPv6 literals as the
// image does, and a host that can never resolve is a startup error, not endless retries.
func TestSameValidationWhateverTheSource(t *testing.T) {
	cfg, err := Load(nil, envOf(map[string]string{"JVB_PORT": "0"}))
	if err != nil || cfg.Port != 0 {
		t.Fatalf("JVB_PORT=0: port %v, err %v", cfg, err)
	}
	p := writeFile(t, t.TempDir(), "jvb.conf", "videobridge.ice.udp.port = 0\n")
	if cfg, err := Load([]string{"--config", p}, envOf(nil)); err != nil || cfg.Port != 0 {
		t.Fatalf("ice.udp.port = 0: %v", err)
	}
	for _, tc := range []struct {
		servers string
		want    []string // host:port of each connection; nil: refused
	}{
		{"[::1]:5223", []string{"[::1]:5223"}},
		{"::1", []string{"[::1]:5222"}},
		{"[2001:db8::1]", []string{"[2001:db8::1]:5222"}},
		{"xmpp.example, 192.0.2.1:5300", []string{"xmpp.example:5222", "192.0.2.1:5300"}},
		{"xmpp example", nil},
		{"xmpp.example:0", nil},
		{"[::1", nil},
		{"a..b", nil},
	} {
		cfg, err := Load(nil, envOf(map[string]string{"JVB_AUTH_PASSWORD": "pw", "XMPP_SERVER": tc.servers}))
		if tc.want == nil {
			if err == nil || !strings.Contains(err.Error(), "XMPP_SERVER") {
				t.Errorf("XMPP_SERVER=%q: err %v, want a refusal naming XMPP_SERVER", tc.servers, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("XMPP_SERVER=%q: %v", tc.servers, err)
			continue
		}
		var got []string
		for _, x := range cfg.XMPP {
			got = append(got, net.JoinHostPort(x.Hostname, strconv.Itoa(x.Port)))
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("XMPP_SERVER=%q: %v, want %v", tc.servers, got, tc.want)
		}
	}
	bad := writeFile(t, t.TempDir(), "jvb.conf", `videobridge.apis.xmpp-client.configs.x { HOSTNAME = "bad host", USERNAME = u, PASSWORD = p, MUC_JIDS = "b@m", MUC_NICKNAME = n }`+"\n")
	if _, err := Load([]string{"--config", bad}, envOf(nil)); err == nil || !strings.Contains(err.Error(), "HOSTNAME") {
		t.Errorf("HOSTNAME with a space in jvb.conf: err %v", err)
	}
}

func TestStandaloneHosts(t *testing.T) {
	cfg, err := Load(nil, envOf(map[string]string{"JVB_STANDALONE_HOSTS": "meet.example, bridge.lan"}))
	if err != nil || !reflect.DeepEqual(cfg.StandaloneHosts, []string{"meet.example", "bridge.lan"}) {
		t.Fatalf("hosts %v, err %v", cfg, err)
	}
	if _, err := Load(nil, envOf(map[string]string{"JVB_STANDALONE_HOSTS": "meet example"})); err == nil || !strings.Contains(err.Error(), "JVB_STANDALONE_HOSTS") {
		t.Fatalf("a host with a space: err %v", err)
	}
}
