package config

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
)

// usedEnv are the variables Load reads (TZ is honoured by the Go runtime itself).
var usedEnv = []string{
	"COLIBRI_REST_ENABLED", "DOCKER_HOST_ADDRESS", "ENABLE_COLIBRI_WEBSOCKET", "ENABLE_JVB_XMPP_SERVER", "ENABLE_OCTO", "HOSTNAME",
	"JVB_ADVERTISE_IPS", "JVB_ADVERTISE_PRIVATE_CANDIDATES", "JVB_AUTH_PASSWORD", "JVB_AUTH_USER",
	"JVB_BREWERY_MUC", "JVB_CONFIG", "JVB_DISABLE_XMPP", "JVB_INSTANCE_ID", "JVB_MUC_NICKNAME",
	"JVB_MAX_CONFERENCES", "JVB_MAX_ENDPOINTS", "JVB_MAX_ENDPOINTS_PER_CONFERENCE", "JVB_STANDALONE_HOSTS",
	"JVB_OCTO_BIND_ADDRESS", "JVB_OCTO_REGION", "JVB_OCTO_RELAY_ID", "JVB_PORT", "JVB_REQUIRE_VALID_ADDRESS", "JVB_REQUIRE_XMPP",
	"JVB_STUN_SERVERS", "JVB_DISABLE_STUN", "JVB_TCP_HARVESTER_DISABLED", "JVB_TCP_PORT", "JVB_TCP_MAPPED_PORT",
	"JVB_XMPP_AUTH_DOMAIN", "JVB_XMPP_INTERNAL_MUC_DOMAIN", "JVB_XMPP_PORT", "JVB_XMPP_SERVER",
	"SHUTDOWN_REST_ENABLED", "TZ", "XMPP_AUTH_DOMAIN", "XMPP_INTERNAL_MUC_DOMAIN", "XMPP_PORT", "XMPP_SERVER",
}

// KnownEnv lists every variable Load reads or knowingly ignores, sorted.
func KnownEnv() []string {
	out := append(append(append([]string(nil), usedEnv...), ignoredEnv...), webSocketEnv...)
	sort.Strings(out)
	return out
}

// ignoredEnv are jitsi/jvb variables accepted for compatibility that change nothing here
// (JVM, AWS harvesting, bandwidth-estimator choice, logging files, sidecar).
var ignoredEnv = []string{
	"DISABLE_AWS_HARVESTER", "JVB_CC_TRUST_BWE",
	"ENABLE_VLA", "BWE_ESTIMATOR_ENGINE", "JVB_USE_USRSCTP", "VIDEOBRIDGE_MAX_MEMORY",
	"VIDEOBRIDGE_GC_TYPE", "JVB_LOG_FILE", "SENTRY_DSN", "JVB_SENTRY_DSN", "SENTRY_ENVIRONMENT",
	"SENTRY_RELEASE", "JVB_COLIBRI_PORT", "ENABLE_SCTP", "JVB_OCTO_BIND_PORT",
	"JVB_OCTO_PUBLIC_ADDRESS", "AUTOSCALER_URL", "AUTOSCALER_SIDECAR_KEY_FILE",
	"AUTOSCALER_SIDECAR_KEY_ID", "AUTOSCALER_SIDECAR_PORT", "AUTOSCALER_SIDECAR_INSTANCE_ID",
	"AUTOSCALER_SIDECAR_REGION", "AUTOSCALER_SIDECAR_GROUP_NAME", "AUTOSCALER_SIDECAR_HOST_ID",
	"AUTOSCALER_SIDECAR_SHUTDOWN_POLLING_INTERVAL", "AUTOSCALER_SIDECAR_STATS_POLLING_INTERVAL",
}

// lookup treats an empty variable as unset: docker-compose passes every listed variable,
// empty when the .env file does not set it.
func lookup(env Env, key string) (string, bool) {
	v, ok := env(key)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

// envReader reads typed variables and collects errors that name the variable.
type envReader struct {
	env  Env
	errs []error
}

func (r *envReader) bad(key, v, want string) {
	r.errs = append(r.errs, &Error{Source: "env", Key: key, Value: v, Expected: want})
}

func (r *envReader) str(key, def string) string {
	if v, ok := lookup(r.env, key); ok {
		return v
	}
	return def
}

// boolean parses like gomplate's toBool used by the image templates, but refuses garbage.
func (r *envReader) boolean(key string, def bool) bool {
	v, ok := lookup(r.env, key)
	if !ok {
		return def
	}
	b, good := parseBool(v)
	if !good {
		r.bad(key, v, "a boolean: true/false, 1/0, yes/no or on/off")
		return def
	}
	return b
}

func parseBool(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "1", "t", "true", "yes", "y", "on":
		return true, true
	case "0", "f", "false", "no", "n", "off":
		return false, true
	}
	return false, false
}

