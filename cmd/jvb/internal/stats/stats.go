// Package stats turns snapshots of the bridge's counters into what operators and jicofo read:
// the stats keys of the brewery presence and /colibri/stats (with rates computed from counter
// deltas every stats interval) and the jitsi_jvb_* Prometheus families (a Collector that reads a
// snapshot on scrape, so nothing on the packet path ever calls Prometheus).
//
// It reads the media core only through sfu.Stats; it must never import the control protocols
// (colibri, xmppcomp) nor the HTTP server.
package stats

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"time"

	"gojvb/sfu"
)

// PacketRateLoadThreshold is the incoming packet rate that counts as stress 1.0, like JVB's
// videobridge.load-management.load-measurements.packet-rate.load-threshold.
const PacketRateLoadThreshold = 50000

// Flags are the bridge's state bits reported in presence.
type Flags struct {
	GracefulShutdown bool
	ShuttingDown     bool
	Drain            bool
	Healthy          bool
}

// XMPPStatus counts the configured and connected brewery connections.
type XMPPStatus struct {
	ClientsConfigured, ClientsConnected int
	MUCsConfigured, MUCsJoined          int
	Disconnects                         uint64 // established sessions that ended unasked
}

// Sources is what the sampler reads; each is called from the sampler or a scrape.
type Sources struct {
	Bridge func() sfu.Stats
	Flags  func() Flags
	XMPP   func() XMPPStatus // nil: no XMPP
}

// Info is static identity reported with the stats.
type Info struct {
	Version                  string
	Release                  string // only reported when set
	Region                   string // only reported when set (relays enabled)
	RelayID                  string // videobridge.relay.relay-id: reported only when set (relays enabled)
	AverageParticipantStress float64
	Started                  time.Time // process start, for jitsi_jvb_startup_time
}

// Rates are per-second rates over the last stats interval, in bits and packets.
type Rates struct {
	BitsDownload, BitsUpload       float64 // bits/s received from / sent to endpoints
	PacketsDownload, PacketsUpload float64 // packets/s
	// Over relays (Octo): bits/s and packets/s received from and forwarded to other bridges.
	RelayBitsIn, RelayBitsOut       float64
	RelayPacketsIn, RelayPacketsOut float64
}

// Report is one stats sample.
type Report struct {
	Time    time.Time
	Bridge  sfu.Stats
	Rates   Rates
	Flags   Flags
	XMPP    XMPPStatus
	Info    Info
	Threads int // goroutines (JVB reports JVM threads)
}

// Stress is the load estimate jicofo sorts bridges by: incoming packet rate over
// PacketRateLoadThreshold.
func (r Report) Stress() float64 { return r.Rates.PacketsDownload / PacketRateLoadThreshold }

// Sampler keeps the last report and the counters it was computed from.
type Sampler struct {
	src  Sources
	info Info

	mu     sync.Mutex
	prev   sfu.Stats
	prevAt time.Time
	last   Report
}

// NewSampler takes a first snapshot at now, so the first Sample has a baseline.
func NewSampler(src Sources, info Info, now time.Time) *Sampler {
	s := &Sampler{src: src, info: info}
	s.prev, s.prevAt = src.Bridge(), now
	s.last = s.build(now, s.prev, Rates{})
	return s
}

