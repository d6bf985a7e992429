package main

import (
	"testing"
)

// TestHealthIgnoresAddressesUnlessRequired: with JVB_REQUIRE_VALID_ADDRESS unset (the image's
// default false) the bridge is healthy whatever addresses the host has (scripts/test.sh runs
// this in a loopback-only namespace, the case that used to answer 500); with it on, an
// advertised public address satisfies it.
func TestHealthIgnoresAddressesUnlessRequired(t *testing.T) {
	for _, env := range []map[string]string{
		{},
		{"JVB_REQUIRE_VALID_ADDRESS": "false", "JVB_ADVERTISE_IPS": "10.0.0.7"},
		{"JVB_REQUIRE_VALID_ADDRESS": "true", "JVB_ADVERTISE_IPS": "10.0.0.7,203.0.113.7"},
	} {
		b := startBridge(t, env, nil)
		if code, body := b.do(t, "GET", "/about/health", ""); code != 200 {
			t.Errorf("env %v: health %d %q", env, code, body)
		}
	}
}
