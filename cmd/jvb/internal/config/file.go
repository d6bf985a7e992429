package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxIncludeDepth stops include cycles.
const maxIncludeDepth = 8

// includeLine matches a whole-line include: include "f", include file("f"),
// include required("f"), include required(file("f")).
var includeLine = regexp.MustCompile(`(?m)^[ \t]*include[ \t]+(required\([ \t]*)?(file\([ \t]*)?"([^"]+)"[ \t]*\)?[ \t]*\)?[ \t]*$`)

// readHOCON parses path and the files it includes. Includes are resolved relative to the
// including file and merged after the including file's own keys (the docker image's
// `include "custom-jvb.conf"` is the last line); a missing include is skipped unless
// required(...).
func readHOCON(path string, chain []string, env Env) (hObject, error) {
	own, incs, err := readHOCONParts(path, chain, env)
	if err != nil {
		return nil, err
	}
	for _, sub := range incs {
		merge(own, sub)
	}
	return own, nil
}

// readIncludes returns what the files path includes add, merged, without path's own keys:
// the image's custom-jvb.conf, whose values win over the environment (nil when nothing is
// included).
func readIncludes(path string, env Env) (hObject, error) {
	_, incs, err := readHOCONParts(path, nil, env)
	if err != nil || len(incs) == 0 {
		return nil, err
	}
	root := hObject{}
	for _, sub := range incs {
		merge(root, sub)
	}
	return root, nil
}

// readHOCONParts parses path's own keys and, separately, each file it includes (with that
// file's own includes merged in), in include order.
func readHOCONParts(path string, chain []string, env Env) (hObject, []hObject, error) {
	if len(chain) > maxIncludeDepth {
		return nil, nil, fmt.Errorf("config: %s: includes nested deeper than %d", path, maxIncludeDepth)
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if slices.Contains(chain, path) {
		return nil, nil, fmt.Errorf("config: include cycle: %s includes %s again", chain[len(chain)-1], path)
	}
	chain = append(chain, path)
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: reading %s: %w", path, err)
	}
	text := string(raw)
	type inc struct {
		path     string
		required bool
	}
	var incs []inc
	text = includeLine.ReplaceAllStringFunc(text, func(line string) string {
		m := includeLine.FindStringSubmatch(line)
		p := m[3]
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(path), p)
		}
		incs = append(incs, inc{path: p, required: m[1] != ""})
		return ""
	})
	root, err := parseHOCON(text, env)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %s is not valid HOCON: %w", path, err)
	}
	var subs []hObject
	for _, in := range incs {
		sub, err := readHOCON(in.path, chain, env)
		if err != nil {
			if !in.required && errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, nil, err
		}
		subs = append(subs, sub)
	}
	return root, subs, nil
}

// fileReader reads typed values by dotted path and records errors naming the key.
type fileReader struct {
	root hObject
	path string
	errs []error
}

func (f *fileReader) get(key string) (hValue, bool) {
	var cur hValue = f.root
	for _, part := range strings.Split(key, ".") {
		o, ok := cur.(hObject)
		if !ok {
			return nil, false
		}
		if cur, ok = o[part]; !ok || cur == nil {
			return nil, false
		}
	}
	if _, isNull := cur.(hNull); isNull {
		return nil, false
	}
	return cur, true
}

func (f *fileReader) bad(key string, v hValue, want string) {
	f.errs = append(f.errs, &Error{Source: f.path, Key: key, Value: text(v), Expected: want})
}

func (f *fileReader) str(key string, dst *string) bool {
	v, ok := f.get(key)
	if !ok {
		return false
	}
	switch v.(type) {
	case hObject, hArray:
		f.bad(key, v, "a string")
		return false
	}
	*dst = text(v)
	return true
}

func (f *fileReader) boolean(key string, dst *bool) {
	v, ok := f.get(key)
	if !ok {
		return
	}
	if b, ok := v.(hBool); ok {
		*dst = bool(b)
		return
	}
	b, good := parseBool(text(v))
	if !good {
		f.bad(key, v, "a boolean (true or false)")
		return
	}
	*dst = b
}