// Sample reads the bridge, computes rates from the deltas since the previous Sample and
// stores the result as the report /colibri/stats and presence serve until the next one.
func (s *Sampler) Sample(now time.Time) Report {
	cur := s.src.Bridge()
	s.mu.Lock()
	defer s.mu.Unlock()
	var r Rates
	if dt := now.Sub(s.prevAt).Seconds(); dt > 0 {
		r = Rates{
			BitsDownload:    float64(delta(cur.BytesReceived, s.prev.BytesReceived)) * 8 / dt,
			BitsUpload:      float64(delta(cur.BytesSent, s.prev.BytesSent)) * 8 / dt,
			PacketsDownload: float64(delta(cur.PacketsReceived, s.prev.PacketsReceived)) / dt,
			PacketsUpload:   float64(delta(cur.PacketsSent, s.prev.PacketsSent)) / dt,

			RelayBitsIn:     float64(delta(cur.Relay.BytesReceived, s.prev.Relay.BytesReceived)) * 8 / dt,
			RelayBitsOut:    float64(delta(cur.Relay.BytesSent, s.prev.Relay.BytesSent)) * 8 / dt,
			RelayPacketsIn:  float64(delta(cur.Relay.PacketsReceived, s.prev.Relay.PacketsReceived)) / dt,
			RelayPacketsOut: float64(delta(cur.Relay.PacketsSent, s.prev.Relay.PacketsSent)) / dt,
		}
	}
	s.prev, s.prevAt = cur, now
	s.last = s.build(now, cur, r)
	return s.last
}

func delta(cur, prev uint64) uint64 {
	if cur < prev { // counters never go back; be safe if a source resets
		return 0
	}
	return cur - prev
}

func (s *Sampler) build(now time.Time, b sfu.Stats, r Rates) Report {
	rep := Report{Time: now, Bridge: b, Rates: r, Info: s.info, Threads: runtime.NumGoroutine()}
	if s.src.Flags != nil {
		rep.Flags = s.src.Flags()
	}
	if s.src.XMPP != nil {
		rep.XMPP = s.src.XMPP()
	}
	return rep
}

// Last returns the report of the last Sample (what JVB serves: cached per interval).
func (s *Sampler) Last() Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Live returns current counters, gauges and flags with the last interval's rates: what a
// Prometheus scrape sees.
func (s *Sampler) Live(now time.Time) Report {
	s.mu.Lock()
	r := s.last.Rates
	s.mu.Unlock()
	return s.build(now, s.src.Bridge(), r)
}

// Run samples every interval until ctx ends; then it returns.
func (s *Sampler) Run(ctx context.Context, interval time.Duration, onSample func(Report)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			rep := s.Sample(now)
			if onSample != nil {
				onSample(rep)
			}
		}
	}
}

// Field is one stats key with a typed value (int, int64, uint64, float64, bool or string).
type Field struct {
	Name  string
	Value any
}

