package transporttest

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	piontransport "github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// FaultMode is what a FaultNet does to its client's traffic.
type FaultMode int32

const (
	// FaultNone passes everything.
	FaultNone FaultMode = iota
	// FaultDrop is a network gone: nothing leaves, what arrives is lost.
	FaultDrop
	// FaultNoRead is a client that never reads its socket again (its kernel buffer fills).
	FaultNoRead
	// FaultClosed closes the client's sockets under it (the bridge's datagrams are refused).
	FaultClosed
)

// ErrFaultClosed is what reads and writes return once the fault closed or stopped the socket.
var ErrFaultClosed = errors.New("transporttest: socket closed by the fault")

// FaultNet is the standard network for a pion client (PeerOptions.Net) whose UDP sockets obey
// the mode set with Set: fault tests drop an endpoint's network or kill its socket mid-call.
type FaultNet struct {
	*stdnet.Net
	mode  atomic.Int32
	mu    sync.Mutex
	conns []*faultConn
}

// NewFaultNet returns a FaultNet passing everything.
func NewFaultNet() (*FaultNet, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, fmt.Errorf("transporttest: standard network: %w", err)
	}
	return &FaultNet{Net: n}, nil
}

// ListenUDP opens a socket that obeys the net's mode.
func (n *FaultNet) ListenUDP(network string, laddr *net.UDPAddr) (piontransport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	fc := &faultConn{UDPConn: c, n: n, done: make(chan struct{})}
	n.mu.Lock()
	n.conns = append(n.conns, fc)
	n.mu.Unlock()
	return fc, nil
}

// Set switches the mode; FaultClosed closes every socket at once.
func (n *FaultNet) Set(m FaultMode) {
	n.mode.Store(int32(m))
	if m != FaultClosed {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.conns {
		_ = c.UDPConn.Close()
	}
}

func (n *FaultNet) current() FaultMode { return FaultMode(n.mode.Load()) }

type faultConn struct {
	piontransport.UDPConn
	n         *FaultNet
	done      chan struct{}
	closeOnce sync.Once
}

func (c *faultConn) Close() error {
	c.closeOnce.Do(func() { close(c.done) })
	return c.UDPConn.Close()
}

func (c *faultConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		switch c.n.current() {
		case FaultNoRead:
			<-c.done
			return 0, nil, ErrFaultClosed
		case FaultClosed:
			return 0, nil, ErrFaultClosed
		}
		n, addr, err := c.UDPConn.ReadFrom(b)
		if err != nil || c.n.current() == FaultNone {
			return n, addr, err
		}
		// FaultDrop: what arrived is lost; FaultNoRead: it stays unread (this one is the last).
	}
}

func (c *faultConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	switch c.n.current() {
	case FaultDrop:
		return len(b), nil
	case FaultClosed:
		return 0, ErrFaultClosed
	}
	return c.UDPConn.WriteTo(b, addr)
}
