package colibri

import (
	"encoding/xml"
	"strings"
)

// XML namespaces of COLIBRI2 and the Jingle extensions it embeds.
const (
	NS          = "jitsi:colibri2"
	NSICEUDP    = "urn:xmpp:jingle:transports:ice-udp:1"
	NSDTLS      = "urn:xmpp:jingle:apps:dtls:0"
	NSRTP       = "urn:xmpp:jingle:apps:rtp:1"
	NSRTCPFB    = "urn:xmpp:jingle:apps:rtp:rtcp-fb:0"
	NSHdrExt    = "urn:xmpp:jingle:apps:rtp:rtp-hdrext:0"
	NSSSMA      = "urn:xmpp:jingle:apps:rtp:ssma:0"
	NSColibri1  = "http://jitsi.org/protocol/colibri"
	NSStanzaErr = "urn:ietf:params:xml:ns:xmpp-stanzas"
)

// Capability names jicofo sends (xmpp-ext colibri2/Capability.java).
const (
	CapSourceNames                = "source-names"
	CapSSRCRewriting              = "ssrc-rewriting"
	CapPrivateAddressConnectivity = "private-address-connectivity"
	CapRTPMidDemux                = "rtp-mid-demux"
)

// SCTPPort is the only SCTP port the bridge offers (DcSctpTransport.DEFAULT_SCTP_PORT).
const SCTPPort = 5000

// Bool is an XML attribute boolean parsed like Java's Boolean.parseBoolean: only "true"
// (any case) is true, anything else is false and never an error.
type Bool bool

// UnmarshalXMLAttr implements xml.UnmarshalerAttr.
func (b *Bool) UnmarshalXMLAttr(a xml.Attr) error {
	*b = Bool(strings.EqualFold(strings.TrimSpace(a.Value), "true"))
	return nil
}

// MarshalXMLAttr implements xml.MarshalerAttr.
func (b Bool) MarshalXMLAttr(name xml.Name) (xml.Attr, error) {
	if b {
		return xml.Attr{Name: name, Value: "true"}, nil
	}
	return xml.Attr{Name: name, Value: "false"}, nil
}

// Flag is an empty marker element (<rtcp-mux/>, <extmap-allow-mixed/>): true when present.
type Flag bool

// MarshalXML writes the empty element when the flag is set and nothing otherwise.
func (f Flag) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if !f {
		return nil
	}
	start.Attr = nil
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	return e.EncodeToken(start.End())
}

// UnmarshalXML marks the flag present and skips whatever the element contains.
func (f *Flag) UnmarshalXML(d *xml.Decoder, _ xml.StartElement) error {
	*f = true
	return d.Skip()
}

// ConferenceModify is the <conference-modify xmlns='jitsi:colibri2'/> request.
type ConferenceModify struct {
	XMLName         xml.Name   `xml:"jitsi:colibri2 conference-modify" json:"-"`
	MeetingID       string     `xml:"meeting-id,attr,omitempty" json:"meeting-id,omitempty"`
	Name            string     `xml:"name,attr,omitempty" json:"name,omitempty"`
	Create          Bool       `xml:"create,attr,omitempty" json:"create,omitempty"`
	Expire          Bool       `xml:"expire,attr,omitempty" json:"expire,omitempty"`
	RTCStatsEnabled Bool       `xml:"rtcstats-enabled,attr,omitempty" json:"rtcstats-enabled,omitempty"`
	Endpoints       []Endpoint `xml:"endpoint" json:"endpoints,omitempty"`
	Relays          []Relay    `xml:"relay" json:"relays,omitempty"`
	Connects        *Connects  `xml:"connects" json:"connects,omitempty"`
}

// ConferenceModified is the <conference-modified xmlns='jitsi:colibri2'/> response.
type ConferenceModified struct {
	XMLName   xml.Name   `xml:"jitsi:colibri2 conference-modified" json:"-"`
	Endpoints []Endpoint `xml:"endpoint" json:"endpoints,omitempty"`
	Relays    []Relay    `xml:"relay" json:"relays,omitempty"`
	Sources   *Sources   `xml:"sources" json:"sources,omitempty"`
}

