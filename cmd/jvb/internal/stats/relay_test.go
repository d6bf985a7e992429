package stats

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"gojvb/sfu"
)

// With relays, the octo_* keys carry the relay totals and rates, participants count the
// endpoints behind relays (graceful_shutdown.sh's participants - octo_endpoints stays the local
// count), and relay_id comes after current_timestamp, as in JVB's key order.
func TestRelayFields(t *testing.T) {
	st := sfu.Stats{Conferences: 1, Endpoints: 2, Relay: sfu.RelayTotals{Relays: 1, Conferences: 1, Endpoints: 3, Created: 4,
		PacketsReceived: 100, BytesReceived: 10000, PacketsSent: 50, BytesSent: 5000, ICEFailed: 1}}
	s := NewSampler(Sources{Bridge: func() sfu.Stats { return st }}, Info{Version: "v", Region: "eu", RelayID: "jvb-a"}, t0)
	st.Relay.PacketsReceived, st.Relay.BytesReceived = 300, 30000 // +200 packets, +20000 bytes in 2 s
	st.Relay.PacketsSent, st.Relay.BytesSent = 150, 15000
	raw := s.Sample(t0.Add(2 * time.Second)).JSON()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("invalid JSON %s: %v", raw, err)
	}
	for k, want := range map[string]any{
		"octo_conferences": 1.0, "octo_endpoints": 3.0, "participants": 5.0, "endpoints": 5.0, "local_endpoints": 2.0,
		"total_relays": 4.0, "octo_receive_packet_rate": 100.0, "octo_receive_bitrate": 80000.0,
		"octo_send_packet_rate": 50.0, "octo_send_bitrate": 40000.0, "total_packets_received_octo": 300.0,
		"total_bytes_sent_octo": 15000.0, "relays_ice_failed": 1.0, "relay_id": "jvb-a", "region": "eu",
	} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	if i, j := strings.Index(string(raw), `"current_timestamp"`), strings.Index(string(raw), `"relay_id"`); i < 0 || j < i {
		t.Errorf("relay_id not after current_timestamp: %s", raw)
	}
}
