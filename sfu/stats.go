package sfu

import (
	"sync/atomic"
	"time"

	"gojvb/sfu/transport"
)

// Stats is a snapshot of the bridge's counters (monotonic totals since New, including expired
// endpoints) and gauges (current values). The ops package turns it into jitsi_jvb_* metrics and
// /colibri/stats.
type Stats struct {
	// Gauges.
	Conferences           int
	Endpoints             int
	LargestConference     int // endpoints in the largest conference
	EndpointsSendingAudio int // endpoints that sent audio within the last SendingWindow
	EndpointsSendingVideo int
	// Receivers whose last allocation suspended a source for bandwidth (JVB's
	// endpoints_with_suspended_sources), and whose on-stage screenshare oversends
	// (num_eps_oversending).
	EndpointsWithSuspendedSources int
	EndpointsOversending          int
	// SourcesBelowIdeal counts, over every receiver's last allocation, the sources it gets
	// below their ideal layer (or not at all), by reason (AllocationReasons).
	SourcesBelowIdeal map[string]int

	// Totals: packets handed to endpoints by the transport (RTP and RTCP) and what left the
	// bridge (accepted by the kernel; PacketsSent + DroppedSendFailed is what the send side tried).
	PacketsReceived, BytesReceived uint64
	PacketsSent, BytesSent         uint64

	// Totals: packets dropped by the forwarding pipeline, by reason.
	DroppedUnknownSSRC uint64 // RTP from an SSRC nobody signalled
	DroppedForeignSSRC uint64 // RTP from an SSRC another endpoint signalled
	DroppedSRTPAuth    uint64 // SRTP/SRTCP that failed to unprotect (auth tag, replay, malformed)
	DroppedQueueFull   uint64 // a receiver's queue was full
	DroppedNotSecure   uint64 // receiver's DTLS not done yet, or SRTP before the sender's keys
	DroppedMuted       uint64 // force-muted media
	DroppedSendFailed  uint64 // could not protect an outgoing packet, or the kernel did not take it

	KeyframeRequestsForwarded uint64 // PLI/FIR relayed to a media sender
	KeyframeRequestsDropped   uint64 // PLI/FIR for an unknown SSRC or rate limited

	// Socket-level totals and drops of the shared UDP port.
	Mux transport.MuxStats

	// Lifecycle totals.
	ConferencesCreated, ConferencesCompleted uint64
	EndpointsCreated                         uint64
	ICESucceeded, ICEFailed, DTLSFailed      uint64

	DataChannelMessagesReceived, DataChannelMessagesSent           uint64
	ColibriWebSocketMessagesReceived, ColibriWebSocketMessagesSent uint64 // bridge-channel messages over /colibri-ws

	DroppedRTX       uint64 // RTP on an RTX SSRC (retransmissions and probing are not used yet)
	DroppedSilence   uint64 // audio silence past the forwarded-silence limit (renumbered away)
	DroppedMalformed uint64 // decrypted RTP with a malformed header
	DroppedPadding   uint64 // padding-only video on a media SSRC (receivers' sequence numbers close the gap)

	DataChannelMessagesUnknown   uint64 // bridge-channel messages of an unknown or meaningless class
	DataChannelMessagesMalformed uint64 // not JSON, too large, too deep, wrong field types
	DataChannelMessagesDropped   uint64 // rate limited, from a visitor, or to an unknown endpoint

	DominantSpeakerChanges uint64
	// Pre-emptive keyframe requests to a new dominant speaker: sent, and suppressed because no
	// other endpoint had a camera on stage.
	PreemptiveKeyframeRequestsSent, PreemptiveKeyframeRequestsSuppressed uint64

	KeyframesReceived        uint64        // video keyframes (their first packet) from senders
	AverageRTT               time.Duration // over endpoints with a measured round-trip time (gauge)
	NACKsReceived, NACKsSent uint64        // generic NACK packets from receivers; from the bridge to senders
	Retransmissions          uint64        // packets resent to receivers from their history that the kernel accepted
	RetransmissionsNotCached uint64        // NACKed packets no longer in the history
	ProbePacketsSent         uint64        // padding packets sent to receivers to probe their bandwidth
	RetransmissionsReceived  uint64        // RTX from senders restored into their streams
	DroppedDuplicates        uint64        // video packets received twice

	Relay RelayTotals // relays (Octo), relay.go
}