func (f *fileReader) integer(key string, dst *int, lo, hi int) bool {
	return f.integerWant(key, dst, lo, hi, fmt.Sprintf("an integer from %d to %d", lo, hi))
}

// integerWant is integer with the operator-facing expectation spelled out.
func (f *fileReader) integerWant(key string, dst *int, lo, hi int, want string) bool {
	v, ok := f.get(key)
	if !ok {
		return false
	}
	n, err := strconv.Atoi(text(v))
	if err != nil || n < lo || n > hi {
		f.bad(key, v, want)
		return false
	}
	*dst = n
	return true
}

// duration accepts HOCON durations (5 seconds, 1 minute, 500 ms, 24 hours), a Go duration
// (5s) or a bare number of milliseconds, like Typesafe Config's getDuration.
func (f *fileReader) duration(key string, dst *time.Duration) bool {
	v, ok := f.get(key)
	if !ok {
		return false
	}
	d, err := parseDuration(text(v))
	if err != nil {
		f.bad(key, v, "a duration such as 5 seconds, 1 minute, 500 ms or 24 hours")
		return false
	}
	*dst = d
	return true
}

var durationUnits = map[string]time.Duration{
	"": time.Millisecond, "ns": time.Nanosecond, "nanos": time.Nanosecond, "nanoseconds": time.Nanosecond,
	"us": time.Microsecond, "micros": time.Microsecond, "microseconds": time.Microsecond,
	"ms": time.Millisecond, "milli": time.Millisecond, "millis": time.Millisecond,
	"millisecond": time.Millisecond, "milliseconds": time.Millisecond,
	"s": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d, nil
	}
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	mult, ok := durationUnits[unit]
	n, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || n < 0 {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	return time.Duration(n * float64(mult)), nil
}

// applyFile reads jvb.conf with its includes. It reports whether presence-interval was set,
// the bad values, and a fatal error when the file cannot be read or parsed.
func applyFile(cfg *Config, path string, env Env) (bool, []error, error) {
	root, err := readHOCON(path, nil, env)
	if err != nil {
		return false, nil, err
	}
	ps, errs := applyTree(cfg, root, path, env)
	return ps, errs, nil
}

// applyIncludes applies again what the files jvb.conf includes set, after the environment:
// in the jitsi/jvb image the environment is rendered into jvb.conf, which includes
// custom-jvb.conf last, so the custom file's values win. Bad values were already reported by
// applyFile (the same keys are in the merged file), so only presence-interval is reported.
func applyIncludes(cfg *Config, path string, env Env) (bool, error) {
	root, err := readIncludes(path, env)
	if err != nil || root == nil {
		return false, err
	}
	ps, _ := applyTree(cfg, root, path, env)
	return ps, nil
}

