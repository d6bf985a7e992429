package standalone

import (
	"context"
	"errors"
	"fmt"

	"gojvb/colibri"
)

// Modifier is the COLIBRI2 entry point the focus allocates through: *colibri.Handler, the same
// one the XMPP path feeds, so the page gets exactly what jicofo would build.
type Modifier interface {
	Modify(ctx context.Context, req *colibri.ConferenceModify) (*colibri.ConferenceModified, error)
}

// New returns the standalone focus and page for cfg.Modifier. Mount it at "/" of the private
// HTTP server when XMPP is not configured, and Close it on shutdown.
func New(cfg Config) (*Server, error) {
	if cfg.Modifier == nil {
		return nil, fmt.Errorf("standalone: Config.Modifier is nil, expected the COLIBRI2 handler")
	}
	return newServer(colibriModifier{cfg.Modifier}, cfg)
}

// colibriModifier turns the focus's requests into conference-modify elements shaped like
// jicofo's (control-plane §3): one endpoint per request, create with media, an ice-controlling
// transport with <sctp/>, empty sources and capability source-names (plus ssrc-rewriting when
// the page handles source maps); updates with the browser's
// ICE-UDP transport and the full set of its sources.
type colibriModifier struct{ m Modifier }

func (c colibriModifier) modify(ctx context.Context, req modifyRequest) (modifyResult, error) {
	cm := &colibri.ConferenceModify{MeetingID: req.MeetingID, Name: req.Name,
		Create: colibri.Bool(req.CreateConference), Expire: colibri.Bool(req.ExpireConference)}
	if e := req.Endpoint; e != nil {
		ep := colibri.Endpoint{ID: e.ID, StatsID: e.ID, Expire: colibri.Bool(e.Expire)}
		if e.Create {
			ep.Create = true
			ep.Media = colibriMedia()
			controlling := colibri.Bool(true) // as jicofo always asks
			ep.Transport = &colibri.Transport{ICEControlling: &controlling, SCTP: &colibri.SCTP{}}
			ep.Sources = &colibri.Sources{}
			ep.Capabilities = []colibri.Capability{{Name: colibri.CapSourceNames}}
			if e.SSRCRewriting {
				ep.Capabilities = append(ep.Capabilities, colibri.Capability{Name: colibri.CapSSRCRewriting})
			}
		}
		if e.Transport != nil {
			ep.Transport = &colibri.Transport{ICEUDP: colibri.NewICEUDPTransport(*e.Transport)}
		}
		if e.SetSource {
			ep.Sources = &colibri.Sources{MediaSources: colibriSources(e.Sources)}
		}
		cm.Endpoints = []colibri.Endpoint{ep}
	}
	resp, err := c.m.Modify(ctx, cm)
	if err != nil {
		var ce *colibri.Error
		if errors.As(err, &ce) {
			switch ce.Reason {
			case colibri.ReasonConferenceNotFound:
				err = fmt.Errorf("%w: %w", errConferenceGone, err)
			case colibri.ReasonUnknownEndpoint:
				err = fmt.Errorf("%w: %w", errEndpointGone, err)
			}
		}
		return modifyResult{}, err
	}
	var res modifyResult
	if req.Endpoint != nil && req.Endpoint.Create {
		for _, ep := range resp.Endpoints {
			if ep.ID != req.Endpoint.ID || ep.Transport == nil {
				continue
			}
			if ep.Transport.ICEUDP != nil {
				res.Transport = ep.Transport.ICEUDP.Description()
			}
			if ep.Transport.SCTP != nil {
				res.SCTPPort = ep.Transport.SCTP.Port
			}
		}
		if res.SCTPPort == 0 {
			return res, fmt.Errorf("bridge answered the endpoint create without <sctp port/>")
		}
	}
	if resp.Sources != nil {
		for _, ms := range resp.Sources.MediaSources {
			s := mediaSource{Kind: ms.Type, Name: ms.ID, Owner: "jvb"}
			for _, src := range ms.Sources {
				s.SSRCs = append(s.SSRCs, src.SSRC)
			}
			res.Feedback = append(res.Feedback, s)
		}
	}
	return res, nil
}

func colibriMedia() []colibri.Media {
	var out []colibri.Media
	for _, kind := range []string{"audio", "video"} {
		m := colibri.Media{Type: kind}
		for _, pt := range offeredPayloadTypes {
			if pt.Kind != kind {
				continue
			}
			p := colibri.PayloadType{ID: int(pt.ID), Name: pt.Name, ClockRate: int(pt.ClockRate), Channels: pt.Channels}
			for _, kv := range pt.Params {
				p.Parameters = append(p.Parameters, colibri.Parameter{Name: kv[0], Value: kv[1]})
			}
			for _, fb := range pt.Feedback {
				p.RTCPFeedback = append(p.RTCPFeedback, colibri.RTCPFb{Type: fb[0], Subtype: fb[1]})
			}
			m.PayloadTypes = append(m.PayloadTypes, p)
		}
		for _, e := range offeredHeaderExts {
			if e.Kind == kind {
				m.HeaderExtensions = append(m.HeaderExtensions, colibri.RTPHdrExt{ID: e.ID, URI: e.URI})
			}
		}
		out = append(out, m)
	}
	return out
}

func colibriSources(in []mediaSource) []colibri.MediaSource {
	out := []colibri.MediaSource{}
	for _, s := range in {
		ms := colibri.MediaSource{Type: s.Kind, ID: s.Name}
		for _, ssrc := range s.SSRCs {
			src := colibri.Source{SSRC: ssrc, Name: s.Name}
			if s.Kind == "video" {
				src.VideoType = "camera"
			}
			ms.Sources = append(ms.Sources, src)
		}
		for _, g := range s.Groups {
			cg := colibri.SSRCGroup{Semantics: g.Semantics}
			for _, ssrc := range g.SSRCs {
				cg.Sources = append(cg.Sources, colibri.SSRCSource{SSRC: ssrc})
			}
			ms.SSRCGroups = append(ms.SSRCGroups, cg)
		}
		out = append(out, ms)
	}
	return out
}
