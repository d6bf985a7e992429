package sfu

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"gojvb/sfu/transport"
)

// This file is relays (Octo): one conference spread over several bridges. A Relay is the
// conference's link to one other bridge. It is modelled with the endpoint machinery:
//
//   - the relay's own endpoint (kind relayLink) owns the bridge-to-bridge transport. It is one
//     receiver among the local ones: the fan-out queues it every local audio source and the
//     video sources the other bridge asked for (AddReceiver), all encodings, and its sender
//     goroutine forwards them unchanged (no projection, no SSRC rewriting), so a local packet
//     crosses the relay once however many receivers the other bridge has.
//   - every endpoint behind the other bridge is a remote endpoint (kind relayRemote): it owns
//     its signalled sources like a local endpoint, so its tracks go through the same choice,
//     projection, lastN and allocation at local receivers, but it has no transport of its own
//     (its packets arrive on the relay's) and never receives.
//
// Packets from a relay are never sent on to another relay: jicofo builds a full mesh.

// endpointKind tells local endpoints from the two relay roles.
type endpointKind uint8

const (
	kindLocal endpointKind = iota
	kindRelayLink
	kindRemote
)

// via is the endpoint whose transport carries e's media: the relay's link for a remote
// endpoint, e itself otherwise.
func (e *Endpoint) via() *Endpoint {
	if e.relay != nil {
		return e.relay.link
	}
	return e
}

// RelayConfig is what a COLIBRI2 relay create carries.
type RelayConfig struct {
	ID     string // the other bridge's relay id
	MeshID string
	// ICEControlling, SCTP and SCTPClient are the transport roles jicofo asks for (the initiator
	// is ICE controlling and SCTP client).
	ICEControlling bool
	SCTP           bool
	SCTPClient     bool
	// UniquePort (jicofo's use-unique-port, asked of the initiator) gives the relay a UDP port
	// of its own, so that relays of several conferences between the same two bridges are told
	// apart by address on the other bridge's shared port.
	UniquePort   bool
	PayloadTypes []PayloadType
	HeaderExts   []HeaderExtension
}

// Relay is a conference's link to one other bridge and the endpoints behind it.
type Relay struct {
	id, meshID string
	conf       *Conference
	link       *Endpoint
	mux        *transport.Mux // the relay's own port (UniquePort), nil on the shared one
	created    time.Time
	remotes    map[string]*Endpoint // guarded by conf.mu

	// wants is what the other bridge's receivers asked for (AddReceiver): local source name ->
	// max height over them. Read by the link's sender goroutine when it re-chooses.
	wantsMu sync.Mutex
	wants   map[string]int

	// Written by the link's sender goroutine only.
	sentPackets, sentBytes atomic.Uint64

	// The counters are folded into the bridge's once, when the relay expires.
	retireOnce  sync.Once
	retiredFlag atomic.Bool
}

// retired reports whether the relay's counters were folded into the bridge's.
func (r *Relay) retired() bool { return r.retiredFlag.Load() }