// Endpoint is a colibri2 <endpoint/>, in requests, responses and inside <relay><endpoints/>.
// Children are marshalled in the order the xmpp-ext builders use.
type Endpoint struct {
	ID           string        `xml:"id,attr" json:"id"`
	Create       Bool          `xml:"create,attr,omitempty" json:"create,omitempty"`
	Expire       Bool          `xml:"expire,attr,omitempty" json:"expire,omitempty"`
	StatsID      string        `xml:"stats-id,attr,omitempty" json:"stats-id,omitempty"`
	MUCRole      string        `xml:"muc-role,attr,omitempty" json:"muc-role,omitempty"`
	Media        []Media       `xml:"media" json:"medias,omitempty"`
	Transport    *Transport    `xml:"transport" json:"transport,omitempty"`
	Sources      *Sources      `xml:"sources" json:"sources,omitempty"`
	ForceMute    *ForceMute    `xml:"force-mute" json:"force-mute,omitempty"`
	Capabilities []Capability  `xml:"capability" json:"capabilities,omitempty"`
	InitialLastN *InitialLastN `xml:"initial-last-n" json:"initial-last-n,omitempty"`
}

// HasCapability reports whether the endpoint lists the named capability.
func (e *Endpoint) HasCapability(name string) bool {
	for _, c := range e.Capabilities {
		if c.Name == name {
			return true
		}
	}
	return false
}

// Media is <media type='audio|video'/> with the payload types and header extensions.
type Media struct {
	Type             string        `xml:"type,attr" json:"type"`
	PayloadTypes     []PayloadType `xml:"urn:xmpp:jingle:apps:rtp:1 payload-type" json:"payload-types,omitempty"`
	HeaderExtensions []RTPHdrExt   `xml:"urn:xmpp:jingle:apps:rtp:rtp-hdrext:0 rtp-hdrext" json:"rtp-hdrexts,omitempty"`
	ExtmapAllowMixed Flag          `xml:"urn:xmpp:jingle:apps:rtp:rtp-hdrext:0 extmap-allow-mixed" json:"extmap-allow-mixed,omitempty"`
}

// PayloadType is a Jingle RTP <payload-type/>.
type PayloadType struct {
	ID           int        `xml:"id,attr" json:"id,string"`
	Name         string     `xml:"name,attr,omitempty" json:"name,omitempty"`
	ClockRate    int        `xml:"clockrate,attr,omitempty" json:"clockrate,omitempty,string"`
	Channels     int        `xml:"channels,attr,omitempty" json:"channels,omitempty,string"`
	Parameters   Parameters `xml:"parameter" json:"parameters,omitempty"`
	RTCPFeedback []RTCPFb   `xml:"urn:xmpp:jingle:apps:rtp:rtcp-fb:0 rtcp-fb" json:"rtcp-fbs,omitempty"`
}

// Parameter is a <parameter name value/> (RED uses one without a name).
type Parameter struct {
	Name  string `xml:"name,attr,omitempty"`
	Value string `xml:"value,attr"`
}

// Parameters is a list of parameters; in JSON it is an object (a nameless one is keyed "null").
type Parameters []Parameter

// RTCPFb is <rtcp-fb type subtype/>.
type RTCPFb struct {
	Type    string `xml:"type,attr" json:"type"`
	Subtype string `xml:"subtype,attr,omitempty" json:"subtype,omitempty"`
}

// RTPHdrExt is <rtp-hdrext id uri/>.
type RTPHdrExt struct {
	ID  int    `xml:"id,attr" json:"id"`
	URI string `xml:"uri,attr" json:"uri"`
}

// Transport is the colibri2 <transport/> wrapping an ICE-UDP transport and SCTP.
type Transport struct {
	ICEControlling *Bool            `xml:"ice-controlling,attr,omitempty" json:"ice-controlling,omitempty"` // nil: false
	UseUniquePort  Bool             `xml:"use-unique-port,attr,omitempty" json:"use-unique-port,omitempty"`
	ICERestart     Bool             `xml:"ice-restart,attr,omitempty" json:"ice-restart,omitempty"`
	ICEUDP         *ICEUDPTransport `xml:"urn:xmpp:jingle:transports:ice-udp:1 transport" json:"transport,omitempty"`
	SCTP           *SCTP            `xml:"sctp" json:"sctp,omitempty"`
}

