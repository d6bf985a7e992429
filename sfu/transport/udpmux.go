package transport

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// connQueueLen is how many STUN/DTLS datagrams may wait for a transport's agent (per address
// family). A DTLS flight is a handful of datagrams and checks come every few tens of ms.
const connQueueLen = 64

// iceUDPMux is pion/ice's UDPMux on top of the Mux: agents get per-transport packet conns fed
// by the socket demux and writing through the shared socket.
type iceUDPMux struct{ m *Mux }

func (u *iceUDPMux) Close() error { return nil } // the Mux owns the sockets

func (u *iceUDPMux) GetListenAddresses() []net.Addr { return u.m.listen }

func (u *iceUDPMux) RemoveConnByUfrag(string) {} // Transport.Close unregisters

func (u *iceUDPMux) GetConn(ufrag string, addr net.Addr) (net.PacketConn, error) {
	t, _ := u.m.ufrags.get(ufrag)
	if t == nil {
		return nil, fmt.Errorf("transport: no transport with ufrag %q", ufrag)
	}
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return nil, fmt.Errorf("transport: listen address %v is not UDP", addr)
	}
	c := t.conn4
	if ua.IP.To4() == nil {
		c = t.conn6
	}
	c.addLocal(ua)
	return c, nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

type queued struct {
	buf  *[]byte
	n    int
	from netip.AddrPort
}

// muxedConn is the net.PacketConn an agent reads its STUN and DTLS datagrams from.
type muxedConn struct {
	t      *Transport
	ch     chan queued
	done   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	locals []*net.UDPAddr
}

func newMuxedConn(t *Transport) *muxedConn {
	return &muxedConn{t: t, ch: make(chan queued, connQueueLen), done: make(chan struct{})}
}

func (c *muxedConn) addLocal(a *net.UDPAddr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.locals = append(c.locals, a)
}

// push copies a datagram into the queue; false if the reader lags or the conn is closed.
func (c *muxedConn) push(b []byte, from netip.AddrPort) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	p := bufPool.Get().(*[]byte)
	n := copy(*p, b)
	select {
	case c.ch <- queued{buf: p, n: n, from: from}:
		return true
	default:
		bufPool.Put(p)
		return false
	}
}

func (c *muxedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case q := <-c.ch:
		n := copy(b, (*q.buf)[:q.n])
		bufPool.Put(q.buf)
		return n, net.UDPAddrFromAddrPort(q.from), nil
	case <-c.done:
		return 0, nil, net.ErrClosed
	}
}

func (c *muxedConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, fmt.Errorf("transport: write to non-UDP address %v", addr)
	}
	ap := ua.AddrPort()
	return c.t.mux.writeTo(c.t, b, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
}

func (c *muxedConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

func (c *muxedConn) LocalAddr() net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.locals) > 0 {
		return c.locals[0]
	}
	return net.UDPAddrFromAddrPort(c.t.mux.local)
}

// Deadlines are not used by the agents; Close unblocks ReadFrom.
func (c *muxedConn) SetDeadline(time.Time) error      { return nil }
func (c *muxedConn) SetReadDeadline(time.Time) error  { return nil }
func (c *muxedConn) SetWriteDeadline(time.Time) error { return nil }
