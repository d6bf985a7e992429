package sfu

import (
	"maps"

	"gojvb/sfu/channel"
)

// This file is the relay's bridge channel: the one data channel between two bridges of a
// conference. What crosses it (JVB's relay messages):
//
//   - AddReceiver {bridgeId, sourceName, videoConstraints}: the sending bridge's receivers' max
//     constraints on a source behind this relay, sent whenever that max changes and again when
//     the channel opens. The receiving bridge treats the relay as one more receiver of the
//     source: it forwards the source over the relay while the height is above 0 and counts the
//     constraint in the owner's SenderSourceConstraints.
//   - SourceVideoTypeMessage with endpointId: a local source's video type, for the other
//     bridge's allocation (camera is the default and is not sent on open).
//   - EndpointMessage and EndpointStats with "from" already set by the sender's bridge, and
//     EndpointConnectivityStatusChangeEvent from a JVB bridge: handed to the local endpoints
//     (one, or all for a broadcast), never to another relay.
//
// Dominant speaker, ForwardedSources, sender constraints and source maps never cross: each
// bridge computes them for its own endpoints (the audio levels come over the relay with the
// audio).

// maxRelayWants bounds the sources one relay's other bridge may ask for (AddReceiver for names
// not signalled here yet are kept: the signalling may arrive after the request).
const maxRelayWants = 1024

// relayClass reports whether a bridge-channel message may be sent over a relay.
func relayClass(m channel.Message) bool {
	switch m.(type) {
	case *channel.ServerHello, *channel.AddReceiver, *channel.RemoveReceiver, *channel.SourceVideoTypeMessage:
		return true
	}
	return false
}

// addReceiver tells the other bridge the max height this bridge's receivers want of one of its
// sources (0: none).
func (r *Relay) addReceiver(name string, maxHeight int) {
	r.link.sendMessage(&channel.AddReceiver{
		BridgeID:   r.conf.bridge.relayID,
		SourceName: name,
		// No frame-rate limit (-1, JVB's default): a JVB bridge reads 0 as "disabled".
		VideoConstraints: &channel.VideoConstraints{MaxHeight: maxHeight, MaxFrameRate: -1},
	})
}

// relayOpened runs when the relay's data channel opened: this bridge's receivers' constraints
// on every source behind the relay, and the video type of every local source that is not a
// camera.
func (e *Endpoint) relayOpened() {
	r := e.relay
	c := e.conf
	e.sendMessage(&channel.ServerHello{})
	sm := c.sources.Load()
	type want struct {
		name string
		max  int
	}
	var wants []want
	s := c.speech
	s.mu.Lock()
	for _, t := range sm.tracks {
		if t.media == MediaVideo && t.owner.relay == r && t.owner.kind == kindRemote {
			if max, ok := s.senders.Max(t.name); ok {
				wants = append(wants, want{t.name, max})
			}
		}
	}
	s.mu.Unlock()
	for _, w := range wants {
		r.addReceiver(w.name, w.max)
	}
	for _, t := range sm.tracks {
		if t.media == MediaVideo && t.owner.kind == kindLocal && t.vtype() != 0 && videoTypeName(t.vtype()) != "CAMERA" {
			e.sendMessage(&channel.SourceVideoTypeMessage{SourceName: t.name, VideoType: wireVideoType(t), EndpointID: t.owner.id})
		}
	}
}

// wireVideoType is a track's video type as SourceVideoTypeMessage spells it.
func wireVideoType(t *track) string {
	switch videoTypeName(t.vtype()) {
	case "DESKTOP":
		return "desktop"
	case "DESKTOP_HIGH_FPS":
		return "desktop_high_fps"
	case "NONE":
		return "none"
	}
	return "camera"
}

// handleRelayMessage acts on one message from the other bridge.
func (e *Endpoint) handleRelayMessage(m channel.Message) {
	r := e.relay
	c := e.conf
	switch m := m.(type) {
	case *channel.ServerHello, *channel.ClientHello:
	case *channel.AddReceiver:
		if m.SourceName == "" || m.VideoConstraints == nil {
			e.ctl.messagesDropped.Add(1)
			return
		}
		r.receiverAsked(m.SourceName, m.VideoConstraints.MaxHeight)
	case *channel.RemoveReceiver:
		r.receiverGone(m.EndpointID)
	case *channel.SourceVideoTypeMessage:
		if rem := r.Endpoint(m.EndpointID); rem != nil {
			c.setVideoType(rem, m.SourceName, m.VideoType)
		} else {
			e.ctl.messagesDropped.Add(1)
		}
	case *channel.EndpointMessage:
		// "from" was set by the other bridge, which checked its own endpoint.
		if m.To != "" {
			if to := c.Endpoint(m.To); to != nil {
				to.sendRaw(m.Raw)
			} else {
				e.ctl.messagesDropped.Add(1)
			}
			return
		}
		for _, to := range *c.receivers.Load() {
			if to.kind == kindLocal {
				to.sendRaw(m.Raw)
			}
		}
	case *channel.EndpointStats:
		for _, to := range *c.receivers.Load() {
			if to.kind == kindLocal {
				to.sendRaw(m.Raw)
			}
		}
	case *channel.EndpointConnectivityStatusChangeEvent:
		// An endpoint of the other bridge went (in)active there: its local endpoints learn it.
		for _, to := range *c.receivers.Load() {
			if to.kind == kindLocal {
				to.sendMessage(m)
			}
		}
	default:
		e.ctl.messagesUnknown.Add(1)
	}
}

// receiverAsked records the other bridge's constraint on a local source and re-chooses what
// crosses the relay.
func (r *Relay) receiverAsked(name string, maxHeight int) {
	r.wantsMu.Lock()
	if _, ok := r.wants[name]; !ok && len(r.wants) >= maxRelayWants {
		r.wantsMu.Unlock()
		r.link.ctl.messagesDropped.Add(1)
		return
	}
	r.wants[name] = max(maxHeight, -1) // -1: unlimited
	wants := maps.Clone(r.wants)
	r.wantsMu.Unlock()
	r.conf.receiverConstraints(r.link, wants)
	r.link.kick()
}

// receiverGone drops the other bridge's constraints on the sources of one local endpoint.
func (r *Relay) receiverGone(endpointID string) {
	owner := r.conf.Endpoint(endpointID)
	if owner == nil {
		return
	}
	r.conf.mu.Lock()
	names := make([]string, 0, len(owner.tracks))
	for _, t := range owner.tracks {
		names = append(names, t.name)
	}
	r.conf.mu.Unlock()
	r.wantsMu.Lock()
	for _, n := range names {
		delete(r.wants, n)
	}
	wants := maps.Clone(r.wants)
	r.wantsMu.Unlock()
	r.conf.receiverConstraints(r.link, wants)
	r.link.kick()
}

// toRelays sends m over every relay of the conference.
func (c *Conference) toRelays(m channel.Message) {
	for _, r := range *c.receivers.Load() {
		if r.kind == kindRelayLink {
			r.sendMessage(m)
		}
	}
}
