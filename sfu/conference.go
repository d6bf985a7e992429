package sfu

import (
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"gojvb/bwe"
	"gojvb/sfu/transport"
)

// Conference is a set of endpoints that receive each other's media.
//
// The per-packet path reads two copy-on-write snapshots without locks: the endpoints media is
// offered to (receivers) and the SSRC -> source map (sources). Both are rebuilt under mu on
// join, leave and SetSources.
type Conference struct {
	id, meetingID, name string
	bridge              *Bridge
	log                 *slog.Logger
	created             time.Time
	feedbackAudio       uint32
	feedbackVideo       uint32

	receivers atomic.Pointer[[]*Endpoint]
	sources   atomic.Pointer[sourceMap]
	expired   atomic.Bool

	mu        sync.Mutex
	endpoints map[string]*Endpoint        // also guards every endpoint's sources, srcs and tracks
	relays    map[string]*Relay           // by relay id; also guards each relay's remote endpoints
	members   atomic.Pointer[[]*Endpoint] // local and remote endpoints: who may speak
	nextIdx   int                         // wanted-set bits handed out so far
	freeIdx   []int                       // bits of sources no longer signalled

	speech *speechActivity // dominant speaker, speaker order, sender constraints (speech.go)
}

// sourceMap is an immutable snapshot of the conference's signalled sources: by SSRC for the
// receive side, and as tracks (ordered by owner id, then as signalled) for receivers' choices.
type sourceMap struct {
	bySSRC map[uint32]*source
	tracks []*track
}

func newConference(b *Bridge, meetingID, name string) *Conference {
	id := randomHex(8)
	c := &Conference{
		id:        id,
		meetingID: meetingID,
		name:      name,
		bridge:    b,
		log:       b.log.With("conference", id, "meeting_id", meetingID),
		created:   time.Now(),
		endpoints: make(map[string]*Endpoint),
		relays:    make(map[string]*Relay),
	}
	c.feedbackAudio = randomSSRC()
	for c.feedbackVideo = randomSSRC(); c.feedbackVideo == c.feedbackAudio; c.feedbackVideo = randomSSRC() {
	}
	c.receivers.Store(&[]*Endpoint{})
	c.members.Store(&[]*Endpoint{})
	c.sources.Store(&sourceMap{bySSRC: map[uint32]*source{}})
	c.speech = newSpeechActivity()
	go c.run()
	return c
}

// ID returns the bridge's random id of the conference.
func (c *Conference) ID() string { return c.id }

// MeetingID returns the meeting id the control plane created the conference with.
func (c *Conference) MeetingID() string { return c.meetingID }

// Name returns the conference name (the MUC JID for jicofo conferences).
func (c *Conference) Name() string { return c.name }

// CreatedAt returns when the conference was created.
func (c *Conference) CreatedAt() time.Time { return c.created }

// FeedbackSSRCs returns the bridge's own SSRCs in this conference (signalled as jvb-a0 and
// jvb-v0); forwarded keyframe requests carry the video one as sender SSRC.
func (c *Conference) FeedbackSSRCs() (audio, video uint32) { return c.feedbackAudio, c.feedbackVideo }

// Expired reports whether the conference was expired.
func (c *Conference) Expired() bool { return c.expired.Load() }