func (r *envReader) port(key string, def int) int {
	v, ok := lookup(r.env, key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		r.bad(key, v, "a port number 1-65535")
		return def
	}
	return n
}

// limit reads a cap: -1 (none), 0 (default) or a positive count.
func (r *envReader) limit(key string, def int) int {
	v, ok := lookup(r.env, key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < -1 || n > maxLimit {
		r.bad(key, v, fmt.Sprintf("a count from 1 to %d, 0 for the default or -1 for no limit", maxLimit))
		return def
	}
	return n
}

// udpPort reads the media port: 0 (any free port) to 65535, as in jvb.conf and --port.
func (r *envReader) udpPort(key string, def int) int {
	v, ok := lookup(r.env, key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 65535 {
		r.bad(key, v, "a port number 0-65535 (0: any free port)")
		return def
	}
	return n
}

func applyEnv(cfg *Config, env Env) []error {
	r := &envReader{env: env}
	cfg.Limits.MaxConferences = r.limit("JVB_MAX_CONFERENCES", cfg.Limits.MaxConferences)
	cfg.Limits.MaxEndpoints = r.limit("JVB_MAX_ENDPOINTS", cfg.Limits.MaxEndpoints)
	cfg.Limits.MaxEndpointsPerConference = r.limit("JVB_MAX_ENDPOINTS_PER_CONFERENCE", cfg.Limits.MaxEndpointsPerConference)
	if v, ok := lookup(env, "JVB_STANDALONE_HOSTS"); ok {
		cfg.StandaloneHosts = nil
		for h := range strings.SplitSeq(v, ",") {
			if h = strings.TrimSpace(h); h == "" {
				continue
			}
			if !validHost(h) {
				r.bad("JVB_STANDALONE_HOSTS", v, "a comma-separated list of host names")
				break
			}
			cfg.StandaloneHosts = append(cfg.StandaloneHosts, h)
		}
	}
	if _, ok := lookup(env, "JVB_PORT"); ok {
		cfg.Port = r.udpPort("JVB_PORT", cfg.Port)
	}
	ips, ok := lookup(env, "JVB_ADVERTISE_IPS")
	key := "JVB_ADVERTISE_IPS"
	if !ok {
		ips, ok = lookup(env, "DOCKER_HOST_ADDRESS") // deprecated alias
		key = "DOCKER_HOST_ADDRESS"
	}
	if ok {
		addrs, good := parseAdvertised(ips)
		if !good {
			r.bad(key, ips, "a comma-separated list of IP addresses or host names, each optionally with #port (like 203.0.113.7, 203.0.113.7#30000 or meet.example.com)")
		} else {
			cfg.Advertised = addrs
		}
	}
	cfg.AdvertisePrivateCandidates = r.boolean("JVB_ADVERTISE_PRIVATE_CANDIDATES", cfg.AdvertisePrivateCandidates)
	applyEnvICETCP(cfg, r)
	cfg.RequireValidAddress = r.boolean("JVB_REQUIRE_VALID_ADDRESS", cfg.RequireValidAddress)
	cfg.UDPGSO = r.boolean("JVB_UDP_GSO", cfg.UDPGSO)
	cfg.SendInline = r.boolean("JVB_SEND_INLINE", cfg.SendInline)
	if v, ok := lookup(env, "JVB_STUN_SERVERS"); ok {
		if servers, good := parseSTUNServers(strings.Split(v, ",")); good {
			cfg.STUNServers = servers
		} else {
			r.bad("JVB_STUN_SERVERS", v, "a comma-separated list of STUN servers as host:port (like meet-jit-si-turnrelay.jitsi.net:443)")
		}
	}
	if r.boolean("JVB_DISABLE_STUN", false) {
		cfg.STUNServers = nil
	}
	cfg.REST.Colibri = r.boolean("COLIBRI_REST_ENABLED", cfg.REST.Colibri)
	cfg.REST.Shutdown = r.boolean("SHUTDOWN_REST_ENABLED", cfg.REST.Shutdown)
	cfg.InstanceID = r.str("JVB_INSTANCE_ID", cfg.InstanceID)

	if r.boolean("ENABLE_OCTO", false) {
		cfg.Relay.Enabled = true
		cfg.Relay.Region = r.str("JVB_OCTO_REGION", "europe")
		cfg.Relay.RelayID = r.str("JVB_OCTO_RELAY_ID", r.str("JVB_OCTO_BIND_ADDRESS", ""))
	}

	applyEnvXMPP(cfg, r)
	applyEnvWebSockets(cfg, r)

	for _, k := range ignoredEnv {
		if _, ok := lookup(env, k); ok {
			cfg.Ignored = append(cfg.Ignored, k)
		}
	}
	sort.Strings(cfg.Ignored)
	return r.errs
}

// splitServer splits one XMPP_SERVER entry: host, host:port, an IPv6 literal with or without
// brackets, or [IPv6]:port. The host must be a usable host name or address (validHost).
func splitServer(entry string, defPort int) (string, int, bool) {
	literal := entry
	if strings.HasPrefix(entry, "[") && strings.HasSuffix(entry, "]") {
		literal = entry[1 : len(entry)-1]
	}
	if a, err := netip.ParseAddr(literal); err == nil && a.Zone() == "" {
		return a.String(), defPort, true
	}
	host, p, err := net.SplitHostPort(entry)
	if err != nil {
		if strings.ContainsAny(entry, ":[]") {
			return "", 0, false
		}
		host, p = entry, ""
	}
	port := defPort
	if p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", 0, false
		}
		port = n
	}
	if !validHost(host) {
		return "", 0, false
	}
	return host, port, true
}

