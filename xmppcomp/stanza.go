package xmppcomp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
)

// Namespaces this package reads or writes.
const (
	nsStreams     = "http://etherx.jabber.org/streams"
	nsColibri     = "http://jitsi.org/protocol/colibri"
	nsColibri2    = "jitsi:colibri2"
	nsHealth      = "http://jitsi.org/protocol/healthcheck"
	nsVersion     = "jabber:iq:version"
	nsPing        = "urn:xmpp:ping"
	nsDiscoInfo   = "http://jabber.org/protocol/disco#info"
	nsMUC         = "http://jabber.org/protocol/muc"
	nsMUCUser     = "http://jabber.org/protocol/muc#user"
	nsMUCOwner    = "http://jabber.org/protocol/muc#owner"
	nsDataForm    = "jabber:x:data"
	nsStanzaError = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsXML         = "http://www.w3.org/XML/1998/namespace"
	nsSASL        = "urn:ietf:params:xml:ns:xmpp-sasl"
)

// maxDepth bounds element nesting; deeper stanzas count as oversized.
const maxDepth = 64

// element is a small in-memory XML element: enough to route stanzas and
// to hand payloads on as bytes. Namespace declarations are dropped from
// Attr; Name.Space carries the resolved namespace.
type element struct {
	Name     xml.Name
	Attr     []xml.Attr
	Children []*element
	Text     string
}

func (e *element) attr(local string) string {
	for _, a := range e.Attr {
		if a.Name.Local == local && (a.Name.Space == "" || a.Name.Space == e.Name.Space) {
			return a.Value
		}
	}
	return ""
}

func (e *element) child(space, local string) *element {
	for _, c := range e.Children {
		if c.Name.Local == local && c.Name.Space == space {
			return c
		}
	}
	return nil
}

func (e *element) firstChild() *element {
	if len(e.Children) == 0 {
		return nil
	}
	return e.Children[0]
}

// errTooLarge marks an element that exceeded the size or depth limit.
var errTooLarge = errors.New("element too large or too deep")

// readElement reads the rest of the element opened by start from r. If
// the element is larger than limit bytes (approximately, as serialized)
// or nested deeper than maxDepth, the remainder is consumed and discarded,
// the returned element keeps only start's attributes and truncated is
// true. err is only set when r fails or is not well-formed.
func readElement(r xml.TokenReader, start xml.StartElement, limit int) (el *element, truncated bool, err error) {
	root := &element{Name: start.Name, Attr: cleanAttrs(start.Attr)}
	size := elementSize(start)
	// texts[i] collects the character data of stack[i]; appending to a
	// byte slice keeps many small chunks linear.
	stack := []*element{root}
	texts := [][]byte{nil}
	for len(stack) > 0 {
		tok, err := r.Token()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, false, fmt.Errorf("read <%s/>: %w", start.Name.Local, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			size += elementSize(t)
			if len(stack) >= maxDepth {
				truncated = true
			}
			child := &element{Name: t.Name, Attr: cleanAttrs(t.Attr)}
			if !truncated && size <= limit {
				top := stack[len(stack)-1]
				top.Children = append(top.Children, child)
			}
			stack = append(stack, child)
			texts = append(texts, nil)
		case xml.EndElement:
			top := stack[len(stack)-1]
			if top.Name.Local != t.Name.Local || top.Name.Space != t.Name.Space {
				return nil, false, fmt.Errorf("read <%s/>: mismatched end element </%s>", start.Name.Local, t.Name.Local)
			}
			if txt := texts[len(texts)-1]; len(txt) > 0 && !truncated {
				top.Text = string(txt)
			}
			stack = stack[:len(stack)-1]
			texts = texts[:len(texts)-1]
		case xml.CharData:
			size += len(t)
			if size <= limit && !truncated {
				texts[len(texts)-1] = append(texts[len(texts)-1], t...)
			}
		}
		if size > limit {
			truncated = true
		}
	}
	if truncated {
		root.Children = nil
		root.Text = ""
	}
	return root, truncated, nil
}

