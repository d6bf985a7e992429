package xmppcomp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"mellium.im/xmpp/jid"
)

// Stat is one <stat name='..' value='..'/> entry of the presence stats
// extension (namespace http://jitsi.org/protocol/colibri).
type Stat struct {
	Name  string
	Value string
}

// ColibriHandler receives COLIBRI2 conference-modify requests.
type ColibriHandler interface {
	// HandleIQ returns quickly; reply is called later (from another
	// goroutine) with either the raw result payload element or the raw
	// <error type=...>...</error> element.
	HandleIQ(ctx context.Context, payload []byte, reply func(result, errElem []byte))
}

// SecurityMode says whether the c2s connection must, may or must not use
// STARTTLS (jicoco's SECURITY_MODE).
type SecurityMode int

const (
	// SecurityDefault picks SecurityIfPossible for localhost, 127.0.0.1
	// and ::1 and SecurityRequired for any other host, like JVB.
	SecurityDefault SecurityMode = iota
	// SecurityRequired refuses to log in without TLS.
	SecurityRequired
	// SecurityIfPossible uses STARTTLS and falls back to a plaintext
	// stream when the server does not offer TLS.
	SecurityIfPossible
	// SecurityDisabled never starts TLS.
	SecurityDisabled
)

// ParseSecurityMode accepts the SECURITY_MODE values "required",
// "ifpossible" and "disabled" (case-insensitive); "" means SecurityDefault.
func ParseSecurityMode(s string) (SecurityMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return SecurityDefault, nil
	case "required":
		return SecurityRequired, nil
	case "ifpossible":
		return SecurityIfPossible, nil
	case "disabled":
		return SecurityDisabled, nil
	}
	return SecurityDefault, fmt.Errorf("SECURITY_MODE %q: expected required, ifpossible or disabled", s)
}

func (m SecurityMode) String() string {
	switch m {
	case SecurityRequired:
		return "required"
	case SecurityIfPossible:
		return "ifpossible"
	case SecurityDisabled:
		return "disabled"
	}
	return "default"
}

// effective resolves SecurityDefault for host.
func (m SecurityMode) effective(host string) SecurityMode {
	if m != SecurityDefault {
		return m
	}
	switch strings.ToLower(host) {
	case "localhost", "127.0.0.1", "::1":
		return SecurityIfPossible
	}
	return SecurityRequired
}

// ServerConfig is one XMPP connection (one entry of
// videobridge.apis.xmpp-client.configs, or one host of XMPP_SERVER).
type ServerConfig struct {
	// ID names the connection in logs and status (e.g. "shard0").
	ID string
	// Host and Port are where to connect (TCP); Port defaults to 5222.
	Host string
	Port int
	// Domain is the XMPP domain to log in to; defaults to Host.
	Domain string
	// Username is the localpart of the login JID; Password its password.
	Username string
	Password string
	// MUCJIDs are the bare JIDs of the brewery rooms to join.
	MUCJIDs []string
	// Nickname is the MUC nickname; it must be unique per bridge.
	Nickname string
	// DisableCertificateVerification trusts any server certificate.
	DisableCertificateVerification bool
	// SecurityMode selects STARTTLS behaviour.
	SecurityMode SecurityMode
}