// Fields lists the keys in JVB's order (VideobridgeStatisticsShim). Keys for things this
// bridge does not measure (loss, visitors) are left out rather than faked. endpoints and
// participants count the endpoints behind relays too, local_endpoints only this bridge's (JVB's
// graceful_shutdown.sh waits for participants - octo_endpoints to reach 0); relay_id and region
// are there only when relays are enabled.
func (r Report) Fields() []Field {
	b := r.Bridge
	rl := b.Relay
	f := []Field{
		// Integers, as JVB serves them (its gauges are longs; bit rates in kbps).
		{"bit_rate_download", int64(r.Rates.BitsDownload) / 1000},
		{"bit_rate_upload", int64(r.Rates.BitsUpload) / 1000},
		{"packet_rate_download", int64(r.Rates.PacketsDownload)},
		{"packet_rate_upload", int64(r.Rates.PacketsUpload)},
		{"octo_conferences", rl.Conferences},
		{"endpoints", b.Endpoints + rl.Endpoints},
		{"participants", b.Endpoints + rl.Endpoints},
		{"octo_endpoints", rl.Endpoints}, // graceful_shutdown.sh polls participants - octo_endpoints
		{"endpoints_sending_audio", b.EndpointsSendingAudio},
		{"endpoints_sending_video", b.EndpointsSendingVideo},
		{"endpoints_with_suspended_sources", b.EndpointsWithSuspendedSources},
		{"num_eps_oversending", b.EndpointsOversending},
		{"largest_conference", b.LargestConference},
		{"octo_receive_bitrate", int64(r.Rates.RelayBitsIn)}, // bps, as JVB
		{"octo_receive_packet_rate", int64(r.Rates.RelayPacketsIn)},
		{"octo_send_bitrate", int64(r.Rates.RelayBitsOut)},
		{"octo_send_packet_rate", int64(r.Rates.RelayPacketsOut)},
		{"total_conferences_created", b.ConferencesCreated},
		{"total_conferences_completed", b.ConferencesCompleted},
		{"total_participants", b.EndpointsCreated},
		{"total_relays", rl.Created},
		{"stress_level", r.Stress()},
		{"conferences", b.Conferences},
		{"local_endpoints", b.Endpoints},
		{"total_data_channel_messages_received", b.DataChannelMessagesReceived},
		{"total_data_channel_messages_sent", b.DataChannelMessagesSent},
		{"total_colibri_web_socket_messages_received", b.ColibriWebSocketMessagesReceived},
		{"total_colibri_web_socket_messages_sent", b.ColibriWebSocketMessagesSent},
		{"total_bytes_received", b.BytesReceived},
		{"endpoints_ice_failed", b.ICEFailed},
		{"dtls_failed_endpoints", b.DTLSFailed},
		{"relays_ice_failed", rl.ICEFailed},
		{"dtls_failed_relays", rl.DTLSFailed},
		{"total_bytes_sent", b.BytesSent},
		{"total_packets_received", b.PacketsReceived},
		{"total_packets_sent", b.PacketsSent},
		{"total_bytes_received_octo", rl.BytesReceived},
		{"total_bytes_sent_octo", rl.BytesSent},
		{"total_packets_received_octo", rl.PacketsReceived},
		{"total_packets_sent_octo", rl.PacketsSent},
		{"total_dominant_speaker_changes", b.DominantSpeakerChanges},
		{"preemptive_kfr_sent", b.PreemptiveKeyframeRequestsSent},
		{"preemptive_kfr_suppressed", b.PreemptiveKeyframeRequestsSuppressed},
		{"total_ice_failed", b.ICEFailed},
		{"total_ice_succeeded", b.ICESucceeded},
		{"total_keyframes_received", b.KeyframesReceived},
		{"rtt_aggregate", float64(b.AverageRTT.Microseconds()) / 1000},
		{"average_participant_stress", r.Info.AverageParticipantStress},
		{"threads", r.Threads},
		{"graceful_shutdown", r.Flags.GracefulShutdown},
		{"shutting_down", r.Flags.ShuttingDown},
		{"drain", r.Flags.Drain},
		{"current_timestamp", r.Time.UTC().Format("2006-01-02 15:04:05.000")},
	}
	if r.Info.RelayID != "" {
		f = append(f, Field{"relay_id", r.Info.RelayID})
	}
	f = append(f,
		Field{"muc_clients_configured", r.XMPP.ClientsConfigured},
		Field{"muc_clients_connected", r.XMPP.ClientsConnected},
		Field{"mucs_configured", r.XMPP.MUCsConfigured},
		Field{"mucs_joined", r.XMPP.MUCsJoined},
		Field{"healthy", r.Flags.Healthy},
		Field{"version", r.Info.Version},
	)
	if r.Info.Release != "" {
		f = append(f, Field{"release", r.Info.Release})
	}
	if r.Info.Region != "" {
		f = append(f, Field{"region", r.Info.Region})
	}
	return f
}

// Stat is one presence <stat name=… value=…/>.
type Stat struct{ Name, Value string }

// Presence formats Fields as strings, the way jicofo parses them (toDouble, parseBoolean).
func (r Report) Presence() []Stat {
	fields := r.Fields()
	out := make([]Stat, len(fields))
	for i, f := range fields {
		out[i] = Stat{Name: f.Name, Value: format(f.Value)}
	}
	return out
}

func format(v any) string {
	switch x := v.(type) {
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case string:
		return x
	}
	return ""
}

// JSON is /colibri/stats: the Fields as one object, typed, in order.
func (r Report) JSON() []byte {
	buf := []byte{'{'}
	for i, f := range r.Fields() {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendQuote(buf, f.Name)
		buf = append(buf, ':')
		switch x := f.Value.(type) {
		case string:
			buf = strconv.AppendQuote(buf, x)
		default:
			buf = append(buf, format(x)...)
		}
	}
	return append(buf, '}')
}
