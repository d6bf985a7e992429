package main

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gojvb/cmd/jvb/internal/config"

	"github.com/pion/stun/v4"
)

// stunServer answers binding requests on loopback with a fixed mapped address, like a STUN
// server outside a NAT would. It ends with the test.
func stunServer(t *testing.T, public netip.Addr) string {
	t.Helper()
	var answer atomic.Pointer[netip.Addr]
	answer.Store(&public)
	return changingSTUNServer(t, &answer)
}

// changingSTUNServer is stunServer answering whatever answer holds at the time.
func changingSTUNServer(t *testing.T, answer *atomic.Pointer[netip.Addr]) string {
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
				&stun.XORMappedAddress{IP: answer.Load().AsSlice(), Port: from.Port}, stun.Fingerprint)
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

// TestSTUNRecheckReachesNewEndpoints: the STUN server starts answering another address (the
// NAT's public address changed); after the next re-check, a newly created endpoint's
// candidates carry the new address, while the old one is gone from them.
func TestSTUNRecheckReachesNewEndpoints(t *testing.T) {
	first, second := netip.MustParseAddr("203.0.113.50"), netip.MustParseAddr("203.0.113.51")
	var answer atomic.Pointer[netip.Addr]
	answer.Store(&first)
	env := map[string]string{"COLIBRI_REST_ENABLED": "true", "JVB_STUN_SERVERS": changingSTUNServer(t, &answer)}
	b := startBridge(t, env, func(c *config.Config) { c.STUNInterval = 50 * time.Millisecond })
	port := b.sfu.LocalAddr().Port()
	cand := func(a netip.Addr) string { return fmt.Sprintf(`"type":"srflx","ip":%q,"port":"%d"`, a, port) }
	code, body := b.do(t, "POST", "/colibri/v2/conferences", createEndpoint("m-recheck", "e0", true))
	if code != 200 || !strings.Contains(body, cand(first)) {
		t.Fatalf("first endpoint: %d %s", code, body)
	}
	answer.Store(&second)
	deadline := time.Now().Add(15 * time.Second)
	for i := 1; ; i++ {
		code, body = b.do(t, "POST", "/colibri/v2/conferences", createEndpoint("m-recheck", fmt.Sprintf("e%d", i), false))
		if code != 200 {
			t.Fatalf("endpoint %d: %d %s", i, code, body)
		}
		if strings.Contains(body, cand(second)) {
			if strings.Contains(body, cand(first)) {
				t.Fatalf("the old address is still announced: %s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no endpoint got %s; last: %s", second, body)
		}
		time.Sleep(50 * time.Millisecond) // polling: the next re-check is due within 50 ms
	}
	if !strings.Contains(b.logs.String(), `msg="STUN: public address found" addr=`+second.String()) {
		t.Fatalf("the new address is not logged: %s", b.logs.String())
	}
}

// TestAdvertisedHostnameIsResolved: JVB_ADVERTISE_IPS names a host (localhost, resolved
// without DNS) with a port, as the image's template allows; the candidates carry its address.
func TestAdvertisedHostnameIsResolved(t *testing.T) {
	b := startBridge(t, map[string]string{"COLIBRI_REST_ENABLED": "true", "JVB_ADVERTISE_IPS": "localhost#30000"}, nil)
	code, body := b.do(t, "POST", "/colibri/v2/conferences", createEndpoint("m-host", "a", true))
	if code != 200 {
		t.Fatalf("create: %d %s", code, body)
	}
	if !strings.Contains(body, `"type":"srflx","ip":"127.0.0.1","port":"30000"`) {
		t.Fatalf("localhost#30000 not announced as 127.0.0.1:30000: %s", body)
	}
	if !strings.Contains(b.logs.String(), "advertised host name resolved") {
		t.Fatalf("resolution not logged: %s", b.logs.String())
	}
}
