package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Source says where a setting's value came from: Kind is "default", "file", "env" or "flag";
// Name is the file for "file" (the includes of jvb.conf are named "includes of <path>").
type Source struct {
	Kind string
	Name string
}

func (s Source) String() string {
	if s.Name == "" {
		return s.Kind
	}
	return s.Kind + " " + s.Name
}

// Setting is one setting in effect, for `jvb doctor`: Field is the Config field path
// ("Port", "REST.Colibri", "XMPP[shard0].Password"), Value its value (passwords show only
// whether one is set) and Keys the names an operator sets it by.
type Setting struct {
	Field  string
	Value  string
	Source Source
	Keys   string
}

// Settings lists every setting with its value and source, sorted by field.
func (c *Config) Settings() []Setting {
	vals := flatten(c)
	out := make([]Setting, 0, len(vals))
	for f, v := range vals {
		src, ok := c.Sources[f]
		if !ok {
			src = Source{Kind: "default"}
		}
		out = append(out, Setting{Field: f, Value: v, Source: src, Keys: keysOf(f)})
	}
	slices.SortFunc(out, func(a, b Setting) int { return strings.Compare(a.Field, b.Field) })
	return out
}

// sourceTracker attributes each setting to the last stage of Load that changed it.
type sourceTracker struct {
	prev    map[string]string
	sources map[string]Source
}

func newSourceTracker(cfg *Config) *sourceTracker {
	return &sourceTracker{prev: flatten(cfg), sources: map[string]Source{}}
}

// stage records src for every setting whose value differs from the previous stage's.
func (t *sourceTracker) stage(cfg *Config, src Source) {
	cur := flatten(cfg)
	for k, v := range cur {
		if old, ok := t.prev[k]; !ok || old != v {
			t.sources[k] = src
		}
	}
	t.prev = cur
}

// given marks settings whose variable or flag was given at the value the layer below already
// had (JVB_PORT=10000): the diff of stages cannot see them. A variable the loader ignored
// (cfg.Ignored) does not count.
func (t *sourceTracker) given(cfg *Config, env Env, fl *flags) {
	for field, keys := range settingKeys {
		if strings.HasPrefix(field, "XMPP.") {
			continue
		}
		src, ok := t.sources[field]
		for _, k := range strings.FieldsFunc(keys, func(r rune) bool { return r == ',' || r == ' ' || r == '(' || r == ')' }) {
			switch {
			case strings.HasPrefix(k, "--") && fl.set[k[2:]]:
				t.sources[field] = Source{Kind: "flag"}
			case (!ok || src.Kind == "default" || src.Name == cfg.ConfigFile) && isEnvName(k) && !slices.Contains(cfg.Ignored, k):
				if _, set := lookup(env, k); set {
					t.sources[field] = Source{Kind: "env"}
				}
			}
		}
	}
}

func isEnvName(k string) bool {
	return k != "" && strings.IndexFunc(k, func(r rune) bool { return !(r >= 'A' && r <= 'Z' || r == '_') }) < 0
}

// notSettings are Config fields that describe the load rather than set anything.
var notSettings = map[string]bool{"ConfigFile": true, "XMPPOff": true, "Ignored": true, "Sources": true}

// flatten renders every setting of cfg as text by field path.
func flatten(cfg *Config) map[string]string {
	out := map[string]string{}
	v := reflect.ValueOf(cfg).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if notSettings[name] {
			continue
		}
		flattenValue(out, name, v.Field(i))
	}
	return out
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	addrType     = reflect.TypeFor[netip.Addr]()
	stringerType = reflect.TypeFor[fmt.Stringer]()
)

