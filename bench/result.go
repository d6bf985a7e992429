package bench

import "time"

// The types below are what --json prints. Counts ("packets", "messages") cover the measurement
// window unless a comment says otherwise; times are wall clock on this machine.

// Result is everything one run measured; it is what --json prints.
type Result struct {
	// Tool is always "jvb-bench".
	Tool string `json:"tool"`
	// StartedAt is when the run began (UTC).
	StartedAt time.Time `json:"started_at"`
	// Scenario is the simulated load.
	Scenario ScenarioSummary `json:"scenario"`
	// Machine says whether the load generator competes with the bridge for the CPU.
	Machine MachineInfo `json:"machine"`
	// Bridge identifies the bridge under test.
	Bridge BridgeInfo `json:"bridge"`
	// Endpoints is the number of simulated endpoints (conferences x participants).
	Endpoints int `json:"endpoints"`
	// Joined is how many of them were allocated and got DTLS-SRTP up.
	Joined int `json:"joined"`
	// JoinFailures is Endpoints - Joined; the first reasons are in Notes.
	JoinFailures int `json:"join_failures"`
	// JoinMs is per endpoint from the start of its join (local sockets, allocation,
	// transport/sources update) to DTLS-SRTP up, over Scenario.SignallingProtocol.
	JoinMs JoinMs `json:"join_ms"`
	// AllocateMs is the round trip of each endpoint's allocating conference-modify (request
	// sent to answer received): POST/PATCH for REST, IQ through prosody for XMPP.
	AllocateMs JoinMs `json:"allocate_ms"`
	// RESTComparison is the same scenario joined again over REST on the same bridge after an
	// XMPP run (--xmpp-compare-rest); null otherwise.
	RESTComparison *JoinComparison `json:"rest_comparison"`
	// BridgeChannelsOpen is how many endpoints opened the SCTP bridge channel.
	BridgeChannelsOpen int `json:"bridge_channels_open"`
	// BridgeChannelMessages is the messages the bridge sent on them, whole run.
	BridgeChannelMessages uint64 `json:"bridge_channel_messages"`
	// KeyframeRequests is PLI/FIR the bridge sent for the endpoints' own SSRCs, whole run.
	KeyframeRequests uint64 `json:"keyframe_requests"`
	// RTCPReceived is SRTCP packets (compound) the endpoints received, whole run.
	RTCPReceived uint64 `json:"rtcp_received"`
	// TCCFeedbackSent is transport-cc feedback packets the endpoints sent, whole run.
	TCCFeedbackSent uint64 `json:"tcc_feedback_sent"`
	// TCCFeedbackReceived is transport-cc feedback packets from the bridge, whole run.
	TCCFeedbackReceived uint64 `json:"tcc_feedback_received"`
	// BridgeRSSIdleBytes is the bridge's resident memory before the joins.
	BridgeRSSIdleBytes uint64 `json:"bridge_rss_idle_bytes"`
	// BridgeRSSBytes is its resident memory at the end of the window.
	BridgeRSSBytes uint64 `json:"bridge_rss_bytes"`
	// BridgeRSSPerEndpointBytes is (BridgeRSSBytes - BridgeRSSIdleBytes) / Joined.
	BridgeRSSPerEndpointBytes uint64 `json:"bridge_rss_per_endpoint_bytes"`
	// BridgeDrops is jitsi_jvb_dropped_packets_total deltas in the window, by reason.
	BridgeDrops map[string]uint64 `json:"bridge_dropped_packets"`
	// Result is the measurement window through the bridge.
	Result PhaseResult `json:"result"`
	// Baseline is the same flow through the in-process UDP relay (--baseline); null otherwise.
	Baseline *PhaseResult `json:"baseline"`
	// BaselineFraction compares the two; null without --baseline.
	BaselineFraction *BaselineFraction `json:"baseline_fraction"`
	// Repeats lists every bridge window (and relay window after it) of a --repeat run; Result
	// and Baseline above are the pair with the median CPU-efficiency ratio. Null for one window.
	Repeats *RepeatSummary `json:"repeats"`
	// BridgeRuntime is the bridge's goroutines, heap and open files sampled through the
	// windows (from its /metrics), with their growth from the first sample to the last.
	BridgeRuntime *RuntimeGrowth `json:"bridge_runtime"`
	// Notes say how to read the numbers and what went wrong, in words.
	// Allocations is each receiver's bandwidth estimate and chosen layers on the bridge at
	// the end of the run (from its /debug); nil when not read.
	Allocations *AllocationSummary `json:"allocations"`
	// TwoBridges is the per-bridge view of a run over two bridges linked by a relay.
	TwoBridges *TwoBridgeResult `json:"two_bridges,omitempty"`
	Notes      []string         `json:"notes"`
}

