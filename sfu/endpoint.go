package sfu

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"gojvb/bwe"
	"gojvb/sfu/channel"
	"gojvb/sfu/transport"
	"gojvb/simulcast"
)

// endpointTransport is what an endpoint needs from its ICE/DTLS/SCTP transport
// (*transport.Transport in production).
type endpointTransport interface {
	LocalDescription() transport.Description
	SetRemoteDescription(d transport.Description) error
	State() transport.State
	LastConsentCheck() time.Time
	SendDataChannel(msg []byte, isString bool) error
	Close() error
}

// datagramWriter is what the send side writes through (*transport.BatchWriter). Stats counts
// every committed datagram as accepted by the kernel or dropped.
type datagramWriter interface {
	Buffer() []byte
	Commit(b []byte)
	Flush() error
	// FlushTo flushes into a socket reader's batch, which sends the datagrams of all its
	// receivers together when it ends (transport.BatchWriter.FlushTo); nil b: Flush.
	FlushTo(b *transport.Batch) error
	Stats() transport.WriteStats
}

// transportFactory creates an endpoint's transport and the batch writer its send side owns.
type transportFactory func(opts transport.Options, h transport.Handler) (endpointTransport, datagramWriter, error)

// Endpoint is one participant's connection to the bridge: its transport, its signalled sources
// and the goroutine that sends media to it.
type Endpoint struct {
	id      string
	cfg     EndpointConfig
	conf    *Conference
	log     *slog.Logger
	created time.Time
	tr      endpointTransport
	kind    endpointKind // local, a relay's link, or behind a relay (relay.go)
	relay   *Relay       // the relay of a link or a remote endpoint; nil for local endpoints

	// Control-plane state. sources, srcs and tracks are guarded by conf.mu; the rest by mu.
	sources  []MediaSource
	srcs     []*source
	tracks   []*track
	mu       sync.Mutex
	pts      []PayloadType
	exts     []HeaderExtension
	rxFormat atomic.Pointer[rxFormat] // what the receive side parses with, rebuilt from pts/exts

	// Receiver settings from the bridge channel, guarded by ctlMu; the sender goroutine applies
	// them (reselect) after kick.
	ctlMu      sync.Mutex
	settings   bwe.Settings
	audioSub   channel.ReceiverAudioSubscription
	resendAll  bool              // the bridge channel (re)opened: send every mapping again
	videoTypes map[string]string // SourceVideoTypeMessage for sources not signalled yet (conf.mu)
	msgLimit   *channel.RateLimiter
	ctlDirty   atomic.Bool
	nackDue    atomic.Bool // the receive side saw a gap: the sender goroutine NACKs now
	chanOpen   atomic.Bool
	msgs       messageTransports // the WebSocket bridge channel, if any (websocket.go)

	wanted atomic.Pointer[wantSet] // published by the sender goroutine, read by fan-outs
	speech levelBuffer             // audio levels for the conference's speaker detection

	muteAudio, muteVideo atomic.Bool
	secure               atomic.Bool // send keys are in place: packets may be queued to it
	expired              atomic.Bool
	iceDone              atomic.Bool
	lastActivity         atomic.Int64 // unix nanoseconds
	lastAudio, lastVideo atomic.Int64
	allocState           atomic.Pointer[AllocationState] // the receiver's last allocation (allocstate.go)
	ctl                  controlCounters
	expireOnce           sync.Once
	stop, senderDone     chan struct{}
	done                 chan struct{}
	wake                 chan struct{} // cap 1: the sender goroutine has work (wakeSender)
	sendQueued           atomic.Bool   // in a reader batch's end list (sendAtEnd)
	lastDrain            atomic.Int64  // unix nanoseconds of the sender's last drain (Alive)
	senderIdle           atomic.Bool   // the sender is parked with nothing queued (liveness.go)
	queue                *packetQueue
	inbox                *packetQueue // RTCP the endpoint sent about what it receives
	sendCtx              atomic.Pointer[srtp.Context]
	rx                   receiveCounters

	// Receive side: socket reader goroutines. recvMu is per endpoint, and only contended if two
	// readers deliver this endpoint's packets at the same time (an ICE pair switch).
	recvMu   sync.Mutex
	fb       senderFeedback // the bridge's RTCP to this endpoint as a sender (feedback.go)
	recvCtx  *srtp.Context
	recvRTP  rtp.Header
	recvRTCP rtcp.Header

	// Send side: owned by whoever holds sendMu: the sender goroutine (sendLoop in pipeline.go),
	// or a socket reader sending inline at the end of its batch (sendInline), which only ever
	// TryLocks it and leaves the work to the goroutine when it is taken.
	sendMu      sync.Mutex
	sendStopped bool // stopSending ran: nothing may use the send side any more
	writer      datagramWriter
	sendRTP     rtp.Header
	sendRTCP    rtcp.Header
	rs          receiverState
	audioWanted channel.ReceiverAudioSubscription
	tx          sendCounters
}

