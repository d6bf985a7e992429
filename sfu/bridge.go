// Package sfu is the media core of the bridge: conferences, endpoints, and the per-packet path
// that moves SRTP from one endpoint to the others (socket, demux, SRTP, source, projection,
// receiver, SRTP, socket; see pipeline.go). Control protocols (COLIBRI2, XMPP, HTTP) drive it
// through its exported API; it must never import them.
package sfu

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"gojvb/bwe"
	"gojvb/sfu/transport"
	"gojvb/simulcast"
)

// SendingWindow is how recently an endpoint must have sent audio (video) to count in
// Stats.EndpointsSendingAudio (EndpointsSendingVideo).
const SendingWindow = 5 * time.Second

// tickInterval is how often an endpoint's sender goroutine runs what is due without a packet.
const tickInterval = 100 * time.Millisecond

// Config configures a Bridge.
type Config struct {
	Transport transport.Config // port, advertised addresses, readers
	Logger    *slog.Logger     // nil: slog.Default()
	// Allocation holds the videobridge.cc receiver defaults (lastN, heights) and the video SSRC
	// limit; the zero value means bwe.DefaultConfig().
	Allocation *bwe.Config
	// SSRCLimitAudio is videobridge.ssrc-limit.audio (0: 50): audio slots per rewriting receiver.
	SSRCLimitAudio int
	// RelayID is this bridge's videobridge.relay.relay-id, the bridgeId of the AddReceiver
	// messages it sends over relays.
	RelayID string
	// Allocator holds the bandwidth allocator's videobridge.cc keys (bwe-change-threshold,
	// max-time-between-calculations, oversend, trust-bwe) and our hysteresis; nil means
	// bwe.DefaultAllocatorConfig(). Its Config part is ignored: Allocation sets that.
	Allocator *bwe.AllocatorConfig
	// HandOffSends makes every receiver's packets go out from its own sender goroutine only,
	// never from the socket reader that queued them (sendInline). For comparisons: the
	// default sends inline, which saves a goroutine wakeup and a hand-off between cores.
	HandOffSends bool
}

// Bridge owns the UDP port and the conferences on it.
type Bridge struct {
	log          *slog.Logger
	mux          *transport.Mux // nil in tests that build transports themselves
	newTransport transportFactory
	counters     bridgeCounters
	// manualSend (tests and benchmarks only) starts no sender goroutines: the test drains
	// endpoints itself, synchronously.
	manualSend bool
	// inlineSend lets socket readers send to receivers themselves at the end of a batch
	// (sendInline); off with manualSend and Config.HandOffSends.
	inlineSend bool
	// readerSilence is how long a socket reader may stay away from its socket (Alive).
	readerSilence  time.Duration
	alloc          bwe.Config
	allocator      bwe.AllocatorConfig // its Config is replaced by alloc
	ssrcLimitAudio int
	relayID        string
	tcfg           transport.Config // the shared port's, for relays' own ports (relay.go)

	mu          sync.Mutex
	conferences map[string]*Conference // by meeting id
	closed      bool

	statsMu sync.Mutex
	live    map[*Endpoint]struct{}
	retired EndpointStats // counters of expired endpoints
}

// New binds the UDP port and returns a bridge with no conferences.
func New(cfg Config) (*Bridge, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	tc := cfg.Transport
	if tc.Logger == nil {
		tc.Logger = log
	}
	m, err := transport.Listen(tc)
	if err != nil {
		return nil, fmt.Errorf("sfu: listen on UDP port %d: %w", tc.Port, err)
	}
	b := newBridge(log, func(opts transport.Options, h transport.Handler) (endpointTransport, datagramWriter, error) {
		t, err := m.NewTransport(opts, h)
		if err != nil {
			return nil, nil, err
		}
		return t, t.NewBatchWriter(), nil
	})
	b.mux = m
	b.tcfg = tc
	b.relayID = cfg.RelayID
	if cfg.Allocation != nil {
		b.alloc = *cfg.Allocation
	}
	if cfg.Allocator != nil {
		b.allocator = *cfg.Allocator
	}
	if cfg.SSRCLimitAudio > 0 {
		b.ssrcLimitAudio = cfg.SSRCLimitAudio
	}
	b.inlineSend = !cfg.HandOffSends
	log.Info("bridge listening", "addr", m.LocalAddr())
	return b, nil
}