// CreateRelay creates the conference's relay to the bridge with relay id cfg.ID and its
// transport. It fails with ErrRelayExists if there is one.
func (c *Conference) CreateRelay(cfg RelayConfig) (*Relay, error) {
	if cfg.ID == "" {
		return nil, fmt.Errorf("create relay in conference %s: empty relay id", c.id)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.expired.Load() {
		return nil, fmt.Errorf("create relay %s in conference %s: %w", cfg.ID, c.id, ErrExpired)
	}
	if _, ok := c.relays[cfg.ID]; ok {
		return nil, fmt.Errorf("create relay %s in conference %s: %w", cfg.ID, c.id, ErrRelayExists)
	}
	r := &Relay{id: cfg.ID, meshID: cfg.MeshID, conf: c, created: time.Now(),
		remotes: make(map[string]*Endpoint), wants: make(map[string]int)}
	link := newEndpoint(c, EndpointConfig{ID: relayLinkID(cfg.ID), ICEControlling: cfg.ICEControlling, SCTP: cfg.SCTP,
		InitialLastN: -1, PayloadTypes: cfg.PayloadTypes, HeaderExts: cfg.HeaderExts})
	link.kind, link.relay = kindRelayLink, r
	link.wanted.Store(&wantSet{}) // nothing (not the endpoints' default, all audio) until relaySelect
	link.log = c.log.With("relay", cfg.ID)
	r.link = link
	newTransport := c.bridge.newTransport
	if cfg.UniquePort && c.bridge.mux != nil {
		m, err := c.bridge.listenRelayPort()
		if err != nil {
			return nil, fmt.Errorf("create relay %s in conference %s: %w", cfg.ID, c.id, err)
		}
		r.mux = m
		newTransport = func(opts transport.Options, h transport.Handler) (endpointTransport, datagramWriter, error) {
			t, err := m.NewTransport(opts, h)
			if err != nil {
				return nil, nil, err
			}
			return t, t.NewBatchWriter(), nil
		}
	}
	tr, w, err := newTransport(transport.Options{
		ICEControlling: cfg.ICEControlling,
		SCTP:           cfg.SCTP,
		Relay:          true,
		SCTPClient:     cfg.SCTPClient,
		Logger:         link.log,
	}, endpointHandler{link})
	if err != nil {
		r.closePort()
		return nil, fmt.Errorf("create relay %s in conference %s: %w", cfg.ID, c.id, err)
	}
	link.tr, link.writer = tr, w
	if c.bridge.manualSend {
		close(link.senderDone)
	} else {
		go link.sendLoop()
	}
	c.relays[cfg.ID] = r
	c.rebuildLocked()
	link.ctlDirty.Store(true)
	c.bridge.counters.relaysCreated.Add(1)
	link.log.Debug("relay created", "mesh_id", cfg.MeshID, "ice_controlling", cfg.ICEControlling,
		"sctp", cfg.SCTP, "sctp_client", cfg.SCTPClient)
	return r, nil
}

// relayLinkID is the id a relay's link goes by in the conference's per-receiver state; the
// slash keeps it apart from endpoint ids.
func relayLinkID(id string) string { return "relay/" + id }

// Relay returns the relay with that id, or nil.
func (c *Conference) Relay(id string) *Relay {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.relays[id]
}

// Relays returns the conference's relays ordered by id.
func (c *Conference) Relays() []*Relay {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.relaysLocked()
}

func (c *Conference) relaysLocked() []*Relay {
	out := make([]*Relay, 0, len(c.relays))
	for _, r := range c.relays {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *Relay) int { return cmp.Compare(a.id, b.id) })
	return out
}

// RemoteEndpoint returns the endpoint behind one of the conference's relays with that id, or nil.
func (c *Conference) RemoteEndpoint(id string) *Endpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remoteLocked(id)
}

func (c *Conference) remoteLocked(id string) *Endpoint {
	for _, r := range c.relays {
		if e := r.remotes[id]; e != nil {
			return e
		}
	}
	return nil
}

// ID returns the other bridge's relay id.
func (r *Relay) ID() string { return r.id }

// MeshID returns the mesh id jicofo created the relay with.
func (r *Relay) MeshID() string { return r.meshID }

// Conference returns the relay's conference.
func (r *Relay) Conference() *Conference { return r.conf }

// CreatedAt returns when the relay was created.
func (r *Relay) CreatedAt() time.Time { return r.created }

// LocalTransport returns this bridge's ICE/DTLS description for the relay (setup actpass until
// the remote role is known).
func (r *Relay) LocalTransport() transport.Description { return r.link.LocalTransport() }

// SetRemoteTransport applies the other bridge's ICE/DTLS description (as jicofo forwards it,
// with setup rewritten to active or passive).
func (r *Relay) SetRemoteTransport(d transport.Description) error {
	return r.link.SetRemoteTransport(d)
}

// State returns the relay transport's state.
func (r *Relay) State() transport.State { return r.link.State() }

// LastActivity is when the relay last received a packet or a consent check.
func (r *Relay) LastActivity() time.Time { return r.link.LastActivity() }

// AddPayloadTypes adds payload types and header extensions to what the relay carries.
func (r *Relay) AddPayloadTypes(pts []PayloadType, exts []HeaderExtension) {
	r.link.AddPayloadTypes(pts, exts)
}

// Expired reports whether the relay was expired.
func (r *Relay) Expired() bool { return r.link.Expired() }

