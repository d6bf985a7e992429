package config

import (
	"strings"
	"time"
)

// WebSockets is videobridge.websockets.* (the colibri WebSocket bridge channel), off by
// default as in JVB's reference.conf and in docker-jitsi-meet (ENABLE_COLIBRI_WEBSOCKET=0).
// The WebSockets are served on the public HTTP server (Config.PublicHTTPAddr).
type WebSockets struct {
	Enabled bool
	// ServerID is the URL's server id (server-id / JVB_WS_SERVER_ID). ServerIDAuto means the
	// docker image's default: the local address that reaches the XMPP server (cmd/jvb works
	// it out at startup; "default" if it cannot).
	ServerID     string
	ServerIDAuto bool
	Domains      []string // domains, or the legacy single domain (JVB_WS_DOMAIN / PUBLIC_URL)
	TLS          bool     // wss:// URLs (tls / JVB_WS_TLS)
	SendPings    bool     // send-keepalive-pings
	PingInterval time.Duration
	IdleTimeout  time.Duration
}

// DefaultWebSockets returns JVB's reference.conf values.
func DefaultWebSockets() WebSockets {
	return WebSockets{ServerID: "default-id", SendPings: true, PingInterval: 15 * time.Second, IdleTimeout: 60 * time.Second}
}

// webSocketEnv are the docker image's websocket variables, read only when
// ENABLE_COLIBRI_WEBSOCKET is true (they are reported as ignored otherwise).
var webSocketEnv = []string{"JVB_WS_DOMAIN", "JVB_WS_SERVER_ID", "JVB_WS_TLS", "PUBLIC_URL"}

// dockerPublicHTTPAddr is where the docker image put the public HTTP server with websockets on.
const dockerPublicHTTPAddr = "0.0.0.0:9090"

func readWebSockets(f *fileReader, cfg *Config) {
	const base = "videobridge.websockets."
	ws := &cfg.WebSockets
	f.boolean(base+"enabled", &ws.Enabled)
	if f.str(base+"server-id", &ws.ServerID) {
		ws.ServerIDAuto = false
	}
	var domain string
	if f.str(base+"domain", &domain) && domain != "" {
		ws.Domains = []string{domain}
	}
	if v, ok := f.get(base + "domains"); ok {
		arr, isArr := v.(hArray)
		if !isArr {
			f.bad(base+"domains", v, `a list of host[:port] like ["meet.example.com:443"]`)
		} else {
			ws.Domains = nil
			for _, it := range arr {
				if d := strings.TrimSpace(text(it)); d != "" {
					ws.Domains = append(ws.Domains, d)
				}
			}
		}
	}
	f.boolean(base+"tls", &ws.TLS)
	f.boolean(base+"send-keepalive-pings", &ws.SendPings)
	f.duration(base+"keepalive-ping-interval", &ws.PingInterval)
	f.duration(base+"idle-timeout", &ws.IdleTimeout)

	const pub = "videobridge.http-servers.public."
	host, port := "", -1
	if cfg.PublicHTTPAddr != "" {
		host, port = splitHTTP(cfg.PublicHTTPAddr)
	}
	f.str(pub+"host", &host)
	f.integerWant(pub+"port", &port, -1, 65535, "a TCP port 0-65535, or -1 for no public server")
	if port >= 0 {
		cfg.PublicHTTPAddr = joinHTTP(host, port)
	} else {
		cfg.PublicHTTPAddr = ""
	}
	tlsPort := -1
	if f.integer(pub+"tls-port", &tlsPort, -1, 65535) && tlsPort >= 0 {
		cfg.Ignored = append(cfg.Ignored, pub+"tls-port (no TLS on the public server: terminate TLS in the proxy)")
	}
}

// applyEnvWebSockets follows the docker image's template: ENABLE_COLIBRI_WEBSOCKET turns the
// websockets on with domain JVB_WS_DOMAIN (default PUBLIC_URL without its scheme), tls
// JVB_WS_TLS (default true), server id JVB_WS_SERVER_ID and the public server on port 9090.
func applyEnvWebSockets(cfg *Config, r *envReader) {
	if _, set := lookup(r.env, "ENABLE_COLIBRI_WEBSOCKET"); !set {
		ignoreWebSocketEnv(cfg, r.env)
		return
	}
	if !r.boolean("ENABLE_COLIBRI_WEBSOCKET", false) {
		cfg.WebSockets.Enabled = false
		ignoreWebSocketEnv(cfg, r.env)
		return
	}
	ws := &cfg.WebSockets
	ws.Enabled = true
	publicURL := r.str("PUBLIC_URL", "https://localhost:8443")
	ws.Domains = []string{r.str("JVB_WS_DOMAIN", normalizeDomain(publicURL))}
	ws.TLS = r.boolean("JVB_WS_TLS", true)
	if id, ok := lookup(r.env, "JVB_WS_SERVER_ID"); ok {
		ws.ServerID, ws.ServerIDAuto = id, false
	} else {
		ws.ServerIDAuto = true
	}
	if cfg.PublicHTTPAddr == "" {
		cfg.PublicHTTPAddr = dockerPublicHTTPAddr
	}
}

func ignoreWebSocketEnv(cfg *Config, env Env) {
	for _, k := range webSocketEnv {
		if _, ok := lookup(env, k); ok {
			cfg.Ignored = append(cfg.Ignored, k)
		}
	}
}

func validateWebSockets(cfg *Config) []error {
	ws := cfg.WebSockets
	if !ws.Enabled {
		return nil
	}
	var errs []error
	if ws.IdleTimeout <= 0 {
		errs = append(errs, &Error{Source: "config", Key: "videobridge.websockets.idle-timeout", Value: ws.IdleTimeout.String(), Expected: "a positive duration"})
	}
	if ws.SendPings && ws.PingInterval <= 0 {
		errs = append(errs, &Error{Source: "config", Key: "videobridge.websockets.keepalive-ping-interval", Value: ws.PingInterval.String(), Expected: "a positive duration"})
	}
	if !ws.ServerIDAuto && (ws.ServerID == "" || strings.ContainsAny(ws.ServerID, "/?#")) {
		errs = append(errs, &Error{Source: "config", Key: "videobridge.websockets.server-id", Value: ws.ServerID, Expected: "a non-empty id without / ? or #"})
	}
	for i, d := range ws.Domains {
		d = normalizeDomain(d)
		cfg.WebSockets.Domains[i] = d
		if d == "" || strings.ContainsAny(d, " /?#") {
			errs = append(errs, &Error{Source: "config", Key: "videobridge.websockets.domains", Value: d, Expected: "host[:port] like meet.example.com:443"})
		}
	}
	return errs
}

// normalizeDomain drops a scheme and trailing slash an operator may have written.
func normalizeDomain(d string) string {
	d = strings.TrimSpace(d)
	for _, p := range []string{"https://", "http://", "wss://", "ws://"} {
		d = strings.TrimPrefix(d, p)
	}
	return strings.TrimSuffix(d, "/")
}
