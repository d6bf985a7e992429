package colibri

import (
	"sync"
	"sync/atomic"
)

// Caps bound what the whole bridge holds at once. A create over a bridge-wide cap fails with
// resource-constraint (no colibri2 reason), which jicofo answers by placing the participants
// on another bridge and leaving this one aside for a minute. An endpoint over its conference's
// own cap fails with bad-request instead: jicofo then fails only that invite and keeps the
// bridge, where resource-constraint would move the whole conference to another bridge, to grow
// to the same cap there. Zero fields take the defaults; a negative field means no cap.
type Caps struct {
	MaxConferences            int // live conferences (DefaultMaxConferences)
	MaxEndpoints              int // endpoints over all conferences (DefaultMaxEndpoints)
	MaxEndpointsPerConference int // endpoints in one conference (DefaultMaxEndpointsPerConference)
}

// Default caps: well above what one bridge forwards for, well below what exhausts its memory
// (5 000 conferences took 30 000 goroutines and 470 MB).
const (
	DefaultMaxConferences            = 1000
	DefaultMaxEndpoints              = 4000
	DefaultMaxEndpointsPerConference = 500
)

func (c Caps) withDefaults() Caps {
	or := func(v, d int) int {
		if v == 0 {
			return d
		}
		return v
	}
	c.MaxConferences = or(c.MaxConferences, DefaultMaxConferences)
	c.MaxEndpoints = or(c.MaxEndpoints, DefaultMaxEndpoints)
	c.MaxEndpointsPerConference = or(c.MaxEndpointsPerConference, DefaultMaxEndpointsPerConference)
	return c
}

// CapRefusals counts the creates refused by each cap.
type CapRefusals struct {
	Conferences, Endpoints, EndpointsPerConference uint64
}

// capState holds the creates in flight, so that concurrent creates for different meetings
// cannot together pass a cap: the count checked is what the bridge has plus what is being
// created.
type capState struct {
	caps Caps

	mu            sync.Mutex
	pendingConfs  int
	pendingEps    int
	refusedConfs  atomic.Uint64
	refusedEps    atomic.Uint64
	refusedPerCon atomic.Uint64
}

// CapRefusals returns how many creates each cap refused since the handler started.
func (h *Handler) CapRefusals() CapRefusals {
	return CapRefusals{Conferences: h.caps.refusedConfs.Load(), Endpoints: h.caps.refusedEps.Load(),
		EndpointsPerConference: h.caps.refusedPerCon.Load()}
}

// reserveConference admits one conference create; release must be called once it is done.
func (h *Handler) reserveConference() (release func(), cerr *Error) {
	s := &h.caps
	max := s.caps.MaxConferences
	s.mu.Lock()
	defer s.mu.Unlock()
	if max >= 0 {
		live := 0
		for _, c := range h.bridge.Conferences() {
			if !c.Expired() {
				live++
			}
		}
		if live+s.pendingConfs >= max {
			s.refusedConfs.Add(1)
			return nil, newError(CondResourceConstraint, ReasonNone,
				"bridge limit reached: %d conferences (max-conferences %d)", live+s.pendingConfs, max)
		}
	}
	s.pendingConfs++
	return func() { s.mu.Lock(); s.pendingConfs--; s.mu.Unlock() }, nil
}

// reserveEndpoint admits one endpoint create in conf (the meeting's worker, so conf's own
// count cannot change meanwhile); release must be called once it is done.
func (h *Handler) reserveEndpoint(conf Conference) (release func(), cerr *Error) {
	s := &h.caps
	if max := s.caps.MaxEndpointsPerConference; max >= 0 {
		if n := len(conf.Endpoints()); n >= max {
			s.refusedPerCon.Add(1)
			return nil, newError(CondBadRequest, ReasonNone,
				"conference limit reached: %d endpoints (max-endpoints-per-conference %d)", n, max)
		}
	}
	max := s.caps.MaxEndpoints
	s.mu.Lock()
	defer s.mu.Unlock()
	if max >= 0 {
		live := 0
		for _, c := range h.bridge.Conferences() {
			if !c.Expired() {
				live += len(c.Endpoints())
			}
		}
		if live+s.pendingEps >= max {
			s.refusedEps.Add(1)
			return nil, newError(CondResourceConstraint, ReasonNone,
				"bridge limit reached: %d endpoints (max-endpoints %d)", live+s.pendingEps, max)
		}
	}
	s.pendingEps++
	return func() { s.mu.Lock(); s.pendingEps--; s.mu.Unlock() }, nil
}
