package sfu

import (
	"errors"
	"time"

	"gojvb/bwe"
	"gojvb/sfu/channel"
)

// This file is the bridge channel's meaning: what an endpoint's messages do (sfu/channel parses
// them) and what the bridge tells an endpoint when its channel opens. Messages from one endpoint
// arrive in order on its transport's event goroutine.

const (
	// endpointMessageRate and endpointMessageBurst bound how many EndpointMessage/EndpointStats
	// one endpoint may have relayed (a flood costs the sender, not the others).
	endpointMessageRate  = 50
	endpointMessageBurst = 100
	// statsFilterThreshold is the conference size above which EndpointStats go only to the
	// endpoints that get the sender's video or hear it among the recent speakers
	// (videobridge.stats-filter-threshold).
	statsFilterThreshold = 20
)

// HandleDataChannelOpen greets the endpoint on its new bridge channel (the one ServerHello) and
// sends what it must know from the start: the current speakers, its sources' sender
// constraints, and (from its sender goroutine) ForwardedSources and every SSRC mapping.
func (h endpointHandler) HandleDataChannelOpen() {
	e := h.e
	e.msgs.dataChannelActive()
	if e.kind == kindRelayLink { // relayOpened sends its own ServerHello first
		e.chanOpen.Store(true)
		e.relayOpened()
		return
	}
	// ServerHello is written before the channel counts as open: from then on the sender
	// goroutine (acting on another endpoint's join) may send, and nothing may precede it.
	if b, err := channel.Encode(&channel.ServerHello{}); err == nil && !e.expired.Load() {
		if err := e.tr.SendDataChannel(b, true); err != nil {
			e.log.Debug("bridge-channel send failed", "err", err)
		} else {
			e.ctl.messagesSent.Add(1)
		}
	}
	e.chanOpen.Store(true)
	e.channelOpened()
}

// channelOpened sends a newly connected bridge channel (data channel or WebSocket), after its
// ServerHello, what the endpoint must know from the start: the current speakers and its
// sources' sender constraints now, ForwardedSources and every SSRC mapping from its sender
// goroutine.
func (e *Endpoint) channelOpened() {
	e.conf.greet(e)
	e.ctlMu.Lock()
	e.resendAll = true
	e.ctlMu.Unlock()
	e.kick()
}

// HandleDataChannelMessage acts on one bridge-channel message from the endpoint's data channel.
func (h endpointHandler) HandleDataChannelMessage(msg []byte, isString bool) {
	h.e.msgs.dataChannelActive()
	h.e.ctl.messagesReceived.Add(1)
	h.e.handleChannelMessage(msg, isString)
}

// handleChannelMessage acts on one bridge-channel message from the endpoint, whichever channel
// (data channel or WebSocket) it came on, one message at a time.
func (e *Endpoint) handleChannelMessage(msg []byte, isString bool) {
	e.msgs.in.Lock()
	defer e.msgs.in.Unlock()
	if !isString {
		e.ctl.messagesMalformed.Add(1)
		return
	}
	m, err := channel.Parse(msg)
	switch {
	case errors.Is(err, channel.ErrUnknownClass):
		e.ctl.messagesUnknown.Add(1)
		return
	case err != nil:
		e.ctl.messagesMalformed.Add(1)
		e.log.Debug("bad bridge-channel message", "err", err)
		return
	}
	if e.kind == kindRelayLink {
		e.handleRelayMessage(m)
		return
	}
	switch m := m.(type) {
	case *channel.ClientHello:
		// Every channel is greeted when it opens (the one ServerHello it gets), so a
		// ClientHello needs no second one.
	case *channel.EndpointMessage:
		e.relayEndpointMessage(m)
	case *channel.EndpointStats:
		e.relayEndpointStats(m)
	case *channel.LastNChangedEvent:
		n := m.LastN
		e.applySettings(bwe.Update{LastN: &n})
	case *channel.ReceiverVideoConstraints:
		e.applySettings(receiverUpdate(m))
	case *channel.SourceVideoTypeMessage:
		e.conf.setVideoType(e, m.SourceName, m.VideoType)
		e.conf.toRelays(&channel.SourceVideoTypeMessage{SourceName: m.SourceName, VideoType: m.VideoType, EndpointID: e.id})
	case *channel.VideoTypeMessage:
		e.conf.setVideoType(e, e.id+"-v0", m.VideoType)
	case *channel.ReceiverAudioSubscription:
		e.ctlMu.Lock()
		e.audioSub = *m
		e.ctlMu.Unlock()
		e.kick()
	default:
		// Known classes with no meaning from an endpoint (bridge-to-client or relay messages).
		e.ctl.messagesUnknown.Add(1)
	}
}

