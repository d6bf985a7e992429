// Package config turns the jitsi/jvb image's environment variables, a HOCON jvb.conf and a few
// command-line flags into one validated Config for cmd/jvb.
//
// Precedence, highest first: flags > files included by jvb.conf (the image's custom-jvb.conf)
// > environment > jvb.conf's own keys > defaults. In the jitsi/jvb image the environment is
// rendered into jvb.conf, which includes custom-jvb.conf last, so the custom file wins there.
// It only describes settings: it must never import the bridge's runtime packages (sfu, colibri,
// xmppcomp) nor open sockets.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is the bridge's whole configuration after defaults, file, environment and flags.
type Config struct {
	ConfigFile string // the jvb.conf that was read, "" if none

	// Media (videobridge.ice.*, ice4j static mappings, JVB_PORT, JVB_ADVERTISE_IPS).
	Port                       int
	Advertised                 []AdvertisedAddr
	AdvertisePrivateCandidates bool
	RequireValidAddress        bool // videobridge.health.require-valid-address / JVB_REQUIRE_VALID_ADDRESS
	SCTP                       bool // videobridge.sctp.enabled: accept SCTP data channels (default true)
	// ICETCP is videobridge.ice.tcp.* (JVB_TCP_HARVESTER_DISABLED=false, JVB_TCP_PORT,
	// JVB_TCP_MAPPED_PORT): off by default.
	ICETCP ICETCP
	// UDPGSO sends a run of equal-sized datagrams to one endpoint as one message with UDP
	// segmentation offload where the kernel supports it (JVB_UDP_GSO, gojvb only; default true).
	UDPGSO bool
	// SendInline lets the socket reader that queued a receiver's packets send them itself at
	// the end of its batch, up to a budget (JVB_SEND_INLINE, gojvb only; default true); false
	// hands every receiver's packets to its own sender goroutine.
	SendInline bool
	// STUNServers ("host:port") find the public address at startup
	// (ice4j.harvest.mapping.stun.addresses / JVB_STUN_SERVERS; none with JVB_DISABLE_STUN).
	STUNServers []string
	// ResolveInterval is how often host names among the advertised addresses are resolved
	// again, STUNInterval how often the STUN servers are asked again (gojvb only, no keys;
	// defaults 1 minute and 5 minutes).
	ResolveInterval time.Duration
	STUNInterval    time.Duration

	// Private HTTP server (videobridge.http-servers.private.host/port, --http).
	HTTPAddr string
	REST     REST
	// Public HTTP server (videobridge.http-servers.public.host/port; "" = none, JVB's port -1):
	// it serves only the colibri WebSockets.
	PublicHTTPAddr string
	WebSockets     WebSockets

	// XMPP: empty when XMPP is off; XMPPOff then says why, in words for the operator.
	XMPP             []XMPPClient
	XMPPOff          string
	PresenceInterval time.Duration

	Shutdown         Shutdown
	InitialDrain     bool          // videobridge.initial-drain-mode
	StatsInterval    time.Duration // videobridge.stats.interval
	EntityExpiration time.Duration // videobridge.entity-expiration.timeout
	Relay            Relay
	Allocation       Allocation // videobridge.cc.* and videobridge.ssrc-limit.*
	Limits           Limits
	Release          string // videobridge.version.release, appended to the version by jicofo
	InstanceID       string // JVB_INSTANCE_ID, only logged

	LogFormat string // "text" or "json"
	LogLevel  slog.Level
	Pprof     bool // /debug/pprof on the private server

	// StandaloneHosts are host names the standalone page answers to besides IP literals and
	// localhost (JVB_STANDALONE_HOSTS, comma-separated; gojvb only).
	StandaloneHosts []string

	// Sources says, per setting (a field path such as "Port" or "XMPP[shard0].Password"), where
	// its value came from; Settings lists them for `jvb doctor`.
	Sources map[string]Source

	// Ignored lists settings that were given but have no effect in this bridge
	// (JVM, STUN, sidecar, websocket variables); cmd/jvb logs them once.
	Ignored []string
}

// AdvertisedAddr is a public address announced as an ICE candidate: an IP address, or a DNS
// name (Host) that cmd/jvb resolves at startup and again periodically. Port 0 means the UDP port.
type AdvertisedAddr struct {
	IP   netip.Addr // zero when Host is set
	Host string     // a DNS name to resolve; "" for an IP address
	Port int
	// Local and LocalPort are a static mapping's local-address and local-port (ice4j): the
	// mapping applies only when the bridge has that host address (and binds that port). Zero
	// for JVB_ADVERTISE_IPS, whose mappings the image writes for the container's own address.
	Local     netip.Addr
	LocalPort int
}

