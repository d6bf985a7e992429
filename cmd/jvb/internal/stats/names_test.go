package stats

import (
	"slices"
	"strings"
	"testing"
	"time"

	"gojvb/sfu"
)

// jvbNames are JVB's registered jitsi_jvb_* names (VideobridgeMetrics, VideobridgePeriodicMetrics,
// IceTransport, XmppConnection, JvbHealthChecker, JvmMetrics) for what this bridge measures, or
// knows to be 0 (relays). Counters carry JVB's _total suffix.
var jvbNames = []string{
	"conferences", "local_endpoints", "current_endpoints", "largest_conference",
	"endpoints_sending_audio", "endpoints_sending_video", "endpoints_with_suspended_sources",
	"endpoints_oversending", "average_rtt", "stress", "healthy",
	"graceful_shutdown", "shutting_down", "drain_mode", "incoming_bitrate", "outgoing_bitrate",
	"incoming_packet_rate", "outgoing_packet_rate", "muc_clients_configured", "muc_clients_connected",
	"mucs_connected", "mucs_joined", "thread_count", "startup_time",
	"endpoints_relayed", "conferences_with_relay", "relay_incoming_bitrate", "relay_outgoing_bitrate",
	"relay_incoming_packet_rate", "relay_outgoing_packet_rate", "region_info",
	"conferences_created_total", "conferences_completed_total", "endpoints_total",
	"packets_received_total", "packets_sent_total", "bytes_received_total", "bytes_sent_total",
	"ice_succeeded_total", "ice_failed_total", "endpoints_ice_failed_total", "endpoints_dtls_failed_total",
	"data_channel_messages_received_total", "data_channel_messages_sent_total",
	"colibri_web_socket_messages_received_total", "colibri_web_socket_messages_sent_total",
	"rejected_data_channels_total", "xmpp_disconnects_total", "dominant_speaker_changes_total",
	"preemptive_keyframe_requests_sent_total", "preemptive_keyframe_requests_suppressed_total",
	"keyframes_received_total", "relays_total", "relay_packets_received_total", "relay_packets_sent_total",
	"relay_bytes_received_total", "relay_bytes_sent_total", "relays_ice_failed_total", "relays_dtls_failed_total",
}

// ownNames are gojvb's families for things JVB does not export under any name.
var ownNames = []string{
	"build_info", "dropped_packets_total", "data_channel_messages_dropped_total",
	"keyframe_requests_forwarded_total", "nacks_received_total", "nacks_sent_total",
	"retransmissions_sent_total", "retransmissions_not_cached_total", "retransmissions_received_total",
	"probe_packets_sent_total", "sources_below_ideal",
	// ICE-TCP (JVB has no TCP counters)
	"ice_tcp_connections", "ice_tcp_connections_total", "ice_tcp_connections_bound_total",
	"ice_tcp_connections_refused_total", "ice_tcp_connections_rejected_total",
	"ice_tcp_connections_timed_out_total", "ice_tcp_write_failures_total",
	"ice_tcp_packets_received_total", "ice_tcp_packets_sent_total", "ice_tcp_send_buffer_full_total",
	"endpoints_ice_succeeded_total", // deprecated alias of ice_succeeded_total
}

// TestMetricNamesAreJVBs: every jitsi_jvb_* family the collector exports is either one of JVB's
// names or one of gojvb's own for something JVB lacks; JVB's names are all there, with the
// values they stand for.
func TestMetricNamesAreJVBs(t *testing.T) {
	started := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	st := sfu.Stats{ICESucceeded: 5, ICEFailed: 2, DataChannelMessagesSent: 9,
		SourcesBelowIdeal: map[string]int{"insufficient-bandwidth": 3, "outside-last-n": 7}}
	s := NewSampler(Sources{Bridge: func() sfu.Stats { return st }}, Info{Version: "v", Region: "eu-1", Started: started}, t0)
	fams := scrape(t, s)
	for name := range fams {
		short, ok := strings.CutPrefix(name, Namespace+"_")
		if !ok {
			continue
		}
		if !slices.Contains(jvbNames, short) && !slices.Contains(ownNames, short) {
			t.Errorf("%s is neither JVB's name nor listed as gojvb's own", name)
		}
	}
	for _, short := range jvbNames {
		if _, ok := fams[Namespace+"_"+short]; !ok {
			t.Errorf("JVB's %s_%s missing", Namespace, short)
		}
	}
	for name, want := range map[string]float64{
		"jitsi_jvb_ice_succeeded_total": 5, "jitsi_jvb_ice_failed_total": 2, "jitsi_jvb_endpoints_ice_failed_total": 2,
		"jitsi_jvb_endpoints_ice_succeeded_total": 5, "jitsi_jvb_data_channel_messages_sent_total": 9,
		"jitsi_jvb_startup_time": float64(started.UnixMilli()), "jitsi_jvb_relays_total": 0, "jitsi_jvb_endpoints_relayed": 0,
	} {
		if got := value(t, fams, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	region := fams["jitsi_jvb_region_info"].GetMetric()
	if len(region) != 1 || region[0].GetLabel()[0].GetValue() != "eu-1" || region[0].GetGauge().GetValue() != 1 {
		t.Fatalf("region_info = %v", region)
	}
	// Sources below their ideal layer, one series per reason (0 where none).
	below := map[string]float64{}
	for _, m := range fams["jitsi_jvb_sources_below_ideal"].GetMetric() {
		below[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
	}
	if len(below) != len(sfu.AllocationReasons) || below["insufficient-bandwidth"] != 3 ||
		below["outside-last-n"] != 7 || below["hysteresis"] != 0 {
		t.Errorf("sources_below_ideal = %v, want every reason, 3 insufficient-bandwidth and 7 outside-last-n", below)
	}
	// No region configured: no region_info (JVB registers it only with a region).
	s2 := NewSampler(Sources{Bridge: func() sfu.Stats { return st }}, Info{Version: "v"}, t0)
	if _, ok := scrape(t, s2)["jitsi_jvb_region_info"]; ok {
		t.Fatal("region_info without a region")
	}
}
