package colibri

import (
	"context"
	"time"
)

// ExpiryConfig configures bridge-side expiry (spec 3.9, VideobridgeExpireThread). Zero fields
// take the JVB defaults.
type ExpiryConfig struct {
	// InactivityTimeout expires a connected endpoint that sent nothing for this long
	// (videobridge.entity-expiration.timeout, default 1 minute).
	InactivityTimeout time.Duration
	// Interval between checks (entity-expiration.check-interval, default = InactivityTimeout).
	Interval time.Duration
	// NoICETimeout expires an endpoint whose ICE never connected (default 2 minutes).
	NoICETimeout time.Duration
	// EmptyConferenceTimeout expires a conference that has had no endpoints this long (20 s).
	EmptyConferenceTimeout time.Duration
	// Now and Ticks make time injectable for tests; nil means the wall clock and a ticker.
	Now   func() time.Time
	Ticks <-chan time.Time
}

func (c ExpiryConfig) withDefaults() ExpiryConfig {
	if c.InactivityTimeout <= 0 {
		c.InactivityTimeout = time.Minute
	}
	if c.Interval <= 0 {
		c.Interval = c.InactivityTimeout
	}
	if c.NoICETimeout <= 0 {
		c.NoICETimeout = 2 * time.Minute
	}
	if c.EmptyConferenceTimeout <= 0 {
		c.EmptyConferenceTimeout = 20 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// emptyMark remembers when a conference was first seen without endpoints.
type emptyMark struct {
	conf  Conference
	since time.Time
}

// RunExpiry checks every cfg.Interval for endpoints and conferences to expire until ctx is done.
// Expiry goes through each meeting's request queue, so it never interleaves with a request. It
// returns ctx's error.
func (h *Handler) RunExpiry(ctx context.Context, cfg ExpiryConfig) error {
	cfg = cfg.withDefaults()
	ticks := cfg.Ticks
	if ticks == nil {
		t := time.NewTicker(cfg.Interval)
		defer t.Stop()
		ticks = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticks:
			h.expireOnce(cfg, cfg.Now())
		}
	}
}

// expireOnce queues one expiry check per conference and returns; the checks run on the
// meetings' workers. It also forgets per-meeting state of conferences that ended elsewhere
// (e.g. expired by the media core itself).
func (h *Handler) expireOnce(cfg ExpiryConfig, now time.Time) {
	live := make(map[string]bool)
	for _, c := range h.bridge.Conferences() {
		meetingID := c.MeetingID()
		live[meetingID] = true
		err := h.enqueue(meetingID, func(closing bool) {
			if !closing {
				h.expireConferenceIdle(cfg, c, now)
			}
		})
		if err != nil {
			h.log.Debug("expiry check not queued", "meeting_id", meetingID, "err", err)
		}
	}
	for _, meetingID := range h.trackedMeetings() {
		if live[meetingID] {
			continue
		}
		// On the meeting's worker, so it cannot race with a create for the same meeting.
		_ = h.enqueue(meetingID, func(closing bool) {
			if !closing && h.bridge.Conference(meetingID) == nil {
				h.forgetMeeting(meetingID)
			}
		})
	}
}

// trackedMeetings lists meetings the handler keeps state for.
func (h *Handler) trackedMeetings() []string {
	var ids []string
	h.vmu.Lock()
	for id := range h.visitors {
		ids = append(ids, id)
	}
	h.vmu.Unlock()
	h.emu.Lock()
	for id := range h.emptySince {
		ids = append(ids, id)
	}
	h.emu.Unlock()
	return ids
}

func (h *Handler) forgetMeeting(meetingID string) {
	h.setVisitors(meetingID, nil)
	h.emu.Lock()
	delete(h.emptySince, meetingID)
	h.emu.Unlock()
}

func (h *Handler) expireConferenceIdle(cfg ExpiryConfig, c Conference, now time.Time) {
	if c.Expired() {
		return
	}
	meetingID := c.MeetingID()
	visitors := h.visitorSet(meetingID)
	eps := c.Endpoints()
	for _, ep := range eps {
		if reason := endpointExpiry(cfg, ep, now); reason != "" {
			h.log.Info("endpoint expired", "meeting_id", meetingID, "endpoint_id", ep.ID(), "reason", reason)
			ep.Expire()
			delete(visitors, ep.ID())
		}
	}
	h.emu.Lock()
	if len(c.Endpoints()) > 0 {
		delete(h.emptySince, meetingID)
		h.emu.Unlock()
		return
	}
	mark, ok := h.emptySince[meetingID]
	if !ok || mark.conf != c {
		// A conference that had endpoints a moment ago starts its 20 s now; one never seen
		// with endpoints counts from its creation.
		since := now
		if created := c.CreatedAt(); len(eps) == 0 && !created.IsZero() && created.Before(now) {
			since = created
		}
		mark = emptyMark{conf: c, since: since}
		h.emptySince[meetingID] = mark
	}
	h.emu.Unlock()
	if now.Sub(mark.since) >= cfg.EmptyConferenceTimeout {
		h.log.Info("conference expired: no endpoints", "meeting_id", meetingID)
		h.expireConference(c)
	}
}

// endpointExpiry returns why ep should expire at now, or "".
func endpointExpiry(cfg ExpiryConfig, ep BridgeEndpoint, now time.Time) string {
	switch ep.ConnState() {
	case ConnFailed:
		return "transport failed"
	case ConnConnecting:
		if now.Sub(ep.CreatedAt()) >= cfg.NoICETimeout {
			return "no ICE connection"
		}
		return ""
	}
	last := ep.LastActivity()
	if last.IsZero() || last.Before(ep.CreatedAt()) {
		last = ep.CreatedAt()
	}
	if now.Sub(last) >= cfg.InactivityTimeout {
		return "inactive"
	}
	return ""
}