func (a AdvertisedAddr) String() string {
	s := a.IP.String()
	if a.Host != "" {
		s = a.Host
	}
	if a.Port != 0 {
		s += "#" + strconv.Itoa(a.Port)
	}
	if a.Local.IsValid() {
		s = a.Local.String() + "=>" + s
	}
	return s
}

// ICETCP is ICE over TCP (RFC 6544 passive candidates) for endpoints whose networks block UDP.
type ICETCP struct {
	Enabled bool
	// Port is the TCP port; 0 means JVB's rule: 443, or 4443 if 443 cannot be bound. The
	// jitsi/jvb image's JVB_TCP_PORT defaults to 4443.
	Port int
	// MappedPort is announced in candidates instead of Port (a port forwarded to it); 0: Port.
	MappedPort int
}

// REST gates the private HTTP APIs like videobridge.apis.rest / videobridge.rest.* do.
type REST struct {
	Colibri    bool // videobridge.apis.rest.enabled / COLIBRI_REST_ENABLED: /colibri/* incl. stats
	Shutdown   bool // videobridge.rest.shutdown.enabled / SHUTDOWN_REST_ENABLED (needs Colibri too)
	Debug      bool
	Drain      bool
	Health     bool
	Prometheus bool
	Version    bool
}

// Limits are gojvb's caps on what the bridge holds at once (videobridge.limits.*,
// JVB_MAX_CONFERENCES, JVB_MAX_ENDPOINTS, JVB_MAX_ENDPOINTS_PER_CONFERENCE): 0 takes the
// COLIBRI2 handler's default, -1 means no cap. JVB itself has no such settings.
type Limits struct {
	MaxConferences            int
	MaxEndpoints              int
	MaxEndpointsPerConference int
}

// maxLimit bounds a cap setting, so that a typo cannot overflow anything.
const maxLimit = 1_000_000

// Shutdown is videobridge.shutdown.*.
type Shutdown struct {
	MaxDuration       time.Duration // graceful-shutdown-max-duration
	MinParticipants   int           // graceful-shutdown-min-participants
	ShuttingDownDelay time.Duration // shutting-down-delay
}

// Relay is videobridge.relay.* (ENABLE_OCTO, JVB_OCTO_REGION, JVB_OCTO_RELAY_ID).
type Relay struct {
	Enabled bool
	Region  string
	RelayID string
}

// XMPPClient is one videobridge.apis.xmpp-client.configs.<ID> block.
type XMPPClient struct {
	ID                             string
	Hostname                       string
	Port                           int
	Domain                         string
	Username                       string
	Password                       string // never logged: see LogValue
	MUCJIDs                        []string
	MUCNickname                    string
	DisableCertificateVerification bool
	SecurityMode                   string // SECURITY_MODE: "" (TLS unless localhost), required, ifpossible, disabled
}

// LogValue keeps the password out of logs.
func (x XMPPClient) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", x.ID),
		slog.String("host", x.Hostname),
		slog.Int("port", x.Port),
		slog.String("domain", x.Domain),
		slog.String("user", x.Username),
		slog.Any("muc_jids", x.MUCJIDs),
		slog.String("nickname", x.MUCNickname),
	)
}

// Error is one bad setting: which key (env var, jvb.conf path or flag), the value given, and
// what was expected. Load returns all of them joined.
type Error struct {
	Source   string // "env", "flag" or the jvb.conf path
	Key      string
	Value    string
	Expected string
}

func (e *Error) Error() string {
	return fmt.Sprintf("config: %s %s = %q: expected %s", e.Source, e.Key, e.Value, e.Expected)
}

// Env looks a variable up like os.LookupEnv.
type Env func(key string) (string, bool)

// Defaults returns the configuration used when nothing is set: JVB's reference.conf, except
// that XMPP is off and health.require-valid-address is false (the jitsi/jvb image's
// JVB_REQUIRE_VALID_ADDRESS default).
func Defaults() *Config {
	return &Config{
		Port:                       10000,
		AdvertisePrivateCandidates: true,
		ResolveInterval:            time.Minute,
		STUNInterval:               5 * time.Minute,
		UDPGSO:                     true,
		SendInline:                 true,
		SCTP:                       true,
		HTTPAddr:                   "127.0.0.1:8080",
		REST: REST{
			Debug: true, Drain: true, Health: true, Prometheus: true, Version: true,
		},
		PresenceInterval: 0, // = StatsInterval unless set
		Shutdown: Shutdown{
			MaxDuration:       24 * time.Hour,
			ShuttingDownDelay: time.Minute,
		},
		StatsInterval:    5 * time.Second,
		EntityExpiration: time.Minute,
		Allocation:       DefaultAllocation(),
		WebSockets:       DefaultWebSockets(),
		LogFormat:        "text",
		LogLevel:         slog.LevelInfo,
	}
}