func receiverUpdate(m *channel.ReceiverVideoConstraints) bwe.Update {
	u := bwe.Update{
		LastN:       m.LastN,
		Selected:    m.SelectedSources,
		OnStage:     m.OnStageSources,
		HasSelected: m.HasSelected,
		HasOnStage:  m.HasOnStage,
	}
	if d := m.DefaultConstraints; d != nil {
		u.Default = &bwe.Constraints{MaxHeight: d.MaxHeight, MaxFrameRate: d.MaxFrameRate}
	}
	if m.Constraints != nil {
		u.PerSource = make(map[string]bwe.Constraints, len(m.Constraints))
		for k, v := range m.Constraints {
			u.PerSource[k] = bwe.Constraints{MaxHeight: v.MaxHeight, MaxFrameRate: v.MaxFrameRate}
		}
	}
	return u
}

// applySettings folds a receiver-settings update in and, if it changed anything, has the
// sender goroutine re-run the choice of sources.
func (e *Endpoint) applySettings(u bwe.Update) {
	e.ctlMu.Lock()
	changed := e.settings.Apply(e.conf.bridge.alloc, u)
	e.ctlMu.Unlock()
	if changed {
		e.kick()
	}
}

// relayEndpointMessage routes an EndpointMessage to one endpoint or (to "") all others, with
// "from" set by the bridge. Visitors' messages and floods are dropped.
func (e *Endpoint) relayEndpointMessage(m *channel.EndpointMessage) {
	if e.cfg.Visitor || !e.msgLimit.Allow(time.Now()) {
		e.ctl.messagesDropped.Add(1)
		return
	}
	out, err := channel.WithFrom(m.Raw, e.id)
	if err != nil {
		e.ctl.messagesMalformed.Add(1)
		return
	}
	if m.To != "" {
		r := e.conf.Endpoint(m.To)
		if r == nil {
			if rem := e.conf.RemoteEndpoint(m.To); rem != nil {
				r = rem.via() // over the relay it sits behind
			}
		}
		if r == nil || r == e {
			e.ctl.messagesDropped.Add(1)
			return
		}
		r.sendRaw(out)
		return
	}
	for _, r := range *e.conf.receivers.Load() {
		if r != e {
			r.sendRaw(out)
		}
	}
}

// relayEndpointStats forwards EndpointStats to the endpoints that want stats from e: everyone
// in a small conference, otherwise those that get e's video or hear e among the recent speakers.
func (e *Endpoint) relayEndpointStats(m *channel.EndpointStats) {
	if !e.msgLimit.Allow(time.Now()) {
		e.ctl.messagesDropped.Add(1)
		return
	}
	out, err := channel.WithFrom(m.Raw, e.id)
	if err != nil {
		e.ctl.messagesMalformed.Add(1)
		return
	}
	rs := *e.conf.receivers.Load()
	speaker := len(rs) > statsFilterThreshold && e.conf.isRecentSpeaker(e.id)
	for _, r := range rs {
		if r == e {
			continue
		}
		if len(rs) <= statsFilterThreshold || speaker || r.wanted.Load().owners[e.id] {
			r.sendRaw(out)
		}
	}
}

// sendMessage encodes and sends m; it reports whether the message left (false before the
// channel opened, which later resends what matters).
func (e *Endpoint) sendMessage(m channel.Message) bool {
	if e.kind != kindLocal && !relayClass(m) {
		return false
	}
	b, err := channel.Encode(m)
	if err != nil {
		e.log.Warn("encoding bridge-channel message", "class", m.Class(), "err", err)
		return false
	}
	return e.sendRaw(b)
}

func (e *Endpoint) sendRaw(b []byte) bool {
	if !e.chanOpen.Load() && !e.msgs.hasWebSocket() {
		return false
	}
	if err := e.SendMessage(b); err != nil {
		e.log.Debug("bridge-channel send failed", "err", err)
		return false
	}
	return true
}
