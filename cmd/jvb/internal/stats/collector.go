package stats

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"gojvb/sfu"
)

// Namespace prefixes every family, like JVB's registry.
const Namespace = "jitsi_jvb"

type metric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(r *Report) float64
}

func gauge(name, help string, v func(r *Report) float64) metric {
	return metric{prometheus.NewDesc(Namespace+"_"+name, help, nil, nil), prometheus.GaugeValue, v}
}

func counter(name, help string, v func(r *Report) uint64) metric {
	return metric{prometheus.NewDesc(Namespace+"_"+name+"_total", help, nil, nil), prometheus.CounterValue,
		func(r *Report) float64 { return float64(v(r)) }}
}

func zero(*Report) float64 { return 0 }

func zeroCount(*Report) uint64 { return 0 }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var metrics = []metric{
	gauge("conferences", "Current number of conferences.", func(r *Report) float64 { return float64(r.Bridge.Conferences) }),
	gauge("local_endpoints", "Current number of local (non-relayed) endpoints.", func(r *Report) float64 { return float64(r.Bridge.Endpoints) }),
	gauge("current_endpoints", "Current number of endpoints, local and relayed.", func(r *Report) float64 {
		return float64(r.Bridge.Endpoints + r.Bridge.Relay.Endpoints)
	}),
	gauge("largest_conference", "Endpoints in the largest conference.", func(r *Report) float64 { return float64(r.Bridge.LargestConference) }),
	gauge("endpoints_sending_audio", "Endpoints that sent audio recently.", func(r *Report) float64 { return float64(r.Bridge.EndpointsSendingAudio) }),
	gauge("endpoints_sending_video", "Endpoints that sent video recently.", func(r *Report) float64 { return float64(r.Bridge.EndpointsSendingVideo) }),
	gauge("endpoints_with_suspended_sources", "Receivers whose last allocation suspended a source for lack of bandwidth.",
		func(r *Report) float64 { return float64(r.Bridge.EndpointsWithSuspendedSources) }),
	gauge("endpoints_oversending", "Receivers sent more than their estimate for an on-stage screenshare.",
		func(r *Report) float64 { return float64(r.Bridge.EndpointsOversending) }),
	gauge("average_rtt", "Average round-trip time to endpoints, in milliseconds (from their reports on the sender reports they got).",
		func(r *Report) float64 { return float64(r.Bridge.AverageRTT.Microseconds()) / 1000 }),
	gauge("stress", "Load estimate: incoming packet rate over the packet-rate load threshold.", func(r *Report) float64 { return r.Stress() }),
	gauge("healthy", "1 when the last health check passed.", func(r *Report) float64 { return b2f(r.Flags.Healthy) }),
	gauge("graceful_shutdown", "1 while in graceful shutdown.", func(r *Report) float64 { return b2f(r.Flags.GracefulShutdown) }),
	gauge("shutting_down", "1 while shutting down.", func(r *Report) float64 { return b2f(r.Flags.ShuttingDown) }),
	gauge("drain_mode", "1 while in drain mode.", func(r *Report) float64 { return b2f(r.Flags.Drain) }),
	gauge("incoming_bitrate", "Bits per second received from endpoints over the last stats interval.", func(r *Report) float64 { return r.Rates.BitsDownload }),
	gauge("outgoing_bitrate", "Bits per second sent to endpoints over the last stats interval.", func(r *Report) float64 { return r.Rates.BitsUpload }),
	gauge("incoming_packet_rate", "Packets per second received from endpoints over the last stats interval.", func(r *Report) float64 { return r.Rates.PacketsDownload }),
	gauge("outgoing_packet_rate", "Packets per second sent to endpoints over the last stats interval.", func(r *Report) float64 { return r.Rates.PacketsUpload }),
	gauge("muc_clients_configured", "XMPP connections configured.", func(r *Report) float64 { return float64(r.XMPP.ClientsConfigured) }),
	gauge("muc_clients_connected", "XMPP connections connected.", func(r *Report) float64 { return float64(r.XMPP.ClientsConnected) }),
	// JVB registers the number of configured MUCs as mucs_connected (sic); dashboards use it.
	gauge("mucs_connected", "Brewery MUCs configured (JVB's name).", func(r *Report) float64 { return float64(r.XMPP.MUCsConfigured) }),
	gauge("mucs_joined", "Brewery MUCs joined.", func(r *Report) float64 { return float64(r.XMPP.MUCsJoined) }),
	gauge("thread_count", "Goroutines (JVB reports JVM threads).", func(r *Report) float64 { return float64(r.Threads) }),
	gauge("startup_time", "When the bridge started, in milliseconds since the Unix epoch (a change means a restart).",
		func(r *Report) float64 { return float64(r.Info.Started.UnixMilli()) }),

	// Relays (Octo) to other bridges of the same conferences.
	gauge("endpoints_relayed", "Endpoints on other bridges, behind relays.", func(r *Report) float64 { return float64(r.Bridge.Relay.Endpoints) }),
	gauge("conferences_with_relay", "Conferences with at least one relay.", func(r *Report) float64 { return float64(r.Bridge.Relay.Conferences) }),
	gauge("relay_incoming_bitrate", "Bits per second received from relays over the last stats interval.", func(r *Report) float64 { return r.Rates.RelayBitsIn }),
	gauge("relay_outgoing_bitrate", "Bits per second of media forwarded to relays over the last stats interval.", func(r *Report) float64 { return r.Rates.RelayBitsOut }),
	gauge("relay_incoming_packet_rate", "Packets per second received from relays over the last stats interval.", func(r *Report) float64 { return r.Rates.RelayPacketsIn }),
	gauge("relay_outgoing_packet_rate", "Packets per second of media forwarded to relays over the last stats interval.", func(r *Report) float64 { return r.Rates.RelayPacketsOut }),
	counter("relays", "Relays created.", func(r *Report) uint64 { return r.Bridge.Relay.Created }),
	counter("relay_packets_received", "Packets received from relays.", func(r *Report) uint64 { return r.Bridge.Relay.PacketsReceived }),
	counter("relay_packets_sent", "Media packets forwarded to relays.", func(r *Report) uint64 { return r.Bridge.Relay.PacketsSent }),
	counter("relay_bytes_received", "Bytes received from relays.", func(r *Report) uint64 { return r.Bridge.Relay.BytesReceived }),
	counter("relay_bytes_sent", "Bytes of media forwarded to relays (before SRTP).", func(r *Report) uint64 { return r.Bridge.Relay.BytesSent }),
	counter("relays_ice_failed", "Relays whose ICE failed.", func(r *Report) uint64 { return r.Bridge.Relay.ICEFailed }),
	counter("relays_dtls_failed", "Relays whose DTLS failed.", func(r *Report) uint64 { return r.Bridge.Relay.DTLSFailed }),

	counter("conferences_created", "Conferences created.", func(r *Report) uint64 { return r.Bridge.ConferencesCreated }),
	counter("conferences_completed", "Conferences expired.", func(r *Report) uint64 { return r.Bridge.ConferencesCompleted }),
	counter("endpoints", "Endpoints created.", func(r *Report) uint64 { return r.Bridge.EndpointsCreated }),
	counter("packets_received", "RTP/RTCP packets received from endpoints.", func(r *Report) uint64 { return r.Bridge.PacketsReceived }),
	counter("packets_sent", "RTP/RTCP packets sent to endpoints.", func(r *Report) uint64 { return r.Bridge.PacketsSent }),
	counter("bytes_received", "Bytes received from endpoints.", func(r *Report) uint64 { return r.Bridge.BytesReceived }),
	counter("bytes_sent", "Bytes sent to endpoints.", func(r *Report) uint64 { return r.Bridge.BytesSent }),
	counter("ice_succeeded", "Times ICE connectivity was established (JVB's name; one per endpoint here).", func(r *Report) uint64 { return r.Bridge.ICESucceeded }),
	counter("ice_failed", "Times ICE failed to establish connectivity (JVB's name; one per endpoint here).", func(r *Report) uint64 { return r.Bridge.ICEFailed }),
	counter("endpoints_ice_failed", "Endpoints whose ICE failed.", func(r *Report) uint64 { return r.Bridge.ICEFailed }),
	// Deprecated: gojvb's former name for ice_succeeded_total, kept while dashboards move.
	counter("endpoints_ice_succeeded", "Deprecated: use jitsi_jvb_ice_succeeded_total.", func(r *Report) uint64 { return r.Bridge.ICESucceeded }),
	counter("endpoints_dtls_failed", "Endpoints whose DTLS handshake failed.", func(r *Report) uint64 { return r.Bridge.DTLSFailed }),
	counter("data_channel_messages_received", "Bridge-channel messages received.", func(r *Report) uint64 { return r.Bridge.DataChannelMessagesReceived }),
	counter("data_channel_messages_sent", "Bridge-channel messages sent.", func(r *Report) uint64 { return r.Bridge.DataChannelMessagesSent }),
	counter("colibri_web_socket_messages_received", "Bridge-channel messages received over Colibri WebSockets.", func(r *Report) uint64 { return r.Bridge.ColibriWebSocketMessagesReceived }),
	counter("colibri_web_socket_messages_sent", "Bridge-channel messages sent over Colibri WebSockets.", func(r *Report) uint64 { return r.Bridge.ColibriWebSocketMessagesSent }),
	counter("rejected_data_channels", "Data channels refused (wrong protocol or over max-channels).", func(r *Report) uint64 { return r.Bridge.Mux.RejectedDataChannels }),
	counter("xmpp_disconnects", "XMPP sessions that ended without being asked to.", func(r *Report) uint64 { return r.XMPP.Disconnects }),
	counter("keyframe_requests_forwarded", "PLI/FIR relayed to a media sender.", func(r *Report) uint64 { return r.Bridge.KeyframeRequestsForwarded }),
	counter("dominant_speaker_changes", "Times a conference's dominant speaker changed.", func(r *Report) uint64 { return r.Bridge.DominantSpeakerChanges }),
	counter("preemptive_keyframe_requests_sent", "Keyframe requests sent to a new dominant speaker ahead of the receivers' switch.", func(r *Report) uint64 { return r.Bridge.PreemptiveKeyframeRequestsSent }),
	counter("preemptive_keyframe_requests_suppressed", "Pre-emptive keyframe requests not sent because no endpoint had a camera on stage.", func(r *Report) uint64 { return r.Bridge.PreemptiveKeyframeRequestsSuppressed }),
	counter("keyframes_received", "Video keyframes received from senders.", func(r *Report) uint64 { return r.Bridge.KeyframesReceived }),
	counter("nacks_received", "Generic NACK packets received from endpoints about what the bridge sent them.", func(r *Report) uint64 { return r.Bridge.NACKsReceived }),
	counter("nacks_sent", "Generic NACK packets the bridge sent to media senders for its own incoming loss.", func(r *Report) uint64 { return r.Bridge.NACKsSent }),
	counter("retransmissions_sent", "Packets resent to receivers for their NACKs that the kernel accepted (refused ones are send_failed drops).", func(r *Report) uint64 { return r.Bridge.Retransmissions }),
	counter("probe_packets_sent", "Padding packets sent to receivers to probe their bandwidth.", func(r *Report) uint64 { return r.Bridge.ProbePacketsSent }),
	counter("retransmissions_not_cached", "NACKed packets no longer in the receiver's history.", func(r *Report) uint64 { return r.Bridge.RetransmissionsNotCached }),
	counter("retransmissions_received", "RTX retransmissions from senders restored into their streams.", func(r *Report) uint64 { return r.Bridge.RetransmissionsReceived }),
}