// ScenarioSummary is the Scenario in JSON-friendly units.
type ScenarioSummary struct {
	Preset             string  `json:"preset"`                 // --preset name, "" = none
	AudioSenders       int     `json:"audio_senders"`          // endpoints per conference sending audio
	OnStageReceivers   int     `json:"on_stage_receivers"`     // receivers with the first sender on stage; -1 = all
	OnStageHeight      int     `json:"on_stage_height"`        // their maxHeight for it
	SpeakerIntervalS   float64 `json:"speaker_interval_s"`     // scripted speaker changes; 0 = none
	NACK               bool    `json:"nack"`                   // receivers send NACKs
	SampleEvery        int     `json:"sample_every"`           // decrypt 1 in N per stream; 0 = all
	MirrorRelay        bool    `json:"mirror_relay"`           // relay forwards only the bridge's flow
	Repeat             int     `json:"repeat"`                 // bridge/relay window pairs
	AlignedSenders     bool    `json:"aligned_senders"`        // senders capture in step (worst-case bursts)
	Conferences        int     `json:"conferences"`            // number of conferences
	Participants       int     `json:"participants"`           // endpoints per conference
	SendersPerConf     int     `json:"senders_per_conference"` // endpoints sending media; the rest only receive
	Simulcast          bool    `json:"simulcast"`              // 3 VP8 encodings per sender instead of one
	LastN              int     `json:"last_n"`                 // -1 = unlimited
	MaxHeight          int     `json:"max_height"`             // defaultConstraints.maxHeight on the bridge channel
	DurationS          float64 `json:"duration_s"`             // measurement window asked for
	RampUpS            float64 `json:"ramp_up_s"`              // joins spread over this time
	WarmupS            float64 `json:"warmup_s"`               // wait between the last join and the window
	KeyframeIntervalS  float64 `json:"keyframe_interval_s"`    // periodic keyframes; 0 = only on request
	BridgeChannel      bool    `json:"bridge_channel"`         // SCTP data channel opened
	REMBBps            uint64  `json:"remb_bps"`               // REMB each receiver sends; 0 = none
	TCC                bool    `json:"transport_cc"`           // transport-cc negotiated, fed back every 100 ms
	SignallingProtocol string  `json:"signalling"`             // "colibri2-rest" or "colibri2-xmpp"
}

func scenarioJSON(s Scenario) ScenarioSummary {
	return ScenarioSummary{
		Conferences: s.Conferences, Participants: s.Participants, SendersPerConf: s.senders(),
		Simulcast: s.Simulcast, LastN: s.LastN, MaxHeight: s.MaxHeight,
		DurationS: s.Duration.Seconds(), RampUpS: s.RampUp.Seconds(), WarmupS: s.Warmup.Seconds(),
		KeyframeIntervalS: s.KeyframeInterval.Seconds(), BridgeChannel: s.BridgeChannel, REMBBps: s.REMBBps, TCC: s.TCC,
		SignallingProtocol: "colibri2-rest",
		Preset:             s.Name, AudioSenders: s.audioSenders(), OnStageReceivers: s.OnStageReceivers,
		OnStageHeight: s.OnStageHeight, SpeakerIntervalS: s.SpeakerInterval.Seconds(), NACK: s.NACK,
		SampleEvery: s.SampleEvery, MirrorRelay: s.MirrorRelay, Repeat: max(1, s.Repeat),
		AlignedSenders: s.AlignedSenders,
	}
}

// MachineInfo says whether the numbers compete with the load generator.
type MachineInfo struct {
	// Cores is the CPUs this process sees.
	Cores int `json:"cores"`
	// LoadGeneratorSharesCPU is true when the bridge runs on this machine (local pid or
	// loopback URL): its CPU figures then include contention with the load generator.
	LoadGeneratorSharesCPU bool `json:"load_generator_shares_cpu"`
}

// BridgeInfo identifies the bridge under test.
type BridgeInfo struct {
	URL            string `json:"url"`                     // private HTTP base URL (REST, /metrics)
	PID            int    `json:"pid"`                     // 0 when not on this machine
	ResourceSource string `json:"resource_source"`         // "proc" or "metrics": where CPU and RSS come from
	XMPPOccupant   string `json:"xmpp_occupant,omitempty"` // the bridge's occupant JID in the brewery (XMPP only)
}

