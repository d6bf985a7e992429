package prosodytest

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

// Stanza is a received stanza: routing attributes plus its XML.
type Stanza struct {
	Name, Type, ID, From, To string
	// Raw is the whole stanza re-serialized (namespace declarations
	// normalized), suitable for xml.Unmarshal.
	Raw string
}

// Stats returns the <stat name value/> entries of the stanza's colibri stats extension
// (<stats xmlns='http://jitsi.org/protocol/colibri'/>, what a bridge publishes in its brewery
// presence); ok is false when the stanza has none.
func (s Stanza) Stats() (stats map[string]string, ok bool) {
	var p struct {
		Stats *struct {
			Stat []struct {
				Name  string `xml:"name,attr"`
				Value string `xml:"value,attr"`
			} `xml:"stat"`
		} `xml:"http://jitsi.org/protocol/colibri stats"`
	}
	if xml.Unmarshal([]byte(s.Raw), &p) != nil || p.Stats == nil {
		return nil, false
	}
	stats = make(map[string]string, len(p.Stats.Stat))
	for _, st := range p.Stats.Stat {
		stats[st.Name] = st.Value
	}
	return stats, true
}

// Focus is a jicofo stand-in: an XMPP client logged in as focus that can
// join the brewery, watch presences and send IQs without waiting for the
// previous reply (jicofo pipelines COLIBRI2 requests).
type Focus struct {
	s         *xmpp.Session
	conn      net.Conn
	presences chan Stanza
	dropped   atomic.Int64
	mu        sync.Mutex
	waiters   map[string]chan Stanza
	early     map[string]Stanza
	// joins holds JoinRoom calls waiting for their own occupant presence, by occupant JID: the
	// reader hands that presence to the waiter so that every other presence stays on the
	// presences channel in arrival order.
	joins    map[string]chan Stanza
	seq      atomic.Uint64
	done     chan struct{}
	serveErr error
}

// DialFocus logs in as focus@auth.meet.jitsi over STARTTLS. It is closed
// when the test ends.
func DialFocus(t testing.TB, srv *Server) *Focus {
	t.Helper()
	f, err := Dial(srv.Addr(), FocusUser, FocusPassword)
	if err != nil {
		t.Fatalf("focus login: %v\n%s", err, srv.Logs())
	}
	t.Cleanup(f.Close)
	return f
}

// Dial logs in user@auth.meet.jitsi at addr over STARTTLS.
func Dial(addr, user, password string) (*Focus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return DialWith(ctx, DialConfig{Addr: addr, User: user, Password: password})
}

// JID is the full JID bound by the server.
func (f *Focus) JID() jid.JID { return f.s.LocalAddr() }

// Close leaves the stream and waits for the read loop.
func (f *Focus) Close() {
	_ = f.s.Close()
	select {
	case <-f.done:
	case <-time.After(2 * time.Second):
	}
	_ = f.conn.Close()
	<-f.done
}

// Done is closed when the stream ended.
func (f *Focus) Done() <-chan struct{} { return f.done }

// Presences delivers every presence received (the channel holds 4096;
// later ones are dropped when nobody reads).
func (f *Focus) Presences() <-chan Stanza { return f.presences }

func (f *Focus) handle(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	raw, err := serialize(*start, t)
	if err != nil {
		return err
	}
	st := Stanza{Name: start.Name.Local, Raw: raw}
	for _, a := range start.Attr {
		switch a.Name.Local {
		case "type":
			st.Type = a.Value
		case "id":
			st.ID = a.Value
		case "from":
			st.From = a.Value
		case "to":
			st.To = a.Value
		}
	}
	switch {
	case st.Name == "presence":
		f.mu.Lock()
		if c, ok := f.joins[st.From]; ok {
			delete(f.joins, st.From)
			f.mu.Unlock()
			c <- st // buffered
			return nil
		}
		f.mu.Unlock()
		select {
		case f.presences <- st:
		default:
			f.dropped.Add(1)
		}
	case st.Name == "iq" && (st.Type == "result" || st.Type == "error"):
		f.mu.Lock()
		if c, ok := f.waiters[st.ID]; ok && len(c) == 0 {
			c <- st // buffered; Await removes the entry
		} else {
			f.early[st.ID] = st
		}
		f.mu.Unlock()
	}
	return nil
}