// EndpointStats is a snapshot of one endpoint's counters.
type EndpointStats struct {
	PacketsReceived, BytesReceived uint64
	PacketsSent, BytesSent         uint64

	DroppedUnknownSSRC, DroppedForeignSSRC, DroppedSRTPAuth uint64
	DroppedQueueFull, DroppedNotSecure, DroppedMuted        uint64
	DroppedSendFailed                                       uint64

	KeyframeRequestsForwarded, KeyframeRequestsDropped uint64

	DataChannelMessagesReceived, DataChannelMessagesSent           uint64
	ColibriWebSocketMessagesReceived, ColibriWebSocketMessagesSent uint64

	DroppedRTX, DroppedSilence, DroppedMalformed, DroppedPadding                         uint64
	DataChannelMessagesUnknown, DataChannelMessagesMalformed, DataChannelMessagesDropped uint64

	NACKsReceived, NACKsSent, Retransmissions, RetransmissionsNotCached uint64
	ProbePacketsSent                                                    uint64
	KeyframesReceived                                                   uint64
	RetransmissionsReceived, DroppedDuplicates                          uint64
}

func (s *EndpointStats) add(o EndpointStats) {
	s.PacketsReceived += o.PacketsReceived
	s.BytesReceived += o.BytesReceived
	s.PacketsSent += o.PacketsSent
	s.BytesSent += o.BytesSent
	s.DroppedUnknownSSRC += o.DroppedUnknownSSRC
	s.DroppedForeignSSRC += o.DroppedForeignSSRC
	s.DroppedSRTPAuth += o.DroppedSRTPAuth
	s.DroppedQueueFull += o.DroppedQueueFull
	s.DroppedNotSecure += o.DroppedNotSecure
	s.DroppedMuted += o.DroppedMuted
	s.DroppedSendFailed += o.DroppedSendFailed
	s.KeyframeRequestsForwarded += o.KeyframeRequestsForwarded
	s.KeyframeRequestsDropped += o.KeyframeRequestsDropped
	s.DataChannelMessagesReceived += o.DataChannelMessagesReceived
	s.DataChannelMessagesSent += o.DataChannelMessagesSent
	s.ColibriWebSocketMessagesReceived += o.ColibriWebSocketMessagesReceived
	s.ColibriWebSocketMessagesSent += o.ColibriWebSocketMessagesSent
	s.DroppedRTX += o.DroppedRTX
	s.DroppedSilence += o.DroppedSilence
	s.DroppedMalformed += o.DroppedMalformed
	s.DroppedPadding += o.DroppedPadding
	s.DataChannelMessagesUnknown += o.DataChannelMessagesUnknown
	s.DataChannelMessagesMalformed += o.DataChannelMessagesMalformed
	s.DataChannelMessagesDropped += o.DataChannelMessagesDropped
	s.KeyframesReceived += o.KeyframesReceived
	s.NACKsReceived += o.NACKsReceived
	s.NACKsSent += o.NACKsSent
	s.Retransmissions += o.Retransmissions
	s.RetransmissionsNotCached += o.RetransmissionsNotCached
	s.ProbePacketsSent += o.ProbePacketsSent
	s.RetransmissionsReceived += o.RetransmissionsReceived
	s.DroppedDuplicates += o.DroppedDuplicates
}

// receiveCounters are written only by the socket reader goroutine(s) delivering this endpoint's
// packets, including the drops decided while fanning its packets out.
type receiveCounters struct {
	packets, bytes                       atomic.Uint64
	unknownSSRC, foreignSSRC, srtpAuth   atomic.Uint64
	queueFull, notSecure, muted          atomic.Uint64
	keyframesForwarded, keyframesDropped atomic.Uint64
	rtx, silence, malformed, padding     atomic.Uint64
	retransmissions, duplicates          atomic.Uint64 // RTX restored; duplicate video dropped
	keyframes                            atomic.Uint64
	nacksReceived, nacksSent             atomic.Uint64 // NACK packets from the endpoint; to it as a sender
	_                                    [64]byte      // keep the sender's counters off this cache line
}