func newEndpoint(c *Conference, cfg EndpointConfig) *Endpoint {
	e := &Endpoint{
		id:         cfg.ID,
		cfg:        cfg,
		conf:       c,
		log:        c.log.With("endpoint", cfg.ID),
		created:    time.Now(),
		pts:        slices.Clone(cfg.PayloadTypes),
		exts:       slices.Clone(cfg.HeaderExts),
		stop:       make(chan struct{}),
		senderDone: make(chan struct{}),
		done:       make(chan struct{}),
		wake:       make(chan struct{}, 1),
		queue:      newPacketQueue(queueSize),
		inbox:      newPacketQueue(inboxSize),
		settings:   bwe.NewSettings(c.bridge.alloc, cfg.InitialLastN),
		videoTypes: make(map[string]string),
		msgLimit:   channel.NewRateLimiter(endpointMessageRate, endpointMessageBurst),
		rs:         newReceiverState(cfg.SSRCRewriting, c.bridge.alloc.SSRCLimitVideo, c.bridge.ssrcLimitAudio),
	}
	e.msgs.password = newWebSocketPassword()
	e.wanted.Store(defaultWantSet)
	e.rxFormat.Store(newRxFormat(e.pts, e.exts))
	e.lastActivity.Store(e.created.UnixNano())
	e.lastDrain.Store(e.created.UnixNano())
	return e
}

// ID returns the endpoint id the control plane chose.
func (e *Endpoint) ID() string { return e.id }

// Conference returns the conference the endpoint belongs to.
func (e *Endpoint) Conference() *Conference { return e.conf }

// Config returns the configuration the endpoint was created with.
func (e *Endpoint) Config() EndpointConfig { return e.cfg }

// CreatedAt returns when the endpoint was created.
func (e *Endpoint) CreatedAt() time.Time { return e.created }

// LastActivity returns when the endpoint last showed it is there: an SRTP/SRTCP packet, or an
// authenticated ICE check (browsers send consent checks every few seconds even when nothing
// else flows, e.g. a receive-only participant in a room where nobody sends). Its creation time
// before either.
func (e *Endpoint) LastActivity() time.Time {
	last := time.Unix(0, e.lastActivity.Load())
	if c := e.tr.LastConsentCheck(); c.After(last) {
		return c
	}
	return last
}

// LocalTransport returns the bridge's ICE/DTLS description for this endpoint.
func (e *Endpoint) LocalTransport() transport.Description { return e.tr.LocalDescription() }

// SetRemoteTransport passes the endpoint's ICE/DTLS description (or trickled candidates) to the
// transport; connectivity checks start once ufrag and password are known.
func (e *Endpoint) SetRemoteTransport(d transport.Description) error {
	if e.expired.Load() {
		return fmt.Errorf("set remote transport of endpoint %s: %w", e.id, ErrExpired)
	}
	if err := e.tr.SetRemoteDescription(d); err != nil {
		return fmt.Errorf("set remote transport of endpoint %s: %w", e.id, err)
	}
	return nil
}

// State returns the transport's connectivity state.
func (e *Endpoint) State() transport.State { return e.tr.State() }

// SetSources replaces everything the endpoint sends. It fails with ErrSSRCConflict, leaving the
// previous sources in place, if another endpoint of the conference signalled one of the SSRCs.
func (e *Endpoint) SetSources(s []MediaSource) error { return e.conf.setSources(e, s) }

// Sources returns a copy of the sources last set.
func (e *Endpoint) Sources() []MediaSource {
	e.conf.mu.Lock()
	defer e.conf.mu.Unlock()
	return cloneSources(e.sources)
}

// SetForceMute drops the endpoint's audio and/or video at the bridge.
func (e *Endpoint) SetForceMute(audio, video bool) {
	e.muteAudio.Store(audio)
	e.muteVideo.Store(video)
}

// ForceMuted reports the force-mute flags.
func (e *Endpoint) ForceMuted() (audio, video bool) { return e.muteAudio.Load(), e.muteVideo.Load() }

