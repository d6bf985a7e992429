package colibri

import (
	"errors"
	"log/slog"
	"slices"
)

// applyEndpoint applies one <endpoint/> of a request (spec 2.5) and returns what the response
// carries for it, or nil when an unknown endpoint is ignored.
func (h *Handler) applyEndpoint(log *slog.Logger, conf Conference, req *Endpoint, ignoreUnknown bool) (*Endpoint, *Error) {
	log = log.With("endpoint", req.ID)
	resp := &Endpoint{ID: req.ID}
	var ep BridgeEndpoint
	sctp := false
	if req.Create {
		if conf.Endpoint(req.ID) != nil {
			return nil, newError(CondConflict, ReasonNone, "Endpoint with ID %s already exists", req.ID)
		}
		if req.Transport == nil {
			return nil, newError(CondBadRequest, ReasonNone, "Attempt to create endpoint %s with no <transport>", req.ID)
		}
		if !req.HasCapability(CapSourceNames) {
			return nil, newError(CondBadRequest, ReasonNone, "Source name support is mandatory.")
		}
		if s := req.Transport.SCTP; s != nil {
			if !h.sctp {
				return nil, newError(CondFeatureNotImplemented, ReasonNone, "SCTP support is not configured")
			}
			if s.Role != "" && s.Role != "server" {
				return nil, newError(CondFeatureNotImplemented, ReasonNone, "Unsupported SCTP role: %s", s.Role)
			}
			if s.Port != 0 && s.Port != SCTPPort {
				return nil, newError(CondBadRequest, ReasonNone, "Specific SCTP port requested, not supported.")
			}
			sctp = true
		}
		visitor := req.MUCRole == "visitor"
		if visitor && hasSources(req.Sources) {
			return nil, newError(CondBadRequest, ReasonNone, "Sources are not supported for visitor endpoint %s", req.ID)
		}
		cfg := EndpointConfig{
			ID:      req.ID,
			StatsID: req.StatsID,
			Visitor: visitor,
			// Absent means false (Transport.ICE_CONTROLLING_DEFAULT); jicofo always sends true.
			ICEControlling: req.Transport.ICEControlling != nil && bool(*req.Transport.ICEControlling),
			SCTP:           sctp,
			SSRCRewriting:  req.HasCapability(CapSSRCRewriting),
			InitialLastN:   -1,
			Media:          req.Media,
		}
		if req.InitialLastN != nil {
			cfg.InitialLastN = req.InitialLastN.Value
		}
		release, cerr := h.reserveEndpoint(conf)
		if cerr != nil {
			return nil, cerr
		}
		var err error
		ep, err = conf.CreateEndpoint(cfg)
		release()
		if errors.Is(err, ErrEndpointExists) {
			return nil, newError(CondConflict, ReasonNone, "Endpoint with ID %s already exists", req.ID)
		}
		if err != nil {
			return nil, &Error{Condition: CondInternalServerError, Text: "cannot create endpoint " + req.ID, Err: err}
		}
		log.Info("endpoint created", "stats_id", req.StatsID, "visitor", visitor, "sctp", sctp)
	} else {
		ep = conf.Endpoint(req.ID)
		if ep == nil {
			if ignoreUnknown {
				log.Debug("ignoring unknown endpoint")
				return nil, nil
			}
			e := newError(CondItemNotFound, ReasonUnknownEndpoint, "Unknown endpoint %s", req.ID)
			e.EndpointID = req.ID
			return nil, e
		}
		if len(req.Media) > 0 {
			ep.AddMedia(req.Media)
		}
	}

	if req.Expire {
		ep.Expire()
		log.Info("endpoint expired by request")
		resp.Expire = true
		return resp, nil
	}
	if req.ForceMute != nil {
		ep.SetForceMute(bool(req.ForceMute.Audio), bool(req.ForceMute.Video))
	}
	if t := req.Transport; t != nil {
		switch {
		case bool(t.ICERestart):
			// In-place ICE restart is not supported: answering without a transport makes jicofo
			// fall back to a re-invite (spec 2.6).
			log.Info("ICE restart requested: not supported, answering without transport")
		case t.ICEUDP != nil:
			if err := ep.SetRemoteTransport(t.ICEUDP); err != nil {
				// An error here would make jicofo re-invite the whole conference: log instead.
				log.Warn("cannot apply remote transport", "err", err)
			}
		}
	}
	if req.Sources != nil {
		if ep.Visitor() && hasSources(req.Sources) {
			return nil, newError(CondBadRequest, ReasonNone, "Sources are not supported for visitor endpoint %s", req.ID)
		}
		if err := ep.SetSources(req.Sources.MediaSources); err != nil {
			log.Warn("cannot apply sources", "err", err)
		}
	}
	if req.Create {
		local := ep.LocalTransport()
		if urls := h.ws.urls(conf.ID(), ep.ID(), ep.WebSocketPassword()); len(urls) > 0 {
			withWS := *local
			withWS.WebSockets = append(slices.Clip(local.WebSockets), urls...)
			local = &withWS
		}
		resp.Transport = &Transport{ICEUDP: local}
		if sctp {
			resp.Transport.SCTP = &SCTP{Role: "server", Port: SCTPPort}
		}
	}
	return resp, nil
}

func hasSources(s *Sources) bool {
	return s != nil && len(s.MediaSources) > 0
}
