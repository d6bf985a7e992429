package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWebSocketsOffByDefault(t *testing.T) {
	cfg, err := Load(nil, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := WebSockets{ServerID: "default-id", SendPings: true, PingInterval: 15 * time.Second, IdleTimeout: time.Minute}
	if !reflect.DeepEqual(cfg.WebSockets, want) || cfg.PublicHTTPAddr != "" {
		t.Fatalf("websockets %+v public %q, want %+v and no public server", cfg.WebSockets, cfg.PublicHTTPAddr, want)
	}
}

func TestWebSocketEnvLikeDockerImage(t *testing.T) {
	cfg, err := Load(nil, envOf(map[string]string{
		"ENABLE_COLIBRI_WEBSOCKET": "1",
		"PUBLIC_URL":               "https://meet.example.com/",
	}))
	if err != nil {
		t.Fatal(err)
	}
	ws := cfg.WebSockets
	if !ws.Enabled || !slices.Equal(ws.Domains, []string{"meet.example.com"}) || !ws.TLS || !ws.ServerIDAuto ||
		cfg.PublicHTTPAddr != "0.0.0.0:9090" {
		t.Fatalf("websockets %+v public %q", ws, cfg.PublicHTTPAddr)
	}

	cfg, err = Load(nil, envOf(map[string]string{
		"ENABLE_COLIBRI_WEBSOCKET": "true",
		"PUBLIC_URL":               "https://ignored.example.com",
		"JVB_WS_DOMAIN":            "ws.example.com:8443",
		"JVB_WS_SERVER_ID":         "10.0.0.9",
		"JVB_WS_TLS":               "0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	ws = cfg.WebSockets
	if !slices.Equal(ws.Domains, []string{"ws.example.com:8443"}) || ws.TLS || ws.ServerIDAuto || ws.ServerID != "10.0.0.9" {
		t.Fatalf("websockets %+v", ws)
	}

	// Without ENABLE_COLIBRI_WEBSOCKET the others change nothing and are reported.
	cfg, err = Load(nil, envOf(map[string]string{"JVB_WS_DOMAIN": "x", "PUBLIC_URL": "https://y", "ENABLE_COLIBRI_WEBSOCKET": "0"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.WebSockets.Enabled || cfg.PublicHTTPAddr != "" || !slices.Contains(cfg.Ignored, "JVB_WS_DOMAIN") || !slices.Contains(cfg.Ignored, "PUBLIC_URL") {
		t.Fatalf("websockets %+v public %q ignored %v", cfg.WebSockets, cfg.PublicHTTPAddr, cfg.Ignored)
	}
}

func TestWebSocketFileKeys(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "jvb.conf", `videobridge {
  websockets {
    enabled = true
    server-id = "jvb-7"
    domain = "legacy.example.com"
    domains = [ "a.example.com:443", "https://b.example.com/" ]
    tls = true
    send-keepalive-pings = false
    keepalive-ping-interval = 5 seconds
    idle-timeout = 30 seconds
  }
  http-servers.public { host = 127.0.0.1, port = 9091, tls-port = 9443 }
}`)
	cfg, err := Load([]string{"--config", p}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := WebSockets{Enabled: true, ServerID: "jvb-7", Domains: []string{"a.example.com:443", "b.example.com"}, TLS: true,
		PingInterval: 5 * time.Second, IdleTimeout: 30 * time.Second}
	if !reflect.DeepEqual(cfg.WebSockets, want) || cfg.PublicHTTPAddr != "127.0.0.1:9091" {
		t.Fatalf("websockets %+v public %q, want %+v on 127.0.0.1:9091", cfg.WebSockets, cfg.PublicHTTPAddr, want)
	}
	if !strings.Contains(strings.Join(cfg.Ignored, " "), "tls-port") {
		t.Errorf("public tls-port not reported as ignored: %v", cfg.Ignored)
	}

	// The legacy single domain, and the docker env keeping a public port from the file.
	p = writeFile(t, dir, "legacy.conf", `videobridge.websockets { enabled = true, domain = "old.example.com:443" }
videobridge.http-servers.public.port = 9999`)
	cfg, err = Load([]string{"--config", p}, envOf(map[string]string{"ENABLE_COLIBRI_WEBSOCKET": "1", "JVB_WS_DOMAIN": "env.example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.WebSockets.Domains, []string{"env.example.com"}) || cfg.PublicHTTPAddr != ":9999" {
		t.Fatalf("websockets %+v public %q", cfg.WebSockets, cfg.PublicHTTPAddr)
	}
	cfg, err = Load([]string{"--config", p}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.WebSockets.Domains, []string{"old.example.com:443"}) {
		t.Fatalf("legacy domain: %+v", cfg.WebSockets)
	}
}

func TestBadWebSocketValuesRefuseToStart(t *testing.T) {
	dir := t.TempDir()
	for body, key := range map[string]string{
		`videobridge.websockets { enabled = true, idle-timeout = 0 }`:            "idle-timeout",
		`videobridge.websockets { enabled = true, server-id = "a/b" }`:           "server-id",
		`videobridge.websockets { enabled = true, domains = "x" }`:               "domains",
		`videobridge.websockets { enabled = true, domains = ["a b"] }`:           "domains",
		`videobridge.http-servers.public.port = 70000`:                           "http-servers.public.port",
		`videobridge.websockets { enabled = true, keepalive-ping-interval = 0 }`: "keepalive-ping-interval",
		`videobridge.websockets { enabled = maybe }`:                             "websockets.enabled",
	} {
		p := writeFile(t, dir, "bad.conf", body)
		_, err := Load([]string{"--config", p}, envOf(nil))
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: error %v, want one naming %s", body, err, key)
		}
	}
	if _, err := Load(nil, envOf(map[string]string{"ENABLE_COLIBRI_WEBSOCKET": "sometimes"})); err == nil ||
		!strings.Contains(err.Error(), "ENABLE_COLIBRI_WEBSOCKET") {
		t.Errorf("bad ENABLE_COLIBRI_WEBSOCKET: %v", err)
	}
}
