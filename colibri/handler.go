package colibri

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"mellium.im/xmpp/jid"
)

// Config configures a Handler.
type Config struct {
	Bridge Bridge
	// GracefulShutdown reports whether the bridge is in graceful shutdown; conference creates
	// then fail with service-unavailable/graceful_shutdown. Nil means never.
	GracefulShutdown func() bool
	// DisableSCTP rejects endpoints that ask for SCTP (videobridge.sctp.enabled=false).
	DisableSCTP bool
	Logger      *slog.Logger
	Limits      Limits
	Caps        Caps
	// WebSockets, when it has domains, adds colibri-ws URLs to created endpoints' transports.
	WebSockets WebSockets
	// Relays accepts <relay/> (videobridge.relay.enabled); without it relays are answered
	// feature-not-implemented, as JVB does. The bridge's conferences must be RelayConferences.
	Relays bool
}

// Limits bound what a single request may ask for. Zero fields take the defaults.
type Limits struct {
	MaxRequestBytes int // raw XML or JSON size; default 1 MiB
	MaxEndpoints    int // endpoints (or relays) in one request; default 1000
	MaxIDLength     int // meeting-id, name, endpoint/relay id, stats-id; default 512
	MaxQueue        int // queued requests per meeting; default 1024
}

func (l Limits) withDefaults() Limits {
	if l.MaxRequestBytes <= 0 {
		l.MaxRequestBytes = 1 << 20
	}
	if l.MaxEndpoints <= 0 {
		l.MaxEndpoints = 1000
	}
	if l.MaxIDLength <= 0 {
		l.MaxIDLength = 512
	}
	if l.MaxQueue <= 0 {
		l.MaxQueue = 1024
	}
	return l
}

// Handler applies COLIBRI2 requests to a Bridge, strictly in arrival order per meeting-id.
type Handler struct {
	bridge   Bridge
	graceful func() bool
	sctp     bool
	relays   bool
	log      *slog.Logger
	limits   Limits
	caps     capState
	ws       WebSockets

	mu     sync.Mutex
	queues map[string]*meetingQueue
	closed bool
	wg     sync.WaitGroup
}