// sendCounters are written only by the endpoint's sender goroutine. What it committed to the
// writer is counted there, as the kernel accepted or dropped it (datagramWriter.Stats).
type sendCounters struct {
	failed        atomic.Uint64 // could not be protected (no keys yet, too large, SRTP error)
	stale         atomic.Uint64 // queued for a source that is no longer signalled
	retransmitted atomic.Uint64 // packets resent for the endpoint's NACKs that the kernel accepted
	notCached     atomic.Uint64 // NACKed packets no longer in its history
	probes        atomic.Uint64 // padding packets sent to probe its bandwidth
	_             [64]byte
}

// controlCounters are written by the transport's control goroutines (data channel) and the
// endpoint's Colibri WebSocket. Messages are counted by the channel they came or went on, as JVB
// does (data_channel_messages_*, colibri_web_socket_messages_*); the unknown/malformed/dropped
// verdicts are the bridge channel's whichever carried it.
type controlCounters struct {
	messagesReceived, messagesSent                      atomic.Uint64 // data channel
	wsReceived, wsSent                                  atomic.Uint64 // Colibri WebSocket
	messagesUnknown, messagesMalformed, messagesDropped atomic.Uint64
}

// Stats returns a snapshot of the endpoint's counters. PacketsSent and BytesSent are what the
// kernel accepted; DroppedSendFailed is every packet the send side tried and did not get out
// (not protected, or not accepted by the kernel), so the two add up to what it tried to send.
func (e *Endpoint) Stats() EndpointStats {
	w := e.writer.Stats()
	return EndpointStats{
		PacketsReceived:             e.rx.packets.Load(),
		BytesReceived:               e.rx.bytes.Load(),
		PacketsSent:                 w.Packets,
		BytesSent:                   w.Bytes,
		DroppedUnknownSSRC:          e.rx.unknownSSRC.Load() + e.tx.stale.Load(),
		DroppedForeignSSRC:          e.rx.foreignSSRC.Load(),
		DroppedSRTPAuth:             e.rx.srtpAuth.Load(),
		DroppedQueueFull:            e.rx.queueFull.Load(),
		DroppedNotSecure:            e.rx.notSecure.Load(),
		DroppedMuted:                e.rx.muted.Load(),
		DroppedSendFailed:           e.tx.failed.Load() + w.Dropped,
		KeyframeRequestsForwarded:   e.rx.keyframesForwarded.Load(),
		KeyframeRequestsDropped:     e.rx.keyframesDropped.Load(),
		DataChannelMessagesReceived: e.ctl.messagesReceived.Load(),
		DataChannelMessagesSent:     e.ctl.messagesSent.Load(),

		ColibriWebSocketMessagesReceived: e.ctl.wsReceived.Load(),
		ColibriWebSocketMessagesSent:     e.ctl.wsSent.Load(),

		DroppedRTX:                   e.rx.rtx.Load(),
		DroppedSilence:               e.rx.silence.Load(),
		DroppedMalformed:             e.rx.malformed.Load(),
		DroppedPadding:               e.rx.padding.Load(),
		DataChannelMessagesUnknown:   e.ctl.messagesUnknown.Load(),
		DataChannelMessagesMalformed: e.ctl.messagesMalformed.Load(),
		DataChannelMessagesDropped:   e.ctl.messagesDropped.Load(),

		KeyframesReceived:        e.rx.keyframes.Load(),
		NACKsReceived:            e.rx.nacksReceived.Load(),
		NACKsSent:                e.rx.nacksSent.Load(),
		Retransmissions:          e.tx.retransmitted.Load(),
		RetransmissionsNotCached: e.tx.notCached.Load(),
		ProbePacketsSent:         e.tx.probes.Load(),
		RetransmissionsReceived:  e.rx.retransmissions.Load(),
		DroppedDuplicates:        e.rx.duplicates.Load(),
	}
}

// bridgeCounters are lifecycle totals, bumped on control-plane events only.
type bridgeCounters struct {
	conferencesCreated, conferencesCompleted atomic.Uint64
	endpointsCreated                         atomic.Uint64
	iceSucceeded, iceFailed, dtlsFailed      atomic.Uint64
	dominantSpeakerChanges                   atomic.Uint64
	preemptiveSent, preemptiveSuppressed     atomic.Uint64
	relaysCreated                            atomic.Uint64
	// Counters of expired relays' links.
	relayRxPackets, relayRxBytes, relayTxPackets, relayTxBytes atomic.Uint64
	relayICEFailed, relayDTLSFailed                            atomic.Uint64
}
