package colibri

import (
	"bytes"
	"encoding/xml"
	"fmt"
)

// Condition is an XMPP stanza error condition (RFC 6120 8.3.3).
type Condition string

// Conditions the handler returns (spec 2.3).
const (
	CondBadRequest            Condition = "bad-request"
	CondConflict              Condition = "conflict"
	CondFeatureNotImplemented Condition = "feature-not-implemented"
	CondItemNotFound          Condition = "item-not-found"
	CondServiceUnavailable    Condition = "service-unavailable"
	CondInternalServerError   Condition = "internal-server-error"
	CondResourceConstraint    Condition = "resource-constraint"
)

// Reason is the colibri2 error reason (<error xmlns='jitsi:colibri2' reason='…'/>). Only these
// values exist: jicofo's parser throws on anything else.
type Reason string

// Reasons (xmpp-ext colibri2/Colibri2Error.java), lower-case on the wire.
const (
	ReasonNone                    Reason = ""
	ReasonConferenceNotFound      Reason = "conference_not_found"
	ReasonConferenceAlreadyExists Reason = "conference_already_exists"
	ReasonFeatureNotImplemented   Reason = "feature_not_implemented"
	ReasonGracefulShutdown        Reason = "graceful_shutdown"
	ReasonUnknownEndpoint         Reason = "unknown_endpoint"
	ReasonUnspecified             Reason = "unspecified"
)

// Error is a failed conference-modify: what the XMPP layer sends as the stanza error, what REST
// maps to a status code, and what Modify returns.
type Error struct {
	Condition  Condition
	Reason     Reason // may be empty: then no colibri2 <error/> child is sent
	Text       string
	EndpointID string // set with ReasonUnknownEndpoint: adds <endpoint xmlns='jitsi:colibri2' id/>
	Err        error  // underlying cause, if any
}

func (e *Error) Error() string {
	s := string(e.Condition)
	if e.Reason != "" {
		s += "/" + string(e.Reason)
	}
	if e.Text != "" {
		s += ": " + e.Text
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return "colibri: " + s
}

func (e *Error) Unwrap() error { return e.Err }

func newError(c Condition, r Reason, format string, args ...any) *Error {
	return &Error{Condition: c, Reason: r, Text: fmt.Sprintf(format, args...)}
}

// errorType is the stanza error type for a condition (RFC 6120 8.3.3).
func errorType(c Condition) string {
	switch c {
	case CondBadRequest:
		return "modify"
	case CondResourceConstraint:
		return "wait"
	default:
		return "cancel"
	}
}

// StanzaError returns the raw <error type='…'>…</error> element to put in the error IQ.
func (e *Error) StanzaError() []byte {
	var b bytes.Buffer
	b.WriteString(`<error type='`)
	b.WriteString(errorType(e.Condition))
	b.WriteString(`'><`)
	b.WriteString(string(e.Condition))
	b.WriteString(` xmlns='` + NSStanzaErr + `'/>`)
	if e.Text != "" {
		b.WriteString(`<text xmlns='` + NSStanzaErr + `'>`)
		_ = xml.EscapeText(&b, []byte(e.Text))
		b.WriteString(`</text>`)
	}
	if e.Reason != "" {
		b.WriteString(`<error xmlns='` + NS + `' reason='`)
		_ = xml.EscapeText(&b, []byte(e.Reason))
		b.WriteString(`'/>`)
	}
	if e.EndpointID != "" {
		b.WriteString(`<endpoint xmlns='` + NS + `' id='`)
		_ = xml.EscapeText(&b, []byte(e.EndpointID))
		b.WriteString(`'/>`)
	}
	b.WriteString(`</error>`)
	return b.Bytes()
}

// StanzaErrorInfo is a parsed stanza error, for tests and for clients of the bridge.
type StanzaErrorInfo struct {
	Type       string
	Condition  Condition
	Text       string
	Reason     Reason
	EndpointID string
}

// ParseStanzaError parses a raw <error/> element as built by Error.StanzaError.
func ParseStanzaError(b []byte) (*StanzaErrorInfo, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	var info StanzaErrorInfo
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			if depth == 0 && info.Type != "" {
				return &info, nil
			}
			return nil, fmt.Errorf("colibri: parse stanza error: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1:
				if t.Name.Local != "error" {
					return nil, fmt.Errorf("colibri: parse stanza error: unexpected <%s>", t.Name.Local)
				}
				info.Type = attr(t, "type")
			case depth == 2 && t.Name.Space == NSStanzaErr && t.Name.Local == "text":
				var s string
				if err := d.DecodeElement(&s, &t); err != nil {
					return nil, err
				}
				info.Text = s
				depth--
			case depth == 2 && t.Name.Space == NSStanzaErr:
				info.Condition = Condition(t.Name.Local)
			case depth == 2 && t.Name.Space == NS && t.Name.Local == "error":
				info.Reason = Reason(attr(t, "reason"))
			case depth == 2 && t.Name.Space == NS && t.Name.Local == "endpoint":
				info.EndpointID = attr(t, "id")
			}
		case xml.EndElement:
			depth--
			if depth == 0 {
				return &info, nil
			}
		}
	}
}

func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}