// validHost accepts an IP address or a DNS name (letters, digits, '-' and '_' in dot-separated
// labels of at most 63 bytes, 253 in all): a name with spaces or other characters can never
// resolve, and would only make the client retry forever.
func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// applyEnvXMPP renders the xmpp-client configs like the image's jvb.conf template does:
// one "shard<i>" per XMPP_SERVER entry. Without JVB_AUTH_PASSWORD the environment defines no
// XMPP client: with JVB_REQUIRE_XMPP (set by the image) that is an error, as in jitsi/jvb;
// otherwise the bridge runs without XMPP (standalone mode).
func applyEnvXMPP(cfg *Config, r *envReader) {
	if r.boolean("JVB_DISABLE_XMPP", false) {
		cfg.XMPP = nil
		cfg.XMPPOff = "XMPP disabled by JVB_DISABLE_XMPP"
		return
	}
	password, ok := lookup(r.env, "JVB_AUTH_PASSWORD")
	if !ok {
		// The image sets JVB_REQUIRE_XMPP: like jitsi/jvb's init script it refuses to start
		// rather than come up as a bridge jicofo never sees.
		if r.boolean("JVB_REQUIRE_XMPP", false) {
			r.bad("JVB_AUTH_PASSWORD", "", "the XMPP password of the jvb account (the image requires it, like jitsi/jvb; "+
				"set JVB_DISABLE_XMPP=1 to run without XMPP)")
		}
		return
	}
	servers := r.str("XMPP_SERVER", "xmpp.meet.jitsi")
	portKey := "XMPP_PORT"
	defPort := r.port("XMPP_PORT", 5222)
	domain := r.str("XMPP_AUTH_DOMAIN", "auth.meet.jitsi")
	mucDomain := r.str("XMPP_INTERNAL_MUC_DOMAIN", "internal-muc.meet.jitsi")
	if r.boolean("ENABLE_JVB_XMPP_SERVER", false) {
		servers = r.str("JVB_XMPP_SERVER", "xmpp.jvb.meet.jitsi")
		portKey = "JVB_XMPP_PORT"
		defPort = r.port("JVB_XMPP_PORT", 6222)
		domain = r.str("JVB_XMPP_AUTH_DOMAIN", "auth.jvb.meet.jitsi")
		mucDomain = r.str("JVB_XMPP_INTERNAL_MUC_DOMAIN", "muc.jvb.meet.jitsi")
	}
	nick := r.str("JVB_MUC_NICKNAME", hostname(r.env))
	muc := r.str("JVB_BREWERY_MUC", "jvbbrewery") + "@" + mucDomain
	user := r.str("JVB_AUTH_USER", "jvb")

	var clients []XMPPClient
	for i, entry := range strings.Split(servers, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		host, port, ok := splitServer(entry, defPort)
		if !ok {
			r.bad("XMPP_SERVER", servers, "a comma-separated list of host, host:port, [IPv6] or [IPv6]:port (port 1-65535; "+portKey+" is the default port)")
			return
		}
		clients = append(clients, XMPPClient{
			ID:                             "shard" + strconv.Itoa(i),
			Hostname:                       host,
			Port:                           port,
			Domain:                         domain,
			Username:                       user,
			Password:                       password,
			MUCJIDs:                        []string{muc},
			MUCNickname:                    nick,
			DisableCertificateVerification: true,
		})
	}
	if len(clients) == 0 {
		r.bad("XMPP_SERVER", servers, "at least one XMPP server host")
		return
	}
	// Same ids as in jvb.conf replace the file's; other file ids stay.
	for _, c := range clients {
		cfg.XMPP = replaceXMPP(cfg.XMPP, c)
	}
	cfg.XMPPOff = ""
}

