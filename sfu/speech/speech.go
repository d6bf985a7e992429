// Package speech identifies a conference's dominant speaker from the audio levels of its
// endpoints and keeps the recent-speakers order that JVB sends in
// DominantSpeakerEndpointChangeEvent and uses to rank endpoints for LastN.
//
// The algorithm is JVB's (jitsi-utils DominantSpeakerIdentification): Volfin & Cohen's
// "Dominant Speaker Identification for Multipoint Videoconferencing" with each packet's
// RFC 6464 audio level standing in for the paper's spectral sub-bands. Every speaker keeps its
// last 50 levels; at each decision they are reduced to an immediate (last packet), a medium
// (last 5 packets) and a long (last 50 packets) count, each turned into a speech-activity
// score. A challenger takes the floor only when it beats the dominant speaker on all three
// intervals, so the dominant keeps it through short pauses and others' coughs.
//
// The package is pure logic: time comes from its callers, it starts no goroutines, holds no
// package state and is not safe for concurrent use (the conference serialises calls). It
// imports only the standard library: it must never import gojvb/sfu, its transport or any
// other package of this module, so that the media core can depend on it and not the reverse.
package speech

import (
	"slices"
	"time"
)

// Config holds the videobridge.speech-activity settings.
type Config struct {
	// DecisionInterval is the minimum time between two decisions (JVB: 300 ms).
	DecisionInterval time.Duration
	// RecentSpeakers is recent-speakers-count: how many previous speakers accompany the
	// dominant one in a change (JVB: 10).
	RecentSpeakers int
	// SilenceDetection is enable-silence-detection (JVB: false).
	SilenceDetection bool
	// SilenceTimeout is silence-detection-timeout (JVB: 3 s).
	SilenceTimeout time.Duration
}

// DefaultConfig returns JVB's defaults.
func DefaultConfig() Config {
	return Config{
		DecisionInterval: 300 * time.Millisecond,
		RecentSpeakers:   10,
		SilenceDetection: false,
		SilenceTimeout:   3 * time.Second,
	}
}

// Change is a new dominant speaker or recent-speakers list, to be broadcast as a
// DominantSpeakerEndpointChangeEvent.
type Change struct {
	// Dominant is the new dominant speaker; "" during silence (SilenceDetection on) or when
	// nobody is left.
	Dominant string
	// Previous are the other recent speakers, most recent first, at most RecentSpeakers of
	// them (JVB's recent-speakers-count is the length of previousSpeakers). When Dominant is
	// "" there is no "other": Previous is the whole recent list, up to RecentSpeakers+1, the
	// last dominant speaker first; JVB's message then carries Previous[0] as
	// dominantSpeakerEndpoint and the rest as previousSpeakers.
	Previous []string
	// Silence reports a period of silence (only with SilenceDetection on).
	Silence bool
}

// Activity tracks every endpoint's speech and the conference's speaker order.
type Activity struct {
	cfg    Config
	scores scoreTable

	speakers map[string]*speaker
	heard    []*speaker // in first-heard order: the decision's deterministic iteration order
	nextSeq  uint64

	// order is every known endpoint: first those that have been dominant, most recent first
	// (promoted of them), then the others in first-heard order.
	order    []string
	promoted int

	dominant string // "" when none or during silence
	silence  bool

	decided      bool
	lastDecision time.Time

	lateLevels uint64
}

// New returns an Activity with no endpoints. Non-positive durations and a negative
// RecentSpeakers are replaced by the defaults.
func New(cfg Config) *Activity {
	def := DefaultConfig()
	if cfg.DecisionInterval <= 0 {
		cfg.DecisionInterval = def.DecisionInterval
	}
	if cfg.RecentSpeakers < 0 {
		cfg.RecentSpeakers = def.RecentSpeakers
	}
	if cfg.SilenceTimeout <= 0 {
		cfg.SilenceTimeout = def.SilenceTimeout
	}
	return &Activity{
		cfg:      cfg,
		scores:   newScoreTable(),
		speakers: make(map[string]*speaker),
		silence:  cfg.SilenceDetection,
	}
}

// Level records one audio packet's RFC 6464 ssrc-audio-level value of endpoint id (0 = loudest,
// 127 = silence; values above 127 count as 127) at time now. A level older than the endpoint's
// previous one is dropped and counted in LateLevels; an empty id is ignored (it would read
// as "nobody"). As in JVB, callers feed only the levels of packets they keep: not those
// discarded as silence or force-muted, nor synthetic sources'. It does not allocate once id
// is known.
func (a *Activity) Level(id string, rfc6464Level uint8, now time.Time) {
	if id == "" {
		return
	}
	level := uint8(maxLevel) - min(rfc6464Level, maxLevel)
	s := a.speakers[id]
	if s == nil {
		s = &speaker{id: id, seq: a.nextSeq, last: now}
		a.nextSeq++
		a.speakers[id] = s
		a.heard = append(a.heard, s)
		a.order = append(a.order, id)
	} else if now.Before(s.last) {
		a.lateLevels++
		return
	}
	s.level(level, now)
}

// LateLevels returns how many levels were dropped for arriving with a time before their
// endpoint's previous level.
func (a *Activity) LateLevels() uint64 { return a.lateLevels }

