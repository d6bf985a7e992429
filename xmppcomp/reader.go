package xmppcomp

import (
	"context"
	"encoding/xml"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

// stanzaSender writes one stanza (a full token list).
type stanzaSender interface {
	send(toks []xml.Token) error
}

// reader is the read loop of one session: it frames stanzas, answers IQs
// and reports MUC and IQ-response events to the session loop.
type reader struct {
	k      *conn
	w      stanzaSender
	lc     *limitConn // nil in tests that feed tokens directly
	events chan<- event
	// runCtx outlives the session; COLIBRI2 work is not tied to one
	// connection.
	runCtx context.Context
	// lastRead is when anything last arrived from the server (UnixNano),
	// for the session loop's liveness check; nil in tests.
	lastRead *atomic.Int64
}

func (r *reader) loop(ctx context.Context, s *xmpp.Session) error {
	tr := s.TokenReader()
	defer tr.Close()
	return r.readStanzas(ctx, tr)
}

// readStanzas reads top-level stanzas from tr until it fails. A stream
// error, the end of the stream or malformed XML all end the loop with an
// error (the caller reconnects).
func (r *reader) readStanzas(ctx context.Context, tr xml.TokenReader) error {
	for {
		if r.lc != nil {
			r.lc.mark()
		}
		tok, err := tr.Token()
		if err != nil {
			return fmt.Errorf("read stream: %w", err)
		}
		if r.lastRead != nil {
			r.lastRead.Store(time.Now().UnixNano())
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue // whitespace keep-alive
		}
		el, truncated, err := readElement(tr, start, r.k.c.cfg.MaxIQPayload)
		if err != nil {
			return err
		}
		if err := r.dispatch(ctx, el, truncated); err != nil {
			return err
		}
	}
}

func (r *reader) dispatch(ctx context.Context, el *element, truncated bool) error {
	switch el.Name.Local {
	case "iq":
		return r.handleIQ(ctx, el, truncated)
	case "presence":
		if !truncated {
			r.handlePresence(ctx, el)
		}
	}
	return nil // messages and unknown top-level elements are ignored
}

func (r *reader) emit(ctx context.Context, ev event) {
	select {
	case r.events <- ev:
	case <-ctx.Done():
	}
}

// roomOf returns the configured room whose bare JID equals j's bare JID
// (case-insensitive).
func (r *reader) roomOf(j jid.JID) (jid.JID, bool) {
	b := strings.ToLower(j.Bare().String())
	for _, m := range r.k.srv.mucs {
		if roomKey(m) == b {
			return m, true
		}
	}
	return jid.JID{}, false
}

func (r *reader) handlePresence(ctx context.Context, p *element) {
	from, err := jid.Parse(p.attr("from"))
	if err != nil {
		return
	}
	room, ok := r.roomOf(from)
	if !ok || from.Resourcepart() != r.k.srv.Nickname {
		return // someone else's presence
	}
	switch p.attr("type") {
	case "error":
		cond := "unknown"
		if e := p.child(p.Name.Space, "error"); e != nil && e.firstChild() != nil {
			cond = e.firstChild().Name.Local
		}
		r.emit(ctx, event{kind: evJoinFailed, room: room, cond: cond})
	case "unavailable":
		r.emit(ctx, event{kind: evLeft, room: room})
	case "":
		ev := event{kind: evJoined, room: room}
		if x := p.child(nsMUCUser, "x"); x != nil {
			for _, c := range x.Children {
				switch {
				case c.Name.Local == "status" && c.attr("code") == "201":
					ev.created = true
				case c.Name.Local == "item" && c.attr("jid") != "":
					// One item per session of the occupant: more than one
					// means another client shares the nickname (prosody
					// merges sessions of the same account into one occupant).
					ev.sessions = append(ev.sessions, c.attr("jid"))
				}
			}
		}
		r.emit(ctx, ev)
	}
}

func (r *reader) handleIQ(ctx context.Context, iq *element, truncated bool) error {
	switch typ := iq.attr("type"); typ {
	case "result", "error":
		r.emit(ctx, event{kind: evIQResponse, id: iq.attr("id"), typ: typ})
		return nil
	case "get", "set":
	default:
		return nil // invalid type: not answerable
	}
	payload := iq.firstChild()
	if payload != nil && payload.Name.Space == nsPing && payload.Name.Local == "ping" {
		return r.result(iq, nil) // server keep-alive; answered for anyone
	}
	from, err := jid.Parse(iq.attr("from"))
	if _, ok := r.roomOf(from); err != nil || !ok {
		r.k.log.Debug("iq from outside the brewery refused", "from", iq.attr("from"))
		return r.fail(iq, stanzaError{Condition: "forbidden"})
	}
	if truncated {
		return r.fail(iq, stanzaError{Condition: "policy-violation",
			Text: fmt.Sprintf("IQ larger than %d bytes or nested deeper than %d", r.k.c.cfg.MaxIQPayload, maxDepth)})
	}
	if payload == nil {
		return r.fail(iq, stanzaError{Condition: "bad-request", Text: "IQ without payload"})
	}
	switch payload.Name {
	case xml.Name{Space: nsHealth, Local: "healthcheck"}:
		return r.health(iq)
	case xml.Name{Space: nsVersion, Local: "query"}:
		return r.result(iq, r.version())
	case xml.Name{Space: nsDiscoInfo, Local: "query"}:
		return r.result(iq, discoInfo())
	case xml.Name{Space: nsColibri2, Local: "conference-modify"}:
		return r.colibri(iq, payload)
	}
	return r.fail(iq, stanzaError{Condition: "service-unavailable", Text: "Unsupported IQ request"})
}

func (r *reader) result(req *element, payload *element) error {
	if err := r.w.send(iqReply(req, "result", payload)); err != nil {
		return fmt.Errorf("answer iq %q: %w", req.attr("id"), err)
	}
	return nil
}

func (r *reader) fail(req *element, se stanzaError) error {
	if err := r.w.send(iqReply(req, "error", se.element())); err != nil {
		return fmt.Errorf("answer iq %q: %w", req.attr("id"), err)
	}
	return nil
}

func (r *reader) health(iq *element) error {
	var err error
	if h := r.k.c.cfg.Health; h != nil {
		err = h()
	}
	if err != nil {
		return r.fail(iq, stanzaError{Condition: "internal-server-error", Text: err.Error()})
	}
	return r.result(iq, nil)
}

func (r *reader) version() *element {
	v := r.k.c.cfg.Version
	if v == "" {
		v = "unknown"
	}
	text := func(local, s string) *element {
		return &element{Name: xml.Name{Space: nsVersion, Local: local}, Text: s}
	}
	return &element{Name: xml.Name{Space: nsVersion, Local: "query"},
		Children: []*element{text("name", "JVB"), text("version", v), text("os", "Linux")}}
}

func discoInfo() *element {
	q := &element{Name: xml.Name{Space: nsDiscoInfo, Local: "query"}, Children: []*element{{
		Name: xml.Name{Space: nsDiscoInfo, Local: "identity"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "category"}, Value: "component"},
			{Name: xml.Name{Local: "type"}, Value: "generic"}, {Name: xml.Name{Local: "name"}, Value: "JVB"}},
	}}}
	for _, f := range []string{nsDiscoInfo, nsHealth, "urn:xmpp:jingle:apps:dtls:0",
		"urn:xmpp:jingle:transports:ice-udp:1", nsVersion, nsPing} {
		q.Children = append(q.Children, &element{Name: xml.Name{Space: nsDiscoInfo, Local: "feature"},
			Attr: []xml.Attr{{Name: xml.Name{Local: "var"}, Value: f}}})
	}
	return q
}

