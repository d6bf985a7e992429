package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// TestAdvertisedHostnamesAndMappings: JVB_ADVERTISE_IPS takes host names (resolved by cmd/jvb)
// and ip#port as the image's template writes them; a file mapping keeps its local side, which
// decides (as in ice4j) whether it applies on this host.
func TestAdvertisedHostnamesAndMappings(t *testing.T) {
	cfg, err := Load(nil, envOf(map[string]string{"JVB_ADVERTISE_IPS": "Meet.Example.com.,203.0.113.7#30000, [2001:db8::1]"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []AdvertisedAddr{{Host: "meet.example.com"}, {IP: netip.MustParseAddr("203.0.113.7"), Port: 30000},
		{IP: netip.MustParseAddr("2001:db8::1")}}
	if !reflect.DeepEqual(cfg.Advertised, want) {
		t.Fatalf("advertised = %v", cfg.Advertised)
	}
	dir := t.TempDir()
	p := writeFile(t, dir, "jvb.conf", `ice4j.harvest.mapping.static-mappings = [
  { local-address = "10.0.0.2", public-address = "jvb.example.org", local-port = 10000, public-port = 443, name = "ip-0" },
  { local-address = "10.0.0.2", public-address = "198.51.100.9", name = "ip-1" }
]`)
	cfg, err = Load([]string{"--config", p}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	local := netip.MustParseAddr("10.0.0.2")
	want = []AdvertisedAddr{{Host: "jvb.example.org", Port: 443, Local: local, LocalPort: 10000},
		{IP: netip.MustParseAddr("198.51.100.9"), Local: local}}
	if !reflect.DeepEqual(cfg.Advertised, want) {
		t.Fatalf("file mappings = %v", cfg.Advertised)
	}
	if got := cfg.Advertised[0].String(); got != "10.0.0.2=>jvb.example.org#443" {
		t.Fatalf("String() = %q", got)
	}
	bad := writeFile(t, dir, "bad.conf", `ice4j.harvest.mapping.static-mappings = [ { local-address = "eth0", public-address = "198.51.100.9" } ]`)
	if _, err := Load([]string{"--config", bad}, envOf(nil)); err == nil || !strings.Contains(err.Error(), "local-address") {
		t.Fatalf("a local-address that is not an IP address: %v", err)
	}
}

// TestSourcesRecordWhereEachValueCameFrom: defaults, jvb.conf, env, custom-jvb.conf and flags
// are each named for the settings they decided; passwords are never shown.
func TestSourcesRecordWhereEachValueCameFrom(t *testing.T) {
	dir := t.TempDir()
	main := writeFile(t, dir, "jvb.conf", `videobridge.stats.interval = 3 seconds
videobridge.ice.udp.port = 11111
include "custom-jvb.conf"
`)
	writeFile(t, dir, "custom-jvb.conf", `videobridge.apis.rest.enabled = true`)
	cfg, err := Load([]string{"--config", main, "--log-level", "debug", "--log-format", "text"}, envOf(map[string]string{
		"JVB_PORT": "10001", "JVB_AUTH_PASSWORD": "s3cret", "COLIBRI_REST_ENABLED": "false",
		"JVB_REQUIRE_VALID_ADDRESS": "false", // given at the default's value
		"JVB_CC_TRUST_BWE":          "true",  // ignored
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Setting{}
	for _, s := range cfg.Settings() {
		got[s.Field] = s
		if strings.Contains(s.Value, "s3cret") {
			t.Fatalf("password shown: %+v", s)
		}
	}
	for field, want := range map[string]string{
		"StatsInterval":              "file " + main,
		"PresenceInterval":           "file " + main,
		"Port":                       "env",
		"REST.Colibri":               "file included by " + main,
		"LogLevel":                   "flag",
		"XMPP[shard0].Password":      "env",
		"XMPP[shard0].Hostname":      "env",
		"RequireValidAddress":        "env",
		"LogFormat":                  "flag",
		"REST.Prometheus":            "default",
		"Limits.MaxConferences":      "default",
		"AdvertisePrivateCandidates": "default",
	} {
		s, ok := got[field]
		if !ok {
			t.Fatalf("no setting %s in %v", field, cfg.Settings())
		}
		if s.Source.String() != want {
			t.Errorf("%s = %q from %q, want from %q", field, s.Value, s.Source, want)
		}
	}
	if got["XMPP[shard0].Password"].Value != "(set)" || got["Port"].Value != "10001" ||
		!strings.Contains(got["Port"].Keys, "JVB_PORT") || !strings.Contains(got["XMPP[shard0].Password"].Keys, "JVB_AUTH_PASSWORD") {
		t.Fatalf("values/keys: %+v %+v", got["XMPP[shard0].Password"], got["Port"])
	}
}
