package xmppcomp

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

const (
	dialTimeout      = 10 * time.Second
	negotiateTimeout = 15 * time.Second
	sendTimeout      = 10 * time.Second
	closeTimeout     = 2 * time.Second
	rejoinDelay      = 5 * time.Second
	// hardStanzaLimit closes the stream when one stanza (as read from the
	// socket) grows past it; smaller oversize IQs get policy-violation.
	hardStanzaLimit = 16 << 20
)

// conn is one configured server: it owns the reconnect loop.
type conn struct {
	c     *Client
	srv   server
	log   *slog.Logger
	nudge chan struct{}

	// writer is the current session's writer; late COLIBRI2 replies use it
	// so that an answer computed across a reconnect still goes out.
	writer atomic.Pointer[sessionWriter]

	mu        sync.Mutex
	connected bool
	bound     string
	joined    map[string]bool // lower-cased room bare JID -> joined
}

func newConn(c *Client, s server) *conn {
	return &conn{
		c:      c,
		srv:    s,
		log:    c.cfg.Logger.With("xmpp_conn", s.ID, "xmpp_host", s.Host),
		nudge:  make(chan struct{}, 1),
		joined: map[string]bool{},
	}
}

func (k *conn) status() ConnectionStatus {
	k.mu.Lock()
	defer k.mu.Unlock()
	st := ConnectionStatus{ID: k.srv.ID, Host: k.srv.Host, Port: k.srv.Port, Connected: k.connected,
		JID: k.bound, MUCsConfigured: len(k.srv.mucs)}
	for _, j := range k.joined {
		if j {
			st.MUCsJoined++
		}
	}
	return st
}

func (k *conn) setConnected(up bool, bound string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.connected = up
	k.bound = bound
	if !up {
		clear(k.joined)
	}
}

func (k *conn) setJoined(room jid.JID, j bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.joined[roomKey(room)] = j
}

func (k *conn) isJoined(room jid.JID) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.joined[roomKey(room)]
}

func roomKey(room jid.JID) string { return strings.ToLower(room.Bare().String()) }

// run reconnects with backoff until ctx is done.
func (k *conn) run(ctx context.Context) {
	backoff := k.c.cfg.MinBackoff
	for {
		established, err := k.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if established {
			k.c.disconnects.Add(1)
			backoff = k.c.cfg.MinBackoff
			k.log.Warn("xmpp connection lost, reconnecting", "err", err, "retry_in", backoff)
		} else {
			k.log.Warn("xmpp connect failed, retrying", "err", err, "retry_in", backoff)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, k.c.cfg.MaxBackoff)
	}
}

// limitConn fails reads once more than limit bytes arrived since the last
// mark, so a single endless stanza cannot exhaust memory.
type limitConn struct {
	net.Conn
	n     atomic.Int64
	limit int64
}

var errStanzaTooLarge = errors.New("stanza exceeds hard size limit")

func (l *limitConn) Read(p []byte) (int, error) {
	if l.n.Load() > l.limit {
		return 0, errStanzaTooLarge
	}
	n, err := l.Conn.Read(p)
	l.n.Add(int64(n))
	return n, err
}

func (l *limitConn) mark() { l.n.Store(0) }

