package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"gojvb/colibri"
	"gojvb/xmppcomp/prosodytest"
)

// signaller carries COLIBRI2 conference-modify requests to the bridge (REST or XMPP).
type signaller interface {
	// modify sends req and returns the bridge's answer. sent, when not nil, is called as soon
	// as a later request can no longer overtake this one: after the reply for REST (separate
	// HTTP requests have no order), once the IQ is written for XMPP (one ordered stream).
	modify(ctx context.Context, req c2Request, sent func()) (*c2Response, error)
	protocol() string
	close()
}

type restSignaller struct{ c *colibriClient }

func (r restSignaller) modify(ctx context.Context, req c2Request, sent func()) (*c2Response, error) {
	resp, err := r.c.modify(ctx, req)
	if sent != nil {
		sent()
	}
	return resp, err
}

func (restSignaller) protocol() string { return "colibri2-rest" }
func (r restSignaller) close()         { r.c.hc.CloseIdleConnections() }

// XMPPConfig is the prosody through which the load test allocates, named after the
// docker-jitsi-meet variables the bridge reads.
type XMPPConfig struct {
	Server        string // host:port of prosody's c2s listener (XMPP_SERVER, XMPP_PORT)
	Domain        string // XMPP_AUTH_DOMAIN: domain of the focus and jvb accounts
	MUCDomain     string // XMPP_INTERNAL_MUC_DOMAIN
	Brewery       string // JVB_BREWERY_MUC: local part of the brewery room
	FocusUser     string // the load test logs in as this user, like jicofo
	FocusPassword string
	// FocusNick is the load test's nick in the brewery. jicofo's is "focus"; next to a real
	// jicofo (same account) use another one, or prosody merges both into one occupant and may
	// route the bridge's answers to jicofo.
	FocusNick   string
	JVBUser     string // JVB_AUTH_USER for a bridge started by jvb-bench
	JVBPassword string // JVB_AUTH_PASSWORD for a bridge started by jvb-bench
	// BridgeNick is the bridge's nick in the brewery (JVB_MUC_NICKNAME); "" means the first
	// occupant that publishes stats.
	BridgeNick string
}

// DefaultXMPPConfig is docker-jitsi-meet's naming with the accounts prosodytest provisions.
func DefaultXMPPConfig() XMPPConfig {
	return XMPPConfig{
		Domain: prosodytest.Domain, MUCDomain: prosodytest.MUCDomain, Brewery: "jvbbrewery",
		FocusUser: prosodytest.FocusUser, FocusPassword: prosodytest.FocusPassword, FocusNick: "focus",
		JVBUser: prosodytest.JVBUser, JVBPassword: prosodytest.JVBPassword,
	}
}

// BreweryJID is the bare JID of the brewery room.
func (x XMPPConfig) BreweryJID() string { return x.Brewery + "@" + x.MUCDomain }

// LaunchProsody starts a prosody configured like docker-jitsi-meet (auth and internal-muc
// hosts, users focus and jvb) in dir and returns it with the matching configuration; the caller
// stops it.
func LaunchProsody(ctx context.Context, dir string) (*prosodytest.Process, XMPPConfig, error) {
	p, err := prosodytest.Launch(ctx, dir, prosodytest.Options{})
	if err != nil {
		return nil, XMPPConfig{}, fmt.Errorf("launch prosody: %w", err)
	}
	x := DefaultXMPPConfig()
	x.Server = p.Addr()
	return p, x, nil
}

// bridgeEnv is the jitsi/jvb environment that points a bridge at x under nick, with REST
// COLIBRI2 off as in docker-jitsi-meet's default.
func (x XMPPConfig) bridgeEnv(nick string) []string {
	host, port := x.Server, "5222"
	if i := strings.LastIndexByte(x.Server, ':'); i >= 0 {
		host, port = x.Server[:i], x.Server[i+1:]
	}
	return []string{
		"JVB_DISABLE_XMPP=false", "COLIBRI_REST_ENABLED=false",
		"XMPP_SERVER=" + host, "XMPP_PORT=" + port,
		"XMPP_AUTH_DOMAIN=" + x.Domain, "XMPP_INTERNAL_MUC_DOMAIN=" + x.MUCDomain,
		"JVB_AUTH_USER=" + x.JVBUser, "JVB_AUTH_PASSWORD=" + x.JVBPassword,
		"JVB_BREWERY_MUC=" + x.Brewery, "JVB_MUC_NICKNAME=" + nick,
	}
}

// xmppSignaller is a jicofo stand-in: logged in as focus, in the brewery, it sends
// conference-modify IQs (type get, like Smack's default) to the bridge's occupant JID without
// waiting for earlier replies.
type xmppSignaller struct {
	f        *prosodytest.Focus
	occupant string // the bridge's occupant JID in the brewery
}

