package config

import "testing"

// ENABLE_OCTO as the docker image maps it: region defaults to "europe", the relay id to
// JVB_OCTO_BIND_ADDRESS; without ENABLE_OCTO the other variables do nothing.
func TestRelayEnv(t *testing.T) {
	cfg, err := Load(nil, envOf(map[string]string{"ENABLE_OCTO": "true", "JVB_OCTO_BIND_ADDRESS": "10.0.0.7"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Relay != (Relay{Enabled: true, Region: "europe", RelayID: "10.0.0.7"}) {
		t.Errorf("ENABLE_OCTO with a bind address: %+v", cfg.Relay)
	}
	cfg, err = Load(nil, envOf(map[string]string{"JVB_OCTO_RELAY_ID": "r", "JVB_OCTO_REGION": "us"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Relay != (Relay{}) {
		t.Errorf("without ENABLE_OCTO: %+v", cfg.Relay)
	}
}

// The legacy videobridge.octo.* keys are read; videobridge.relay.* wins where both are set.
func TestRelayLegacyOctoKeys(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "jvb.conf", `videobridge.octo { enabled = true, region = "old", relay-id = "legacy" }
videobridge.relay.region = "new"
`)
	cfg, err := Load([]string{"--config", p}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Relay != (Relay{Enabled: true, Region: "new", RelayID: "legacy"}) {
		t.Errorf("legacy octo keys: %+v", cfg.Relay)
	}
}
