package sfu

import (
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"gojvb/sfu/channel"
)

// This file is the endpoint's second bridge-channel transport: the colibri WebSocket (spec 1.3).
// An endpoint has its data channel (from its transport) and at most one WebSocket; messages
// from either take the same path (handleChannelMessage), and what the bridge sends goes to the
// one that last received a message, or to whichever is there. The WebSocket server itself
// (HTTP upgrade, pings, idle timeout, URL checks) lives outside the media core.

// MessageConn is an endpoint's WebSocket bridge channel as the media core sees it.
// WriteText must not block on the network (implementations queue, and fail when the queue is
// full); the caller never changes msg afterwards. Close starts the closing handshake with a
// WebSocket close code and reason; later calls are no-ops.
type MessageConn interface {
	WriteText(msg []byte) error
	Close(code int, reason string) error
}

// WebSocket close codes and reasons the media core uses (spec 1.3).
const (
	WebSocketCloseNormal    = 1000 // a newer WebSocket of the same endpoint took over
	WebSocketCloseGoingAway = 1001 // the endpoint expired
	closeReasonReplaced     = "replaced"
	closeReasonExpired      = "endpoint closed"
)

// webSocketPasswordLen and webSocketAlphabet are JVB's per-endpoint password (spec 1.3).
const (
	webSocketPasswordLen = 24
	webSocketAlphabet    = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
)

// newWebSocketPassword returns a random [a-zA-Z0-9]{24} string, each character uniform.
func newWebSocketPassword() string {
	const limit = 256 - 256%len(webSocketAlphabet) // reject bytes that would bias the choice
	out := make([]byte, 0, webSocketPasswordLen)
	var buf [32]byte
	for len(out) < webSocketPasswordLen {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand panics rather than return short)
		for _, b := range buf {
			if int(b) < limit && len(out) < webSocketPasswordLen {
				out = append(out, webSocketAlphabet[int(b)%len(webSocketAlphabet)])
			}
		}
	}
	return string(out)
}

// messageTransports is the endpoint's WebSocket, if any, and which channel was last active.
type messageTransports struct {
	password string // fixed at creation

	mu       sync.Mutex
	ws       MessageConn
	wsActive bool // the WebSocket received the last message or is the newer channel
	closed   bool // the endpoint expired: no new WebSocket

	// in serializes the handling of incoming messages: the data channel's event goroutine and
	// the WebSocket's reader may both deliver, and handling assumes one message at a time.
	in sync.Mutex
}

// webSocketFor returns the WebSocket to send on: the last active channel, falling back to
// whichever exists. nil means the data channel (or nothing, if it is not open).
func (m *messageTransports) webSocketFor(dcOpen bool) MessageConn {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ws != nil && (m.wsActive || !dcOpen) {
		return m.ws
	}
	return nil
}

func (m *messageTransports) hasWebSocket() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ws != nil
}

// dataChannelActive records that the data channel opened or delivered a message.
func (m *messageTransports) dataChannelActive() {
	m.mu.Lock()
	m.wsActive = false
	m.mu.Unlock()
}

// closeAll closes the WebSocket for good (the endpoint expired).
func (m *messageTransports) closeAll() MessageConn {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	ws := m.ws
	m.ws, m.wsActive = nil, false
	return ws
}

// WebSocketPassword returns the endpoint's colibri-ws password: random, fixed for the
// endpoint's life so that a client can re-dial the same URL.
func (e *Endpoint) WebSocketPassword() string { return e.msgs.password }

// AttachWebSocket makes conn the endpoint's WebSocket bridge channel: a previous one is closed
// with 1000 "replaced", conn gets ServerHello at once, and then what the endpoint must know
// from the start (as when its data channel opens). It fails with ErrExpired once the endpoint
// expired.
func (e *Endpoint) AttachWebSocket(conn MessageConn) error {
	e.msgs.mu.Lock()
	if e.msgs.closed {
		e.msgs.mu.Unlock()
		return fmt.Errorf("attach WebSocket to endpoint %s: %w", e.id, ErrExpired)
	}
	old := e.msgs.ws
	e.msgs.ws, e.msgs.wsActive = conn, true
	e.msgs.mu.Unlock()
	if old != nil && old != conn {
		if err := old.Close(WebSocketCloseNormal, closeReasonReplaced); err != nil {
			e.log.Debug("closing replaced WebSocket", "err", err)
		}
	}
	e.log.Debug("bridge-channel WebSocket attached", "replaced", old != nil)
	if hello, err := channel.Encode(&channel.ServerHello{}); err == nil && conn.WriteText(hello) == nil {
		e.ctl.wsSent.Add(1)
	}
	e.channelOpened()
	return nil
}

// ReceiveWebSocket handles one message that arrived on conn. Messages from a WebSocket that is
// no longer the endpoint's (replaced, or the endpoint expired) are dropped.
func (e *Endpoint) ReceiveWebSocket(conn MessageConn, msg []byte, text bool) {
	e.ctl.wsReceived.Add(1)
	e.msgs.mu.Lock()
	current := e.msgs.ws == conn
	if current {
		e.msgs.wsActive = true
	}
	e.msgs.mu.Unlock()
	if !current {
		e.ctl.messagesDropped.Add(1)
		return
	}
	e.handleChannelMessage(msg, text)
}

// DetachWebSocket forgets conn (its connection ended); sending falls back to the data channel.
// It does nothing if conn is not the endpoint's current WebSocket.
func (e *Endpoint) DetachWebSocket(conn MessageConn) {
	e.msgs.mu.Lock()
	defer e.msgs.mu.Unlock()
	if e.msgs.ws == conn {
		e.msgs.ws, e.msgs.wsActive = nil, false
	}
}

// closeWebSocket closes the endpoint's WebSocket with 1001 "endpoint closed" (Expire).
func (e *Endpoint) closeWebSocket() {
	if ws := e.msgs.closeAll(); ws != nil {
		if err := ws.Close(WebSocketCloseGoingAway, closeReasonExpired); err != nil {
			e.log.Debug("closing WebSocket", "err", err)
		}
	}
}

// errNoChannel: neither a data channel nor a WebSocket is open.
var errNoChannel = errors.New("no bridge channel open")