func newBridge(log *slog.Logger, f transportFactory) *Bridge {
	return &Bridge{
		log:          log,
		newTransport: f,
		conferences:  make(map[string]*Conference),
		live:         make(map[*Endpoint]struct{}),

		readerSilence:  defaultReaderSilence,
		alloc:          bwe.DefaultConfig(),
		allocator:      bwe.DefaultAllocatorConfig(),
		ssrcLimitAudio: simulcast.DefaultSlotLimit,
		inlineSend:     true,
	}
}

// Close expires every conference and closes the UDP port; all goroutines of the bridge have
// ended when it returns. Later calls do nothing.
func (b *Bridge) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	confs := b.conferencesLocked()
	b.mu.Unlock()
	for _, c := range confs {
		c.Expire()
	}
	if b.mux == nil {
		return nil
	}
	if err := b.mux.Close(); err != nil {
		return fmt.Errorf("sfu: close UDP port: %w", err)
	}
	return nil
}

// LocalAddr returns the bound UDP address.
func (b *Bridge) LocalAddr() netip.AddrPort {
	if b.mux == nil {
		return netip.AddrPort{}
	}
	return b.mux.LocalAddr()
}

// SetAdvertised replaces the public addresses announced as candidates to endpoints created
// from now on (cmd/jvb re-resolves hostnames and re-checks STUN); a no-op without a UDP port.
func (b *Bridge) SetAdvertised(addrs []transport.AdvertisedAddr) {
	if b.mux != nil {
		b.mux.SetAdvertised(addrs)
	}
}

// CreateConference creates a conference for meetingID (ErrConferenceExists if there is one).
func (b *Bridge) CreateConference(meetingID, name string) (*Conference, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, fmt.Errorf("create conference %q: %w", meetingID, ErrExpired)
	}
	if _, ok := b.conferences[meetingID]; ok {
		return nil, fmt.Errorf("create conference %q: %w", meetingID, ErrConferenceExists)
	}
	c := newConference(b, meetingID, name)
	b.conferences[meetingID] = c
	b.counters.conferencesCreated.Add(1)
	c.log.Debug("conference created", "name", name)
	return c, nil
}

// Conference returns the conference for meetingID, or nil.
func (b *Bridge) Conference(meetingID string) *Conference {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conferences[meetingID]
}

// Conferences returns all conferences ordered by meeting id.
func (b *Bridge) Conferences() []*Conference {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conferencesLocked()
}

func (b *Bridge) conferencesLocked() []*Conference {
	out := make([]*Conference, 0, len(b.conferences))
	for _, c := range b.conferences {
		out = append(out, c)
	}
	slices.SortFunc(out, func(x, y *Conference) int {
		switch {
		case x.meetingID < y.meetingID:
			return -1
		case x.meetingID > y.meetingID:
			return 1
		}
		return 0
	})
	return out
}

func (b *Bridge) removeConference(c *Conference) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conferences[c.meetingID] == c {
		delete(b.conferences, c.meetingID)
		b.counters.conferencesCompleted.Add(1)
	}
}

// adopt starts counting e in Stats.
func (b *Bridge) adopt(e *Endpoint) {
	b.counters.endpointsCreated.Add(1)
	b.statsMu.Lock()
	b.live[e] = struct{}{}
	b.statsMu.Unlock()
}

// retire folds the counters of an expired endpoint into the bridge totals.
func (b *Bridge) retire(e *Endpoint) {
	b.statsMu.Lock()
	defer b.statsMu.Unlock()
	if _, ok := b.live[e]; ok {
		delete(b.live, e)
		b.retired.add(e.Stats())
	}
}