// Load builds the configuration from args (without the program name), the environment and
// the jvb.conf named by --config or JVB_CONFIG. A *Error (or several, joined) means the bridge
// must refuse to start; flag.ErrHelp is returned for -h.
func Load(args []string, env Env) (*Config, error) {
	cfg := Defaults()
	fl, err := parseFlags(args)
	if err != nil {
		return nil, err
	}
	var errs []error
	path := fl.config
	if path == "" {
		path, _ = lookup(env, "JVB_CONFIG")
	}
	presenceSet := false
	track := newSourceTracker(cfg)
	if path != "" {
		cfg.ConfigFile = path
		ps, ferrs, err := applyFile(cfg, path, env)
		if err != nil {
			return nil, err
		}
		presenceSet = ps
		errs = append(errs, ferrs...)
		track.stage(cfg, Source{Kind: "file", Name: path})
	}
	errs = append(errs, applyEnv(cfg, env)...)
	track.stage(cfg, Source{Kind: "env"})
	if path != "" {
		ps, err := applyIncludes(cfg, path, env)
		if err != nil {
			return nil, err
		}
		presenceSet = presenceSet || ps
		slices.Sort(cfg.Ignored)
		cfg.Ignored = slices.Compact(cfg.Ignored)
		track.stage(cfg, Source{Kind: "file", Name: "included by " + path})
	}
	errs = append(errs, applyFlags(cfg, fl)...)
	track.stage(cfg, Source{Kind: "flag"})
	if !presenceSet {
		cfg.PresenceInterval = cfg.StatsInterval
		if src, ok := track.sources["StatsInterval"]; ok {
			track.sources["PresenceInterval"] = src // follows stats.interval
		}
	}
	track.given(cfg, env, fl)
	cfg.Sources = track.sources
	errs = append(errs, validate(cfg)...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

func validate(cfg *Config) []error {
	var errs []error
	if cfg.Port < 0 || cfg.Port > 65535 {
		errs = append(errs, &Error{Source: "config", Key: "port", Value: strconv.Itoa(cfg.Port), Expected: "a UDP port 0-65535"})
	}
	if cfg.StatsInterval <= 0 {
		errs = append(errs, &Error{Source: "config", Key: "videobridge.stats.interval", Value: cfg.StatsInterval.String(), Expected: "a positive duration"})
	}
	for _, x := range cfg.XMPP {
		errs = append(errs, validateXMPP(x)...)
	}
	errs = append(errs, validateWebSockets(cfg)...)
	if len(cfg.XMPP) == 0 && cfg.XMPPOff == "" {
		cfg.XMPPOff = "XMPP disabled: set JVB_AUTH_PASSWORD and XMPP_SERVER to connect to prosody"
	}
	return errs
}

func validateXMPP(x XMPPClient) []error {
	var errs []error
	key := "videobridge.apis.xmpp-client.configs." + x.ID + "."
	need := func(name, v string) {
		if v == "" {
			errs = append(errs, &Error{Source: "config", Key: key + name, Value: "", Expected: "a non-empty value"})
		}
	}
	need("HOSTNAME", x.Hostname)
	if x.Hostname != "" && !validHost(x.Hostname) {
		errs = append(errs, &Error{Source: "config", Key: key + "HOSTNAME", Value: x.Hostname, Expected: "a host name or IP address"})
	}
	need("USERNAME", x.Username)
	need("PASSWORD", x.Password)
	need("MUC_NICKNAME", x.MUCNickname)
	if len(x.MUCJIDs) == 0 {
		errs = append(errs, &Error{Source: "config", Key: key + "MUC_JIDS", Expected: "at least one room JID like jvbbrewery@internal-muc.meet.jitsi"})
	}
	switch strings.ToLower(x.SecurityMode) {
	case "", "required", "ifpossible", "disabled":
	default:
		errs = append(errs, &Error{Source: "config", Key: key + "SECURITY_MODE", Value: x.SecurityMode, Expected: "required, ifpossible or disabled"})
	}
	if x.Port <= 0 || x.Port > 65535 {
		errs = append(errs, &Error{Source: "config", Key: key + "PORT", Value: strconv.Itoa(x.Port), Expected: "a TCP port 1-65535"})
	}
	return errs
}