// drops are the labelled jitsi_jvb_dropped_packets_total series: forwarding pipeline and socket.
var drops = []struct {
	reason string
	value  func(r *Report) uint64
}{
	{"unknown_ssrc", func(r *Report) uint64 { return r.Bridge.DroppedUnknownSSRC }},
	{"foreign_ssrc", func(r *Report) uint64 { return r.Bridge.DroppedForeignSSRC }},
	{"srtp_auth", func(r *Report) uint64 { return r.Bridge.DroppedSRTPAuth }},
	{"queue_full", func(r *Report) uint64 { return r.Bridge.DroppedQueueFull }},
	{"not_secure", func(r *Report) uint64 { return r.Bridge.DroppedNotSecure + r.Bridge.Mux.DroppedNotSecure }},
	{"muted", func(r *Report) uint64 { return r.Bridge.DroppedMuted }},
	{"send_failed", func(r *Report) uint64 { return r.Bridge.DroppedSendFailed }},
	{"keyframe_request", func(r *Report) uint64 { return r.Bridge.KeyframeRequestsDropped }},
	{"rtx", func(r *Report) uint64 { return r.Bridge.DroppedRTX }},
	{"silence", func(r *Report) uint64 { return r.Bridge.DroppedSilence }},
	{"malformed", func(r *Report) uint64 { return r.Bridge.DroppedMalformed }},
	{"padding", func(r *Report) uint64 { return r.Bridge.DroppedPadding }},
	{"duplicate", func(r *Report) uint64 { return r.Bridge.DroppedDuplicates }},
	{"garbage", func(r *Report) uint64 { return r.Bridge.Mux.DroppedGarbage }},
	{"unknown_ufrag", func(r *Report) uint64 { return r.Bridge.Mux.DroppedUnknownUfrag }},
	{"bad_integrity", func(r *Report) uint64 { return r.Bridge.Mux.DroppedBadIntegrity }},
	{"unknown_address", func(r *Report) uint64 { return r.Bridge.Mux.DroppedUnknownAddr }},
	{"ice_dtls_queue_full", func(r *Report) uint64 { return r.Bridge.Mux.DroppedQueueFull }},
	{"socket_overflow", func(r *Report) uint64 { return r.Bridge.Mux.DroppedSocketOverflow }},
	{"stun_address_refused", func(r *Report) uint64 { return r.Bridge.Mux.DroppedAddrRefused }},
	{"stun_rate_limited", func(r *Report) uint64 { return r.Bridge.Mux.DroppedSTUNRateLimited }},
	{"ice_check_refused", func(r *Report) uint64 { return r.Bridge.Mux.RefusedChecks }},
}