// Done is closed once Expire has finished.
func (r *Relay) Done() <-chan struct{} { return r.link.Done() }

// AddEndpoint creates the endpoint behind the relay (ErrEndpointExists if the conference has an
// endpoint, local or remote, with that id).
func (r *Relay) AddEndpoint(id, statsID string) (*Endpoint, error) {
	c := r.conf
	if id == "" {
		return nil, fmt.Errorf("add endpoint to relay %s: empty endpoint id", r.id)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.link.expired.Load() || c.relays[r.id] != r {
		return nil, fmt.Errorf("add endpoint %s to relay %s: %w", id, r.id, ErrExpired)
	}
	if c.endpoints[id] != nil || c.remoteLocked(id) != nil {
		return nil, fmt.Errorf("add endpoint %s to relay %s: %w", id, r.id, ErrEndpointExists)
	}
	pts, exts := r.link.PayloadTypes()
	e := newEndpoint(c, EndpointConfig{ID: id, StatsID: statsID, InitialLastN: -1, PayloadTypes: pts, HeaderExts: exts})
	e.kind, e.relay, e.tr = kindRemote, r, remoteTransport{}
	e.log = c.log.With("relay", r.id, "endpoint", id)
	close(e.senderDone) // it never receives: no sender goroutine
	r.remotes[id] = e
	c.rebuildLocked()
	c.kickAll()
	e.log.Debug("remote endpoint added", "stats_id", statsID)
	return e, nil
}

// Endpoint returns the endpoint behind the relay with that id, or nil.
func (r *Relay) Endpoint(id string) *Endpoint {
	r.conf.mu.Lock()
	defer r.conf.mu.Unlock()
	return r.remotes[id]
}

// Endpoints returns the endpoints behind the relay ordered by id.
func (r *Relay) Endpoints() []*Endpoint {
	r.conf.mu.Lock()
	defer r.conf.mu.Unlock()
	out := make([]*Endpoint, 0, len(r.remotes))
	for _, e := range r.remotes {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *Endpoint) int { return cmp.Compare(a.id, b.id) })
	return out
}

// Expire expires the endpoints behind the relay, then closes its transport. Idempotent; it has
// finished when it returns.
func (r *Relay) Expire() {
	for _, e := range r.Endpoints() {
		e.Expire()
	}
	if r.link.Expired() {
		return
	}
	r.link.Expire()
	r.closePort()
	r.retireOnce.Do(func() {
		bc := &r.conf.bridge.counters
		st := r.Stats()
		bc.relayRxPackets.Add(st.PacketsReceived)
		bc.relayRxBytes.Add(st.BytesReceived)
		bc.relayTxPackets.Add(st.PacketsSent)
		bc.relayTxBytes.Add(st.BytesSent)
		r.retiredFlag.Store(true)
	})
}

// RelayTotals are the bridge's relay gauges and counters (JVB's octo_* stats).
type RelayTotals struct {
	Relays          int    // relays now
	Conferences     int    // conferences with at least one relay (octo_conferences)
	Endpoints       int    // endpoints behind relays (octo_endpoints)
	Created         uint64 // relays created since start (total_relays)
	PacketsReceived uint64 // over relays, since start
	BytesReceived   uint64
	PacketsSent     uint64
	BytesSent       uint64
	ICEFailed       uint64 // relays whose ICE failed (relays_ice_failed)
	DTLSFailed      uint64 // relays whose DTLS failed after ICE connected (dtls_failed_relays)
}

func (b *Bridge) relayTotals() RelayTotals {
	bc := &b.counters
	t := RelayTotals{
		Created:         bc.relaysCreated.Load(),
		PacketsReceived: bc.relayRxPackets.Load(),
		BytesReceived:   bc.relayRxBytes.Load(),
		PacketsSent:     bc.relayTxPackets.Load(),
		BytesSent:       bc.relayTxBytes.Load(),
		ICEFailed:       bc.relayICEFailed.Load(),
		DTLSFailed:      bc.relayDTLSFailed.Load(),
	}
	for _, c := range b.Conferences() {
		rs := c.Relays()
		if len(rs) > 0 {
			t.Conferences++
		}
		for _, r := range rs {
			if r.retired() {
				continue
			}
			st := r.Stats()
			t.Relays++
			t.Endpoints += st.Endpoints
			t.PacketsReceived += st.PacketsReceived
			t.BytesReceived += st.BytesReceived
			t.PacketsSent += st.PacketsSent
			t.BytesSent += st.BytesSent
		}
	}
	return t
}