// Config configures a Client.
type Config struct {
	Servers []ServerConfig
	// Version is reported by jabber:iq:version.
	Version string
	// Stats returns the stats published in presence; called on every
	// presence send, from each connection's goroutine, so it must be quick
	// and safe for concurrent use. Nil publishes an empty stats element.
	Stats func() []Stat
	// Health returns nil when the bridge is healthy (nil func: healthy).
	// It runs on the XMPP read loop for every healthcheck IQ, so it must
	// return a cached result quickly, never run the checks itself.
	Health func() error
	// Colibri handles conference-modify, called on the read loop in
	// arrival order; nil answers service-unavailable.
	Colibri ColibriHandler
	// StateChanged, when set, is called after every change of what Status
	// reports (connected, disconnected, room joined or left, nickname
	// conflict found or gone), from the connection's goroutine and without
	// any lock held, so it must be quick. After a (re)join it runs before
	// the first stats presence is built: a cache of health or stats derived
	// from Status can be dropped there, so that presence is fresh.
	StateChanged func()
	// PresenceInterval between stats presences; default 5 s.
	PresenceInterval time.Duration
	// PingInterval: the server is pinged (XEP-0199) once nothing has been
	// read from it for this long, and the connection is dropped when the
	// ping is not answered within PingTimeout. The server echoes every
	// stats presence, so in steady state no ping is sent. Defaults 7 s and
	// 4 s: a frozen server is noticed within about 12 s (13 s with the 1 s
	// liveness tick), leaving the 15 s JVB operators expect some margin.
	PingInterval, PingTimeout time.Duration
	// MinBackoff and MaxBackoff bound the reconnect delay: MinBackoff
	// doubled per consecutive failure, capped at MaxBackoff, each delay
	// shortened by a random 0-20 %. Defaults 1 s and 1.5 s (JVB retries
	// every second).
	MinBackoff, MaxBackoff time.Duration
	// AuthRetry is the delay after the server refused the password (JVB's
	// 5 s); default 5 s.
	AuthRetry time.Duration
	// MaxIQPayload caps the serialized IQ payload handed to handlers;
	// default 1 MiB. Larger IQs are answered policy-violation.
	MaxIQPayload int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

const (
	defaultPort             = 5222
	defaultPresenceInterval = 5 * time.Second
	defaultPingInterval     = 7 * time.Second
	defaultPingTimeout      = 4 * time.Second
	defaultMinBackoff       = time.Second
	defaultMaxBackoff       = 1500 * time.Millisecond
	defaultAuthRetry        = 5 * time.Second
	defaultMaxIQPayload     = 1 << 20
)

// server is a validated ServerConfig.
type server struct {
	ServerConfig
	login jid.JID
	mucs  []jid.JID
	mode  SecurityMode
}

func (c *Config) normalize() ([]server, error) {
	if c.PresenceInterval <= 0 {
		c.PresenceInterval = defaultPresenceInterval
	}
	if c.PingInterval <= 0 {
		c.PingInterval = defaultPingInterval
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = defaultPingTimeout
	}
	if c.AuthRetry <= 0 {
		c.AuthRetry = defaultAuthRetry
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = defaultMinBackoff
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(defaultMaxBackoff, c.MinBackoff)
	}
	if c.MaxIQPayload <= 0 {
		c.MaxIQPayload = defaultMaxIQPayload
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	var errs []error
	out := make([]server, 0, len(c.Servers))
	ids := map[string]bool{}
	for i, sc := range c.Servers {
		if sc.ID == "" {
			sc.ID = fmt.Sprintf("server%d", i)
		}
		s, err := validateServer(sc)
		if err == nil && ids[sc.ID] {
			err = fmt.Errorf("xmpp-client config %q: duplicate id", sc.ID)
		}
		ids[sc.ID] = true
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

func validateServer(sc ServerConfig) (server, error) {
	bad := func(key, val, want string) (server, error) {
		return server{}, fmt.Errorf("xmpp-client config %q: %s=%q: expected %s", sc.ID, key, val, want)
	}
	if sc.Host == "" {
		return bad("HOSTNAME", sc.Host, "a host name or address")
	}
	if sc.Port == 0 {
		sc.Port = defaultPort
	}
	if sc.Port < 1 || sc.Port > 65535 {
		return bad("PORT", fmt.Sprint(sc.Port), "a TCP port 1-65535")
	}
	if sc.Domain == "" {
		sc.Domain = sc.Host
	}
	if sc.Username == "" {
		return bad("USERNAME", sc.Username, "a non-empty localpart")
	}
	if sc.Password == "" {
		return server{}, fmt.Errorf("xmpp-client config %q: PASSWORD is empty: expected the password of %s@%s", sc.ID, sc.Username, sc.Domain)
	}
	login, err := jid.New(sc.Username, sc.Domain, "")
	if err != nil {
		return bad("USERNAME@DOMAIN", sc.Username+"@"+sc.Domain, "a valid bare JID ("+err.Error()+")")
	}
	if len(sc.MUCJIDs) == 0 {
		return bad("MUC_JIDS", "", "at least one room JID like jvbbrewery@internal-muc.meet.jitsi")
	}
	if sc.Nickname == "" {
		return bad("MUC_NICKNAME", sc.Nickname, "a non-empty nickname unique per bridge")
	}
	s := server{ServerConfig: sc, login: login, mode: sc.SecurityMode.effective(sc.Host)}
	for _, m := range sc.MUCJIDs {
		j, err := jid.Parse(strings.TrimSpace(m))
		if err != nil || j.Localpart() == "" || j.Resourcepart() != "" {
			return bad("MUC_JIDS", m, "a bare room JID like jvbbrewery@internal-muc.meet.jitsi")
		}
		if _, err := j.WithResource(sc.Nickname); err != nil {
			return bad("MUC_NICKNAME", sc.Nickname, "a valid JID resourcepart ("+err.Error()+")")
		}
		s.mucs = append(s.mucs, j)
	}
	return s, nil
}
