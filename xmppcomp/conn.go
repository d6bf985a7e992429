package xmppcomp

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
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
	// conflictRetry is how long a bridge that found its nickname in use
	// waits before it tries the brewery again (the other session may have
	// been a stale one that the server has dropped meanwhile).
	conflictRetry = 15 * time.Second
	// hardStanzaLimit closes the stream when one stanza (as read from the
	// socket) grows past it; smaller oversize IQs get policy-violation.
	hardStanzaLimit = 16 << 20
	// keptJIDs is how many of its own earlier full JIDs a connection
	// remembers, to recognise its stale sessions in the brewery.
	keptJIDs = 8
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

	// earlier holds the full JIDs of this connection's earlier sessions,
	// newest last (run goroutine only).
	earlier []string

	mu        sync.Mutex
	connected bool
	bound     string
	joined    map[string]bool // lower-cased room bare JID -> joined
	// conflicts: lower-cased room bare JID -> why the nickname cannot be
	// used there; kept across reconnects until a clean join.
	conflicts map[string]string
	// loginProblem names the last failed login (cleared on login).
	loginProblem string
}

func newConn(c *Client, s server) *conn {
	return &conn{
		c:         c,
		srv:       s,
		log:       c.cfg.Logger.With("xmpp_conn", s.ID, "xmpp_host", s.Host),
		nudge:     make(chan struct{}, 1),
		joined:    map[string]bool{},
		conflicts: map[string]string{},
	}
}

func (k *conn) status() ConnectionStatus {
	k.mu.Lock()
	defer k.mu.Unlock()
	st := ConnectionStatus{ID: k.srv.ID, Host: k.srv.Host, Port: k.srv.Port, Connected: k.connected,
		JID: k.bound, MUCsConfigured: len(k.srv.mucs), LoginProblem: k.loginProblem}
	for _, j := range k.joined {
		if j {
			st.MUCsJoined++
		}
	}
	for _, m := range k.srv.mucs {
		if c := k.conflicts[roomKey(m)]; c != "" {
			st.NicknameConflicts = append(st.NicknameConflicts, c)
		}
	}
	return st
}

// changed tells the owner that Status changed. Never called with k.mu held.
func (k *conn) changed() {
	if f := k.c.cfg.StateChanged; f != nil {
		f()
	}
}

func (k *conn) setConnected(up bool, bound string) {
	k.mu.Lock()
	k.connected = up
	k.bound = bound
	if up {
		k.loginProblem = ""
	} else {
		clear(k.joined)
	}
	k.mu.Unlock()
	k.changed()
}

func (k *conn) setLoginProblem(p string) {
	k.mu.Lock()
	k.loginProblem = p
	k.mu.Unlock()
}

// setJoined records a room joined or left; a clean join also ends a
// nickname conflict there.
func (k *conn) setJoined(room jid.JID, j bool) {
	k.mu.Lock()
	k.joined[roomKey(room)] = j
	if j {
		delete(k.conflicts, roomKey(room))
	}
	k.mu.Unlock()
	k.changed()
}

func (k *conn) isJoined(room jid.JID) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.joined[roomKey(room)]
}

// setConflict records why the nickname cannot be used in room and reports
// whether that is news (not the conflict already recorded).
func (k *conn) setConflict(room jid.JID, why string) bool {
	k.mu.Lock()
	news := k.conflicts[roomKey(room)] != why
	k.conflicts[roomKey(room)] = why
	k.mu.Unlock()
	if news {
		k.changed()
	}
	return news
}

func roomKey(room jid.JID) string { return strings.ToLower(room.Bare().String()) }