// AddPayloadTypes adds payload types and header extensions (replacing ones with the same id).
func (e *Endpoint) AddPayloadTypes(pts []PayloadType, exts []HeaderExtension) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, pt := range pts {
		e.pts = slices.DeleteFunc(e.pts, func(o PayloadType) bool { return o.ID == pt.ID })
		e.pts = append(e.pts, pt)
	}
	for _, x := range exts {
		e.exts = slices.DeleteFunc(e.exts, func(o HeaderExtension) bool { return o.ID == x.ID && o.Media == x.Media })
		e.exts = append(e.exts, x)
	}
	e.rxFormat.Store(newRxFormat(e.pts, e.exts))
}

// PayloadTypes returns the payload types and header extensions negotiated so far.
func (e *Endpoint) PayloadTypes() ([]PayloadType, []HeaderExtension) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.pts), slices.Clone(e.exts)
}

// SendMessage sends a JSON text message on the endpoint's bridge channel: its WebSocket or its
// data channel, whichever last received a message (or is there at all).
func (e *Endpoint) SendMessage(msg []byte) error {
	if e.expired.Load() {
		return fmt.Errorf("send message to endpoint %s: %w", e.id, ErrExpired)
	}
	dcOpen := e.chanOpen.Load()
	if ws := e.msgs.webSocketFor(dcOpen); ws != nil {
		if err := ws.WriteText(msg); err != nil {
			return fmt.Errorf("send message to endpoint %s over WebSocket: %w", e.id, err)
		}
		e.ctl.wsSent.Add(1)
		return nil
	}
	if !dcOpen {
		return fmt.Errorf("send message to endpoint %s: %w", e.id, errNoChannel)
	}
	if err := e.tr.SendDataChannel(msg, true); err != nil {
		return fmt.Errorf("send message to endpoint %s: %w", e.id, err)
	}
	e.ctl.messagesSent.Add(1)
	return nil
}

// Expired reports whether Expire was called.
func (e *Endpoint) Expired() bool { return e.expired.Load() }

// Expire removes the endpoint from its conference (so no new packets are queued to it), closes
// its transport, stops sending to it and returns its queued buffers. It is idempotent,
// returns when all of that is done. It may be called from the endpoint's MessageHandler.
func (e *Endpoint) Expire() {
	e.expireOnce.Do(func() {
		e.expired.Store(true)
		e.closeWebSocket()
		e.conf.removeEndpoint(e)
		if err := e.tr.Close(); err != nil {
			e.log.Debug("closing transport", "err", err)
		}
		e.stopSending()
		e.secure.Store(false)
		e.recvMu.Lock()
		e.recvCtx = nil
		e.recvMu.Unlock()
		e.conf.receiverGone(e)
		e.conf.bridge.retire(e)
		e.log.Debug("endpoint expired")
		close(e.done)
	})
}

// Done is closed once Expire has finished.
func (e *Endpoint) Done() <-chan struct{} { return e.done }

// setKeys installs the SRTP contexts DTLS produced. The send context is published to the sender
// goroutine through an atomic pointer; only then does the endpoint accept queued packets.
func (e *Endpoint) setKeys(keys transport.SRTPKeys, opts ...srtp.ContextOption) error {
	recv, err := srtp.CreateContext(keys.RemoteMasterKey, keys.RemoteMasterSalt, keys.Profile, opts...)
	if err != nil {
		return fmt.Errorf("remote SRTP context (profile %v): %w", keys.Profile, err)
	}
	send, err := srtp.CreateContext(keys.LocalMasterKey, keys.LocalMasterSalt, keys.Profile)
	if err != nil {
		return fmt.Errorf("local SRTP context (profile %v): %w", keys.Profile, err)
	}
	e.recvMu.Lock()
	e.recvCtx = recv
	e.recvMu.Unlock()
	e.sendCtx.Store(send)
	if !e.expired.Load() {
		e.secure.Store(true)
	}
	return nil
}

// endpointHandler is the endpoint as its transport sees it.
type endpointHandler struct{ e *Endpoint }

func (h endpointHandler) HandleSRTP(b *transport.Batch, buf []byte, rtcp bool) {
	h.e.handleSRTP(b, buf, rtcp)
}

// EndBatch sends what the batch queued to the endpoint (sendAtEnd): on the reader, or by
// waking the endpoint's sender goroutine.
func (h endpointHandler) EndBatch(b *transport.Batch) {
	h.e.sendQueued.Store(false)
	h.e.sendInline(b)
}

func (h endpointHandler) HandleSecure(keys transport.SRTPKeys) {
	e := h.e
	if err := e.setKeys(keys); err != nil {
		e.log.Warn("SRTP keys unusable", "err", err)
		e.conf.bridge.counters.dtlsFailed.Add(1)
		return
	}
	e.log.Debug("transport secure", "profile", keys.Profile)
}

