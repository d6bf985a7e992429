package prosodytest

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"net"
	"strings"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

// DialConfig says where and as whom DialWith logs in; it generalizes Dial to any prosody,
// such as a docker-jitsi-meet deployment.
type DialConfig struct {
	Addr     string // host:port of the c2s listener
	Domain   string // XMPP domain of the account; "" means Domain (auth.meet.jitsi)
	User     string
	Password string
	// TLS is used for STARTTLS; nil means ServerName = the domain without certificate
	// verification, like a bridge with DisableCertificateVerification.
	TLS *tls.Config
}

// DialWith logs in over STARTTLS as cfg.User@cfg.Domain. The caller must Close the Focus.
func DialWith(ctx context.Context, cfg DialConfig) (*Focus, error) {
	if cfg.Domain == "" {
		cfg.Domain = Domain
	}
	tc := cfg.TLS
	if tc == nil {
		tc = &tls.Config{ServerName: cfg.Domain, InsecureSkipVerify: true} // #nosec G402 -- same as the bridge's DisableCertificateVerification
	}
	j, err := jid.New(cfg.User, cfg.Domain, "")
	if err != nil {
		return nil, fmt.Errorf("account %s@%s: %w", cfg.User, cfg.Domain, err)
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	feats := []xmpp.StreamFeature{
		xmpp.StartTLS(tc),
		xmpp.SASL("", cfg.Password, sasl.ScramSha1, sasl.Plain),
		xmpp.BindResource(),
	}
	s, err := xmpp.NewSession(ctx, j.Domain(), j, conn, 0, xmpp.NewNegotiator(
		func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig { return xmpp.StreamConfig{Features: feats} }))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("log in as %s: %w", j, err)
	}
	f := &Focus{s: s, conn: conn, presences: make(chan Stanza, 4096), waiters: map[string]chan Stanza{},
		early: map[string]Stanza{}, joins: map[string]chan Stanza{}, done: make(chan struct{})}
	go func() {
		f.serveErr = s.Serve(xmpp.HandlerFunc(f.handle))
		close(f.done)
	}()
	return f, nil
}

// JoinRoom joins the MUC room (a bare JID such as jvbbrewery@internal-muc.meet.jitsi) as nick
// and waits until the room reflects the own presence, like JoinBrewery for any room.
// Presences of other occupants seen meanwhile stay available on Presences, in arrival order.
func (f *Focus) JoinRoom(ctx context.Context, room, nick string) error {
	occupant := room + "/" + nick
	own := make(chan Stanza, 1)
	f.mu.Lock()
	if _, dup := f.joins[occupant]; dup {
		f.mu.Unlock()
		return fmt.Errorf("join %s: already joining", occupant)
	}
	f.joins[occupant] = own
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		if f.joins[occupant] == own {
			delete(f.joins, occupant)
		}
		f.mu.Unlock()
	}()
	var b strings.Builder
	b.WriteString("<presence xmlns='jabber:client' to='")
	_ = xml.EscapeText(&b, []byte(occupant))
	b.WriteString("'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
	if err := f.Send(ctx, b.String()); err != nil {
		return err
	}
	select {
	case p := <-own:
		if p.Type == "error" {
			return fmt.Errorf("join %s: %s", occupant, p.Raw)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("join %s: %w", occupant, ctx.Err())
	case <-f.done:
		return fmt.Errorf("join %s: stream closed: %w", occupant, f.serveErr)
	}
}