// applyTree sets every setting root has; settings it lacks keep their values.
func applyTree(cfg *Config, root hObject, path string, env Env) (bool, []error) {
	f := &fileReader{root: root, path: path}
	const vb = "videobridge."

	f.integer(vb+"ice.udp.port", &cfg.Port, 0, 65535)
	f.boolean(vb+"ice.advertise-private-candidates", &cfg.AdvertisePrivateCandidates)
	f.boolean(vb+"ice.tcp.enabled", &cfg.ICETCP.Enabled)
	f.integer(vb+"ice.tcp.port", &cfg.ICETCP.Port, 1, 65535)
	f.integer(vb+"ice.tcp.mapped-port", &cfg.ICETCP.MappedPort, 1, 65535)
	f.boolean(vb+"health.require-valid-address", &cfg.RequireValidAddress)
	f.boolean(vb+"sctp.enabled", &cfg.SCTP)
	readStaticMappings(f, cfg)
	readSTUN(f, cfg)

	host, port := splitHTTP(cfg.HTTPAddr)
	f.str(vb+"http-servers.private.host", &host)
	f.integer(vb+"http-servers.private.port", &port, 0, 65535)
	cfg.HTTPAddr = joinHTTP(host, port)

	f.boolean(vb+"apis.rest.enabled", &cfg.REST.Colibri)
	f.boolean(vb+"rest.shutdown.enabled", &cfg.REST.Shutdown)
	f.boolean(vb+"rest.debug.enabled", &cfg.REST.Debug)
	f.boolean(vb+"rest.drain.enabled", &cfg.REST.Drain)
	f.boolean(vb+"rest.health.enabled", &cfg.REST.Health)
	f.boolean(vb+"rest.prometheus.enabled", &cfg.REST.Prometheus)
	f.boolean(vb+"rest.version.enabled", &cfg.REST.Version)

	f.duration(vb+"shutdown.graceful-shutdown-max-duration", &cfg.Shutdown.MaxDuration)
	f.integer(vb+"shutdown.graceful-shutdown-min-participants", &cfg.Shutdown.MinParticipants, 0, 1<<30)
	f.duration(vb+"shutdown.shutting-down-delay", &cfg.Shutdown.ShuttingDownDelay)
	f.boolean(vb+"initial-drain-mode", &cfg.InitialDrain)
	f.duration(vb+"stats.interval", &cfg.StatsInterval)
	presenceSet := f.duration(vb+"apis.xmpp-client.presence-interval", &cfg.PresenceInterval)
	f.duration(vb+"entity-expiration.timeout", &cfg.EntityExpiration)
	f.str(vb+"version.release", &cfg.Release)
	readAllocation(f, &cfg.Allocation)
	f.integer(vb+"limits.max-conferences", &cfg.Limits.MaxConferences, -1, maxLimit)
	f.integer(vb+"limits.max-endpoints", &cfg.Limits.MaxEndpoints, -1, maxLimit)
	f.integer(vb+"limits.max-endpoints-per-conference", &cfg.Limits.MaxEndpointsPerConference, -1, maxLimit)
	readWebSockets(f, cfg)

	// videobridge.octo.* is the legacy spelling; relay.* wins.
	for _, base := range []string{vb + "octo.", vb + "relay."} {
		f.boolean(base+"enabled", &cfg.Relay.Enabled)
		f.str(base+"region", &cfg.Relay.Region)
		f.str(base+"relay-id", &cfg.Relay.RelayID)
	}
	readXMPP(f, cfg, env)
	return presenceSet, f.errs
}

func splitHTTP(addr string) (string, int) {
	i := strings.LastIndexByte(addr, ':')
	p, _ := strconv.Atoi(addr[i+1:])
	return strings.Trim(addr[:i], "[]"), p
}

func joinHTTP(host string, port int) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

func readStaticMappings(f *fileReader, cfg *Config) {
	const key = "ice4j.harvest.mapping.static-mappings"
	v, ok := f.get(key)
	if !ok {
		return
	}
	arr, ok := v.(hArray)
	if !ok {
		f.bad(key, v, "a list of {local-address, public-address, [local-port, public-port], name} objects")
		return
	}
	var out []AdvertisedAddr
	for i, item := range arr {
		o, ok := item.(hObject)
		k := fmt.Sprintf("%s[%d]", key, i)
		if !ok {
			f.bad(k, item, "an object with public-address")
			return
		}
		sub := &fileReader{root: o, path: f.path}
		var pub, local string
		sub.str("public-address", &pub)
		a, good := parseAdvertisedHost(strings.TrimSpace(pub))
		if !good {
			f.bad(k+".public-address", o["public-address"], "an IP address or host name")
			continue
		}
		if sub.str("local-address", &local) {
			ip, err := netip.ParseAddr(strings.Trim(strings.TrimSpace(local), "[]"))
			if err != nil || ip.Zone() != "" {
				f.bad(k+".local-address", o["local-address"], "an IP address of this host")
				continue
			}
			a.Local = ip.Unmap()
		}
		// ice4j wants both ports or neither; a public-port alone is taken as "any local port".
		sub.integer("local-port", &a.LocalPort, 1, 65535)
		sub.integer("public-port", &a.Port, 1, 65535)
		for _, e := range sub.errs {
			if ce, ok := e.(*Error); ok {
				ce.Key = k + "." + ce.Key
			}
			f.errs = append(f.errs, e)
		}
		out = append(out, a)
	}
	cfg.Advertised = out
}