func (h endpointHandler) HandleState(s transport.State) {
	e := h.e
	b := e.conf.bridge
	switch s {
	case transport.StateConnected, transport.StateSecure:
		if e.iceDone.CompareAndSwap(false, true) && e.kind == kindLocal {
			b.counters.iceSucceeded.Add(1)
		}
	case transport.StateFailed:
		switch {
		case e.kind == kindRelayLink && e.iceDone.Load() && !e.secure.Load():
			b.counters.relayDTLSFailed.Add(1)
		case e.kind == kindRelayLink:
			b.counters.relayICEFailed.Add(1)
		// DTLS failed only if ICE connected and the handshake never completed; a transport that
		// was secure and then failed lost its connectivity (ICE consent: the network dropped).
		case e.iceDone.Load() && !e.secure.Load():
			b.counters.dtlsFailed.Add(1)
		default:
			b.counters.iceFailed.Add(1)
		}
		e.log.Info("transport failed", "ice_connected", e.iceDone.Load())
	}
}

func cloneSources(in []MediaSource) []MediaSource {
	out := make([]MediaSource, len(in))
	for i, m := range in {
		out[i] = MediaSource{
			Type:    m.Type,
			Name:    m.Name,
			Sources: slices.Clone(m.Sources),
			Groups:  make([]SSRCGroup, len(m.Groups)),
		}
		for j, g := range m.Groups {
			out[i].Groups[j] = SSRCGroup{Semantics: g.Semantics, SSRCs: slices.Clone(g.SSRCs)}
		}
	}
	return out
}

// kick makes the sender goroutine re-run the receiver's choice of sources.
func (e *Endpoint) kick() {
	e.ctlDirty.Store(true)
	e.wakeSender()
}

// rxFormat is what the receive side needs of the endpoint's negotiated formats.
type rxFormat struct {
	codec        [128]simulcast.Codec // by payload type
	audioLevelID uint8                // ssrc-audio-level extension id, 0 = not negotiated
	av1DDID      uint8                // AV1 dependency descriptor extension id
	tccID        uint8                // transport-wide sequence number extension id
	rtxFor       [128]uint8           // media payload type -> its RTX payload type (0: none)
	probePT      uint8                // a video payload type for the bridge's probe padding
	aptOf        [128]uint8           // RTX payload type -> the media payload type it carries
	nack         bool                 // the endpoint's video payload types accept generic NACK
	// keepAudio and keepVideo are the header extensions of the endpoint's packets that
	// receivers get (JVB strips all but audio level, video orientation and the AV1 descriptor;
	// transport-cc is kept in place for the receiver's own sequence numbers).
	keepAudio, keepVideo simulcast.ExtensionSet
}

// Header extension URIs the receive side reads.
const (
	extAudioLevel       = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
	extAV1DD            = "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension"
	extVideoOrientation = "urn:3gpp:video-orientation"
)

func newRxFormat(pts []PayloadType, exts []HeaderExtension) *rxFormat {
	f := &rxFormat{}
	for _, pt := range pts {
		f.codec[pt.ID&0x7f] = simulcast.CodecFromName(pt.Name)
		for _, fb := range pt.Feedback {
			if pt.Media == MediaVideo && fb.Type == "nack" && fb.Subtype == "" {
				f.nack = true
			}
		}
	}
	f.rtxFor, f.aptOf = rtxPayloadTypes(pts)
	for _, pt := range pts {
		if pt.Media == MediaVideo && f.codec[pt.ID&0x7f] != simulcast.CodecUnknown && f.probePT == 0 {
			f.probePT = pt.ID & 0x7f
		}
	}
	defer func() {
		if f.audioLevelID != 0 {
			f.keepAudio.Add(f.audioLevelID)
		}
		if f.av1DDID != 0 {
			f.keepVideo.Add(f.av1DDID)
		}
		if f.tccID != 0 {
			f.keepVideo.Add(f.tccID)
		}
	}()
	for _, x := range exts {
		if x.ID <= 0 || x.ID > 255 {
			continue
		}
		switch {
		case x.URI == extAudioLevel && x.Media == MediaAudio:
			f.audioLevelID = uint8(x.ID)
		case x.URI == extAV1DD && x.Media == MediaVideo:
			f.av1DDID = uint8(x.ID)
		case x.URI == extTransportCC:
			f.tccID = uint8(x.ID)
		case x.URI == extVideoOrientation && x.Media == MediaVideo:
			f.keepVideo.Add(uint8(x.ID))
		}
	}
	return f
}

// hasRTX reports whether the endpoint negotiated an RTX payload type for any media type.
func (f *rxFormat) hasRTX() bool {
	for _, pt := range f.rtxFor {
		if pt != 0 {
			return true
		}
	}
	return false
}
