package main

import (
	"fmt"
	"time"

	"gojvb/cmd/jvb/internal/httpapi"
	"gojvb/sfu"
)

type debugEndpoint struct {
	ID           string            `json:"id"`
	StatsID      string            `json:"stats_id,omitempty"`
	Visitor      bool              `json:"visitor,omitempty"`
	Created      time.Time         `json:"created"`
	LastActivity *time.Time        `json:"last_activity,omitempty"`
	State        string            `json:"transport_state"`
	Stats        sfu.EndpointStats `json:"stats"`
	Sources      []sfu.MediaSource `json:"sources,omitempty"`
	// Allocation is the endpoint's last bandwidth allocation as a receiver, with the reason
	// for every source below its ideal layer.
	Allocation *sfu.AllocationState `json:"bandwidth_allocation,omitempty"`
}

type debugConference struct {
	ID        string                    `json:"id"`
	MeetingID string                    `json:"meeting_id"`
	Name      string                    `json:"name"`
	Created   time.Time                 `json:"created"`
	Endpoints map[string]*debugEndpoint `json:"endpoints"`
	Relays    map[string]*debugRelay    `json:"relays,omitempty"`
}

// debugRelay is one relay to another bridge and the endpoints behind it.
type debugRelay struct {
	ID        string                       `json:"id"`
	MeshID    string                       `json:"mesh_id,omitempty"`
	Created   time.Time                    `json:"created"`
	Stats     sfu.RelayStats               `json:"stats"`
	Endpoints map[string][]sfu.MediaSource `json:"endpoints"` // id -> sources (with full)
}

func dumpEndpoint(e *sfu.Endpoint, full bool) *debugEndpoint {
	cfg := e.Config()
	d := &debugEndpoint{ID: e.ID(), StatsID: cfg.StatsID, Visitor: cfg.Visitor, Created: e.CreatedAt(),
		State: e.State().String(), Stats: e.Stats(), Allocation: e.Allocation()}
	if la := e.LastActivity(); la.UnixNano() > 0 {
		d.LastActivity = &la
	}
	if full {
		d.Sources = e.Sources()
	}
	return d
}

func dumpConference(c *sfu.Conference, full bool) *debugConference {
	d := &debugConference{ID: c.ID(), MeetingID: c.MeetingID(), Name: c.Name(), Created: c.CreatedAt(),
		Endpoints: map[string]*debugEndpoint{}}
	for _, e := range c.Endpoints() {
		d.Endpoints[e.ID()] = dumpEndpoint(e, full)
	}
	for _, r := range c.Relays() {
		if d.Relays == nil {
			d.Relays = map[string]*debugRelay{}
		}
		dr := &debugRelay{ID: r.ID(), MeshID: r.MeshID(), Created: r.CreatedAt(), Stats: r.Stats(),
			Endpoints: map[string][]sfu.MediaSource{}}
		for _, e := range r.Endpoints() {
			var srcs []sfu.MediaSource
			if full {
				srcs = e.Sources()
			}
			dr.Endpoints[e.ID()] = srcs
		}
		d.Relays[r.ID()] = dr
	}
	return d
}

// debugDump serves /debug: every conference (by JVB-style internal id), one conference (by
// internal or meeting id) or one endpoint. full adds the signalled sources.
func debugDump(b *sfu.Bridge) func(confID, epID string, full bool) (any, error) {
	return func(confID, epID string, full bool) (any, error) {
		if confID == "" {
			confs := map[string]*debugConference{}
			for _, c := range b.Conferences() {
				confs[c.ID()] = dumpConference(c, full)
			}
			return map[string]any{"time": time.Now().UTC(), "stats": b.Stats(), "conferences": confs}, nil
		}
		var conf *sfu.Conference
		for _, c := range b.Conferences() {
			if c.ID() == confID || c.MeetingID() == confID {
				conf = c
				break
			}
		}
		if conf == nil {
			return nil, fmt.Errorf("conference %q: %w", confID, httpapi.ErrNotFound)
		}
		if epID == "" {
			return dumpConference(conf, true), nil
		}
		e := conf.Endpoint(epID)
		if e == nil {
			return nil, fmt.Errorf("endpoint %q in conference %q: %w", epID, confID, httpapi.ErrNotFound)
		}
		return dumpEndpoint(e, true), nil
	}
}
