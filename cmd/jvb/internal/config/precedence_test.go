package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCustomFileWinsOverEnv: as in the jitsi/jvb image, defaults < environment <
// custom-jvb.conf (included by jvb.conf); jvb.conf's own keys stay below the environment and
// flags stay above everything.
func TestCustomFileWinsOverEnv(t *testing.T) {
	dir := t.TempDir()
	main := writeFile(t, dir, "jvb.conf", `videobridge {
  ice.udp.port = 11111
  http-servers.private { host = "0.0.0.0", port = 8080 }
  stats.interval = 3 seconds
}
include "custom-jvb.conf"
`)
	env := map[string]string{
		"JVB_CONFIG":           main,
		"JVB_PORT":             "10001",
		"COLIBRI_REST_ENABLED": "true",
		"JVB_ADVERTISE_IPS":    "203.0.113.7",
		"XMPP_SERVER":          "xmpp.meet.jitsi",
		"JVB_AUTH_PASSWORD":    "from-env",
	}

	// No custom file yet: env over jvb.conf.
	cfg, err := Load(nil, envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 10001 || !cfg.REST.Colibri || cfg.StatsInterval != 3*time.Second || cfg.HTTPAddr != "0.0.0.0:8080" {
		t.Fatalf("env over jvb.conf: %+v", cfg)
	}

	writeFile(t, dir, "custom-jvb.conf", `videobridge {
  ice.udp.port = 12345
  apis.rest.enabled = false
  apis.xmpp-client.configs.shard0.PASSWORD = "from-custom"
  apis.xmpp-client.configs.extra {
    HOSTNAME = "other.example", DOMAIN = "auth.other.example", USERNAME = "jvb", PASSWORD = "x",
    MUC_JIDS = "jvbbrewery@internal-muc.other.example", MUC_NICKNAME = "n"
  }
  stats.interval = 7 seconds
}
ice4j.harvest.mapping.static-mappings = [{ local-address = "10.0.0.2", public-address = "198.51.100.9" }]
`)
	cfg, err = Load(nil, envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 12345 || cfg.REST.Colibri || cfg.StatsInterval != 7*time.Second || cfg.PresenceInterval != 7*time.Second {
		t.Fatalf("custom-jvb.conf must win over env: port %d rest %v stats %v presence %v",
			cfg.Port, cfg.REST.Colibri, cfg.StatsInterval, cfg.PresenceInterval)
	}
	if len(cfg.Advertised) != 1 || cfg.Advertised[0].String() != "10.0.0.2=>198.51.100.9" {
		t.Fatalf("custom static mappings must replace JVB_ADVERTISE_IPS: %v", cfg.Advertised)
	}
	// The custom file's shard0 merges into the environment's: only the password changes.
	i := slices.IndexFunc(cfg.XMPP, func(x XMPPClient) bool { return x.ID == "shard0" })
	if i < 0 || cfg.XMPP[i].Password != "from-custom" || cfg.XMPP[i].Hostname != "xmpp.meet.jitsi" ||
		cfg.XMPP[i].Domain != "auth.meet.jitsi" || len(cfg.XMPP[i].MUCJIDs) != 1 ||
		cfg.XMPP[i].MUCJIDs[0] != "jvbbrewery@internal-muc.meet.jitsi" || !cfg.XMPP[i].DisableCertificateVerification {
		t.Fatalf("shard0 = %+v", cfg.XMPP)
	}
	if len(cfg.XMPP) != 2 || !slices.ContainsFunc(cfg.XMPP, func(x XMPPClient) bool { return x.ID == "extra" }) {
		t.Fatalf("custom connection missing: %+v", cfg.XMPP)
	}

	// Flags stay on top.
	cfg, err = Load([]string{"--port", "40000"}, envOf(env))
	if err != nil || cfg.Port != 40000 {
		t.Fatalf("flag over custom-jvb.conf: %v %v", cfg, err)
	}

	// A bad value in the custom file is reported once.
	writeFile(t, dir, "custom-jvb.conf", "videobridge.ice.udp.port = lots\n")
	_, err = Load(nil, envOf(env))
	if err == nil {
		t.Fatal("bad custom value accepted")
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok || len(j.Unwrap()) != 1 || !strings.Contains(err.Error(), "lots") {
		t.Fatalf("want exactly one error naming the value: %v", err)
	}
}
