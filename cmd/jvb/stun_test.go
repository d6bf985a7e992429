package main

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/pion/stun/v4"
)

// stunServer answers binding requests on loopback with a fixed mapped address, like a STUN
// server outside a NAT would. It ends with the test.
func stunServer(t *testing.T, public netip.Addr) string {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			var req stun.Message
			if stun.Decode(buf[:n], &req) != nil || req.Type != stun.BindingRequest {
				continue
			}
			res := stun.MustBuild(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
				&stun.XORMappedAddress{IP: public.AsSlice(), Port: from.Port}, stun.Fingerprint)
			_, _ = conn.WriteToUDP(res.Raw, from)
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return conn.LocalAddr().String()
}

// TestSTUNDiscoveredAddressIsAnnounced: with JVB_STUN_SERVERS naming a STUN server of the
// test's own, the address it maps the bridge to is in the candidates jicofo gets, and it
// satisfies require-valid-address (this runs in a loopback-only namespace under scripts/test.sh).
func TestSTUNDiscoveredAddressIsAnnounced(t *testing.T) {
	public := netip.MustParseAddr("203.0.113.50")
	env := map[string]string{
		"COLIBRI_REST_ENABLED":      "true",
		"JVB_STUN_SERVERS":          stunServer(t, public),
		"JVB_REQUIRE_VALID_ADDRESS": "true",
	}
	b := startBridge(t, env, nil)
	code, body := b.do(t, "POST", "/colibri/v2/conferences", createEndpoint("m-stun", "a", true))
	if code != 200 {
		t.Fatalf("create: %d %s", code, body)
	}
	// Announced like JVB's mapping harvesters: the public IP with the bridge's own port.
	want := fmt.Sprintf(`"type":"srflx","ip":%q,"port":"%d"`, public.String(), b.sfu.LocalAddr().Port())
	if !strings.Contains(body, want) {
		t.Fatalf("no %s candidate in %s", want, body)
	}
	if code, body := b.do(t, "GET", "/about/health", ""); code != 200 {
		t.Fatalf("health with a STUN-found public address: %d %q", code, body)
	}
	if v := metricValue(t, b.metrics(t), "jitsi_jvb_stun_discovery_failures_total"); v != 0 {
		t.Fatalf("stun_discovery_failures_total = %v", v)
	}
}

// TestSTUNWithoutAnswerStillStarts: a STUN server that never answers is logged and counted;
// the bridge starts with what it has.
func TestSTUNWithoutAnswerStillStarts(t *testing.T) {
	silent, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	b := startBridge(t, map[string]string{"JVB_STUN_SERVERS": silent.LocalAddr().String()}, nil)
	if v := metricValue(t, b.metrics(t), "jitsi_jvb_stun_discovery_failures_total"); v != 1 {
		t.Fatalf("stun_discovery_failures_total = %v", v)
	}
	if !strings.Contains(b.logs.String(), "STUN address discovery failed") {
		t.Fatalf("failure not logged: %s", b.logs.String())
	}
	if code, _ := b.do(t, "GET", "/about/health", ""); code != 200 {
		t.Fatalf("health: %d (require-valid-address is off)", code)
	}
}