// Remove forgets endpoint id (it left the conference). If it was the dominant speaker the next
// recent speaker, or nobody, takes its place. The change is reported when the recent-speakers
// list changed.
func (a *Activity) Remove(id string, now time.Time) (Change, bool) {
	s := a.speakers[id]
	if s == nil {
		return Change{}, false
	}
	delete(a.speakers, id)
	a.heard = slices.DeleteFunc(a.heard, func(o *speaker) bool { return o == s })
	i := slices.Index(a.order, id)
	a.order = slices.Delete(a.order, i, i+1)
	wasRecent := i < a.recentLen()
	if i < a.promoted {
		a.promoted--
	}
	if a.dominant == id {
		a.dominant = ""
		if a.promoted > 0 {
			a.dominant = a.order[0]
		}
		return a.change(), true
	}
	if !wasRecent {
		return Change{}, false
	}
	return a.change(), true
}

// Tick makes a decision if DecisionInterval has passed since the previous one (the first call
// always decides) and returns the change, if any. A now before the previous decision is not
// due. Call it more often than DecisionInterval (every packet, or every 20-100 ms): a decision
// is made on the first call at least DecisionInterval after the previous one.
func (a *Activity) Tick(now time.Time) (Change, bool) {
	if a.decided && now.Sub(a.lastDecision) < a.cfg.DecisionInterval {
		return Change{}, false
	}
	a.decided, a.lastDecision = true, now
	a.expireIdle(now)

	next := a.decide(now)
	switch {
	case next != "" && (next != a.dominant || a.silence):
		a.dominant, a.silence = next, false
		a.promote(next)
		return a.change(), true
	case next == "" && a.cfg.SilenceDetection && !a.silence:
		a.dominant, a.silence = "", true
		if a.recentLen() == 0 {
			return Change{}, false // JVB sends nothing without a recent speaker
		}
		return a.change(), true
	}
	return Change{}, false
}

// Dominant returns the dominant speaker: "" before the first decision, during silence or
// when nobody is left.
func (a *Activity) Dominant() string { return a.dominant }

// Silence reports whether the conference is in a period of silence (SilenceDetection only).
func (a *Activity) Silence() bool { return a.silence }

// Order returns the endpoints for LastN ordering: the recent speakers (the dominant, or last
// dominant, first), then the endpoints that have never been dominant in the order they were
// first heard.
func (a *Activity) Order() []string { return slices.Clone(a.order) }

// expireIdle brings every speaker's history up to now (zero levels for quiet time) and takes
// non-dominant speakers quiet for speakerIdleTimeout out of the competition.
func (a *Activity) expireIdle(now time.Time) {
	for _, s := range a.heard {
		if !s.competing {
			continue
		}
		if s.id != a.dominant && now.Sub(s.last) > speakerIdleTimeout {
			s.reset()
			continue
		}
		s.fillIdle(now)
	}
}

// decide returns the speaker that should be dominant now, or "" for silence or nobody.
func (a *Activity) decide(now time.Time) string {
	var incumbent *speaker
	for _, s := range a.heard {
		if s.competing {
			s.evaluate(now)
		}
	}
	if d := a.speakers[a.dominant]; d != nil && d.competing {
		incumbent = d
	} else {
		// Nobody holds the floor: nominate the most active speaker (the earliest heard among
		// equals) and let the others challenge it. JVB nominates an arbitrary one.
		for _, s := range a.heard {
			if s.competing && (incumbent == nil || a.moreActive(s, incumbent)) {
				incumbent = s
			}
		}
		if incumbent == nil {
			return ""
		}
	}

	t := &a.scores
	winner, bestMedium := incumbent, float64(thresholdMedium)
	for _, s := range a.heard {
		if s == incumbent || !s.competing {
			continue
		}
		c1 := t.immediate[s.immediate] - t.immediate[incumbent.immediate]
		c2 := t.medium[s.medium] - t.medium[incumbent.medium]
		c3 := t.long[s.long] - t.long[incumbent.long]
		if c1 > thresholdImmediate && c2 > thresholdMedium && c3 > thresholdLong && c2 > bestMedium {
			winner, bestMedium = s, c2
		}
	}

	if winner == incumbent && a.cfg.SilenceDetection &&
		(!winner.spoke || now.Sub(winner.spokeAt) > a.cfg.SilenceTimeout) {
		return ""
	}
	return winner.id
}

// moreActive orders speakers by their long, then medium, then immediate scores.
func (a *Activity) moreActive(s, than *speaker) bool {
	t := &a.scores
	if t.long[s.long] != t.long[than.long] {
		return t.long[s.long] > t.long[than.long]
	}
	if t.medium[s.medium] != t.medium[than.medium] {
		return t.medium[s.medium] > t.medium[than.medium]
	}
	return t.immediate[s.immediate] > t.immediate[than.immediate]
}

// promote moves id to the front of the speaker order.
func (a *Activity) promote(id string) {
	i := slices.Index(a.order, id)
	if i >= a.promoted {
		a.promoted++
	}
	copy(a.order[1:i+1], a.order[:i])
	a.order[0] = id
}

// recentLen is how many endpoints form the recent-speakers list: the dominant (or last
// dominant) and up to RecentSpeakers before it.
func (a *Activity) recentLen() int { return min(a.promoted, a.cfg.RecentSpeakers+1) }

// change describes the current state as a Change.
func (a *Activity) change() Change {
	recent := a.order[:a.recentLen()]
	if a.dominant == "" {
		return Change{Previous: slices.Clone(recent), Silence: a.silence}
	}
	return Change{Dominant: a.dominant, Previous: slices.Clone(recent[1:])}
}
