package colibri

import (
	"context"
	"time"
)

// ExpiryConfig configures bridge-side expiry (spec 3.9, VideobridgeExpireThread). Zero fields
// take the JVB defaults.
type ExpiryConfig struct {
	// InactivityTimeout expires an endpoint whose last media packet is this old
	// (videobridge.entity-expiration.timeout, default 1 minute).
	InactivityTimeout time.Duration
	// Interval between checks (entity-expiration.check-interval, default = InactivityTimeout).
	Interval time.Duration
	// NoICETimeout expires an endpoint that never sent media this long after its creation
	// (default 2 minutes).
	NoICETimeout time.Duration
	// EmptyConferenceTimeout: a conference without endpoints is expired once it is this old
	// (20 s; JVB Conference.shouldExpire).
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
// meetings' workers.
func (h *Handler) expireOnce(cfg ExpiryConfig, now time.Time) {
	for _, c := range h.bridge.Conferences() {
		meetingID := c.MeetingID()
		err := h.enqueue(meetingID, func(closing bool) {
			if !closing {
				h.expireConferenceIdle(cfg, c, now)
			}
		})
		if err != nil {
			h.log.Debug("expiry check not queued", "meeting_id", meetingID, "err", err)
		}
	}
}

// expireConferenceIdle is one conference's check, in the order of JVB's expire thread: an empty
// conference older than EmptyConferenceTimeout is expired; otherwise its endpoints are checked.
func (h *Handler) expireConferenceIdle(cfg ExpiryConfig, c Conference, now time.Time) {
	if c.Expired() {
		return
	}
	meetingID := c.MeetingID()
	eps := c.Endpoints()
	if len(eps) == 0 && relayCount(c) == 0 {
		if now.Sub(c.CreatedAt()) >= cfg.EmptyConferenceTimeout {
			h.log.Info("conference expired: no endpoints", "meeting_id", meetingID)
			c.Expire()
		}
		return
	}
	for _, ep := range eps {
		if reason := endpointExpiry(cfg, ep, now); reason != "" {
			h.log.Info("endpoint expired", "meeting_id", meetingID, "endpoint", ep.ID(), "reason", reason)
			ep.Expire()
		}
	}
}

// endpointExpiry returns why ep should expire at now, or "" (JVB Endpoint.shouldExpire): its
// transport failed; or nothing (media or ICE consent check) arrived and it is NoICETimeout old;
// or nothing arrived for InactivityTimeout.
func endpointExpiry(cfg ExpiryConfig, ep BridgeEndpoint, now time.Time) string {
	if ep.ConnState() == ConnFailed {
		return "transport failed"
	}
	created := ep.CreatedAt()
	last := ep.LastActivity()
	if !last.After(created) {
		if now.Sub(created) >= cfg.NoICETimeout {
			return "not connected after " + cfg.NoICETimeout.String()
		}
		return ""
	}
	if now.Sub(last) >= cfg.InactivityTimeout {
		return "inactive for " + cfg.InactivityTimeout.String()
	}
	return ""
}