func replaceXMPP(list []XMPPClient, c XMPPClient) []XMPPClient {
	for i := range list {
		if list[i].ID == c.ID {
			list[i] = c
			return list
		}
	}
	return append(list, c)
}

func hostname(env Env) string {
	if h, ok := lookup(env, "HOSTNAME"); ok {
		return h
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "jvb"
	}
	return h
}

// parseAdvertised parses "addr[#port],addr[#port]" where addr is an IP address or a DNS name
// (resolved by cmd/jvb).
func parseAdvertised(list string) ([]AdvertisedAddr, bool) {
	var out []AdvertisedAddr
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		host, portStr, hasPort := strings.Cut(item, "#")
		a, ok := parseAdvertisedHost(host)
		if !ok {
			return nil, false
		}
		if hasPort {
			n, err := strconv.Atoi(portStr)
			if err != nil || n < 1 || n > 65535 {
				return nil, false
			}
			a.Port = n
		}
		out = append(out, a)
	}
	return out, len(out) > 0
}

// parseAdvertisedHost takes an IP address (IPv6 with or without brackets, no zone) or a DNS name.
func parseAdvertisedHost(h string) (AdvertisedAddr, bool) {
	if ip, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		if ip.Zone() != "" {
			return AdvertisedAddr{}, false
		}
		return AdvertisedAddr{IP: ip.Unmap()}, true
	}
	// A name must have a letter somewhere: "1.2.3" or "300.1.1.1" are broken addresses, not names.
	if !validHost(h) || !strings.ContainsFunc(h, func(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }) {
		return AdvertisedAddr{}, false
	}
	return AdvertisedAddr{Host: strings.ToLower(strings.TrimSuffix(h, "."))}, true
}

// parseSTUNServers checks "host:port" entries (a host alone gets STUN's port 3478); empty
// entries are skipped.
func parseSTUNServers(list []string) ([]string, bool) {
	var out []string
	for _, e := range list {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		host, port, ok := splitServer(e, 3478)
		if !ok {
			return nil, false
		}
		out = append(out, net.JoinHostPort(host, strconv.Itoa(port)))
	}
	return out, true
}

// applyEnvICETCP reads the jitsi/jvb image's ICE-TCP variables: JVB_TCP_HARVESTER_DISABLED=false
// turns it on, on JVB_TCP_PORT (the image's default 4443 unless jvb.conf names a port),
// announcing JVB_TCP_MAPPED_PORT.
func applyEnvICETCP(cfg *Config, r *envReader) {
	if _, ok := lookup(r.env, "JVB_TCP_HARVESTER_DISABLED"); ok {
		cfg.ICETCP.Enabled = !r.boolean("JVB_TCP_HARVESTER_DISABLED", true)
		if cfg.ICETCP.Enabled && cfg.ICETCP.Port == 0 {
			cfg.ICETCP.Port = 4443
		}
	}
	if !cfg.ICETCP.Enabled {
		return
	}
	cfg.ICETCP.Port = r.port("JVB_TCP_PORT", cfg.ICETCP.Port)
	cfg.ICETCP.MappedPort = r.port("JVB_TCP_MAPPED_PORT", cfg.ICETCP.MappedPort)
}
