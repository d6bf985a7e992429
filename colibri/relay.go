package colibri

import (
	"errors"
	"log/slog"
)

// Relays (Octo over COLIBRI2): jicofo links the halves of a conference on two bridges by sending
// each a <relay id=<the other bridge's relay_id>> (spec 3 item 11). The initiator's request has
// use-unique-port, ice-controlling and <sctp role='client'/>, the other's neither and
// <sctp role='server'/>; each bridge answers with its ICE transport (setup actpass) and <sctp>
// with the opposite role on port 5000; jicofo then forwards each side's transport to the other
// with setup rewritten, and mirrors the endpoints behind each bridge (create, sources, expire).

// RelayConference is what a Conference also implements when the bridge supports relays.
type RelayConference interface {
	// CreateRelay returns ErrRelayExists if the conference has a relay with that id.
	CreateRelay(cfg RelayConfig) (BridgeRelay, error)
	// Relay returns nil if there is no relay with that id.
	Relay(id string) BridgeRelay
	RelayCount() int
}

// RelayConfig is what a relay create carries.
type RelayConfig struct {
	ID, MeshID     string
	ICEControlling bool
	UseUniquePort  bool
	SCTP           bool
	SCTPClient     bool // jicofo asked this bridge to be the SCTP client
	Media          []Media
}

// BridgeRelay is one relay of a conference (the wire element is Relay).
type BridgeRelay interface {
	ID() string
	LocalTransport() *ICEUDPTransport
	SetRemoteTransport(t *ICEUDPTransport) error
	AddMedia(m []Media)
	// AddEndpoint returns ErrEndpointExists if the conference has an endpoint with that id.
	AddEndpoint(id, statsID string) (RemoteEndpoint, error)
	// Endpoint returns nil if no endpoint with that id is behind the relay.
	Endpoint(id string) RemoteEndpoint
	Expire()
}

// RemoteEndpoint is an endpoint behind a relay.
type RemoteEndpoint interface {
	SetSources(s []MediaSource) error
	Expire()
}

// ErrRelayExists is what CreateRelay returns for a relay id the conference already has.
var ErrRelayExists = errors.New("relay already exists")

func relayCount(c Conference) int {
	if rc, ok := c.(RelayConference); ok {
		return rc.RelayCount()
	}
	return 0
}

// validateRelays checks a request's relays without bridge state (spec 2.3).
func (h *Handler) validateRelays(req *ConferenceModify) *Error {
	if len(req.Relays) == 0 {
		return nil
	}
	if !h.relays {
		return newError(CondFeatureNotImplemented, ReasonNone, "Octo is disabled in configuration.")
	}
	for i := range req.Relays {
		r := &req.Relays[i]
		if r.ID == "" {
			return newError(CondBadRequest, ReasonNone, "relay without id")
		}
		if len(r.ID) > h.limits.MaxIDLength || len(r.MeshID) > h.limits.MaxIDLength {
			return newError(CondBadRequest, ReasonNone, "relay id or mesh-id longer than %d bytes", h.limits.MaxIDLength)
		}
		if r.Endpoints != nil {
			if len(r.Endpoints.Endpoints) > h.limits.MaxEndpoints {
				return newError(CondBadRequest, ReasonNone, "more than %d endpoints in one relay", h.limits.MaxEndpoints)
			}
			for j := range r.Endpoints.Endpoints {
				ep := &r.Endpoints.Endpoints[j]
				if ep.ID == "" || len(ep.ID) > h.limits.MaxIDLength || len(ep.StatsID) > h.limits.MaxIDLength {
					return newError(CondBadRequest, ReasonNone, "relay endpoint without id or with an id longer than %d bytes",
						h.limits.MaxIDLength)
				}
			}
		}
	}
	return nil
}

