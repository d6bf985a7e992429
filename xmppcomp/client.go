package xmppcomp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Client keeps one XMPP connection per configured server, each logged in
// and joined to its brewery MUCs, reconnecting until its context ends.
type Client struct {
	cfg         Config
	conns       []*conn
	disconnects atomic.Uint64
	running     atomic.Bool
}

// Status is a snapshot of the XMPP side for metrics and health.
type Status struct {
	Connections []ConnectionStatus
	// MUCClientsConfigured/Connected count connections (JVB's
	// muc_clients_configured / muc_clients_connected).
	MUCClientsConfigured int
	MUCClientsConnected  int
	// MUCsConfigured/Joined count rooms over all connections.
	MUCsConfigured int
	MUCsJoined     int
	// Disconnects counts established sessions that ended without being
	// asked to (xmpp_disconnects).
	Disconnects uint64
}

// ConnectionStatus describes one configured server.
type ConnectionStatus struct {
	ID        string
	Host      string
	Port      int
	Connected bool
	// JID is the full JID bound by the server while connected.
	JID            string
	MUCsConfigured int
	MUCsJoined     int
	// LoginProblem says, for an operator, why the last login failed (e.g.
	// the server refused the password); empty once logged in.
	LoginProblem string
	// NicknameConflicts has one entry per room where the nickname is used
	// by another session, saying so and what to change; such a room is not
	// joined.
	NicknameConflicts []string
}

// New validates cfg (filling defaults) and returns a Client that does
// nothing until Run is called.
func New(cfg Config) (*Client, error) {
	servers, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	if len(servers) == 0 {
		return nil, errors.New("xmpp-client: no server configured: expected at least one entry with HOSTNAME, USERNAME, PASSWORD, MUC_JIDS and MUC_NICKNAME")
	}
	c := &Client{cfg: cfg}
	for _, s := range servers {
		c.conns = append(c.conns, newConn(c, s))
	}
	return c, nil
}

// Run connects to every server and keeps the connections up until ctx is
// cancelled; then it leaves the MUCs, closes the streams and returns nil.
// Run may be called only once.
func (c *Client) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return fmt.Errorf("xmpp-client: Run called twice")
	}
	var wg sync.WaitGroup
	for _, k := range c.conns {
		wg.Go(func() { k.run(ctx) })
	}
	wg.Wait()
	return nil
}

// SetPresenceNow makes every joined connection publish its stats presence
// right away (e.g. when drain or shutdown state changes). It never blocks.
func (c *Client) SetPresenceNow() {
	for _, k := range c.conns {
		select {
		case k.nudge <- struct{}{}:
		default:
		}
	}
}

// Status returns a snapshot of all connections.
func (c *Client) Status() Status {
	st := Status{Disconnects: c.disconnects.Load()}
	for _, k := range c.conns {
		cs := k.status()
		st.Connections = append(st.Connections, cs)
		st.MUCClientsConfigured++
		if cs.Connected {
			st.MUCClientsConnected++
		}
		st.MUCsConfigured += cs.MUCsConfigured
		st.MUCsJoined += cs.MUCsJoined
	}
	return st
}
