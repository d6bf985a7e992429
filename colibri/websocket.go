package colibri

import (
	"net/url"
	"strings"
)

// WebSockets describes the colibri WebSocket URLs the bridge advertises for its endpoints
// (videobridge.websockets, spec media-plane 1.3): one per domain,
// <scheme>://<domain>/colibri-ws/<server-id>/<conference-id>/<endpoint-id>?pwd=<password>.
// No domains, no URLs.
type WebSockets struct {
	Domains  []string // host[:port] (a scheme or trailing slash is tolerated and dropped)
	ServerID string
	TLS      bool // wss rather than ws
}

// urls returns the endpoint's URLs, one per domain.
func (w WebSockets) urls(conferenceID, endpointID, pwd string) []WebSocket {
	var out []WebSocket
	scheme := "ws://"
	if w.TLS {
		scheme = "wss://"
	}
	for _, d := range w.Domains {
		d = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(d, "https://"), "http://"), "/")
		if d == "" {
			continue
		}
		out = append(out, WebSocket{URL: scheme + d + "/colibri-ws/" + url.PathEscape(w.ServerID) + "/" +
			url.PathEscape(conferenceID) + "/" + url.PathEscape(endpointID) + "?pwd=" + url.QueryEscape(pwd)})
	}
	return out
}
