package main

import (
	"encoding/json"
	"log/slog"
	"maps"
	"net"
	"strconv"
	"testing"
	"time"

	"gojvb/cmd/jvb/internal/config"
	"gojvb/sfu/transport"
)

// The configured ICE-TCP settings reach the transport: JVB's 443-then-4443 when no port is
// given, a given port without fallback, the mapped port announced, nothing when off.
func TestTransportConfigICETCP(t *testing.T) {
	for _, tc := range []struct {
		in   config.ICETCP
		want transport.TCPConfig
	}{
		{config.ICETCP{}, transport.TCPConfig{}},
		{config.ICETCP{Port: 4443}, transport.TCPConfig{}},
		{config.ICETCP{Enabled: true}, transport.TCPConfig{Enabled: true, Port: 443, FallbackPort: 4443}},
		{config.ICETCP{Enabled: true, Port: 4443, MappedPort: 443}, transport.TCPConfig{Enabled: true, Port: 4443, MappedPort: 443}},
	} {
		cfg := config.Defaults()
		cfg.ICETCP = tc.in
		if got := transportConfig(cfg, slog.New(slog.DiscardHandler)).TCP; got != tc.want {
			t.Errorf("%+v: transport TCP %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// One variable turns ICE-TCP on: the bridge listens on JVB_TCP_PORT, endpoints' COLIBRI2
// transports carry a passive TCP candidate announcing JVB_TCP_MAPPED_PORT, and /metrics counts
// the connections.
func TestICETCPFromTheEnvironment(t *testing.T) {
	free, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := free.Addr().(*net.TCPAddr).Port
	free.Close()
	env := maps.Clone(restEnv)
	env["JVB_TCP_HARVESTER_DISABLED"] = "false"
	env["JVB_TCP_PORT"] = strconv.Itoa(port)
	env["JVB_TCP_MAPPED_PORT"] = "443"
	b := startBridge(t, env, nil)
	code, body := b.do(t, "POST", "/colibri/v2/conferences", createEndpoint("m1", "a", true))
	if code != 200 {
		t.Fatalf("create endpoint: %d %s", code, body)
	}
	var resp struct {
		Endpoints []struct {
			Transport struct {
				Transport struct {
					Candidates []struct {
						Protocol, TCPType, Type, Port, IP string
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil || len(resp.Endpoints) != 1 {
		t.Fatalf("response %s: %v", body, err)
	}
	tcp := 0
	udpIPs := map[string]bool{}
	for _, c := range resp.Endpoints[0].Transport.Transport.Candidates {
		if c.Protocol == "udp" {
			udpIPs[c.IP] = true
		}
	}
	for _, c := range resp.Endpoints[0].Transport.Transport.Candidates {
		if c.Protocol == "tcp" {
			tcp++
			if c.TCPType != "passive" || c.Port != "443" || !udpIPs[c.IP] {
				t.Errorf("TCP candidate %+v: want tcptype passive announcing port 443, on the UDP candidates' addresses", c)
			}
		}
	}
	if tcp == 0 {
		t.Fatalf("no TCP candidate in %s", body)
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second)
	if err != nil {
		t.Fatalf("ICE-TCP port %d: %v", port, err)
	}
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for metricValue(t, b.metrics(t), "jitsi_jvb_ice_tcp_connections_total") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the connection is not counted in jitsi_jvb_ice_tcp_connections_total")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
