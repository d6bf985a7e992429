package colibri

import (
	"errors"
	"fmt"
	"time"

	"gojvb/sfu"
	"gojvb/sfu/transport"
)

// NewSFUBridge adapts the media core to the Bridge interface the handler uses.
func NewSFUBridge(b *sfu.Bridge) Bridge { return sfuBridge{b: b} }

type sfuBridge struct{ b *sfu.Bridge }

func (s sfuBridge) CreateConference(meetingID, name string) (Conference, error) {
	c, err := s.b.CreateConference(meetingID, name)
	if errors.Is(err, sfu.ErrConferenceExists) {
		return nil, fmt.Errorf("%w: %w", ErrConferenceExists, err)
	}
	if err != nil {
		return nil, err
	}
	return sfuConference{c: c}, nil
}

func (s sfuBridge) Conference(meetingID string) Conference {
	c := s.b.Conference(meetingID)
	if c == nil {
		return nil
	}
	return sfuConference{c: c}
}

func (s sfuBridge) Conferences() []Conference {
	cs := s.b.Conferences()
	out := make([]Conference, len(cs))
	for i, c := range cs {
		out[i] = sfuConference{c: c}
	}
	return out
}

type sfuConference struct{ c *sfu.Conference }

func (s sfuConference) MeetingID() string                    { return s.c.MeetingID() }
func (s sfuConference) ID() string                           { return s.c.ID() }
func (s sfuConference) FeedbackSSRCs() (audio, video uint32) { return s.c.FeedbackSSRCs() }
func (s sfuConference) Expire()                              { s.c.Expire() }
func (s sfuConference) Expired() bool                        { return s.c.Expired() }
func (s sfuConference) CreatedAt() time.Time                 { return s.c.CreatedAt() }

func (s sfuConference) CreateEndpoint(cfg EndpointConfig) (BridgeEndpoint, error) {
	pts, exts := sfuMedia(cfg.Media)
	e, err := s.c.CreateEndpoint(sfu.EndpointConfig{
		ID:             cfg.ID,
		StatsID:        cfg.StatsID,
		Visitor:        cfg.Visitor,
		ICEControlling: cfg.ICEControlling,
		SCTP:           cfg.SCTP,
		SSRCRewriting:  cfg.SSRCRewriting,
		InitialLastN:   cfg.InitialLastN,
		PayloadTypes:   pts,
		HeaderExts:     exts,
	})
	if errors.Is(err, sfu.ErrEndpointExists) {
		return nil, fmt.Errorf("%w: %w", ErrEndpointExists, err)
	}
	if err != nil {
		return nil, err
	}
	return sfuEndpoint{e: e}, nil
}

func (s sfuConference) Endpoint(id string) BridgeEndpoint {
	e := s.c.Endpoint(id)
	if e == nil {
		return nil
	}
	return sfuEndpoint{e: e}
}

func (s sfuConference) Endpoints() []BridgeEndpoint {
	es := s.c.Endpoints()
	out := make([]BridgeEndpoint, len(es))
	for i, e := range es {
		out[i] = sfuEndpoint{e: e}
	}
	return out
}

type sfuEndpoint struct{ e *sfu.Endpoint }

func (s sfuEndpoint) ID() string    { return s.e.ID() }
func (s sfuEndpoint) Visitor() bool { return s.e.Config().Visitor }
func (s sfuEndpoint) LocalTransport() *ICEUDPTransport {
	return NewICEUDPTransport(s.e.LocalTransport())
}
func (s sfuEndpoint) SetForceMute(audio, video bool) { s.e.SetForceMute(audio, video) }
func (s sfuEndpoint) Expire()                        { s.e.Expire() }
func (s sfuEndpoint) CreatedAt() time.Time           { return s.e.CreatedAt() }
func (s sfuEndpoint) LastActivity() time.Time        { return s.e.LastActivity() }
func (s sfuEndpoint) WebSocketPassword() string      { return s.e.WebSocketPassword() }