// CreateEndpoint creates an endpoint and its transport.
func (c *Conference) CreateEndpoint(cfg EndpointConfig) (*Endpoint, error) {
	if cfg.ID == "" {
		return nil, fmt.Errorf("create endpoint in conference %s: empty endpoint id", c.id)
	}
	if rem := c.RemoteEndpoint(cfg.ID); rem != nil {
		// Moved here from the other bridge before jicofo's expire behind the relay came.
		rem.Expire()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.expired.Load() {
		return nil, fmt.Errorf("create endpoint %s in conference %s: %w", cfg.ID, c.id, ErrExpired)
	}
	if _, ok := c.endpoints[cfg.ID]; ok {
		return nil, fmt.Errorf("create endpoint %s in conference %s: %w", cfg.ID, c.id, ErrEndpointExists)
	}
	e := newEndpoint(c, cfg)
	tr, w, err := c.bridge.newTransport(transport.Options{
		ICEControlling: cfg.ICEControlling,
		SCTP:           cfg.SCTP,
		Logger:         e.log,
	}, endpointHandler{e})
	if err != nil {
		return nil, fmt.Errorf("create endpoint %s in conference %s: %w", cfg.ID, c.id, err)
	}
	e.tr, e.writer = tr, w
	if c.bridge.manualSend {
		close(e.senderDone)
	} else {
		go e.sendLoop()
	}
	c.endpoints[cfg.ID] = e
	c.rebuildLocked()
	e.ctlDirty.Store(true) // its first choice of sources
	c.bridge.adopt(e)
	e.log.Debug("endpoint created", "visitor", cfg.Visitor, "sctp", cfg.SCTP)
	return e, nil
}

// Endpoint returns the endpoint with that id, or nil.
func (c *Conference) Endpoint(id string) *Endpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endpoints[id]
}

// Endpoints returns the conference's endpoints ordered by id.
func (c *Conference) Endpoints() []*Endpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sortedLocked()
}

// EndpointCount returns how many endpoints the conference has.
func (c *Conference) EndpointCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.endpoints)
}

// Expire expires every endpoint and removes the conference from the bridge. It is idempotent.
func (c *Conference) Expire() {
	if !c.expired.CompareAndSwap(false, true) {
		return
	}
	for _, r := range c.Relays() {
		r.Expire()
	}
	for _, e := range c.Endpoints() {
		e.Expire()
	}
	c.stopSpeech()
	c.bridge.removeConference(c)
	c.log.Debug("conference expired")
}

func (c *Conference) sortedLocked() []*Endpoint {
	eps := make([]*Endpoint, 0, len(c.endpoints))
	for _, e := range c.endpoints {
		eps = append(eps, e)
	}
	slices.SortFunc(eps, func(a, b *Endpoint) int { return cmp.Compare(a.id, b.id) })
	return eps
}

func (c *Conference) removeEndpoint(e *Endpoint) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.isMemberLocked(e) {
		return
	}
	switch e.kind {
	case kindLocal:
		delete(c.endpoints, e.id)
	case kindRemote:
		delete(e.relay.remotes, e.id)
	case kindRelayLink:
		delete(c.relays, e.relay.id)
	}
	for _, s := range e.srcs {
		c.freeIdx = append(c.freeIdx, s.idx)
	}
	c.forgetTracks(e.tracks, nil)
	e.srcs, e.tracks = nil, nil
	c.rebuildLocked()
	c.kickAll()
}

// isMemberLocked reports whether e (a local endpoint, a relay's link or a remote endpoint) is
// still part of the conference. c.mu must be held.
func (c *Conference) isMemberLocked(e *Endpoint) bool {
	switch e.kind {
	case kindRemote:
		return e.relay.remotes[e.id] == e && c.relays[e.relay.id] == e.relay
	case kindRelayLink:
		return c.relays[e.relay.id] == e.relay
	}
	return c.endpoints[e.id] == e
}

// rebuildLocked publishes new receiver, member and source snapshots: receivers are the local
// endpoints and the relays' links, members the local and remote endpoints. c.mu must be held.
func (c *Conference) rebuildLocked() {
	eps := c.sortedLocked()
	members := slices.Clone(eps)
	receivers := eps
	for _, r := range c.relaysLocked() {
		receivers = append(receivers, r.link)
		for _, e := range r.remotes {
			members = append(members, e)
		}
	}
	slices.SortStableFunc(members, func(a, b *Endpoint) int { return cmp.Compare(a.id, b.id) })
	m := make(map[uint32]*source)
	var tracks []*track
	for _, e := range members {
		for _, s := range e.srcs {
			m[s.ssrc] = s
		}
		tracks = append(tracks, e.tracks...)
	}
	c.receivers.Store(&receivers)
	c.members.Store(&members)
	c.sources.Store(&sourceMap{bySSRC: m, tracks: tracks})
}