// JoinMs are quantiles of a duration over endpoints, in milliseconds.
type JoinMs struct {
	P50 float64 `json:"p50"` // median
	P90 float64 `json:"p90"` // 90th percentile
	Max float64 `json:"max"` // slowest
}

// JoinComparison is the same scenario joined over another signalling path on the same bridge.
type JoinComparison struct {
	Signalling   string `json:"signalling"`    // "colibri2-rest"
	Joined       int    `json:"joined"`        // endpoints that got DTLS-SRTP up
	JoinFailures int    `json:"join_failures"` // endpoints that did not
	JoinMs       JoinMs `json:"join_ms"`       // as Result.JoinMs
	AllocateMs   JoinMs `json:"allocate_ms"`   // as Result.AllocateMs
}

// LatencyMs is one-way forwarding latency: receive time minus the send time the sender wrote
// into the payload (same clock), in milliseconds.
type LatencyMs struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// PhaseResult is one measurement window (through the bridge, or through the baseline relay).
type PhaseResult struct {
	WindowS          float64 `json:"window_s"`                // actual length of the window
	SentPackets      uint64  `json:"sent_packets"`            // RTP packets the endpoints sent
	SentPacketsPerS  float64 `json:"sent_packets_per_s"`      // SentPackets / WindowS
	SentBitsPerS     float64 `json:"sent_bits_per_s"`         // RTP bytes sent (before SRTP) x 8 / WindowS
	ForwardedPackets uint64  `json:"forwarded_packets"`       // RTP packets the endpoints received
	ForwardedBytes   uint64  `json:"forwarded_bytes"`         // their UDP payload bytes (SRTP through the bridge)
	AudioPackets     uint64  `json:"forwarded_audio_packets"` // of ForwardedPackets: opus
	VideoPackets     uint64  `json:"forwarded_video_packets"` // of ForwardedPackets: the rest (VP8)
	// ForwardedPacketsPerS is ForwardedPackets / WindowS.
	ForwardedPacketsPerS float64 `json:"forwarded_packets_per_s"`
	// ForwardedBitsPerS is ForwardedBytes x 8 / WindowS.
	ForwardedBitsPerS float64 `json:"forwarded_bits_per_s"`
	// Expected is packets the receivers should have got, from the sequence numbers of the
	// streams they received (a layer the bridge chose not to forward is not expected).
	Expected     uint64    `json:"expected"`
	Lost         uint64    `json:"lost"`          // Expected minus received
	LossFraction float64   `json:"loss_fraction"` // Lost / Expected
	Reordered    uint64    `json:"reordered"`     // packets arriving after a later sequence number
	Latency      LatencyMs `json:"latency_ms"`    // over received packets carrying a send stamp
	// LatencySamples is how many packets Latency is computed from: with the cheap receive path
	// one in scenario.sample_every per stream is decrypted, the rest only header-accounted.
	LatencySamples uint64 `json:"latency_samples"`
	// Discontinuities is packets that broke a stream's sequence/timestamp continuity.
	Discontinuities uint64 `json:"discontinuities"`
	// NACKedPackets is sequence numbers the receivers asked for again.
	NACKedPackets uint64 `json:"nacked_packets"`
	// Layers is what the receivers got, by view (tile, on-stage) and video height.
	Layers []LayerCount `json:"layers"`
	// CPUSeconds is the forwarder's CPU time in the window: the bridge process, or the relay's
	// goroutine thread for the baseline.
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUCores is CPUSeconds / WindowS.
	CPUCores float64 `json:"cpu_cores"`
	// CPUHostPercent is CPUCores as a percentage of all the host's cores.
	CPUHostPercent float64 `json:"cpu_host_percent"`
	// CPUMicrosPerForwardedPacket is CPUSeconds per ForwardedPackets, in microseconds: the
	// capacity figure that survives a shared machine.
	CPUMicrosPerForwardedPacket float64 `json:"cpu_us_per_forwarded_packet"`
	// ForwardedPacketsPerSPerCore is 1e6 / CPUMicrosPerForwardedPacket.
	ForwardedPacketsPerSPerCore float64 `json:"forwarded_packets_per_s_per_core"`
	// LoadGenCPUSeconds is this process's CPU time in the window (for the baseline it includes
	// the relay).
	LoadGenCPUSeconds float64 `json:"load_generator_cpu_seconds"`
	// LoadGenCPUCores is LoadGenCPUSeconds / WindowS.
	LoadGenCPUCores float64 `json:"load_generator_cpu_cores"`
	// LoadGenGoroutines is this process's goroutines at the end of the window (pion's ICE,
	// DTLS and SCTP ones included).
	LoadGenGoroutines int `json:"load_generator_goroutines"`
	// BridgeSocketDrops is the kernel's drops on the bridge's UDP sockets (local bridge only).
	BridgeSocketDrops uint64 `json:"bridge_socket_drops"`
	// LoadGenSocketDrops is the kernel's drops on this process's UDP sockets (baseline: includes the relay's).
	LoadGenSocketDrops uint64 `json:"load_generator_socket_drops"`
	// Receivers is the same per receiving endpoint.
	Receivers []ReceiverResult `json:"receivers"`

	endRSS uint64
}