// dialXMPP logs in as focus, joins the brewery and waits for a bridge's stats presence there,
// as jicofo does before it selects a bridge.
func dialXMPP(ctx context.Context, x XMPPConfig, log *slog.Logger) (*xmppSignaller, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	f, err := prosodytest.DialWith(ctx, prosodytest.DialConfig{
		Addr: x.Server, Domain: x.Domain, User: x.FocusUser, Password: x.FocusPassword,
	})
	if err != nil {
		return nil, fmt.Errorf("xmpp: %w", err)
	}
	room := x.BreweryJID()
	if err := f.JoinRoom(ctx, room, x.FocusNick); err != nil {
		f.Close()
		if strings.Contains(err.Error(), "conflict") {
			return nil, fmt.Errorf("xmpp: nick %q is taken in %s by another account (pick another with --xmpp-focus-nick): %w", x.FocusNick, room, err)
		}
		return nil, fmt.Errorf("xmpp: %w", err)
	}
	own := room + "/" + x.FocusNick
	for {
		select {
		case p := <-f.Presences():
			nick, ok := strings.CutPrefix(p.From, room+"/")
			if !ok || p.From == own || p.Type != "" || (x.BridgeNick != "" && nick != x.BridgeNick) || !hasStats(p) {
				continue
			}
			log.Info("bridge found in the brewery", "occupant", p.From)
			return &xmppSignaller{f: f, occupant: p.From}, nil
		case <-ctx.Done():
			f.Close()
			want := "any bridge"
			if x.BridgeNick != "" {
				want = room + "/" + x.BridgeNick
			}
			return nil, fmt.Errorf("xmpp: no stats presence from %s in %s: %w", want, room, ctx.Err())
		case <-f.Done():
			return nil, fmt.Errorf("xmpp: stream to %s closed while waiting for the bridge", x.Server)
		}
	}
}

// hasStats reports whether a presence carries <stats xmlns='http://jitsi.org/protocol/colibri'/>.
func hasStats(p prosodytest.Stanza) bool { _, ok := p.Stats(); return ok }

func (s *xmppSignaller) protocol() string { return "colibri2-xmpp" }
func (s *xmppSignaller) close()           { s.f.Close() }

// modify converts req to the XML form with package colibri's schema (the JSON and XML forms
// describe the same model), sends it as an IQ and converts the conference-modified back.
func (s *xmppSignaller) modify(ctx context.Context, req c2Request, sent func()) (*c2Response, error) {
	payload, err := c2RequestXML(req)
	if err != nil {
		return nil, err
	}
	id, err := s.f.SendIQ(ctx, s.occupant, "get", payload)
	if sent != nil {
		sent()
	}
	if err != nil {
		return nil, fmt.Errorf("colibri2 IQ to %s: %w", s.occupant, err)
	}
	st, err := s.f.Await(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("colibri2 IQ %s to %s: %w", id, s.occupant, err)
	}
	return parseModifiedIQ(st.Type, st.Raw)
}

// c2RequestXML is the <conference-modify/> element for req.
func c2RequestXML(req c2Request) (string, error) {
	js, err := json.Marshal(req)
	if err != nil {
		return "", fmt.Errorf("encode colibri2 request: %w", err)
	}
	m, err := colibri.ParseConferenceModifyJSON(js)
	if err != nil {
		return "", fmt.Errorf("colibri2 request to XML: %w", err)
	}
	x, err := m.Marshal()
	if err != nil {
		return "", fmt.Errorf("colibri2 request to XML: %w", err)
	}
	return string(x), nil
}

// parseModifiedIQ reads the bridge's answer IQ: an error IQ or a result without a
// conference-modified is an error, as for jicofo. Stanza errors are read by colibri's own parser.
func parseModifiedIQ(typ, raw string) (*c2Response, error) {
	var iq struct {
		Modified *colibri.ConferenceModified `xml:"jitsi:colibri2 conference-modified"`
		Error    *struct {
			Type  string `xml:"type,attr"`
			Inner []byte `xml:",innerxml"`
		} `xml:"error"`
	}
	if err := xml.Unmarshal([]byte(raw), &iq); err != nil {
		return nil, fmt.Errorf("colibri2 answer %.200q: %w", raw, err)
	}
	if typ == "error" {
		if iq.Error == nil {
			return nil, fmt.Errorf("colibri2 error IQ: %.300s", raw)
		}
		var elem bytes.Buffer
		elem.WriteString("<error type='")
		_ = xml.EscapeText(&elem, []byte(iq.Error.Type))
		elem.WriteString("'>")
		elem.Write(iq.Error.Inner)
		elem.WriteString("</error>")
		info, err := colibri.ParseStanzaError(elem.Bytes())
		if err != nil {
			return nil, fmt.Errorf("colibri2 error IQ %.300s: %w", raw, err)
		}
		var parts []string
		if info.Condition != "" {
			parts = append(parts, string(info.Condition))
		}
		if info.Reason != "" {
			parts = append(parts, "reason="+string(info.Reason))
		}
		if info.EndpointID != "" {
			parts = append(parts, "endpoint="+info.EndpointID)
		}
		if t := strings.TrimSpace(info.Text); t != "" {
			parts = append(parts, strconv.Quote(t))
		}
		if len(parts) == 0 {
			return nil, fmt.Errorf("colibri2 error IQ: %.300s", raw)
		}
		return nil, errors.New("colibri2 error IQ: " + strings.Join(parts, " "))
	}
	if typ != "result" || iq.Modified == nil {
		return nil, fmt.Errorf("colibri2 answer is not a conference-modified result: %.300s", raw)
	}
	js, err := json.Marshal(iq.Modified)
	if err != nil {
		return nil, fmt.Errorf("colibri2 answer to JSON: %w", err)
	}
	var out c2Response
	if err := json.Unmarshal(js, &out); err != nil {
		return nil, fmt.Errorf("colibri2 answer: %w", err)
	}
	return &out, nil
}