// NewHandler returns a Handler for cfg.Bridge. Call Close to stop its goroutines.
func NewHandler(cfg Config) (*Handler, error) {
	if cfg.Bridge == nil {
		return nil, errors.New("colibri: Config.Bridge is nil")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	h := &Handler{
		bridge:   cfg.Bridge,
		graceful: cfg.GracefulShutdown,
		sctp:     !cfg.DisableSCTP,
		relays:   cfg.Relays,
		log:      log.With("component", "colibri"),
		limits:   cfg.Limits.withDefaults(),
		ws:       cfg.WebSockets,
		queues:   make(map[string]*meetingQueue),
	}
	h.caps.caps = cfg.Caps.withDefaults()
	return h, nil
}

// HandleIQ handles the raw <conference-modify/> element of an IQ. It is meant to be called from
// the XMPP read loop: it parses, enqueues onto the meeting's FIFO and returns without waiting.
// reply is called exactly once with either the raw <conference-modified/> element or the raw
// stanza <error type='…'>…</error> element for the error IQ: usually later, from the meeting's
// worker goroutine (concurrently with replies for other meetings), but synchronously, before
// HandleIQ returns, for requests refused without queuing (malformed, over a limit, closed).
func (h *Handler) HandleIQ(ctx context.Context, payload []byte, reply func(result, errElem []byte)) {
	if len(payload) > h.limits.MaxRequestBytes {
		reply(nil, newError(CondBadRequest, ReasonNone, "request larger than %d bytes", h.limits.MaxRequestBytes).StanzaError())
		return
	}
	req, err := ParseConferenceModify(payload)
	if err != nil {
		reply(nil, (&Error{Condition: CondBadRequest, Text: "malformed conference-modify", Err: err}).StanzaError())
		return
	}
	h.submit(ctx, req, func(resp *ConferenceModified, cerr *Error) {
		if cerr != nil {
			reply(nil, cerr.StanzaError())
			return
		}
		out, err := resp.Marshal()
		if err != nil {
			reply(nil, (&Error{Condition: CondInternalServerError, Text: "cannot encode response", Err: err}).StanzaError())
			return
		}
		reply(out, nil)
	})
}

// Modify applies req in order with the other requests for its meeting and waits for the result.
// Errors are *Error (condition, reason, text), ErrClosed, or ctx's error.
func (h *Handler) Modify(ctx context.Context, req *ConferenceModify) (*ConferenceModified, error) {
	type result struct {
		resp *ConferenceModified
		err  *Error
	}
	ch := make(chan result, 1)
	h.submit(ctx, req, func(resp *ConferenceModified, err *Error) { ch <- result{resp, err} })
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		return r.resp, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// submit validates req, queues it and calls done exactly once.
func (h *Handler) submit(ctx context.Context, req *ConferenceModify, done func(*ConferenceModified, *Error)) {
	if req == nil {
		done(nil, newError(CondBadRequest, ReasonNone, "no request"))
		return
	}
	if err := h.validate(req); err != nil {
		done(nil, err)
		return
	}
	err := h.enqueue(req.MeetingID, func(closing bool) {
		switch {
		case closing:
			done(nil, &Error{Condition: CondServiceUnavailable, Text: "bridge is shutting down", Err: ErrClosed})
		case ctx.Err() != nil:
			done(nil, &Error{Condition: CondServiceUnavailable, Text: "request cancelled", Err: ctx.Err()})
		default:
			done(h.process(req))
		}
	})
	switch {
	case errors.Is(err, ErrClosed):
		done(nil, &Error{Condition: CondServiceUnavailable, Text: "bridge is shutting down", Err: err})
	case err != nil:
		done(nil, &Error{Condition: CondResourceConstraint, Text: "too many queued requests", Err: err})
	}
}

// validate checks what needs no bridge state: limits, required attributes, and the request
// shapes the bridge refuses (spec 2.3 validateRequest rows).
func (h *Handler) validate(req *ConferenceModify) *Error {
	l := h.limits
	if req.MeetingID == "" {
		return newError(CondBadRequest, ReasonNone, "missing meeting-id")
	}
	if len(req.MeetingID) > l.MaxIDLength || len(req.Name) > l.MaxIDLength {
		return newError(CondBadRequest, ReasonNone, "meeting-id or name longer than %d bytes", l.MaxIDLength)
	}
	if req.Name != "" {
		j, err := jid.Parse(req.Name)
		if err != nil || j.Localpart() == "" || j.Resourcepart() != "" {
			return newError(CondBadRequest, ReasonNone, "Invalid conference name (not a JID)")
		}
	}
	if len(req.Endpoints) > l.MaxEndpoints || len(req.Relays) > l.MaxEndpoints {
		return newError(CondBadRequest, ReasonNone, "more than %d endpoints or relays in one request", l.MaxEndpoints)
	}
	heavy := 0
	for i := range req.Endpoints {
		ep := &req.Endpoints[i]
		if ep.ID == "" {
			return newError(CondBadRequest, ReasonNone, "endpoint without id")
		}
		if len(ep.ID) > l.MaxIDLength || len(ep.StatsID) > l.MaxIDLength {
			return newError(CondBadRequest, ReasonNone, "endpoint id or stats-id longer than %d bytes", l.MaxIDLength)
		}
		if ep.Create || len(ep.Media) > 0 || ep.Transport != nil || ep.Sources != nil {
			heavy++
		}
	}
	if heavy > 1 {
		return newError(CondFeatureNotImplemented, ReasonFeatureNotImplemented,
			"only one endpoint with create, media, transport or sources per request is supported")
	}
	if len(req.Relays) > 0 && len(req.Endpoints) > 0 {
		return newError(CondFeatureNotImplemented, ReasonFeatureNotImplemented, "endpoints and relays in the same request are not supported")
	}
	if len(req.Relays) > 1 {
		return newError(CondFeatureNotImplemented, ReasonFeatureNotImplemented, "only one relay per request is supported")
	}
	return h.validateRelays(req)
}

// process runs on the meeting's worker. A panic from the bridge becomes internal-server-error.
func (h *Handler) process(req *ConferenceModify) (resp *ConferenceModified, cerr *Error) {
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("panic while handling conference-modify", "meeting_id", req.MeetingID, "panic", p)
			resp, cerr = nil, &Error{Condition: CondInternalServerError, Text: "internal error", Err: fmt.Errorf("panic: %v", p)}
		}
	}()
	conf, cerr := h.lookup(req)
	if cerr != nil {
		return nil, cerr
	}
	log := h.log.With("meeting_id", req.MeetingID)
	ignoreUnknown := ignoresUnknownEndpoints(req)
	resp = &ConferenceModified{}
	anyCreate := bool(req.Create)
	for i := range req.Endpoints {
		epReq := &req.Endpoints[i]
		anyCreate = anyCreate || bool(epReq.Create)
		epResp, err := h.applyEndpoint(log, conf, epReq, ignoreUnknown)
		if err != nil {
			log.Info("conference-modify failed", "endpoint", epReq.ID, "err", err)
			return nil, err
		}
		if epResp != nil {
			resp.Endpoints = append(resp.Endpoints, *epResp)
		}
	}
	for i := range req.Relays {
		relResp, err := h.applyRelay(log, conf, &req.Relays[i])
		if err != nil {
			log.Info("conference-modify failed", "relay", req.Relays[i].ID, "err", err)
			return nil, err
		}
		resp.Relays = append(resp.Relays, *relResp)
	}
	if req.Connects != nil {
		log.Debug("ignoring connects: media export is not supported", "count", len(req.Connects.Connects))
	}
	if anyCreate {
		resp.Sources = feedbackSources(conf)
	}
	switch {
	case bool(req.Expire):
		log.Info("conference expired by request")
		conf.Expire()
	case !bool(req.Create) && len(conf.Endpoints()) == 0 && relayCount(conf) == 0:
		log.Info("conference expired: no endpoints or relays left")
		conf.Expire()
	}
	return resp, nil
}