// messageDrops are the labelled jitsi_jvb_data_channel_messages_dropped_total series: bridge-channel
// messages from endpoints that were not acted on.
var messageDrops = []struct {
	reason string
	value  func(r *Report) uint64
}{
	{"unknown_class", func(r *Report) uint64 { return r.Bridge.DataChannelMessagesUnknown }},
	{"malformed", func(r *Report) uint64 { return r.Bridge.DataChannelMessagesMalformed }},
	{"refused", func(r *Report) uint64 { return r.Bridge.DataChannelMessagesDropped }},
}

var (
	dropDesc = prometheus.NewDesc(Namespace+"_dropped_packets_total",
		"Packets dropped, by reason (pipeline and UDP socket).", []string{"reason"}, nil)
	messageDropDesc = prometheus.NewDesc(Namespace+"_data_channel_messages_dropped_total",
		"Bridge-channel messages not acted on, by reason: unknown_class, malformed (not JSON, too large or deep, "+
			"wrong types), refused (rate limited, from a visitor, or to an unknown endpoint).", []string{"reason"}, nil)
	belowIdealDesc = prometheus.NewDesc(Namespace+"_sources_below_ideal",
		"Sources that receivers' last bandwidth allocations give below their ideal layer (or not at all), by reason: "+
			"insufficient-bandwidth, hysteresis, stage-priority, outside-last-n, receiver-constraints, video-disabled, no-layers.",
		[]string{"reason"}, nil)
	infoDesc = prometheus.NewDesc(Namespace+"_build_info",
		"Version and region of this bridge (value 1).", []string{"version", "release", "region"}, nil)
	// JVB's info metric "region" (a Prometheus Info, exposed as region_info), only when a
	// region is configured.
	regionDesc = prometheus.NewDesc(Namespace+"_region_info", "The currently configured region.", []string{"region"}, nil)
)

