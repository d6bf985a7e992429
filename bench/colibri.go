package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The JSON form of COLIBRI2 (JVB doc/rest-colibri2.md; attribute values of XML elements are
// strings, SSRCs and header-extension ids are numbers). Only what the load test sends and
// reads is modelled.

type c2Request struct {
	MeetingID string       `json:"meeting-id"`
	Name      string       `json:"name,omitempty"`
	Create    bool         `json:"create,omitempty"`
	Expire    bool         `json:"expire,omitempty"`
	Endpoints []c2Endpoint `json:"endpoints,omitempty"`
	Relays    []c2Relay    `json:"relays,omitempty"`
}

// c2Relay is a relay to another bridge (Octo), as jicofo creates and updates it.
type c2Relay struct {
	ID        string       `json:"id"`
	Create    bool         `json:"create,omitempty"`
	Expire    bool         `json:"expire,omitempty"`
	MeshID    string       `json:"mesh-id,omitempty"`
	Medias    []c2Media    `json:"medias,omitempty"`
	Transport *c2Transport `json:"transport,omitempty"`
	Endpoints []c2Endpoint `json:"endpoints,omitempty"` // the endpoints behind the other bridge
}

type c2Endpoint struct {
	ID           string         `json:"id"`
	StatsID      string         `json:"stats-id,omitempty"`
	Create       bool           `json:"create,omitempty"`
	Expire       bool           `json:"expire,omitempty"`
	Medias       []c2Media      `json:"medias,omitempty"`
	Transport    *c2Transport   `json:"transport,omitempty"`
	Sources      []c2MediaSrc   `json:"sources,omitempty"`
	Capabilities []string       `json:"capabilities,omitempty"`
	InitialLastN *c2InitialLast `json:"initial-last-n,omitempty"`
}

type c2InitialLast struct {
	Value int `json:"value"`
}

type c2Media struct {
	Type         string          `json:"type"`
	PayloadTypes []c2PayloadType `json:"payload-types,omitempty"`
	RTPHdrExts   []c2HdrExt      `json:"rtp-hdrexts,omitempty"`
}

type c2PayloadType struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	ClockRate  string            `json:"clockrate"`
	Channels   string            `json:"channels,omitempty"`
	Parameters map[string]string `json:"parameters,omitempty"`
	RTCPFbs    []c2RTCPFb        `json:"rtcp-fbs,omitempty"`
}

type c2RTCPFb struct {
	Type    string `json:"type"`
	Subtype string `json:"subtype,omitempty"`
}

type c2HdrExt struct {
	ID  int    `json:"id"`
	URI string `json:"uri"`
}

type c2Transport struct {
	ICEControlling *bool     `json:"ice-controlling,omitempty"`
	UseUniquePort  bool      `json:"use-unique-port,omitempty"`
	Transport      *c2ICEUDP `json:"transport,omitempty"`
	SCTP           *c2SCTP   `json:"sctp,omitempty"`
}

type c2SCTP struct {
	Role string   `json:"role,omitempty"`
	Port flexUint `json:"port,omitempty"`
}

type c2ICEUDP struct {
	XMLNS        string          `json:"xmlns,omitempty"`
	Ufrag        string          `json:"ufrag"`
	Pwd          string          `json:"pwd"`
	RTCPMux      bool            `json:"rtcp-mux,omitempty"`
	Candidates   []c2Candidate   `json:"candidates,omitempty"`
	Fingerprints []c2Fingerprint `json:"fingerprints,omitempty"`
}

type c2Candidate struct {
	Component  flexUint `json:"component"`
	Foundation string   `json:"foundation"`
	Generation flexUint `json:"generation"`
	ID         string   `json:"id,omitempty"`
	Network    flexUint `json:"network"`
	Priority   flexUint `json:"priority"`
	Protocol   string   `json:"protocol"`
	Type       string   `json:"type"`
	IP         string   `json:"ip"`
	Port       flexUint `json:"port"`
}

type c2Fingerprint struct {
	Fingerprint string `json:"fingerprint"`
	Hash        string `json:"hash"`
	Setup       string `json:"setup"`
}

