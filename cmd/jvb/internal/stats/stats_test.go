package stats

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"gojvb/sfu"
	"gojvb/sfu/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeCounters is a hand-driven sfu.Stats source for the rate arithmetic.
type fakeCounters struct {
	mu sync.Mutex
	s  sfu.Stats
}

func (f *fakeCounters) get() sfu.Stats  { f.mu.Lock(); defer f.mu.Unlock(); return f.s }
func (f *fakeCounters) set(s sfu.Stats) { f.mu.Lock(); f.s = s; f.mu.Unlock() }

var t0 = time.Date(2026, 11, 23, 8, 31, 31, 771_000_000, time.UTC)

func TestRatesFromCounterDeltas(t *testing.T) {
	fc := &fakeCounters{s: sfu.Stats{BytesReceived: 1000, PacketsReceived: 10}}
	s := NewSampler(Sources{Bridge: fc.get}, Info{Version: "v1"}, t0)
	// 5 s later: 625000 more bytes in (1 Mbit/s), 250000 out, 5000 packets in, 10000 out.
	fc.set(sfu.Stats{BytesReceived: 626000, PacketsReceived: 5010, BytesSent: 250000, PacketsSent: 10000})
	r := s.Sample(t0.Add(5 * time.Second))
	if r.Rates.BitsDownload != 1_000_000 || r.Rates.BitsUpload != 400_000 ||
		r.Rates.PacketsDownload != 1000 || r.Rates.PacketsUpload != 2000 {
		t.Fatalf("rates = %+v", r.Rates)
	}
	if got := r.Stress(); got != 1000.0/PacketRateLoadThreshold {
		t.Fatalf("stress = %v", got)
	}
	st := statMap(r.Presence())
	if st["bit_rate_download"] != "1000" || st["bit_rate_upload"] != "400" || st["packet_rate_download"] != "1000" {
		t.Fatalf("presence rates (kbps, pps): %v", st)
	}
	if st["current_timestamp"] != "2026-11-23 08:31:36.771" {
		t.Fatalf("timestamp = %q", st["current_timestamp"])
	}
	// No traffic in the next interval: rates fall to zero, Last keeps the report.
	r = s.Sample(t0.Add(10 * time.Second))
	if r.Rates != (Rates{}) || s.Last().Rates != (Rates{}) {
		t.Fatalf("idle rates = %+v", r.Rates)
	}
	// A source that went backwards never yields negative rates.
	fc.set(sfu.Stats{})
	if r = s.Sample(t0.Add(15 * time.Second)); r.Rates != (Rates{}) {
		t.Fatalf("reset rates = %+v", r.Rates)
	}
}

func statMap(st []Stat) map[string]string {
	m := map[string]string{}
	for _, s := range st {
		m[s.Name] = s.Value
	}
	return m
}

func TestPresenceHasWhatJicofoReads(t *testing.T) {
	flags := Flags{Drain: true, Healthy: true}
	s := NewSampler(Sources{
		Bridge: func() sfu.Stats { return sfu.Stats{} },
		Flags:  func() Flags { return flags },
		XMPP: func() XMPPStatus {
			return XMPPStatus{ClientsConfigured: 2, ClientsConnected: 1, MUCsConfigured: 2, MUCsJoined: 1}
		},
	}, Info{Version: "1.2.3", Release: "7", Region: "eu", AverageParticipantStress: 0.01}, t0)
	st := statMap(s.Sample(t0.Add(time.Second)).Presence())
	for k, want := range map[string]string{
		"stress_level": "0", "average_participant_stress": "0.01", "graceful_shutdown": "false",
		"shutting_down": "false", "drain": "true", "healthy": "true", "version": "1.2.3", "release": "7",
		"region": "eu", "muc_clients_configured": "2", "muc_clients_connected": "1",
		"mucs_joined": "1", "conferences": "0",
	} {
		if st[k] != want {
			t.Errorf("%s = %q, want %q", k, st[k], want)
		}
	}
	flags = Flags{GracefulShutdown: true, ShuttingDown: true}
	st = statMap(s.Sample(t0.Add(2 * time.Second)).Presence())
	if st["graceful_shutdown"] != "true" || st["shutting_down"] != "true" || st["drain"] != "false" || st["healthy"] != "false" {
		t.Fatalf("flags not refreshed: %v", st)
	}
	// Optional keys disappear when unset.
	s2 := NewSampler(Sources{Bridge: func() sfu.Stats { return sfu.Stats{} }}, Info{Version: "x"}, t0)
	st = statMap(s2.Last().Presence())
	for _, k := range []string{"release", "region", "relay_id"} {
		if _, ok := st[k]; ok {
			t.Errorf("%s present without being configured", k)
		}
	}
}