// lookup finds or creates the meeting's conference (spec 2.1).
func (h *Handler) lookup(req *ConferenceModify) (Conference, *Error) {
	if req.Create {
		if h.graceful != nil && h.graceful() {
			return nil, newError(CondServiceUnavailable, ReasonGracefulShutdown, "In graceful shutdown")
		}
		if c := h.bridge.Conference(req.MeetingID); c != nil && !c.Expired() {
			return nil, newError(CondConflict, ReasonConferenceAlreadyExists, "Conference already exists for meeting-id %s", req.MeetingID)
		}
		release, cerr := h.reserveConference()
		if cerr != nil {
			h.log.Debug("conference create refused", "meeting_id", req.MeetingID, "err", cerr)
			return nil, cerr
		}
		c, err := h.bridge.CreateConference(req.MeetingID, req.Name)
		release()
		if errors.Is(err, ErrConferenceExists) {
			return nil, newError(CondConflict, ReasonConferenceAlreadyExists, "Conference already exists for meeting-id %s", req.MeetingID)
		}
		if err != nil {
			return nil, &Error{Condition: CondInternalServerError, Text: "cannot create conference", Err: err}
		}
		h.log.Info("conference created", "meeting_id", req.MeetingID, "name", req.Name)
		return c, nil
	}
	c := h.bridge.Conference(req.MeetingID)
	if c == nil || c.Expired() {
		return nil, newError(CondItemNotFound, ReasonConferenceNotFound, "Conference not found for meeting-id %s", req.MeetingID)
	}
	return c, nil
}

// ignoresUnknownEndpoints: a request that only expires endpoints or only sets force-mute does not
// fail on endpoints the bridge no longer knows (shouldIgnoreUnknownEndpoints).
func ignoresUnknownEndpoints(req *ConferenceModify) bool {
	if len(req.Endpoints) == 0 {
		return false
	}
	for i := range req.Endpoints {
		ep := &req.Endpoints[i]
		if ep.Expire {
			continue
		}
		onlyForceMute := ep.ForceMute != nil && !ep.Create && len(ep.Media) == 0 && ep.Transport == nil &&
			ep.Sources == nil && len(ep.Capabilities) == 0 && ep.InitialLastN == nil
		if !onlyForceMute {
			return false
		}
	}
	return true
}

func feedbackSources(c Conference) *Sources {
	a, v := c.FeedbackSSRCs()
	return &Sources{MediaSources: []MediaSource{
		{Type: "audio", ID: "jvb-a0", Sources: []Source{{SSRC: a, Name: "jvb-a0"}}},
		{Type: "video", ID: "jvb-v0", Sources: []Source{{SSRC: v, Name: "jvb-v0"}}},
	}}
}