// readSTUN reads ice4j.harvest.mapping.stun.{addresses, enabled}.
func readSTUN(f *fileReader, cfg *Config) {
	const base = "ice4j.harvest.mapping.stun."
	if v, ok := f.get(base + "addresses"); ok {
		var items []string
		if arr, isArr := v.(hArray); isArr {
			for _, it := range arr {
				items = append(items, text(it))
			}
		} else {
			items = strings.Split(text(v), ",")
		}
		if servers, good := parseSTUNServers(items); good {
			cfg.STUNServers = servers
		} else {
			f.bad(base+"addresses", v, `a list of STUN servers as "host:port"`)
		}
	}
	enabled := true
	f.boolean(base+"enabled", &enabled)
	if !enabled {
		cfg.STUNServers = nil
	}
}

func readXMPP(f *fileReader, cfg *Config, env Env) {
	const base = "videobridge.apis.xmpp-client.configs"
	v, ok := f.get(base)
	if !ok {
		return
	}
	configs, ok := v.(hObject)
	if !ok {
		f.bad(base, v, "an object of named XMPP connections")
		return
	}
	for id, raw := range configs {
		props, ok := raw.(hObject)
		key := base + "." + id
		if !ok {
			f.bad(key, raw, "an object with HOSTNAME, DOMAIN, USERNAME, PASSWORD, MUC_JIDS, MUC_NICKNAME")
			continue
		}
		// Property names are case-insensitive, as in jicoco's MucClientConfiguration.
		o := make(hObject, len(props))
		for name, v := range props {
			o[strings.ToUpper(name)] = v
		}
		sub := &fileReader{root: o, path: f.path}
		// Properties merge into a connection of the same id (e.g. the environment's shard0,
		// when custom-jvb.conf sets only its PASSWORD), as HOCON objects merge in the image.
		x := XMPPClient{ID: id, Port: 5222, MUCNickname: hostname(env)}
		for _, have := range cfg.XMPP {
			if have.ID == id {
				x = have
				x.MUCJIDs = slices.Clone(have.MUCJIDs)
			}
		}
		sub.str("HOSTNAME", &x.Hostname)
		sub.integer("PORT", &x.Port, 1, 65535)
		sub.str("DOMAIN", &x.Domain)
		sub.str("USERNAME", &x.Username)
		sub.str("PASSWORD", &x.Password)
		sub.str("MUC_NICKNAME", &x.MUCNickname)
		sub.boolean("DISABLE_CERTIFICATE_VERIFICATION", &x.DisableCertificateVerification)
		sub.str("SECURITY_MODE", &x.SecurityMode)
		if jv, ok := o["MUC_JIDS"]; ok {
			x.MUCJIDs = nil
			var items []string
			if arr, isArr := jv.(hArray); isArr {
				for _, it := range arr {
					items = append(items, text(it))
				}
			} else {
				items = strings.Split(text(jv), ",")
			}
			for _, j := range items {
				if j = strings.TrimSpace(j); j != "" {
					x.MUCJIDs = append(x.MUCJIDs, j)
				}
			}
		}
		if x.Domain == "" {
			x.Domain = x.Hostname
		}
		for _, e := range sub.errs {
			if ce, ok := e.(*Error); ok {
				ce.Key = key + "." + ce.Key
			}
			f.errs = append(f.errs, e)
		}
		cfg.XMPP = replaceXMPP(cfg.XMPP, x)
	}
	slices.SortFunc(cfg.XMPP, func(a, b XMPPClient) int { return strings.Compare(a.ID, b.ID) })
}
