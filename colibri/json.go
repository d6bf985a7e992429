package colibri

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// The JSON form of COLIBRI2 (REST, spec 2.8) mirrors the XML model with a few shape changes,
// implemented here: <sources> and relay <endpoints> are arrays, a source with only an SSRC and an
// ssrc-group member are bare numbers, parameters are an object, capabilities and web-sockets are
// strings, and the ICE-UDP transport carries its "xmlns".

// ParseConferenceModifyJSON parses the JSON form of a conference-modify request.
func ParseConferenceModifyJSON(b []byte) (*ConferenceModify, error) {
	var m ConferenceModify
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// ParseConferenceModifiedJSON parses the JSON form of a conference-modified response.
func ParseConferenceModifiedJSON(b []byte) (*ConferenceModified, error) {
	var m ConferenceModified
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// MarshalJSON writes the media sources as an array.
func (s Sources) MarshalJSON() ([]byte, error) {
	if s.MediaSources == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(s.MediaSources)
}

// UnmarshalJSON reads an array of media sources.
func (s *Sources) UnmarshalJSON(b []byte) error {
	s.MediaSources = nil
	if err := json.Unmarshal(b, &s.MediaSources); err != nil {
		return err
	}
	if len(s.MediaSources) == 0 {
		s.MediaSources = nil // same as an empty <sources/>
	}
	return nil
}

// MarshalJSON writes the relay's endpoints as an array.
func (r RelayEndpoints) MarshalJSON() ([]byte, error) {
	if r.Endpoints == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(r.Endpoints)
}

// UnmarshalJSON reads an array of endpoints.
func (r *RelayEndpoints) UnmarshalJSON(b []byte) error {
	return json.Unmarshal(b, &r.Endpoints)
}

type sourceJSON struct {
	SSRC       uint32     `json:"ssrc"`
	Name       string     `json:"name,omitempty"`
	VideoType  string     `json:"videoType,omitempty"`
	RID        string     `json:"rid,omitempty"`
	Parameters Parameters `json:"parameters,omitempty"`
}

// MarshalJSON writes a bare SSRC when the source has nothing else.
func (s Source) MarshalJSON() ([]byte, error) {
	if s.Name == "" && s.VideoType == "" && s.RID == "" && len(s.Parameters) == 0 {
		return json.Marshal(s.SSRC)
	}
	return json.Marshal(sourceJSON(s))
}

// UnmarshalJSON accepts a bare SSRC or an object.
func (s *Source) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] != '{' {
		*s = Source{}
		return json.Unmarshal(b, &s.SSRC)
	}
	var v sourceJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = Source(v)
	return nil
}

// MarshalJSON writes the SSRC as a number.
func (s SSRCSource) MarshalJSON() ([]byte, error) { return json.Marshal(s.SSRC) }

// UnmarshalJSON reads a number (or {"ssrc": n}).
func (s *SSRCSource) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var v struct {
			SSRC uint32 `json:"ssrc"`
		}
		err := json.Unmarshal(b, &v)
		s.SSRC = v.SSRC
		return err
	}
	return json.Unmarshal(b, &s.SSRC)
}

// MarshalJSON writes the capability name.
func (c Capability) MarshalJSON() ([]byte, error) { return json.Marshal(c.Name) }

// UnmarshalJSON reads a capability name.
func (c *Capability) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &c.Name) }

type webSocketJSON struct {
	URL    string `json:"url"`
	Active Bool   `json:"active,omitempty"`
}

// MarshalJSON writes the URL, or an object when the socket is marked active.
func (w WebSocket) MarshalJSON() ([]byte, error) {
	if w.Active {
		return json.Marshal(webSocketJSON(w))
	}
	return json.Marshal(w.URL)
}

// UnmarshalJSON accepts a URL string or {"url":…, "active":…}.
func (w *WebSocket) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var v webSocketJSON
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*w = WebSocket(v)
		return nil
	}
	*w = WebSocket{}
	return json.Unmarshal(b, &w.URL)
}

// nullParamName is the JSON key of a parameter without a name (RED's "111/111").
const nullParamName = "null"

// MarshalJSON writes the parameters as an object, in order.
func (p Parameters) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, prm := range p {
		if i > 0 {
			buf.WriteByte(',')
		}
		name := prm.Name
		if name == "" {
			name = nullParamName
		}
		k, err := json.Marshal(name)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(prm.Value)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// UnmarshalJSON reads an object of name to value, keeping the order.
func (p *Parameters) UnmarshalJSON(b []byte) error {
	d := json.NewDecoder(bytes.NewReader(b))
	tok, err := d.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		*p = nil
		return nil
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '{' {
		return errors.New("colibri: parameters must be a JSON object")
	}
	out := Parameters{}
	for d.More() {
		kt, err := d.Token()
		if err != nil {
			return err
		}
		k, _ := kt.(string)
		var v any
		if err := d.Decode(&v); err != nil {
			return err
		}
		var val string
		switch x := v.(type) {
		case string:
			val = x
		case nil:
		default:
			val = fmt.Sprint(x)
		}
		if k == nullParamName {
			k = ""
		}
		out = append(out, Parameter{Name: k, Value: val})
	}
	*p = out
	return nil
}

type iceUDPJSON struct {
	XMLNS string `json:"xmlns"`
	iceUDPAlias
}

type iceUDPAlias ICEUDPTransport

// MarshalJSON adds the "xmlns" key jitsi's serializer writes.
func (t ICEUDPTransport) MarshalJSON() ([]byte, error) {
	return json.Marshal(iceUDPJSON{XMLNS: NSICEUDP, iceUDPAlias: iceUDPAlias(t)})
}

// UnmarshalJSON ignores "xmlns".
func (t *ICEUDPTransport) UnmarshalJSON(b []byte) error {
	var v iceUDPJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*t = ICEUDPTransport(v.iceUDPAlias)
	return nil
}

// MarshalJSON writes the connects as an array.
func (c Connects) MarshalJSON() ([]byte, error) {
	if c.Connects == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(c.Connects)
}

// UnmarshalJSON reads an array of connects.
func (c *Connects) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &c.Connects) }

// MarshalJSON writes the export names as an array of strings.
func (e Exports) MarshalJSON() ([]byte, error) { return namesJSON(e.Exports) }

// UnmarshalJSON reads an array of names.
func (e *Exports) UnmarshalJSON(b []byte) error { return parseNamesJSON(b, &e.Exports) }

// MarshalJSON writes the request names as an array of strings.
func (r Requests) MarshalJSON() ([]byte, error) { return namesJSON(r.Requests) }

// UnmarshalJSON reads an array of names.
func (r *Requests) UnmarshalJSON(b []byte) error { return parseNamesJSON(b, &r.Requests) }

func namesJSON(n []Named) ([]byte, error) {
	s := make([]string, len(n))
	for i := range n {
		s[i] = n[i].Name
	}
	return json.Marshal(s)
}

func parseNamesJSON(b []byte, out *[]Named) error {
	var s []string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*out = make([]Named, len(s))
	for i := range s {
		(*out)[i].Name = s[i]
	}
	return nil
}