// run reconnects until ctx is done: about every second while the server
// is unreachable (jittered, see retryDelay), every AuthRetry while it
// refuses the password. Each kind of failure is logged once when it
// starts, not on every retry.
func (k *conn) run(ctx context.Context) {
	fails := 0
	logged := failNone
	for {
		established, err := k.session(ctx)
		if ctx.Err() != nil {
			return
		}
		kind := failOther
		var le *loginError
		if errors.As(err, &le) {
			kind = le.a.kind()
		}
		if established {
			k.c.disconnects.Add(1)
			fails, logged = 0, failNone
		}
		fails++
		delay := retryDelay(fails, k.c.cfg.MinBackoff, k.c.cfg.MaxBackoff, rand.Float64())
		if kind == failAuth {
			delay = retryDelay(1, k.c.cfg.AuthRetry, k.c.cfg.AuthRetry, rand.Float64())
		}
		switch {
		case established:
			k.log.Warn("xmpp connection lost, reconnecting", "err", err, "retry_in", delay.Round(time.Millisecond))
		case kind != logged:
			k.reportLoginFailure(kind, le, err, delay)
			logged = kind
		default:
			k.log.Debug("xmpp connect failed again", "err", err, "retry_in", delay.Round(time.Millisecond))
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// reportLoginFailure logs the first failure of a kind, naming what the
// operator has to fix, and keeps it for Status.
func (k *conn) reportLoginFailure(kind failureKind, le *loginError, err error, delay time.Duration) {
	retry := delay.Round(time.Millisecond)
	var msg string
	switch kind {
	case failAuth:
		cond := le.a.authCond
		msg = "XMPP server refused the password for " + k.srv.login.String() + ": check JVB_AUTH_PASSWORD (PASSWORD in jvb.conf)"
		if cond != "not-authorized" {
			msg = "XMPP server refused the login of " + k.srv.login.String() + " (" + cond + ")"
		}
		k.log.Error(msg, "jid", k.srv.login.String(), "condition", cond, "retry_in", retry)
	case failTLS:
		msg = "TLS handshake with the XMPP server failed: fix its certificate or set DISABLE_CERTIFICATE_VERIFICATION"
		k.log.Error(msg, "err", err, "retry_in", retry)
	case failNoTLS:
		msg = "XMPP server offers no STARTTLS but SECURITY_MODE=" + k.srv.mode.String() + " requires TLS"
		k.log.Error(msg, "err", err, "retry_in", retry)
	case failUnreachable:
		msg = "XMPP server unreachable"
		k.log.Warn(msg+", retrying", "err", err, "retry_in", retry)
	case failTimeout:
		msg = "XMPP server not answering"
		k.log.Warn(msg+", retrying", "err", err, "retry_in", retry)
	default:
		msg = "xmpp connect failed"
		k.log.Warn(msg+", retrying", "err", err, "retry_in", retry)
	}
	k.setLoginProblem(msg)
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

// loginError is a failed login with the record of how far it got.
type loginError struct{ a *attempt }

func (e *loginError) Error() string { return e.a.err.Error() }
func (e *loginError) Unwrap() error { return e.a.err }

// dial connects and negotiates TLS, SASL and resource binding according to
// the security mode. In ifpossible mode a failed STARTTLS attempt is
// retried on a plaintext stream only when that cannot leak the password
// to a server that speaks TLS (see attempt.mayFallBackToPlaintext).
func (k *conn) dial(ctx context.Context) (*xmpp.Session, *limitConn, error) {
	useTLS := k.srv.mode != SecurityDisabled
	s, lc, a := k.negotiate(ctx, useTLS)
	if a.err == nil {
		return s, lc, nil
	}
	if !useTLS || k.srv.mode != SecurityIfPossible || ctx.Err() != nil ||
		!a.mayFallBackToPlaintext(k.srv.SecurityMode == SecurityIfPossible) {
		return nil, nil, &loginError{a: a}
	}
	k.log.Debug("STARTTLS failed, trying plaintext (SECURITY_MODE ifpossible)", "err", a.err)
	s, lc, b := k.negotiate(ctx, false)
	if b.err == nil {
		return s, lc, nil
	}
	b.err = errors.Join(a.err, b.err)
	return nil, nil, &loginError{a: b}
}

// negotiate makes one login attempt; the returned attempt has err == nil
// on success.
func (k *conn) negotiate(ctx context.Context, useTLS bool) (*xmpp.Session, *limitConn, *attempt) {
	a := &attempt{}
	addr := net.JoinHostPort(k.srv.Host, strconv.Itoa(k.srv.Port))
	d := net.Dialer{Timeout: dialTimeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		a.err = fmt.Errorf("dial %s: %w", addr, err)
		return nil, nil, a
	}
	a.dialed = true
	// The deadline bounds the whole negotiation even when the server
	// accepted the connection but never answers (a stopped process).
	_ = nc.SetDeadline(time.Now().Add(negotiateTimeout))
	lc := &limitConn{Conn: nc, limit: hardStanzaLimit}
	var feats []xmpp.StreamFeature
	var state xmpp.SessionState
	if useTLS {
		st := xmpp.StartTLS(&tls.Config{
			ServerName:         k.srv.Domain,
			InsecureSkipVerify: k.srv.DisableCertificateVerification, // #nosec G402 -- operator's choice (docker default)
			MinVersion:         tls.VersionTLS12,
		})
		inner := st.Negotiate
		st.Negotiate = func(ctx context.Context, s *xmpp.Session, data any) (xmpp.SessionState, io.ReadWriter, error) {
			a.tlsTried = true
			mask, rw, err := inner(ctx, s, data)
			a.tlsRefused = err != nil
			return mask, rw, err
		}
		feats = append(feats, st)
	} else {
		state = xmpp.Secure // lets SASL run on a plaintext stream
	}
	auth := xmpp.SASL("", k.srv.Password, sasl.ScramSha1Plus, sasl.ScramSha1, sasl.Plain)
	innerAuth := auth.Negotiate
	auth.Negotiate = func(ctx context.Context, s *xmpp.Session, data any) (xmpp.SessionState, io.ReadWriter, error) {
		a.saslStarted = true
		return innerAuth(ctx, s, data)
	}
	feats = append(feats, auth, xmpp.BindResource())
	// ctx, not a context with its own timeout: the deadline above bounds
	// the negotiation, and a context that ends as NewSession returns could
	// still make mellium's watcher set a past deadline on the new session's
	// socket (see sessionWriter).
	s, err := xmpp.NewSession(ctx, k.srv.login.Domain(), k.srv.login, lc, state, xmpp.NewNegotiator(
		func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig { return xmpp.StreamConfig{Features: feats} }))
	if err != nil {
		_ = nc.Close()
		if a.saslStarted {
			a.authCond = saslFailureCondition(err)
		}
		a.err = fmt.Errorf("negotiate with %s as %s (tls=%v): %w", addr, k.srv.login, useTLS, err)
		return nil, nil, a
	}
	_ = nc.SetDeadline(time.Time{})
	return s, lc, a
}

// sessionWriter serializes sends, each bounded by sendTimeout.
//
// The bound is a write deadline on the socket, set and cleared under mu,
// never a cancellable context: mellium watches a Send's context from a
// goroutine that, when the context ends as the Send returns, may still
// pick the context's end and set a deadline in the past, failing whichever
// write is on the socket at that moment (a healthy connection dropped with
// "i/o timeout").
type sessionWriter struct {
	s    *xmpp.Session
	conn net.Conn // the socket under TLS, whose deadline bounds a write

	mu sync.Mutex
}

func (w *sessionWriter) send(toks []xml.Token) error {
	return w.within(sendTimeout, func() error { return w.s.Send(context.Background(), &tokenSlice{toks: toks}) })
}

// close ends the output stream, bounded like a send: a server that stopped reading cannot hold
// the bridge's shutdown.
func (w *sessionWriter) close() error { return w.within(closeTimeout, w.s.Close) }

// within runs write, alone on the session, with the socket's write deadline d from now.
func (w *sessionWriter) within(d time.Duration, write func() error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.conn.SetWriteDeadline(time.Now().Add(d))
	defer func() { _ = w.conn.SetWriteDeadline(time.Time{}) }()
	return write()
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