func TestJSONIsTypedAndOrdered(t *testing.T) {
	s := NewSampler(Sources{Bridge: func() sfu.Stats {
		return sfu.Stats{Conferences: 2, Endpoints: 5, ConferencesCreated: 3}
	}, Flags: func() Flags { return Flags{Healthy: true} }}, Info{Version: "v\"q"}, t0)
	raw := s.Sample(t0.Add(time.Second)).JSON()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("invalid JSON %s: %v", raw, err)
	}
	if m["conferences"] != float64(2) || m["participants"] != float64(5) || m["total_conferences_created"] != float64(3) ||
		m["healthy"] != true || m["drain"] != false || m["version"] != "v\"q" {
		t.Fatalf("typed values wrong: %v", m)
	}
	for _, k := range []string{"octo_endpoints", "octo_conferences", "octo_receive_bitrate", "octo_send_bitrate",
		"octo_receive_packet_rate", "octo_send_packet_rate", "total_relays", "relays_ice_failed", "dtls_failed_relays",
		"total_bytes_received_octo", "total_bytes_sent_octo", "total_packets_received_octo", "total_packets_sent_octo"} {
		if m[k] != float64(0) {
			t.Errorf("%s = %v, want 0 without relays", k, m[k])
		}
	}
	// graceful_shutdown.sh: jq '.participants - .octo_endpoints'.
	if m["participants"].(float64)-m["octo_endpoints"].(float64) != 5 {
		t.Fatalf("participants - octo_endpoints != 5: %v", m)
	}
	// Rates are integers, as JVB serves them (exporters decode them as ints).
	for _, k := range []string{"bit_rate_download", "bit_rate_upload", "packet_rate_download", "packet_rate_upload"} {
		if !regexp.MustCompile(`"` + k + `":\d+[,}]`).Match(raw) {
			t.Errorf("%s is not an integer in %s", k, raw)
		}
	}
	if !strings.HasPrefix(string(raw), `{"bit_rate_download":`) {
		t.Fatalf("order differs from JVB: %.60s", raw)
	}
}

// scrape gathers the registry and parses the text exposition, like Prometheus would.
func scrape(t *testing.T, s *Sampler) map[string]*dto.MetricFamily {
	t.Helper()
	reg := NewRegistry(s)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&sb, mf); err != nil {
			t.Fatal(err)
		}
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(sb.String()))
	if err != nil {
		t.Fatalf("exposition does not parse: %v", err)
	}
	return fams
}

func value(t *testing.T, fams map[string]*dto.MetricFamily, name string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok || len(f.Metric) == 0 {
		t.Fatalf("family %s missing", name)
	}
	m := f.Metric[0]
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	}
	t.Fatalf("%s: no value", name)
	return 0
}