// Stats returns a snapshot of the bridge's counters and gauges.
func (b *Bridge) Stats() Stats {
	var s Stats
	for _, c := range b.Conferences() {
		n := c.EndpointCount()
		s.Conferences++
		s.Endpoints += n
		s.LargestConference = max(s.LargestConference, n)
	}
	since := time.Now().Add(-SendingWindow).UnixNano()
	b.statsMu.Lock()
	sum := b.retired
	var rttSum time.Duration
	var rttN int
	for e := range b.live {
		sum.add(e.Stats())
		if rtt := e.rs.rtt.publishedRTT(); rtt > 0 {
			rttSum += rtt
			rttN++
		}
		if e.lastAudio.Load() > since {
			s.EndpointsSendingAudio++
		}
		if e.lastVideo.Load() > since {
			s.EndpointsSendingVideo++
		}
		if a := e.allocState.Load(); a != nil {
			if a.Suspended > 0 {
				s.EndpointsWithSuspendedSources++
			}
			if a.Oversending {
				s.EndpointsOversending++
			}
			for _, src := range a.Sources {
				if src.Reason == "" {
					continue
				}
				if s.SourcesBelowIdeal == nil {
					s.SourcesBelowIdeal = make(map[string]int, len(AllocationReasons))
				}
				s.SourcesBelowIdeal[src.Reason]++
			}
		}
	}
	b.statsMu.Unlock()

	s.PacketsReceived, s.BytesReceived = sum.PacketsReceived, sum.BytesReceived
	s.PacketsSent, s.BytesSent = sum.PacketsSent, sum.BytesSent
	s.DroppedUnknownSSRC = sum.DroppedUnknownSSRC
	s.DroppedForeignSSRC = sum.DroppedForeignSSRC
	s.DroppedSRTPAuth = sum.DroppedSRTPAuth
	s.DroppedQueueFull = sum.DroppedQueueFull
	s.DroppedNotSecure = sum.DroppedNotSecure
	s.DroppedMuted = sum.DroppedMuted
	s.DroppedSendFailed = sum.DroppedSendFailed
	s.KeyframeRequestsForwarded = sum.KeyframeRequestsForwarded
	s.KeyframeRequestsDropped = sum.KeyframeRequestsDropped
	s.DataChannelMessagesReceived = sum.DataChannelMessagesReceived
	s.DataChannelMessagesSent = sum.DataChannelMessagesSent
	s.ColibriWebSocketMessagesReceived = sum.ColibriWebSocketMessagesReceived
	s.ColibriWebSocketMessagesSent = sum.ColibriWebSocketMessagesSent
	s.DroppedRTX = sum.DroppedRTX
	s.DroppedSilence = sum.DroppedSilence
	s.DroppedMalformed = sum.DroppedMalformed
	s.DroppedPadding = sum.DroppedPadding
	s.DataChannelMessagesUnknown = sum.DataChannelMessagesUnknown
	s.DataChannelMessagesMalformed = sum.DataChannelMessagesMalformed
	s.DataChannelMessagesDropped = sum.DataChannelMessagesDropped
	s.DominantSpeakerChanges = b.counters.dominantSpeakerChanges.Load()
	s.PreemptiveKeyframeRequestsSent = b.counters.preemptiveSent.Load()
	s.PreemptiveKeyframeRequestsSuppressed = b.counters.preemptiveSuppressed.Load()
	s.KeyframesReceived = sum.KeyframesReceived
	if rttN > 0 {
		s.AverageRTT = rttSum / time.Duration(rttN)
	}
	s.NACKsReceived, s.NACKsSent = sum.NACKsReceived, sum.NACKsSent
	s.Retransmissions, s.RetransmissionsNotCached = sum.Retransmissions, sum.RetransmissionsNotCached
	s.ProbePacketsSent = sum.ProbePacketsSent
	s.RetransmissionsReceived, s.DroppedDuplicates = sum.RetransmissionsReceived, sum.DroppedDuplicates

	if b.mux != nil {
		s.Mux = b.mux.Stats()
	}
	s.ConferencesCreated = b.counters.conferencesCreated.Load()
	s.ConferencesCompleted = b.counters.conferencesCompleted.Load()
	s.EndpointsCreated = b.counters.endpointsCreated.Load()
	s.ICESucceeded = b.counters.iceSucceeded.Load()
	s.ICEFailed = b.counters.iceFailed.Load()
	s.DTLSFailed = b.counters.dtlsFailed.Load()
	s.Relay = b.relayTotals()
	return s
}