// RelayStats are one relay's counters.
type RelayStats struct {
	Endpoints                      int
	PacketsReceived, BytesReceived uint64
	// PacketsSent and BytesSent count the media forwarded over the relay (RTP, before SRTP).
	PacketsSent, BytesSent uint64
	State                  transport.State
}

// Stats returns the relay's counters.
func (r *Relay) Stats() RelayStats {
	r.conf.mu.Lock()
	n := len(r.remotes)
	r.conf.mu.Unlock()
	return RelayStats{
		Endpoints:       n,
		PacketsReceived: r.link.rx.packets.Load(),
		BytesReceived:   r.link.rx.bytes.Load(),
		PacketsSent:     r.sentPackets.Load(),
		BytesSent:       r.sentBytes.Load(),
		State:           r.link.State(),
	}
}

// relaySelect is the link's choice of sources: every local audio source and the local video
// sources the other bridge's receivers asked for (a max height other than 0; -1 is unlimited),
// all encodings. A relay without a bridge channel (no SCTP: the other bridge cannot ask) gets
// all local video, as JVB's relays do. Sources behind any relay are never sent on.
func (e *Endpoint) relaySelect() {
	r := e.relay
	sm := e.conf.sources.Load()
	e.rs.projSources = sm
	allVideo := !e.cfg.SCTP
	r.wantsMu.Lock()
	w := &wantSet{}
	for _, t := range sm.tracks {
		if t.owner.kind != kindLocal || t.media == MediaVideo && !allVideo && r.wants[t.name] == 0 {
			continue
		}
		for _, s := range t.encodings {
			w.bits = setBit(w.bits, s.idx)
		}
	}
	r.wantsMu.Unlock()
	e.wanted.Store(w)
}

// relayForward appends p as the other bridge gets it: unchanged but for the header extensions
// receivers never get and the link's own transport-wide sequence number. Video is remembered
// for the other bridge's NACKs.
func (e *Endpoint) relayForward(out []byte, p *packet, now int64) []byte {
	if p.rtcp { // a sender report: as the sender sent it, without report blocks
		return append(out, p.data()...)
	}
	out = append(out, p.data()...)
	e.rs.egressExtensions(e, p, out, now)
	if p.src.media == MediaVideo {
		e.rs.hist.remember(p, out, now, historyKeep(e.rs.rtt.rtt))
	}
	e.relay.sentPackets.Add(1)
	e.relay.sentBytes.Add(uint64(len(out)))
	return out
}

// remoteTransport is a remote endpoint's stand-in transport: its media comes on its relay's.
type remoteTransport struct{}

func (remoteTransport) LocalDescription() transport.Description          { return transport.Description{} }
func (remoteTransport) SetRemoteDescription(transport.Description) error { return errRemoteEndpoint }
func (remoteTransport) State() transport.State                           { return transport.StateSecure }
func (remoteTransport) LastConsentCheck() time.Time                      { return time.Time{} }
func (remoteTransport) SendDataChannel([]byte, bool) error               { return errRemoteEndpoint }
func (remoteTransport) Close() error                                     { return nil }

// listenRelayPort opens a relay's own UDP port: the shared port's configuration on a free port
// with one reader. Advertised addresses keep their IPs (a NAT must forward the port range).
func (b *Bridge) listenRelayPort() (*transport.Mux, error) {
	cfg := b.tcfg
	cfg.Port, cfg.Readers = 0, 1
	cfg.Advertised = nil
	for _, a := range b.tcfg.Advertised {
		cfg.Advertised = append(cfg.Advertised, transport.AdvertisedAddr{IP: a.IP})
	}
	m, err := transport.Listen(cfg)
	if err != nil {
		return nil, fmt.Errorf("relay port: %w", err)
	}
	return m, nil
}

// closePort closes the relay's own port, if it has one.
func (r *Relay) closePort() {
	if r.mux == nil {
		return
	}
	if err := r.mux.Close(); err != nil {
		r.link.log.Debug("closing relay port", "err", err)
	}
}