// applyRelay applies one <relay/> of a request (JVB's handleColibri2Relay) and returns what the
// response carries for it.
func (h *Handler) applyRelay(log *slog.Logger, conf Conference, req *Relay) (*Relay, *Error) {
	log = log.With("relay", req.ID)
	resp := &Relay{ID: req.ID}
	rc, ok := conf.(RelayConference)
	if !ok {
		return nil, newError(CondFeatureNotImplemented, ReasonNone, "Octo is disabled in configuration.")
	}
	if req.Expire {
		if r := rc.Relay(req.ID); r != nil {
			r.Expire()
			log.Info("relay expired by request")
		}
		resp.Expire = true
		return resp, nil
	}
	var r BridgeRelay
	var sctp *SCTP
	if t := req.Transport; t != nil {
		sctp = t.SCTP
	}
	if sctp != nil {
		if !h.sctp {
			return nil, newError(CondFeatureNotImplemented, ReasonNone, "SCTP support is not configured")
		}
		if sctp.Port != 0 && sctp.Port != SCTPPort {
			return nil, newError(CondBadRequest, ReasonNone, "Specific SCTP port requested, not supported.")
		}
	}
	if req.Create {
		if rc.Relay(req.ID) != nil {
			return nil, newError(CondConflict, ReasonNone, "Relay with ID %s already exists", req.ID)
		}
		if req.Transport == nil {
			return nil, newError(CondBadRequest, ReasonNone, "Attempt to create relay %s with no <transport>", req.ID)
		}
		cfg := RelayConfig{
			ID:             req.ID,
			MeshID:         req.MeshID,
			ICEControlling: req.Transport.ICEControlling != nil && bool(*req.Transport.ICEControlling),
			UseUniquePort:  bool(req.Transport.UseUniquePort),
			SCTP:           sctp != nil,
			SCTPClient:     sctp != nil && sctp.Role == "client",
			Media:          req.Media,
		}
		var err error
		r, err = rc.CreateRelay(cfg)
		if errors.Is(err, ErrRelayExists) {
			return nil, newError(CondConflict, ReasonNone, "Relay with ID %s already exists", req.ID)
		}
		if err != nil {
			return nil, &Error{Condition: CondInternalServerError, Text: "cannot create relay " + req.ID, Err: err}
		}
		log.Info("relay created", "mesh_id", req.MeshID, "ice_controlling", cfg.ICEControlling,
			"use_unique_port", cfg.UseUniquePort, "sctp", cfg.SCTP, "sctp_client", cfg.SCTPClient)
	} else {
		if r = rc.Relay(req.ID); r == nil {
			return nil, newError(CondBadRequest, ReasonNone, "Unknown relay %s", req.ID)
		}
		if len(req.Media) > 0 {
			r.AddMedia(req.Media)
		}
		if sctp != nil {
			log.Debug("ignoring <sctp> in a relay update: the SCTP role is fixed at create")
		}
	}
	if t := req.Transport; t != nil && t.ICEUDP != nil {
		if err := r.SetRemoteTransport(t.ICEUDP); err != nil {
			// An error here would make jicofo drop the whole session: log instead.
			log.Warn("cannot apply remote relay transport", "err", err)
		}
	}
	if req.Create {
		resp.Transport = &Transport{ICEUDP: r.LocalTransport()}
		if sctp != nil {
			role := "client"
			if sctp.Role == "client" {
				role = "server"
			}
			resp.Transport.SCTP = &SCTP{Role: role, Port: SCTPPort}
		}
	}
	if req.Endpoints != nil {
		for i := range req.Endpoints.Endpoints {
			applyRemoteEndpoint(log, r, &req.Endpoints.Endpoints[i])
		}
	}
	return resp, nil
}

// applyRemoteEndpoint mirrors one endpoint behind the other bridge. Like JVB it never fails the
// request: a duplicate create updates, an unknown update or expire is logged.
func applyRemoteEndpoint(log *slog.Logger, r BridgeRelay, req *Endpoint) {
	log = log.With("endpoint", req.ID)
	if req.Expire {
		if e := r.Endpoint(req.ID); e != nil {
			e.Expire()
			log.Debug("remote endpoint expired")
		}
		return
	}
	e := r.Endpoint(req.ID)
	if e == nil && req.Create {
		var err error
		if e, err = r.AddEndpoint(req.ID, req.StatsID); err != nil {
			log.Warn("cannot add remote endpoint", "err", err)
			return
		}
		log.Debug("remote endpoint added")
	}
	if e == nil {
		log.Warn("update for an unknown remote endpoint ignored")
		return
	}
	if req.Sources != nil {
		if err := e.SetSources(req.Sources.MediaSources); err != nil {
			log.Warn("cannot apply remote endpoint's sources", "err", err)
		}
	}
}