// ICEUDPTransport is <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'/>.
type ICEUDPTransport struct {
	Ufrag         string        `xml:"ufrag,attr,omitempty" json:"ufrag,omitempty"`
	Pwd           string        `xml:"pwd,attr,omitempty" json:"pwd,omitempty"`
	ICEGeneration string        `xml:"ice-generation,attr,omitempty" json:"ice-generation,omitempty"`
	RTCPMux       Flag          `xml:"rtcp-mux" json:"rtcp-mux,omitempty"`
	Fingerprints  []Fingerprint `xml:"urn:xmpp:jingle:apps:dtls:0 fingerprint" json:"fingerprints,omitempty"`
	Candidates    []Candidate   `xml:"candidate" json:"candidates,omitempty"`
	WebSockets    []WebSocket   `xml:"http://jitsi.org/protocol/colibri web-socket" json:"web-sockets,omitempty"`
}

// Fingerprint is a DTLS <fingerprint hash setup [cryptex]>value</fingerprint>.
type Fingerprint struct {
	Hash    string `xml:"hash,attr" json:"hash"`
	Setup   string `xml:"setup,attr,omitempty" json:"setup,omitempty"`
	Cryptex Bool   `xml:"cryptex,attr,omitempty" json:"cryptex,omitempty"`
	Value   string `xml:",chardata" json:"fingerprint"`
}

// Candidate is an ICE-UDP <candidate/>.
type Candidate struct {
	Component  int    `xml:"component,attr" json:"component,string"`
	Foundation string `xml:"foundation,attr" json:"foundation"`
	Generation int    `xml:"generation,attr" json:"generation,string"`
	ID         string `xml:"id,attr,omitempty" json:"id,omitempty"`
	Network    int    `xml:"network,attr" json:"network,string"`
	Priority   uint32 `xml:"priority,attr" json:"priority,string"`
	Protocol   string `xml:"protocol,attr" json:"protocol"`
	Type       string `xml:"type,attr" json:"type"`
	IP         string `xml:"ip,attr" json:"ip"`
	Port       int    `xml:"port,attr" json:"port,string"`
	RelAddr    string `xml:"rel-addr,attr,omitempty" json:"rel-addr,omitempty"`
	RelPort    int    `xml:"rel-port,attr,omitempty" json:"rel-port,omitempty,string"`
	TCPType    string `xml:"tcptype,attr,omitempty" json:"tcptype,omitempty"`
}

// WebSocket is <web-socket xmlns='http://jitsi.org/protocol/colibri' url [active]/>.
type WebSocket struct {
	URL    string `xml:"url,attr"`
	Active Bool   `xml:"active,attr,omitempty"`
}

// SCTP is <sctp role port/>.
type SCTP struct {
	Role string `xml:"role,attr,omitempty" json:"role,omitempty"`
	Port int    `xml:"port,attr,omitempty" json:"port,omitempty"`
}

// Sources is <sources/>: a full replacement of an endpoint's sources, or the bridge's feedback
// sources in a response. In JSON it is the array of media sources.
type Sources struct {
	MediaSources []MediaSource `xml:"media-source"`
}

// MediaSource is <media-source type id [synthetic]/>, one named source (e.g. "EP-v0").
type MediaSource struct {
	Type       string      `xml:"type,attr" json:"type"`
	ID         string      `xml:"id,attr" json:"id"`
	Synthetic  Bool        `xml:"synthetic,attr,omitempty" json:"synthetic,omitempty"`
	Sources    []Source    `xml:"urn:xmpp:jingle:apps:rtp:ssma:0 source" json:"sources,omitempty"`
	SSRCGroups []SSRCGroup `xml:"urn:xmpp:jingle:apps:rtp:ssma:0 ssrc-group" json:"ssrc-groups,omitempty"`
}

// Source is an SSMA <source ssrc [name] [videoType] [rid]/>. In JSON a source with only an SSRC
// is a bare number.
type Source struct {
	SSRC       uint32     `xml:"ssrc,attr"`
	Name       string     `xml:"name,attr,omitempty"`
	VideoType  string     `xml:"videoType,attr,omitempty"`
	RID        string     `xml:"rid,attr,omitempty"`
	Parameters Parameters `xml:"parameter"`
}

// SSRCGroup is <ssrc-group semantics><source ssrc/>...</ssrc-group>.
type SSRCGroup struct {
	Semantics string       `xml:"semantics,attr" json:"semantics"`
	Sources   []SSRCSource `xml:"source" json:"sources"`
}