// serialize writes start and the rest of its element as XML.
func serialize(start xml.StartElement, r xml.TokenReader) (string, error) {
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	if err := enc.EncodeToken(withoutNSDecls(start)); err != nil {
		return "", err
	}
	depth := 1
	for depth > 0 {
		tok, err := r.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
		if err := enc.EncodeToken(withoutNSDecls(xml.CopyToken(tok))); err != nil {
			return "", err
		}
	}
	if depth > 0 { // the reader ended at the element's end (inner reader)
		if err := enc.EncodeToken(start.End()); err != nil {
			return "", err
		}
	}
	if err := enc.Flush(); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// tokens parses raw XML (any number of sibling elements) into tokens
// without namespace declaration attributes.
func tokens(raw string) ([]xml.Token, error) {
	d := xml.NewDecoder(strings.NewReader(raw))
	var out []xml.Token
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("payload %.80q: %w", raw, err)
		}
		out = append(out, xml.CopyToken(withoutNSDecls(tok)))
	}
}

// withoutNSDecls drops the namespace declaration attributes of a start element (the encoder
// writes its own from Name.Space); other tokens are returned as they are.
func withoutNSDecls(tok xml.Token) xml.Token {
	se, ok := tok.(xml.StartElement)
	if !ok {
		return tok
	}
	attrs := se.Attr[:0:0]
	for _, a := range se.Attr {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			continue
		}
		attrs = append(attrs, a)
	}
	se.Attr = attrs
	return se
}

type sliceReader struct{ toks []xml.Token }

func (s *sliceReader) Token() (xml.Token, error) {
	if len(s.toks) == 0 {
		return nil, io.EOF
	}
	t := s.toks[0]
	s.toks = s.toks[1:]
	return t, nil
}

// Send writes raw XML (one or more stanzas or any element) to the stream.
func (f *Focus) Send(ctx context.Context, raw string) error {
	toks, err := tokens(raw)
	if err != nil {
		return err
	}
	// Send takes one element; send each top-level element separately.
	var cur []xml.Token
	depth := 0
	for _, t := range toks {
		switch t.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 {
				continue
			}
		}
		cur = append(cur, t)
		if depth == 0 {
			if err := f.s.Send(ctx, &sliceReader{toks: cur}); err != nil {
				return err
			}
			cur = nil
		}
	}
	return nil
}

// SendIQ sends an IQ of type typ with the raw payload to to and returns its
// id without waiting for the answer (use Await).
func (f *Focus) SendIQ(ctx context.Context, to, typ, payload string) (string, error) {
	id := "focus-" + strconv.FormatUint(f.seq.Add(1), 10)
	c := make(chan Stanza, 1)
	f.mu.Lock()
	f.waiters[id] = c
	f.mu.Unlock()
	var b strings.Builder
	b.WriteString("<iq xmlns='jabber:client' type='")
	xml.EscapeText(&b, []byte(typ))
	b.WriteString("' id='" + id + "' to='")
	xml.EscapeText(&b, []byte(to))
	b.WriteString("'>" + payload + "</iq>")
	if err := f.Send(ctx, b.String()); err != nil {
		f.mu.Lock()
		delete(f.waiters, id)
		f.mu.Unlock()
		return "", err
	}
	return id, nil
}

// Await waits for the result or error IQ answering id.
func (f *Focus) Await(ctx context.Context, id string) (Stanza, error) {
	f.mu.Lock()
	if st, ok := f.early[id]; ok {
		delete(f.early, id)
		f.mu.Unlock()
		return st, nil
	}
	c, ok := f.waiters[id]
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.waiters, id)
		f.mu.Unlock()
	}()
	if !ok {
		return Stanza{}, fmt.Errorf("no IQ %q pending", id)
	}
	select {
	case st := <-c:
		return st, nil
	case <-ctx.Done():
		return Stanza{}, fmt.Errorf("await IQ %s: %w", id, ctx.Err())
	case <-f.done:
		return Stanza{}, errors.Join(errors.New("stream closed"), f.serveErr)
	}
}

// IQ sends an IQ and waits for its answer.
func (f *Focus) IQ(ctx context.Context, to, typ, payload string) (Stanza, error) {
	id, err := f.SendIQ(ctx, to, typ, payload)
	if err != nil {
		return Stanza{}, err
	}
	return f.Await(ctx, id)
}

// JoinBrewery joins the brewery as nick and waits until the room
// reflects focus's own presence.
func (f *Focus) JoinBrewery(ctx context.Context, nick string) error {
	return f.JoinRoom(ctx, Brewery, nick)
}