// dial connects and negotiates TLS, SASL and resource binding according to
// the security mode. In ifpossible mode a failed STARTTLS attempt is
// retried once on a plaintext stream.
func (k *conn) dial(ctx context.Context) (*xmpp.Session, *limitConn, error) {
	tries := []bool{true}
	switch k.srv.mode {
	case SecurityDisabled:
		tries = []bool{false}
	case SecurityIfPossible:
		tries = []bool{true, false}
	}
	var errs []error
	for _, useTLS := range tries {
		s, lc, err := k.negotiate(ctx, useTLS)
		if err == nil {
			return s, lc, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, nil, errors.Join(errs...)
}

func (k *conn) negotiate(ctx context.Context, useTLS bool) (*xmpp.Session, *limitConn, error) {
	addr := net.JoinHostPort(k.srv.Host, strconv.Itoa(k.srv.Port))
	d := net.Dialer{Timeout: dialTimeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	lc := &limitConn{Conn: nc, limit: hardStanzaLimit}
	var feats []xmpp.StreamFeature
	var state xmpp.SessionState
	if useTLS {
		feats = append(feats, xmpp.StartTLS(&tls.Config{
			ServerName:         k.srv.Domain,
			InsecureSkipVerify: k.srv.DisableCertificateVerification, // #nosec G402 -- operator's choice (docker default)
			MinVersion:         tls.VersionTLS12,
		}))
	} else {
		state = xmpp.Secure // lets SASL run on a plaintext stream
	}
	feats = append(feats,
		xmpp.SASL("", k.srv.Password, sasl.ScramSha1Plus, sasl.ScramSha1, sasl.Plain),
		xmpp.BindResource())
	nctx, cancel := context.WithTimeout(ctx, negotiateTimeout)
	defer cancel()
	s, err := xmpp.NewSession(nctx, k.srv.login.Domain(), k.srv.login, lc, state, xmpp.NewNegotiator(
		func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig { return xmpp.StreamConfig{Features: feats} }))
	if err != nil {
		_ = nc.Close()
		return nil, nil, fmt.Errorf("negotiate with %s as %s (tls=%v): %w", addr, k.srv.login, useTLS, err)
	}
	return s, lc, nil
}

// event is sent by the read loop to the session loop.
type event struct {
	kind    eventKind
	room    jid.JID
	id      string // iq id for iqResponse
	typ     string // iq type for iqResponse
	created bool   // joined: the room was created by us
	cond    string // joinFailed: error condition
}

type eventKind int

const (
	evJoined eventKind = iota
	evJoinFailed
	evLeft
	evIQResponse
)

// session runs one connection until it breaks or ctx ends. established
// reports whether login succeeded.
func (k *conn) session(ctx context.Context) (established bool, err error) {
	s, lc, err := k.dial(ctx)
	if err != nil {
		return false, err
	}
	bound := s.LocalAddr()
	k.setConnected(true, bound.String())
	defer k.setConnected(false, "")
	k.log.Info("xmpp connected", "jid", bound.String())

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := &sessionWriter{s: s}
	k.writer.Store(w)
	defer k.writer.Store(nil)
	events := make(chan event, 16)
	readDone := make(chan error, 1)
	lc.mark()
	r := &reader{k: k, w: w, lc: lc, events: events, runCtx: ctx}
	go func() { readDone <- r.loop(sctx, s) }()

	rejoin := map[string]*time.Timer{}
	rejoinC := make(chan jid.JID, len(k.srv.mucs))
	defer func() {
		for _, t := range rejoin {
			t.Stop()
		}
	}()
	for _, room := range k.srv.mucs {
		if err := w.send(k.joinPresence(room)); err != nil {
			return true, k.abort(cancel, lc, readDone, fmt.Errorf("join %s: %w", room, err))
		}
	}
	presence := time.NewTicker(k.c.cfg.PresenceInterval)
	defer presence.Stop()
	ping := time.NewTicker(k.c.cfg.PingInterval)
	defer ping.Stop()
	var pingID string
	var seq uint64
	nextID := func(prefix string) string {
		seq++
		return prefix + "-" + strconv.FormatUint(seq, 10)
	}
	sendStats := func() error {
		for _, room := range k.srv.mucs {
			if k.isJoined(room) {
				if err := w.send(k.statsPresence(room)); err != nil {
					return fmt.Errorf("presence to %s: %w", room, err)
				}
			}
		}
		return nil
	}

	for {
		select {
		case <-ctx.Done():
			k.leave(s, lc, w, readDone)
			return true, ctx.Err()
		case err := <-readDone:
			_ = lc.Close()
			return true, err
		case ev := <-events:
			key := roomKey(ev.room)
			switch ev.kind {
			case evJoined:
				if k.isJoined(ev.room) {
					continue
				}
				k.setJoined(ev.room, true)
				k.log.Info("joined brewery", "room", ev.room.String(), "nick", k.srv.Nickname, "created", ev.created)
				if ev.created {
					if err := w.send(roomConfig(ev.room, nextID("roomcfg"))); err != nil {
						return true, k.abort(cancel, lc, readDone, err)
					}
				}
				if err := w.send(k.statsPresence(ev.room)); err != nil {
					return true, k.abort(cancel, lc, readDone, err)
				}
			case evJoinFailed, evLeft:
				was := k.isJoined(ev.room)
				k.setJoined(ev.room, false)
				if ev.kind == evJoinFailed {
					k.log.Error("cannot join brewery", "room", ev.room.String(), "nick", k.srv.Nickname, "condition", ev.cond, "retry_in", rejoinDelay)
				} else if was {
					k.log.Warn("removed from brewery", "room", ev.room.String(), "retry_in", rejoinDelay)
				}
				if _, pending := rejoin[key]; !pending {
					room := ev.room
					rejoin[key] = time.AfterFunc(rejoinDelay, func() { rejoinC <- room })
				}
			case evIQResponse:
				if ev.id == pingID {
					pingID = ""
				} else if strings.HasPrefix(ev.id, "roomcfg-") && ev.typ == "error" {
					k.log.Warn("room configuration rejected", "iq_id", ev.id)
				}
			}
		case room := <-rejoinC:
			delete(rejoin, roomKey(room))
			if err := w.send(k.joinPresence(room)); err != nil {
				return true, k.abort(cancel, lc, readDone, err)
			}
		case <-presence.C:
			if err := sendStats(); err != nil {
				return true, k.abort(cancel, lc, readDone, err)
			}
		case <-k.nudge:
			if err := sendStats(); err != nil {
				return true, k.abort(cancel, lc, readDone, err)
			}
		case <-ping.C:
			if pingID != "" {
				return true, k.abort(cancel, lc, readDone, fmt.Errorf("no answer to ping %s within %v", pingID, k.c.cfg.PingInterval))
			}
			pingID = nextID("ping")
			if err := w.send(pingIQ(k.srv.login.Domain(), pingID)); err != nil {
				return true, k.abort(cancel, lc, readDone, err)
			}
		}
	}
}

// abort closes the socket and waits for the read loop (cancel unblocks
// it if it is waiting to hand over an event).
func (k *conn) abort(cancel context.CancelFunc, lc *limitConn, readDone <-chan error, err error) error {
	cancel()
	_ = lc.Close()
	<-readDone
	return err
}

// leave sends a last stats presence and then unavailable presence to every joined room, closes
// the stream and waits (bounded) for the server to close its side. The last stats carry the
// state the bridge stops in (e.g. shutting_down=true when the last participant left during a
// graceful shutdown), which the periodic presence may not have published yet.
func (k *conn) leave(s *xmpp.Session, lc *limitConn, w *sessionWriter, readDone <-chan error) {
	for _, room := range k.srv.mucs {
		if k.isJoined(room) {
			if err := w.send(k.statsPresence(room)); err != nil {
				k.log.Debug("last stats presence not sent", "room", room.String(), "err", err)
			}
			if err := w.send(k.unavailablePresence(room)); err != nil {
				k.log.Debug("leave presence not sent", "room", room.String(), "err", err)
			}
		}
	}
	_ = s.Close()
	t := time.NewTimer(closeTimeout)
	defer t.Stop()
	select {
	case <-readDone:
		_ = lc.Close()
	case <-t.C:
		_ = lc.Close()
		<-readDone
	}
	k.log.Info("xmpp connection closed")
}

// sessionWriter serializes sends with a timeout.
type sessionWriter struct{ s *xmpp.Session }

func (w *sessionWriter) send(toks []xml.Token) error {
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	return w.s.Send(ctx, &tokenSlice{toks: toks})
}

func (k *conn) occupant(room jid.JID) jid.JID {
	j, _ := room.WithResource(k.srv.Nickname) // validated in validateServer
	return j
}

func presenceStart(to jid.JID, typ string) xml.StartElement {
	attrs := []xml.Attr{{Name: xml.Name{Local: "to"}, Value: to.String()}}
	if typ != "" {
		attrs = append(attrs, xml.Attr{Name: xml.Name{Local: "type"}, Value: typ})
	}
	return xml.StartElement{Name: xml.Name{Local: "presence"}, Attr: attrs}
}

func (k *conn) joinPresence(room jid.JID) []xml.Token {
	ps := presenceStart(k.occupant(room), "")
	p := &element{Name: ps.Name, Attr: ps.Attr,
		Children: []*element{{Name: xml.Name{Space: nsMUC, Local: "x"}, Children: []*element{{
			Name: xml.Name{Space: nsMUC, Local: "history"},
			Attr: []xml.Attr{{Name: xml.Name{Local: "maxstanzas"}, Value: "0"}},
		}}}}}
	return p.appendTokens(nil)
}

func (k *conn) statsPresence(room jid.JID) []xml.Token {
	ps := presenceStart(k.occupant(room), "")
	p := &element{Name: ps.Name, Attr: ps.Attr, Children: []*element{statsElement(k.c.cfg.Stats)}}
	return p.appendTokens(nil)
}

func (k *conn) unavailablePresence(room jid.JID) []xml.Token {
	ps := presenceStart(k.occupant(room), "unavailable")
	return []xml.Token{ps, ps.End()}
}

func statsElement(stats func() []Stat) *element {
	e := &element{Name: xml.Name{Space: nsColibri, Local: "stats"}}
	if stats == nil {
		return e
	}
	for _, st := range stats() {
		e.Children = append(e.Children, &element{Name: xml.Name{Space: nsColibri, Local: "stat"}, Attr: []xml.Attr{
			{Name: xml.Name{Local: "name"}, Value: st.Name},
			{Name: xml.Name{Local: "value"}, Value: st.Value},
		}})
	}
	return e
}

func pingIQ(to jid.JID, id string) []xml.Token {
	iq := &element{Name: xml.Name{Local: "iq"}, Attr: []xml.Attr{
		{Name: xml.Name{Local: "type"}, Value: "get"},
		{Name: xml.Name{Local: "id"}, Value: id},
		{Name: xml.Name{Local: "to"}, Value: to.String()},
	}, Children: []*element{{Name: xml.Name{Space: nsPing, Local: "ping"}}}}
	return iq.appendTokens(nil)
}

// roomConfig submits muc#roomconfig_whois=anyone for a room we created.
func roomConfig(room jid.JID, id string) []xml.Token {
	field := func(v, val string) *element {
		return &element{Name: xml.Name{Space: nsDataForm, Local: "field"},
			Attr:     []xml.Attr{{Name: xml.Name{Local: "var"}, Value: v}},
			Children: []*element{{Name: xml.Name{Space: nsDataForm, Local: "value"}, Text: val}}}
	}
	iq := &element{Name: xml.Name{Local: "iq"}, Attr: []xml.Attr{
		{Name: xml.Name{Local: "type"}, Value: "set"},
		{Name: xml.Name{Local: "id"}, Value: id},
		{Name: xml.Name{Local: "to"}, Value: room.Bare().String()},
	}, Children: []*element{{Name: xml.Name{Space: nsMUCOwner, Local: "query"}, Children: []*element{{
		Name: xml.Name{Space: nsDataForm, Local: "x"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "type"}, Value: "submit"}},
		Children: []*element{
			field("FORM_TYPE", "http://jabber.org/protocol/muc#roomconfig"),
			field("muc#roomconfig_whois", "anyone"),
		},
	}}}}}
	return iq.appendTokens(nil)
}