func flattenValue(out map[string]string, path string, v reflect.Value) {
	switch {
	case v.Type() == durationType || v.Type() == addrType:
		out[path] = fmt.Sprint(v.Interface())
		return
	case v.Type() == reflect.TypeFor[XMPPClient]():
		x := v.Interface().(XMPPClient)
		pw := "(not set)"
		if x.Password != "" {
			pw = "(set)"
		}
		x.Password = ""
		base := path
		fv := reflect.ValueOf(x)
		for i := range fv.NumField() {
			name := fv.Type().Field(i).Name
			if name == "Password" {
				out[base+".Password"] = pw
				continue
			}
			flattenValue(out, base+"."+name, fv.Field(i))
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		if v.Type().Implements(stringerType) {
			out[path] = fmt.Sprint(v.Interface())
			return
		}
		for i := range v.NumField() {
			if !v.Type().Field(i).IsExported() {
				continue
			}
			flattenValue(out, path+"."+v.Type().Field(i).Name, v.Field(i))
		}
	case reflect.Slice:
		if v.Type().Elem() == reflect.TypeFor[XMPPClient]() {
			for i := range v.Len() {
				x := v.Index(i).Interface().(XMPPClient)
				flattenValue(out, path+"["+x.ID+"]", v.Index(i))
			}
			return
		}
		parts := make([]string, v.Len())
		for i := range v.Len() {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		out[path] = strings.Join(parts, ",")
	default:
		out[path] = fmt.Sprint(v.Interface())
	}
}

// settingKeys names, per field path (XMPP fields without the id), the jvb.conf key, the
// environment variables and the flag that set it.
var settingKeys = map[string]string{
	"Port":                                "videobridge.ice.udp.port, JVB_PORT, --port",
	"Advertised":                          "ice4j.harvest.mapping.static-mappings, JVB_ADVERTISE_IPS (DOCKER_HOST_ADDRESS)",
	"AdvertisePrivateCandidates":          "videobridge.ice.advertise-private-candidates, JVB_ADVERTISE_PRIVATE_CANDIDATES",
	"RequireValidAddress":                 "videobridge.health.require-valid-address, JVB_REQUIRE_VALID_ADDRESS",
	"SCTP":                                "videobridge.sctp.enabled",
	"STUNServers":                         "ice4j.harvest.mapping.stun.addresses (.enabled), JVB_STUN_SERVERS, JVB_DISABLE_STUN",
	"HTTPAddr":                            "videobridge.http-servers.private.host/port, --http",
	"REST.Colibri":                        "videobridge.apis.rest.enabled, COLIBRI_REST_ENABLED",
	"REST.Shutdown":                       "videobridge.rest.shutdown.enabled, SHUTDOWN_REST_ENABLED",
	"PublicHTTPAddr":                      "videobridge.http-servers.public.host/port, ENABLE_COLIBRI_WEBSOCKET",
	"PresenceInterval":                    "videobridge.apis.xmpp-client.presence-interval",
	"StatsInterval":                       "videobridge.stats.interval",
	"InitialDrain":                        "videobridge.initial-drain-mode",
	"EntityExpiration":                    "videobridge.entity-expiration.timeout",
	"Relay.Enabled":                       "videobridge.relay.enabled, ENABLE_OCTO",
	"Relay.Region":                        "videobridge.relay.region, JVB_OCTO_REGION",
	"Relay.RelayID":                       "videobridge.relay.relay-id, JVB_OCTO_RELAY_ID",
	"Release":                             "videobridge.version.release",
	"InstanceID":                          "JVB_INSTANCE_ID",
	"LogFormat":                           "--log-format",
	"LogLevel":                            "--log-level",
	"Pprof":                               "--pprof",
	"StandaloneHosts":                     "JVB_STANDALONE_HOSTS",
	"Limits.MaxConferences":               "videobridge.limits.max-conferences, JVB_MAX_CONFERENCES",
	"Limits.MaxEndpoints":                 "videobridge.limits.max-endpoints, JVB_MAX_ENDPOINTS",
	"Limits.MaxEndpointsPerConference":    "videobridge.limits.max-endpoints-per-conference, JVB_MAX_ENDPOINTS_PER_CONFERENCE",
	"REST.Debug":                          "videobridge.rest.debug.enabled",
	"REST.Drain":                          "videobridge.rest.drain.enabled",
	"REST.Health":                         "videobridge.rest.health.enabled",
	"REST.Prometheus":                     "videobridge.rest.prometheus.enabled",
	"REST.Version":                        "videobridge.rest.version.enabled",
	"Shutdown.MaxDuration":                "videobridge.shutdown.graceful-shutdown-max-duration",
	"Shutdown.MinParticipants":            "videobridge.shutdown.graceful-shutdown-min-participants",
	"Shutdown.ShuttingDownDelay":          "videobridge.shutdown.shutting-down-delay",
	"Allocation.InitialLastN":             "videobridge.cc.initial-last-n",
	"Allocation.JVBLastN":                 "videobridge.cc.jvb-last-n",
	"Allocation.DefaultMaxHeight":         "videobridge.cc.default-max-height-px",
	"Allocation.InitialMaxHeight":         "videobridge.cc.initial-max-height-px",
	"Allocation.SSRCLimitVideo":           "videobridge.ssrc-limit.video",
	"Allocation.SSRCLimitAudio":           "videobridge.ssrc-limit.audio",
	"WebSockets.Enabled":                  "videobridge.websockets.enabled, ENABLE_COLIBRI_WEBSOCKET",
	"WebSockets.Domains":                  "videobridge.websockets.domains, JVB_WS_DOMAIN, PUBLIC_URL",
	"WebSockets.ServerID":                 "videobridge.websockets.server-id, JVB_WS_SERVER_ID",
	"WebSockets.TLS":                      "videobridge.websockets.tls, JVB_WS_TLS",
	"XMPP.SecurityMode":                   "configs.<id>.SECURITY_MODE",
	"XMPP.DisableCertificateVerification": "configs.<id>.DISABLE_CERTIFICATE_VERIFICATION",
	"XMPP.Hostname":                       "configs.<id>.HOSTNAME, XMPP_SERVER",
	"XMPP.Port":                           "configs.<id>.PORT, XMPP_PORT",
	"XMPP.Domain":                         "configs.<id>.DOMAIN, XMPP_AUTH_DOMAIN",
	"XMPP.Username":                       "configs.<id>.USERNAME, JVB_AUTH_USER",
	"XMPP.Password":                       "configs.<id>.PASSWORD, JVB_AUTH_PASSWORD",
	"XMPP.MUCJIDs":                        "configs.<id>.MUC_JIDS, JVB_BREWERY_MUC@XMPP_INTERNAL_MUC_DOMAIN",
	"XMPP.MUCNickname":                    "configs.<id>.MUC_NICKNAME, JVB_MUC_NICKNAME",
}

func keysOf(field string) string {
	if strings.HasPrefix(field, "XMPP[") {
		if i := strings.Index(field, "]."); i > 0 {
			return settingKeys["XMPP."+field[i+2:]]
		}
	}
	return settingKeys[field]
}