func (s sfuEndpoint) SetRemoteTransport(t *ICEUDPTransport) error {
	return s.e.SetRemoteTransport(t.Description())
}

func (s sfuEndpoint) SetSources(ms []MediaSource) error { return s.e.SetSources(sfuSources(ms)) }

func (s sfuEndpoint) AddMedia(m []Media) {
	pts, exts := sfuMedia(m)
	s.e.AddPayloadTypes(pts, exts)
}

func (s sfuEndpoint) ConnState() ConnState {
	switch s.e.State() {
	case transport.StateConnected, transport.StateSecure:
		return ConnConnected
	case transport.StateFailed, transport.StateClosed:
		return ConnFailed
	default:
		return ConnConnecting
	}
}

func sfuMediaType(s string) (sfu.MediaType, bool) {
	switch s {
	case "audio":
		return sfu.MediaAudio, true
	case "video":
		return sfu.MediaVideo, true
	}
	return 0, false
}

// sfuMedia converts <media/>; media of unknown types and out-of-range ids are dropped (the
// bridge accepts and ignores what it does not know).
func sfuMedia(media []Media) ([]sfu.PayloadType, []sfu.HeaderExtension) {
	var pts []sfu.PayloadType
	var exts []sfu.HeaderExtension
	for _, m := range media {
		mt, ok := sfuMediaType(m.Type)
		if !ok {
			continue
		}
		for _, pt := range m.PayloadTypes {
			if pt.ID < 0 || pt.ID > 127 || pt.ClockRate < 0 {
				continue
			}
			p := sfu.PayloadType{Media: mt, ID: uint8(pt.ID), Name: pt.Name, ClockRate: uint32(pt.ClockRate), Channels: pt.Channels}
			if len(pt.Parameters) > 0 {
				p.Params = make(map[string]string, len(pt.Parameters))
				for _, prm := range pt.Parameters {
					p.Params[prm.Name] = prm.Value
				}
			}
			for _, fb := range pt.RTCPFeedback {
				p.Feedback = append(p.Feedback, sfu.RTCPFeedback{Type: fb.Type, Subtype: fb.Subtype})
			}
			pts = append(pts, p)
		}
		for _, x := range m.HeaderExtensions {
			if x.ID <= 0 || x.ID > 255 {
				continue
			}
			exts = append(exts, sfu.HeaderExtension{Media: mt, ID: x.ID, URI: x.URI})
		}
	}
	return pts, exts
}

func sfuSources(in []MediaSource) []sfu.MediaSource {
	out := make([]sfu.MediaSource, 0, len(in))
	for _, ms := range in {
		mt, ok := sfuMediaType(ms.Type)
		if !ok {
			continue
		}
		m := sfu.MediaSource{Type: mt, Name: ms.ID}
		for _, s := range ms.Sources {
			m.Sources = append(m.Sources, sfu.Source{SSRC: s.SSRC, Name: s.Name, VideoType: s.VideoType, RID: s.RID})
		}
		for _, g := range ms.SSRCGroups {
			sg := sfu.SSRCGroup{Semantics: g.Semantics}
			for _, s := range g.Sources {
				sg.SSRCs = append(sg.SSRCs, s.SSRC)
			}
			m.Groups = append(m.Groups, sg)
		}
		out = append(out, m)
	}
	return out
}

// Description converts the wire ICE-UDP transport to the media core's description.
func (t *ICEUDPTransport) Description() transport.Description {
	d := transport.Description{Ufrag: t.Ufrag, Pwd: t.Pwd, RTCPMux: bool(t.RTCPMux)}
	for _, f := range t.Fingerprints {
		d.Fingerprints = append(d.Fingerprints, transport.Fingerprint{Hash: f.Hash, Value: f.Value, Setup: f.Setup})
	}
	for _, c := range t.Candidates {
		d.Candidates = append(d.Candidates, transport.Candidate{
			Foundation: c.Foundation, Component: c.Component, Protocol: c.Protocol, Priority: c.Priority,
			IP: c.IP, Port: c.Port, Type: c.Type, RelAddr: c.RelAddr, RelPort: c.RelPort,
			Generation: c.Generation, Network: c.Network, ID: c.ID, TCPType: c.TCPType,
		})
	}
	return d
}