// SSRCSource is a group member; in JSON a bare number.
type SSRCSource struct {
	SSRC uint32 `xml:"ssrc,attr"`
}

// ForceMute is <force-mute audio video/>.
type ForceMute struct {
	Audio Bool `xml:"audio,attr" json:"audio"`
	Video Bool `xml:"video,attr" json:"video"`
}

// Capability is <capability name/>; in JSON a string.
type Capability struct {
	Name string `xml:"name,attr"`
}

// InitialLastN is <initial-last-n value/>.
type InitialLastN struct {
	Value int `xml:"value,attr" json:"value"`
}

// Relay is a colibri2 <relay/> (Octo between bridges).
type Relay struct {
	ID        string          `xml:"id,attr" json:"id"`
	Create    Bool            `xml:"create,attr,omitempty" json:"create,omitempty"`
	Expire    Bool            `xml:"expire,attr,omitempty" json:"expire,omitempty"`
	MeshID    string          `xml:"mesh-id,attr,omitempty" json:"mesh-id,omitempty"`
	Media     []Media         `xml:"media" json:"medias,omitempty"`
	Transport *Transport      `xml:"transport" json:"transport,omitempty"`
	Endpoints *RelayEndpoints `xml:"endpoints" json:"endpoints,omitempty"`
}

// RelayEndpoints is <endpoints/> inside a relay.
type RelayEndpoints struct {
	Endpoints []Endpoint `xml:"endpoint"`
}

// Connects is <connects/>: media export websockets (transcriber, recorder, translator).
type Connects struct {
	Connects []Connect `xml:"connect"`
}

// Connect is <connect url protocol type audio video [id create expire]/>.
type Connect struct {
	URL         string       `xml:"url,attr" json:"url"`
	Protocol    string       `xml:"protocol,attr,omitempty" json:"protocol,omitempty"`
	Type        string       `xml:"type,attr,omitempty" json:"type,omitempty"`
	Audio       Bool         `xml:"audio,attr,omitempty" json:"audio,omitempty"`
	Video       Bool         `xml:"video,attr,omitempty" json:"video,omitempty"`
	ID          string       `xml:"id,attr,omitempty" json:"id,omitempty"`
	Create      Bool         `xml:"create,attr,omitempty" json:"create,omitempty"`
	Expire      Bool         `xml:"expire,attr,omitempty" json:"expire,omitempty"`
	HTTPHeaders []HTTPHeader `xml:"http-header" json:"http-headers,omitempty"`
	Ping        *Ping        `xml:"ping" json:"ping,omitempty"`
	Exports     *Exports     `xml:"exports" json:"exports,omitempty"`
	Requests    *Requests    `xml:"requests" json:"requests,omitempty"`
}

// HTTPHeader is <http-header name value/>.
type HTTPHeader struct {
	Name  string `xml:"name,attr" json:"name"`
	Value string `xml:"value,attr" json:"value"`
}

// Ping is <ping interval timeout/>.
type Ping struct {
	Interval int `xml:"interval,attr,omitempty" json:"interval,omitempty"`
	Timeout  int `xml:"timeout,attr,omitempty" json:"timeout,omitempty"`
}

// Exports is <exports><export name/>…</exports>.
type Exports struct {
	Exports []Named `xml:"export"`
}

// Requests is <requests><request name/>…</requests>.
type Requests struct {
	Requests []Named `xml:"request"`
}

// Named is an element with only a name attribute.
type Named struct {
	Name string `xml:"name,attr" json:"name"`
}

// ParseConferenceModify parses a raw <conference-modify xmlns='jitsi:colibri2'/> element.
// Element order and unknown children/attributes are ignored.
func ParseConferenceModify(b []byte) (*ConferenceModify, error) {
	var m ConferenceModify
	if err := xml.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// ParseConferenceModified parses a raw <conference-modified xmlns='jitsi:colibri2'/> element.
func ParseConferenceModified(b []byte) (*ConferenceModified, error) {
	var m ConferenceModified
	if err := xml.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Marshal returns the raw <conference-modify/> element.
func (m *ConferenceModify) Marshal() ([]byte, error) { return xml.Marshal(m) }

// Marshal returns the raw <conference-modified/> element.
func (m *ConferenceModified) Marshal() ([]byte, error) { return xml.Marshal(m) }
