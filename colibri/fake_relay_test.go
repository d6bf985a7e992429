package colibri

import "fmt"

// The fake bridge's relays (relay.go's interfaces), recording what the handler did.

type fakeRelay struct {
	c      *fakeConf
	id     string
	cfg    RelayConfig
	remote []ICEUDPTransport
	eps    map[string]*fakeRemote
}

type fakeRemote struct {
	r       *fakeRelay
	id      string
	sources []MediaSource
}

func (c *fakeConf) CreateRelay(cfg RelayConfig) (BridgeRelay, error) {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	if c.relays == nil {
		c.relays = map[string]*fakeRelay{}
	}
	if c.relays[cfg.ID] != nil {
		return nil, ErrRelayExists
	}
	r := &fakeRelay{c: c, id: cfg.ID, cfg: cfg, eps: map[string]*fakeRemote{}}
	c.relays[cfg.ID] = r
	c.b.log = append(c.b.log, fmt.Sprintf("%s: create relay %s", c.meetingID, cfg.ID))
	return r, nil
}

func (c *fakeConf) Relay(id string) BridgeRelay {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	if r := c.relays[id]; r != nil {
		return r
	}
	return nil
}

func (c *fakeConf) RelayCount() int {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	return len(c.relays)
}

func (r *fakeRelay) ID() string { return r.id }

func (r *fakeRelay) LocalTransport() *ICEUDPTransport {
	return &ICEUDPTransport{Ufrag: "uf-relay-" + r.id, Pwd: "pwd-relay-0123456789abcdef", RTCPMux: true,
		Fingerprints: []Fingerprint{{Hash: "sha-256", Setup: "actpass", Value: "AB:CD:EF"}}}
}

func (r *fakeRelay) SetRemoteTransport(t *ICEUDPTransport) error {
	r.c.b.mu.Lock()
	defer r.c.b.mu.Unlock()
	r.remote = append(r.remote, *t)
	return nil
}

func (r *fakeRelay) AddMedia([]Media) {}

func (r *fakeRelay) AddEndpoint(id, _ string) (RemoteEndpoint, error) {
	r.c.b.mu.Lock()
	defer r.c.b.mu.Unlock()
	if r.eps[id] != nil || r.c.eps[id] != nil {
		return nil, ErrEndpointExists
	}
	e := &fakeRemote{r: r, id: id}
	r.eps[id] = e
	return e, nil
}

func (r *fakeRelay) Endpoint(id string) RemoteEndpoint {
	r.c.b.mu.Lock()
	defer r.c.b.mu.Unlock()
	if e := r.eps[id]; e != nil {
		return e
	}
	return nil
}

func (r *fakeRelay) Expire() {
	r.c.b.mu.Lock()
	defer r.c.b.mu.Unlock()
	delete(r.c.relays, r.id)
	r.c.b.log = append(r.c.b.log, fmt.Sprintf("%s: expire relay %s", r.c.meetingID, r.id))
}

func (e *fakeRemote) SetSources(s []MediaSource) error {
	e.r.c.b.mu.Lock()
	defer e.r.c.b.mu.Unlock()
	e.sources = s
	return nil
}

func (e *fakeRemote) Expire() {
	e.r.c.b.mu.Lock()
	defer e.r.c.b.mu.Unlock()
	delete(e.r.eps, e.id)
}