// TestMetricsFollowRealBridge creates conferences and endpoints on a real sfu.Bridge (UDP on
// 127.0.0.1) and checks the parsed jitsi_jvb_* families move as they join and leave.
func TestMetricsFollowRealBridge(t *testing.T) {
	b, err := sfu.New(sfu.Config{
		Transport: transport.Config{Port: 0, BindAddr: netip.MustParseAddr("127.0.0.1"), Readers: 1},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	healthy := true
	s := NewSampler(Sources{Bridge: b.Stats, Flags: func() Flags { return Flags{Healthy: healthy} }}, Info{Version: "test"}, time.Now())

	fams := scrape(t, s)
	if value(t, fams, "jitsi_jvb_conferences") != 0 || value(t, fams, "jitsi_jvb_local_endpoints") != 0 {
		t.Fatal("an empty bridge reports conferences")
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "jitsi_jvb_build_info", "jitsi_jvb_dropped_packets_total"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("family %s missing", name)
		}
	}

	c, err := b.CreateConference("meeting-1", "room@conference.example")
	if err != nil {
		t.Fatal(err)
	}
	var eps []*sfu.Endpoint
	for i := range 3 {
		e, err := c.CreateEndpoint(sfu.EndpointConfig{ID: "ep" + strconv.Itoa(i), ICEControlling: true, InitialLastN: -1})
		if err != nil {
			t.Fatal(err)
		}
		eps = append(eps, e)
	}
	fams = scrape(t, s)
	if value(t, fams, "jitsi_jvb_conferences") != 1 || value(t, fams, "jitsi_jvb_local_endpoints") != 3 ||
		value(t, fams, "jitsi_jvb_largest_conference") != 3 || value(t, fams, "jitsi_jvb_endpoints_total") != 3 ||
		value(t, fams, "jitsi_jvb_conferences_created_total") != 1 || value(t, fams, "jitsi_jvb_healthy") != 1 {
		t.Fatal("gauges did not follow 3 endpoints joining")
	}

	eps[0].Expire()
	<-eps[0].Done()
	healthy = false
	fams = scrape(t, s)
	if value(t, fams, "jitsi_jvb_local_endpoints") != 2 || value(t, fams, "jitsi_jvb_endpoints_total") != 3 || value(t, fams, "jitsi_jvb_healthy") != 0 {
		t.Fatal("gauges did not follow an endpoint leaving")
	}
	c.Expire()
	fams = scrape(t, s)
	if value(t, fams, "jitsi_jvb_conferences") != 0 || value(t, fams, "jitsi_jvb_local_endpoints") != 0 ||
		value(t, fams, "jitsi_jvb_conferences_completed_total") != 1 {
		t.Fatal("gauges did not follow the conference ending")
	}
	ch := make(chan prometheus.Metric, 200)
	NewCollector(s).Collect(ch)
	close(ch)
	if n := len(ch); n != len(metrics)+len(drops)+len(messageDrops)+len(sfu.AllocationReasons)+1 {
		t.Fatalf("collector emitted %d series", n)
	}
}

// TestXMPPMetricsUseJVBNames: dashboards built for JVB read these families by name, including
// its mucs_connected for the configured rooms.
func TestXMPPMetricsUseJVBNames(t *testing.T) {
	xmpp := XMPPStatus{ClientsConfigured: 2, ClientsConnected: 1, MUCsConfigured: 3, MUCsJoined: 2, Disconnects: 5}
	s := NewSampler(Sources{Bridge: func() sfu.Stats { return sfu.Stats{} }, XMPP: func() XMPPStatus { return xmpp }},
		Info{Version: "test"}, time.Now())
	fams := scrape(t, s)
	for name, want := range map[string]float64{
		"jitsi_jvb_muc_clients_configured": 2, "jitsi_jvb_muc_clients_connected": 1,
		"jitsi_jvb_mucs_connected": 3, "jitsi_jvb_mucs_joined": 2, "jitsi_jvb_xmpp_disconnects_total": 5,
	} {
		if got := value(t, fams, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// dropped returns the jitsi_jvb_dropped_packets_total series with that reason label.
func dropped(t *testing.T, fams map[string]*dto.MetricFamily, reason string) (float64, bool) {
	t.Helper()
	for _, m := range fams["jitsi_jvb_dropped_packets_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "reason" && l.GetValue() == reason {
				return m.GetCounter().GetValue(), true
			}
		}
	}
	return 0, false
}

// TestSocketDropsReachMetrics sends a garbage datagram to a real bridge's port: the drop counted
// at the socket shows in /metrics under its reason, and the socket-level reasons are all exported.
func TestSocketDropsReachMetrics(t *testing.T) {
	b, err := sfu.New(sfu.Config{
		Transport: transport.Config{Port: 0, BindAddr: netip.MustParseAddr("127.0.0.1"), Readers: 1},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s := NewSampler(Sources{Bridge: b.Stats}, Info{Version: "test"}, time.Now())
	for _, reason := range []string{"garbage", "unknown_ufrag", "bad_integrity", "unknown_address", "ice_dtls_queue_full", "socket_overflow",
		"stun_address_refused", "stun_rate_limited", "ice_check_refused"} {
		if _, ok := dropped(t, scrape(t, s), reason); !ok {
			t.Errorf("no dropped_packets_total{reason=%q}", reason)
		}
	}
	if _, ok := scrape(t, s)["jitsi_jvb_rejected_data_channels_total"]; !ok {
		t.Error("jitsi_jvb_rejected_data_channels_total missing")
	}
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(b.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte{0xff, 0x00, 0x11}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if v, _ := dropped(t, scrape(t, s), "garbage"); v == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("garbage datagram not counted in jitsi_jvb_dropped_packets_total{reason=garbage}")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