type c2MediaSrc struct {
	Type       string        `json:"type"`
	ID         string        `json:"id"`
	Sources    []c2Source    `json:"sources"`
	SSRCGroups []c2SSRCGroup `json:"ssrc-groups,omitempty"`
}

type c2Source struct {
	SSRC uint32 `json:"ssrc"`
	Name string `json:"name,omitempty"`
}

type c2SSRCGroup struct {
	Semantics string   `json:"semantics"`
	Sources   []uint32 `json:"sources"`
}

type c2Response struct {
	Endpoints []c2Endpoint `json:"endpoints"`
	Relays    []c2Relay    `json:"relays,omitempty"`
}

// flexUint accepts a JSON number or a numeric string (JVB writes XML attributes as strings)
// and writes a string, like JVB does.
type flexUint uint64

func (f *flexUint) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*f = 0
		return nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("want a non-negative integer, got %s", b)
	}
	*f = flexUint(v)
	return nil
}

func (f flexUint) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatUint(uint64(f), 10) + `"`), nil
}

// colibriClient sends COLIBRI2 JSON to a bridge's private HTTP server.
type colibriClient struct {
	base string // e.g. http://127.0.0.1:8080
	hc   *http.Client
}

func newColibriClient(base string) *colibriClient {
	return &colibriClient{
		base: strings.TrimRight(base, "/"),
		hc:   &http.Client{Timeout: 15 * time.Second},
	}
}

// modify sends one conference-modify: POST when it creates the conference, PATCH otherwise.
func (c *colibriClient) modify(ctx context.Context, req c2Request) (*c2Response, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode colibri2 request: %w", err)
	}
	method, u := http.MethodPatch, c.base+"/colibri/v2/conferences/"+url.PathEscape(req.MeetingID)
	if req.Create {
		method, u = http.MethodPost, c.base+"/colibri/v2/conferences"
	}
	hreq, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("colibri2 %s %s: %w", method, u, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("colibri2 %s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("colibri2 %s %s: read body: %w", method, u, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("colibri2 %s %s: HTTP %d: %s", method, u, resp.StatusCode, bytes.TrimSpace(rb))
	}
	var out c2Response
	if len(bytes.TrimSpace(rb)) > 0 {
		if err := json.Unmarshal(rb, &out); err != nil {
			return nil, fmt.Errorf("colibri2 %s %s: decode response: %w", method, u, err)
		}
	}
	return &out, nil
}

// mediaOffer is what a Jitsi Meet client offers (as Jicofo would relay it): opus with
// audio-level, VP8 with RTX and the usual feedback, goog-remb, and transport-cc (payload-type
// feedback plus header extension 5) when tcc is set.
func mediaOffer(tcc bool) []c2Media {
	const tccURI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
	vfb := []c2RTCPFb{{Type: "ccm", Subtype: "fir"}, {Type: "nack"}, {Type: "nack", Subtype: "pli"}, {Type: "goog-remb"}}
	var afb []c2RTCPFb
	if tcc {
		vfb = append(vfb, c2RTCPFb{Type: "transport-cc"})
		afb = []c2RTCPFb{{Type: "transport-cc"}}
	}
	m := []c2Media{
		{
			Type: "audio",
			PayloadTypes: []c2PayloadType{{
				ID: strconv.Itoa(ptOpus), Name: "opus", ClockRate: "48000", Channels: "2",
				Parameters: map[string]string{"useinbandfec": "1", "minptime": "10"},
				RTCPFbs:    afb,
			}},
			RTPHdrExts: []c2HdrExt{{ID: extAudioLvl, URI: "urn:ietf:params:rtp-hdrext:ssrc-audio-level"}},
		},
		{
			Type: "video",
			PayloadTypes: []c2PayloadType{
				{ID: strconv.Itoa(ptVP8), Name: "VP8", ClockRate: "90000", RTCPFbs: vfb},
				{ID: strconv.Itoa(ptRTX), Name: "rtx", ClockRate: "90000",
					Parameters: map[string]string{"apt": strconv.Itoa(ptVP8)}, RTCPFbs: vfb[:3]},
			},
		},
	}
	if tcc {
		for i := range m {
			m[i].RTPHdrExts = append(m[i].RTPHdrExts, c2HdrExt{ID: extTCC, URI: tccURI})
		}
	}
	return m
}