// Collector exposes a Sampler as jitsi_jvb_* families; each scrape reads one live report.
type Collector struct {
	s   *Sampler
	now func() time.Time
}

// NewCollector returns the Collector for s.
func NewCollector(s *Sampler) *Collector { return &Collector{s: s, now: time.Now} }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range metrics {
		ch <- m.desc
	}
	ch <- dropDesc
	ch <- messageDropDesc
	ch <- belowIdealDesc
	ch <- infoDesc
	ch <- regionDesc
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	r := c.s.Live(c.now())
	for _, m := range metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(&r))
	}
	for _, d := range drops {
		ch <- prometheus.MustNewConstMetric(dropDesc, prometheus.CounterValue, float64(d.value(&r)), d.reason)
	}
	for _, d := range messageDrops {
		ch <- prometheus.MustNewConstMetric(messageDropDesc, prometheus.CounterValue, float64(d.value(&r)), d.reason)
	}
	for _, reason := range sfu.AllocationReasons {
		ch <- prometheus.MustNewConstMetric(belowIdealDesc, prometheus.GaugeValue, float64(r.Bridge.SourcesBelowIdeal[reason]), reason)
	}
	ch <- prometheus.MustNewConstMetric(infoDesc, prometheus.GaugeValue, 1,
		r.Info.Version, r.Info.Release, r.Info.Region)
	if r.Info.Region != "" {
		ch <- prometheus.MustNewConstMetric(regionDesc, prometheus.GaugeValue, 1, r.Info.Region)
	}
}

// NewRegistry returns a registry with the bridge's Collector plus the Go runtime and process
// collectors.
func NewRegistry(s *Sampler) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(s),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