// colibri hands conference-modify to the ColibriHandler synchronously (it
// only enqueues, so arrival order is kept) and answers when it replies.
func (r *reader) colibri(iq, payload *element) error {
	h := r.k.c.cfg.Colibri
	if h == nil {
		return r.fail(iq, stanzaError{Condition: "service-unavailable", Text: "COLIBRI2 not available"})
	}
	raw, err := payload.marshal()
	if err != nil {
		return r.fail(iq, stanzaError{Condition: "bad-request", Text: err.Error()})
	}
	w, log, k := r.w, r.k.log, r.k
	id := iq.attr("id")
	var replied atomic.Bool
	h.HandleIQ(r.runCtx, raw, func(result, errElem []byte) {
		if !replied.CompareAndSwap(false, true) {
			log.Warn("colibri2 replied twice; second reply dropped", "iq_id", id)
			return
		}
		toks, err := colibriReply(iq, result, errElem)
		if err != nil {
			log.Error("invalid colibri2 reply; answering internal-server-error", "iq_id", id, "err", err)
			toks = iqReply(iq, "error", stanzaError{Condition: "internal-server-error", Text: "invalid reply"}.element())
		}
		out := stanzaSender(w)
		if cur := k.writer.Load(); cur != nil {
			out = cur // the session may have been replaced meanwhile
		}
		if err := out.send(toks); err != nil {
			log.Warn("colibri2 reply not sent", "iq_id", id, "err", err)
		}
	})
	return nil
}

func colibriReply(iq *element, result, errElem []byte) ([]xml.Token, error) {
	if errElem != nil {
		e, err := parseElement(errElem, hardStanzaLimit)
		if err != nil {
			return nil, fmt.Errorf("error element: %w", err)
		}
		if e.Name.Local != "error" {
			return nil, fmt.Errorf("error element is <%s/>", e.Name.Local)
		}
		return iqReply(iq, "error", e), nil
	}
	if len(result) == 0 {
		return iqReply(iq, "result", nil), nil
	}
	e, err := parseElement(result, hardStanzaLimit)
	if err != nil {
		return nil, fmt.Errorf("result element: %w", err)
	}
	return iqReply(iq, "result", e), nil
}
