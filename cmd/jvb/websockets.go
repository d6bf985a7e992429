package main

import (
	"log/slog"
	"net"
	"strconv"
	"time"

	"gojvb/cmd/jvb/internal/colibriws"
	"gojvb/cmd/jvb/internal/config"
	"gojvb/colibri"
	"gojvb/sfu"
)

// fallbackServerID is the docker image's server id when it cannot work out its address.
const fallbackServerID = "default"

// webSocketURLs is what the COLIBRI2 handler advertises: nothing unless websockets are
// enabled and the public HTTP server that serves them is configured.
func webSocketURLs(cfg *config.Config, log *slog.Logger) colibri.WebSockets {
	ws := cfg.WebSockets
	if !ws.Enabled {
		return colibri.WebSockets{}
	}
	if cfg.PublicHTTPAddr == "" {
		log.Warn("colibri websockets are enabled but there is no public HTTP server to serve them: set videobridge.http-servers.public.port (ENABLE_COLIBRI_WEBSOCKET sets 9090); no WebSocket URL is advertised")
		return colibri.WebSockets{}
	}
	if len(ws.Domains) == 0 {
		log.Warn("colibri websockets are enabled without a domain (videobridge.websockets.domains, JVB_WS_DOMAIN or PUBLIC_URL): no WebSocket URL is advertised")
	}
	return colibri.WebSockets{Domains: ws.Domains, ServerID: webSocketServerID(cfg, log), TLS: ws.TLS}
}

// webSocketServerID resolves the docker default: the local address this host uses towards the
// (first) XMPP server, which docker-jitsi-meet's nginx uses to route /colibri-ws/<ip>/ to
// <ip>:9090. Dialing UDP sends nothing; it only picks the route.
func webSocketServerID(cfg *config.Config, log *slog.Logger) string {
	ws := cfg.WebSockets
	if !ws.ServerIDAuto {
		return ws.ServerID
	}
	if len(cfg.XMPP) == 0 {
		return fallbackServerID
	}
	x := cfg.XMPP[0]
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.Dial("udp", net.JoinHostPort(x.Hostname, strconv.Itoa(x.Port)))
	if err != nil {
		log.Warn("cannot work out the websocket server id from the route to the XMPP server; set JVB_WS_SERVER_ID",
			"xmpp_server", x.Hostname, "err", err, "server_id", fallbackServerID)
		return fallbackServerID
	}
	defer c.Close()
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok {
		return a.IP.String()
	}
	return fallbackServerID
}

// webSocketServer is the public server's handler for the colibri-ws paths.
func webSocketServer(cfg *config.Config, serverID string, b *sfu.Bridge, log *slog.Logger) *colibriws.Server {
	ws := cfg.WebSockets
	ping := ws.PingInterval
	if !ws.SendPings {
		ping = -1
	}
	return colibriws.NewServer(colibriws.Config{
		ServerID:     serverID,
		Lookup:       endpointByConferenceID(b),
		PingInterval: ping,
		IdleTimeout:  ws.IdleTimeout,
		Logger:       log,
	})
}

// endpointByConferenceID finds an endpoint by the bridge's conference id (the URL carries
// that, not the meeting id).
func endpointByConferenceID(b *sfu.Bridge) colibriws.Lookup {
	return func(confID, epID string) (colibriws.Endpoint, bool) {
		for _, c := range b.Conferences() {
			if c.ID() != confID {
				continue
			}
			if e := c.Endpoint(epID); e != nil {
				return e, true
			}
			return nil, false
		}
		return nil, false
	}
}
