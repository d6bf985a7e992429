package colibri

import (
	"errors"
	"fmt"

	"gojvb/sfu"
)

// The relay half of the sfu adapter (relay.go's interfaces for *sfu.Conference).

// CreateRelay creates the conference's relay to another bridge. use-unique-port is answered on
// the shared port: the relay's ICE agent sits behind the same UDP mux as the endpoints'.
func (s sfuConference) CreateRelay(cfg RelayConfig) (BridgeRelay, error) {
	pts, exts := sfuMedia(cfg.Media)
	r, err := s.c.CreateRelay(sfu.RelayConfig{
		ID:             cfg.ID,
		MeshID:         cfg.MeshID,
		ICEControlling: cfg.ICEControlling,
		SCTP:           cfg.SCTP,
		SCTPClient:     cfg.SCTPClient,
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