func elementSize(t xml.StartElement) int {
	n := 2*len(t.Name.Local) + len(t.Name.Space) + 5
	for _, a := range t.Attr {
		n += len(a.Name.Local) + len(a.Name.Space) + len(a.Value) + 4
	}
	return n
}

// cleanAttrs drops namespace declarations (the encoder re-creates them
// from Name.Space) and copies the rest.
func cleanAttrs(in []xml.Attr) []xml.Attr {
	out := make([]xml.Attr, 0, len(in))
	for _, a := range in {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			continue
		}
		out = append(out, a)
	}
	return out
}

// appendTokens appends the tokens of e to dst.
func (e *element) appendTokens(dst []xml.Token) []xml.Token {
	start := xml.StartElement{Name: e.Name, Attr: e.Attr}
	dst = append(dst, start)
	if e.Text != "" {
		dst = append(dst, xml.CharData(e.Text))
	}
	for _, c := range e.Children {
		dst = c.appendTokens(dst)
	}
	return append(dst, start.End())
}

// marshal serializes e as a standalone element.
func (e *element) marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	for _, t := range e.appendTokens(nil) {
		if err := enc.EncodeToken(t); err != nil {
			return nil, fmt.Errorf("marshal <%s/>: %w", e.Name.Local, err)
		}
	}
	if err := enc.Flush(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// parseElement parses raw as exactly one element (surrounding whitespace
// allowed).
func parseElement(raw []byte, limit int) (*element, error) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	var root *element
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root != nil {
				return nil, errors.New("more than one root element")
			}
			el, truncated, err := readElement(d, t, limit)
			if err != nil {
				return nil, err
			}
			if truncated {
				return nil, errTooLarge
			}
			root = el
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, errors.New("text outside the root element")
			}
		}
	}
	if root == nil {
		return nil, errors.New("no element")
	}
	return root, nil
}

// tokenSlice is an xml.TokenReader over a fixed list of tokens.
type tokenSlice struct {
	toks []xml.Token
	i    int
}

func (s *tokenSlice) Token() (xml.Token, error) {
	if s.i >= len(s.toks) {
		return nil, io.EOF
	}
	t := s.toks[s.i]
	s.i++
	return t, nil
}

// stanzaError is a stanza-level <error/> to send.
type stanzaError struct {
	Condition string
	Text      string
}

// errorType is the type RFC 6120 8.3.3 gives each condition this package sends.
func (se stanzaError) errorType() string {
	switch se.Condition {
	case "forbidden":
		return "auth"
	case "bad-request", "policy-violation":
		return "modify"
	}
	return "cancel" // internal-server-error, service-unavailable
}

func (se stanzaError) element() *element {
	e := &element{
		Name:     xml.Name{Local: "error"},
		Attr:     []xml.Attr{{Name: xml.Name{Local: "type"}, Value: se.errorType()}},
		Children: []*element{{Name: xml.Name{Space: nsStanzaError, Local: se.Condition}}},
	}
	if se.Text != "" {
		e.Children = append(e.Children, &element{Name: xml.Name{Space: nsStanzaError, Local: "text"}, Text: se.Text})
	}
	return e
}

// iqReply builds the tokens of a result or error IQ answering req, with
// swapped to/from and the same id. payload may be nil.
func iqReply(req *element, typ string, payload *element) []xml.Token {
	attrs := []xml.Attr{
		{Name: xml.Name{Local: "type"}, Value: typ},
		{Name: xml.Name{Local: "id"}, Value: req.attr("id")},
	}
	if f := req.attr("from"); f != "" {
		attrs = append(attrs, xml.Attr{Name: xml.Name{Local: "to"}, Value: f})
	}
	if t := req.attr("to"); t != "" {
		attrs = append(attrs, xml.Attr{Name: xml.Name{Local: "from"}, Value: t})
	}
	start := xml.StartElement{Name: xml.Name{Space: req.Name.Space, Local: "iq"}, Attr: attrs}
	toks := []xml.Token{start}
	if payload != nil {
		toks = payload.appendTokens(toks)
	}
	return append(toks, start.End())
}