// BaselineFraction is the bridge relative to the minimal relay (1.0 = as good as the relay).
type BaselineFraction struct {
	CPUEfficiency float64 `json:"cpu_efficiency"` // relay CPU-us per packet / bridge CPU-us per packet
	Throughput    float64 `json:"throughput"`     // bridge forwarded pps / relay forwarded pps
}

// LayerCount is the video one group of receivers got at one height (0 = audio).
type LayerCount struct {
	View        string  `json:"view"`          // "tile" or "on-stage"
	Height      int     `json:"height"`        // from the decrypted payloads: 0 = audio, -1 = unknown (no packet decrypted: padding, probing)
	Receivers   int     `json:"receivers"`     // receivers in this view
	Streams     float64 `json:"streams"`       // streams at this height per receiver (each with >= 1 s of packets)
	PacketsPerS float64 `json:"packets_per_s"` // per receiver
}

// RepeatSummary is the alternating bridge and relay windows of one run.
type RepeatSummary struct {
	Windows []RepeatWindow `json:"windows"`
	// CPUEfficiency* are over the windows' ratios (relay us/pkt / bridge us/pkt); 0 without
	// --baseline.
	CPUEfficiencyMedian float64 `json:"cpu_efficiency_median"`
	CPUEfficiencyMin    float64 `json:"cpu_efficiency_min"`
	CPUEfficiencyMax    float64 `json:"cpu_efficiency_max"`
	// BridgeMicrosMedian/Min/Max are over the bridge windows' CPU-us per forwarded packet.
	BridgeMicrosMedian float64 `json:"bridge_cpu_us_median"`
	BridgeMicrosMin    float64 `json:"bridge_cpu_us_min"`
	BridgeMicrosMax    float64 `json:"bridge_cpu_us_max"`
}

// RepeatWindow is one bridge window and the relay window after it.
type RepeatWindow struct {
	BridgeMicrosPerPacket float64 `json:"bridge_cpu_us_per_packet"`
	BridgePacketsPerS     float64 `json:"bridge_forwarded_pps"`
	BridgeCPUCores        float64 `json:"bridge_cpu_cores"`
	RelayMicrosPerPacket  float64 `json:"relay_cpu_us_per_packet"`
	RelayPacketsPerS      float64 `json:"relay_forwarded_pps"`
	CPUEfficiency         float64 `json:"cpu_efficiency"`
	LoadGenCPUCores       float64 `json:"load_generator_cpu_cores"`
}

// RuntimeGrowth is the bridge's runtime gauges over the run, for the no-growth check.
type RuntimeGrowth struct {
	IntervalS float64         `json:"interval_s"`
	Samples   []RuntimeSample `json:"samples"`
	// Growth is last minus first sample; a steady bridge stays near 0 (heap moves with GC).
	GoroutinesGrowth float64 `json:"goroutines_growth"`
	HeapGrowthBytes  float64 `json:"heap_growth_bytes"`
	FDsGrowth        float64 `json:"fds_growth"`
	// Error says why the gauges could not be read, if they could not.
	Error string `json:"error,omitempty"`
}

// RuntimeSample is one reading of the bridge's gauges.
type RuntimeSample struct {
	AtS        float64 `json:"at_s"` // seconds since the first window started
	Goroutines float64 `json:"goroutines"`
	HeapBytes  float64 `json:"heap_inuse_bytes"`
	FDs        float64 `json:"open_fds"`
	RSSBytes   float64 `json:"rss_bytes"`
}