// NewICEUDPTransport converts the media core's description to the wire form the bridge returns.
func NewICEUDPTransport(d transport.Description) *ICEUDPTransport {
	t := &ICEUDPTransport{Ufrag: d.Ufrag, Pwd: d.Pwd, RTCPMux: Flag(d.RTCPMux)}
	for _, f := range d.Fingerprints {
		t.Fingerprints = append(t.Fingerprints, Fingerprint{Hash: f.Hash, Setup: f.Setup, Value: f.Value})
	}
	for _, c := range d.Candidates {
		t.Candidates = append(t.Candidates, Candidate{
			Component: c.Component, Foundation: c.Foundation, Generation: c.Generation, ID: c.ID,
			Network: c.Network, Priority: c.Priority, Protocol: c.Protocol, Type: c.Type, IP: c.IP,
			Port: c.Port, RelAddr: c.RelAddr, RelPort: c.RelPort, TCPType: c.TCPType,
		})
	}
	return t
}

// Relays: relay.go's interfaces for *sfu.Conference.

// CreateRelay creates the conference's relay to another bridge; use-unique-port gives it a UDP
// port of its own.
func (s sfuConference) CreateRelay(cfg RelayConfig) (BridgeRelay, error) {
	pts, exts := sfuMedia(cfg.Media)
	r, err := s.c.CreateRelay(sfu.RelayConfig{
		ID:             cfg.ID,
		MeshID:         cfg.MeshID,
		ICEControlling: cfg.ICEControlling,
		SCTP:           cfg.SCTP,
		SCTPClient:     cfg.SCTPClient,
		UniquePort:     cfg.UseUniquePort,
		PayloadTypes:   pts,
		HeaderExts:     exts,
	})
	if errors.Is(err, sfu.ErrRelayExists) {
		return nil, fmt.Errorf("%w: %w", ErrRelayExists, err)
	}
	if err != nil {
		return nil, err
	}
	return sfuRelay{r: r}, nil
}

func (s sfuConference) Relay(id string) BridgeRelay {
	r := s.c.Relay(id)
	if r == nil {
		return nil
	}
	return sfuRelay{r: r}
}

func (s sfuConference) RelayCount() int { return len(s.c.Relays()) }

type sfuRelay struct{ r *sfu.Relay }

func (s sfuRelay) ID() string { return s.r.ID() }
func (s sfuRelay) LocalTransport() *ICEUDPTransport {
	return NewICEUDPTransport(s.r.LocalTransport())
}
func (s sfuRelay) SetRemoteTransport(t *ICEUDPTransport) error {
	return s.r.SetRemoteTransport(t.Description())
}
func (s sfuRelay) AddMedia(m []Media) {
	pts, exts := sfuMedia(m)
	s.r.AddPayloadTypes(pts, exts)
}
func (s sfuRelay) Expire() { s.r.Expire() }

func (s sfuRelay) AddEndpoint(id, statsID string) (RemoteEndpoint, error) {
	e, err := s.r.AddEndpoint(id, statsID)
	if errors.Is(err, sfu.ErrEndpointExists) {
		return nil, fmt.Errorf("%w: %w", ErrEndpointExists, err)
	}
	if err != nil {
		return nil, err
	}
	return sfuRemote{e: e}, nil
}

func (s sfuRelay) Endpoint(id string) RemoteEndpoint {
	e := s.r.Endpoint(id)
	if e == nil {
		return nil
	}
	return sfuRemote{e: e}
}

type sfuRemote struct{ e *sfu.Endpoint }

func (s sfuRemote) SetSources(ms []MediaSource) error { return s.e.SetSources(sfuSources(ms)) }
func (s sfuRemote) Expire()                           { s.e.Expire() }
