package colibri

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeBridge is an in-memory Bridge that records what the handler did.
type fakeBridge struct {
	mu    sync.Mutex
	confs map[string]*fakeConf
	now   time.Time
	// onCall, if set, runs (without the lock) at the start of every Conference lookup; tests use
	// it to block a meeting's worker.
	onCall func(meetingID string)
	log    []string // "meeting: op" in the order applied
	seq    uint32
}

func newFakeBridge() *fakeBridge {
	return &fakeBridge{confs: map[string]*fakeConf{}, now: time.Unix(1_000_000, 0)}
}

func (b *fakeBridge) record(format string, args ...any) {
	b.mu.Lock()
	b.log = append(b.log, fmt.Sprintf(format, args...))
	b.mu.Unlock()
}

func (b *fakeBridge) ops() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.log...)
}

func (b *fakeBridge) CreateConference(meetingID, name string) (Conference, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.confs[meetingID]; c != nil && !c.expired {
		return nil, ErrConferenceExists
	}
	b.seq++
	c := &fakeConf{b: b, meetingID: meetingID, name: name, eps: map[string]*fakeEP{},
		fbAudio: 1000 + b.seq, fbVideo: 2000 + b.seq, created: b.now}
	b.confs[meetingID] = c
	b.log = append(b.log, meetingID+": create conference")
	return c, nil
}

func (b *fakeBridge) Conference(meetingID string) Conference {
	if f := b.onCall; f != nil {
		f(meetingID)
	}
	if c := b.conf(meetingID); c != nil {
		return c
	}
	return nil // not a typed nil
}

func (b *fakeBridge) conf(meetingID string) *fakeConf {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.confs[meetingID]
	if c == nil || c.expired {
		return nil
	}
	return c
}

func (b *fakeBridge) Conferences() []Conference {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Conference
	for _, c := range b.confs {
		if !c.expired {
			out = append(out, c)
		}
	}
	return out
}

type fakeConf struct {
	b                *fakeBridge
	meetingID, name  string
	fbAudio, fbVideo uint32
	created          time.Time
	eps              map[string]*fakeEP // guarded by b.mu
	relays           map[string]*fakeRelay
	expired          bool
}

func (c *fakeConf) MeetingID() string                    { return c.meetingID }
func (c *fakeConf) ID() string                           { return "conf-" + c.meetingID }
func (c *fakeConf) FeedbackSSRCs() (audio, video uint32) { return c.fbAudio, c.fbVideo }
func (c *fakeConf) CreatedAt() time.Time                 { return c.created }

func (c *fakeConf) CreateEndpoint(cfg EndpointConfig) (BridgeEndpoint, error) {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	if c.eps[cfg.ID] != nil {
		return nil, ErrEndpointExists
	}
	e := &fakeEP{c: c, id: cfg.ID, cfg: cfg, created: c.b.now, state: ConnConnecting,
		local: &ICEUDPTransport{Ufrag: "uf-" + cfg.ID, Pwd: "pwd-" + cfg.ID + "-0123456789abcdef", RTCPMux: true,
			Fingerprints: []Fingerprint{{Hash: "sha-256", Setup: "actpass", Value: "AB:CD:EF"}},
			Candidates: []Candidate{{Component: 1, Foundation: "1", ID: "c1", Priority: 2130706431,
				Protocol: "udp", Type: "host", IP: "127.0.0.1", Port: 10000}}}}
	c.eps[cfg.ID] = e
	c.b.log = append(c.b.log, fmt.Sprintf("%s: create %s", c.meetingID, cfg.ID))
	return e, nil
}

func (c *fakeConf) Endpoint(id string) BridgeEndpoint {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	if e := c.eps[id]; e != nil {
		return e
	}
	return nil
}

func (c *fakeConf) ep(id string) *fakeEP {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	return c.eps[id]
}

func (c *fakeConf) Endpoints() []BridgeEndpoint {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	var out []BridgeEndpoint
	for _, e := range c.eps {
		out = append(out, e)
	}
	return out
}

func (c *fakeConf) Expire() {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	if c.expired {
		return
	}
	c.expired = true
	for id := range c.eps {
		delete(c.eps, id)
	}
	clear(c.relays)
	c.b.log = append(c.b.log, c.meetingID+": expire conference")
}

func (c *fakeConf) Expired() bool {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	return c.expired
}

type fakeEP struct {
	c       *fakeConf
	id      string
	cfg     EndpointConfig
	created time.Time
	local   *ICEUDPTransport

	// guarded by c.b.mu
	state        ConnState
	lastActivity time.Time
	remote       []ICEUDPTransport
	sources      []MediaSource
	sourceSets   int
	muteA, muteV bool
	media        []Media
	expired      bool
}

func (e *fakeEP) ID() string                       { return e.id }
func (e *fakeEP) Visitor() bool                    { return e.cfg.Visitor }
func (e *fakeEP) LocalTransport() *ICEUDPTransport { return e.local }
func (e *fakeEP) CreatedAt() time.Time             { return e.created }

func (e *fakeEP) SetRemoteTransport(t *ICEUDPTransport) error {
	e.c.b.mu.Lock()
	defer e.c.b.mu.Unlock()
	e.remote = append(e.remote, *t)
	e.c.b.log = append(e.c.b.log, fmt.Sprintf("%s: transport %s (%d candidates)", e.c.meetingID, e.id, len(t.Candidates)))
	return nil
}

func (e *fakeEP) SetSources(s []MediaSource) error {
	e.c.b.mu.Lock()
	defer e.c.b.mu.Unlock()
	e.sources = s
	e.sourceSets++
	e.c.b.log = append(e.c.b.log, fmt.Sprintf("%s: sources %s (%d)", e.c.meetingID, e.id, len(s)))
	return nil
}

func (e *fakeEP) SetForceMute(audio, video bool) {
	e.c.b.mu.Lock()
	defer e.c.b.mu.Unlock()
	e.muteA, e.muteV = audio, video
	e.c.b.log = append(e.c.b.log, fmt.Sprintf("%s: force-mute %s %v %v", e.c.meetingID, e.id, audio, video))
}

func (e *fakeEP) AddMedia(m []Media) {
	e.c.b.mu.Lock()
	defer e.c.b.mu.Unlock()
	e.media = append(e.media, m...)
}

func (e *fakeEP) Expire() {
	e.c.b.mu.Lock()
	defer e.c.b.mu.Unlock()
	if e.expired {
		return
	}
	e.expired = true
	delete(e.c.eps, e.id)
	e.c.b.log = append(e.c.b.log, fmt.Sprintf("%s: expire %s", e.c.meetingID, e.id))
}

func (e *fakeEP) LastActivity() time.Time {
	e.c.b.mu.Lock()
	defer e.c.b.mu.Unlock()
	return e.lastActivity
}

func (e *fakeEP) WebSocketPassword() string { return "pw-" + e.id }

func (e *fakeEP) ConnState() ConnState {
	e.c.b.mu.Lock()
	defer e.c.b.mu.Unlock()
	return e.state
}

func (e *fakeEP) set(state ConnState, last time.Time) {
	e.c.b.mu.Lock()
	defer e.c.b.mu.Unlock()
	e.state, e.lastActivity = state, last
}