// setSources replaces e's sources (Endpoint.SetSources).
func (c *Conference) setSources(e *Endpoint, in []MediaSource) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.expired.Load() || !c.isMemberLocked(e) || e.kind == kindRelayLink {
		return fmt.Errorf("set sources of endpoint %s: %w", e.id, ErrExpired)
	}
	cur := c.sources.Load().bySSRC
	oldTracks := make(map[string]*track, len(e.tracks))
	for _, t := range e.tracks {
		oldTracks[t.name] = t
	}
	var tracks []*track
	var srcs []*source
	seen := make(map[uint32]bool)
	names := make(map[string]bool)
	for _, m := range in {
		if m.Type != MediaAudio && m.Type != MediaVideo {
			return fmt.Errorf("set sources of endpoint %s: source %q has media type %v, want audio or video: %w",
				e.id, m.Name, m.Type, ErrInvalidSource)
		}
		if names[m.Name] {
			return fmt.Errorf("set sources of endpoint %s: source name %q signalled twice: %w", e.id, m.Name, ErrInvalidSource)
		}
		names[m.Name] = true
		t, ts := buildTrack(e, m)
		for _, s := range ts {
			if s.ssrc == 0 {
				return fmt.Errorf("set sources of endpoint %s: source %q: SSRC 0: %w", e.id, m.Name, ErrInvalidSource)
			}
			if seen[s.ssrc] {
				return fmt.Errorf("set sources of endpoint %s: SSRC %d signalled twice: %w", e.id, s.ssrc, ErrInvalidSource)
			}
			seen[s.ssrc] = true
			if old := cur[s.ssrc]; old != nil && old.owner != e {
				return fmt.Errorf("set sources of endpoint %s: SSRC %d is signalled by endpoint %s: %w",
					e.id, s.ssrc, old.owner.id, ErrSSRCConflict)
			}
		}
		if len(ts) == 0 {
			continue
		}
		if old := oldTracks[m.Name]; old != nil && sameShape(old, t, old.sources, ts) {
			if vt := t.vtype(); hasVideoType(m) {
				old.videoType.Store(uint32(vt))
			}
			t, ts = old, old.sources
		}
		if vt, ok := e.videoTypes[m.Name]; ok && t.media == MediaVideo {
			t.videoType.Store(uint32(bwe.ParseVideoType(vt)))
			delete(e.videoTypes, m.Name)
		}
		tracks = append(tracks, t)
		srcs = append(srcs, ts...)
	}
	// Wanted-set bits: keep those of kept sources, free those of dropped ones, give new ones a bit.
	kept := make(map[*source]bool, len(srcs))
	for _, s := range srcs {
		kept[s] = true
	}
	for _, s := range e.srcs {
		if !kept[s] {
			c.freeIdx = append(c.freeIdx, s.idx)
		}
	}
	c.forgetTracks(e.tracks, tracks)
	for _, s := range srcs {
		if s.idx == 0 {
			s.idx = c.takeIdx()
		}
	}
	e.sources = cloneSources(in)
	e.srcs = srcs
	e.tracks = tracks
	c.rebuildLocked()
	c.kickAll()
	return nil
}

// forgetTracks drops the sender constraints kept for tracks that are no longer signalled.
// c.mu must be held.
func (c *Conference) forgetTracks(old, kept []*track) {
	s := c.speech
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range old {
		if !slices.Contains(kept, t) && !slices.ContainsFunc(kept, func(k *track) bool { return k.name == t.name }) {
			s.senders.RemoveSource(t.name)
		}
	}
}

// hasVideoType reports whether the signalling named a video type for m.
func hasVideoType(m MediaSource) bool {
	for _, s := range m.Sources {
		if s.VideoType != "" {
			return true
		}
	}
	return false
}

// takeIdx returns a free wanted-set bit (1-based, so 0 means "none yet"). c.mu must be held.
func (c *Conference) takeIdx() int {
	if n := len(c.freeIdx); n > 0 {
		i := c.freeIdx[n-1]
		c.freeIdx = c.freeIdx[:n-1]
		return i
	}
	c.nextIdx++
	return c.nextIdx
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

func randomSSRC() uint32 {
	var b [4]byte
	for {
		_, _ = rand.Read(b[:])
		if v := binary.BigEndian.Uint32(b[:]); v != 0 {
			return v
		}
	}
}
