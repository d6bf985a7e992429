package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/stun/v4"
)

// handleSTUN routes a STUN frame. The first one must be a binding request for a local ufrag
// with good MESSAGE-INTEGRITY: it binds the connection to that transport. Afterwards requests
// must name the same ufrag, responses check with the remote password, as on the UDP port.
// False closes the connection.
func (c *tcpConn) handleSTUN(st *readerState, b []byte) bool {
	l := c.l
	t := c.t.Load()
	bound := t != nil
	if len(b) < stunHeaderSize || binary.BigEndian.Uint32(b[4:8]) != stunMagicCookie {
		l.stats.garbage.Add(1)
		return c.reject(bound)
	}
	// A copy: checking MESSAGE-INTEGRITY writes the HMAC just past the message, where the
	// next frame's bytes are in the read buffer.
	c.stun = append(c.stun[:0], b...)
	msg := &st.msg
	msg.Reset()
	msg.Raw = c.stun
	if err := msg.Decode(); err != nil {
		msg.Raw = nil
		l.stats.garbage.Add(1)
		return c.reject(bound)
	}
	defer func() { msg.Raw = nil }()
	now := st.batch.Now()
	switch msg.Type.Class {
	case stun.ClassRequest:
		user, err := msg.Get(stun.AttrUsername)
		local, _, found := bytes.Cut(user, []byte{':'})
		if err != nil || !found {
			l.stats.unknownUfrags.Add(1)
			return c.reject(bound)
		}
		if !bound {
			t, _ = l.m.ufrags.get(string(local))
		} else if string(local) != t.localUfrag {
			t = nil
		}
		if t == nil {
			l.stats.unknownUfrags.Add(1)
			return c.reject(bound)
		}
		if stun.MessageIntegrity(t.localKey).Check(msg) != nil {
			l.stats.badIntegrity.Add(1)
			return c.reject(bound)
		}
		if !t.stunRequests.allow(now, STUNRequestRate, STUNRequestBurst) || !l.m.sources.allow(c.remote.Addr(), now) {
			l.stats.rateLimited.Add(1)
			return c.reject(bound)
		}
		if !bound {
			if !t.tcp.bind(t, c) {
				return c.reject(false)
			}
			l.bound(c)
			t.log.Debug("ICE-TCP connection bound", "remote", c.remote.String())
		}
		t.lastCheck.Store(now)
	case stun.ClassSuccessResponse, stun.ClassErrorResponse:
		if !bound {
			return c.reject(false)
		}
		key := t.remoteKey.Load()
		hasMI := msg.Contains(stun.AttrMessageIntegrity)
		if key == nil || (!hasMI && msg.Type.Class == stun.ClassSuccessResponse) ||
			(hasMI && stun.MessageIntegrity(*key).Check(msg) != nil) {
			l.stats.badIntegrity.Add(1)
			return true
		}
		if msg.Type.Class == stun.ClassSuccessResponse {
			t.lastCheck.Store(now)
		}
	default: // indication (keepalive)
		if !bound {
			return c.reject(false)
		}
	}
	if !c.pc.push(b, c.remote) {
		l.stats.queueFull.Add(1)
	}
	return true
}

// reject counts a connection closed before binding; a bound one just drops the frame.
func (c *tcpConn) reject(bound bool) bool {
	if !bound {
		c.l.stats.rejected.Add(1)
	}
	return bound
}

// writeTCP sends queued[:n] over the selected ICE-TCP connection, framed, in one write.
func (w *BatchWriter) writeTCP(c *tcpConn, n int) error {
	bytes, err := c.writeDatagrams(w.queued[:n])
	if err != nil {
		w.dropped.Add(uint64(n))
		if errors.Is(err, errTCPFull) {
			c.l.stats.full.Add(uint64(n))
			return err // as is: a peer that reads slowly makes this frequent, wrapping would allocate
		}
		return fmt.Errorf("transport: %d datagrams over ICE-TCP to %s not sent: %w", n, c.remote, err)
	}
	w.sent.Add(uint64(n))
	w.sentBytes.Add(bytes)
	c.l.stats.packetsSent.Add(uint64(n))
	c.l.stats.bytesSent.Add(bytes)
	return nil
}

// tcpCandidate converts the agent's passive TCP host candidate, announcing the mapped port;
// false for an address that has no UDP host candidate (the agent also gathers loopback, which
// the UDP port leaves out when the host has other addresses).
func (m *Mux) tcpCandidate(c ice.Candidate, ip netip.Addr) (Candidate, bool) {
	found := false
	for _, a := range m.listen {
		if ua, ok := a.(*net.UDPAddr); ok && ua.AddrPort().Addr().Unmap() == ip.Unmap() {
			found = true
			break
		}
	}
	return Candidate{
		Foundation: c.Foundation(), Component: 1, Protocol: "tcp", Priority: c.Priority(),
		IP: ip.String(), Port: m.tcp.announced, Type: "host", ID: c.ID(), TCPType: "passive",
	}, found
}

// tcpAdvertised returns one passive TCP server-reflexive candidate per advertised address.
func (m *Mux) tcpAdvertised() []Candidate {
	if m.tcp == nil {
		return nil
	}
	var out []Candidate
	rel := m.tcp.local.Addr()
	if len(m.listen) > 0 {
		rel = m.listen[0].(*net.UDPAddr).AddrPort().Addr().Unmap()
	}
	for i, a := range m.Advertised() {
		// RFC 6544 §4.2: local preference 2^13 * direction (passive: 2) + other (8191-i),
		// under every UDP candidate of the same type.
		local := uint32(2)<<13 | uint32(8191-i)
		out = append(out, Candidate{
			Foundation: fmt.Sprintf("%d", 2000+i), Component: 1, Protocol: "tcp",
			Priority: uint32(100)<<24 | local<<8 | uint32(256-1),
			IP:       a.IP.Unmap().String(), Port: m.tcp.announced, Type: "srflx",
			ID: fmt.Sprintf("srflx-tcp-%d", i), TCPType: "passive",
			RelAddr: rel.String(), RelPort: int(m.tcp.local.Port()),
		})
	}
	return out
}

// iceTCPMux is pion/ice's TCPMux on top of the ICE-TCP listener: the agents' passive TCP
// candidates get per-transport packet conns fed by the connections' readers.
type iceTCPMux struct{ l *tcpListener }

func (u *iceTCPMux) Close() error { return nil } // the Mux owns the listener

func (u *iceTCPMux) RemoveConnByUfrag(string) {} // Transport.Close closes its conns

// LocalAddr makes the agents gather candidates only for the bound address (if not a wildcard).
func (u *iceTCPMux) LocalAddr() net.Addr { return u.l.ln.Addr() }

func (u *iceTCPMux) GetConnByUfrag(ufrag string, _ bool, local net.IP) (net.PacketConn, error) {
	t, _ := u.l.m.ufrags.get(ufrag)
	if t == nil {
		return nil, fmt.Errorf("transport: no transport with ufrag %q", ufrag)
	}
	ip, ok := netip.AddrFromSlice(local)
	if !ok {
		return nil, fmt.Errorf("transport: local address %v", local)
	}
	return t.tcp.packetConn(t, netip.AddrPortFrom(ip.Unmap(), u.l.local.Port())), nil
}

// tcpPacketConn is the net.PacketConn a transport's agent reads its STUN and DTLS from for one
// passive TCP candidate; writes go to the bound connection of the destination address.
type tcpPacketConn struct {
	t     *Transport
	local netip.AddrPort
	ch    chan queued
	done  chan struct{}
	once  sync.Once
}

func newTCPPacketConn(t *Transport, local netip.AddrPort) *tcpPacketConn {
	return &tcpPacketConn{t: t, local: local, ch: make(chan queued, connQueueLen), done: make(chan struct{})}
}

// push copies a frame into the queue; false if the agent lags or the conn is closed.
func (p *tcpPacketConn) push(b []byte, from netip.AddrPort) bool {
	select {
	case <-p.done:
		return false
	default:
	}
	q := bufPool.Get().(*[]byte)
	n := copy(*q, b)
	select {
	case p.ch <- queued{buf: q, n: n, from: from}:
		return true
	default:
		bufPool.Put(q)
		return false
	}
}

func (p *tcpPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case q := <-p.ch:
		n := copy(b, (*q.buf)[:q.n])
		bufPool.Put(q.buf)
		return n, net.TCPAddrFromAddrPort(q.from), nil
	case <-p.done:
		return 0, nil, net.ErrClosed
	}
}

// WriteTo frames b onto the connection from addr. Without one (it closed) or with its send
// buffer full, b is dropped as a UDP datagram would be.
func (p *tcpPacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	select {
	case <-p.done:
		return 0, net.ErrClosed
	default:
	}
	var ap netip.AddrPort
	switch a := addr.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	default:
		return 0, fmt.Errorf("transport: write to address %v", addr)
	}
	c := p.t.tcp.conn(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
	if c == nil {
		return len(b), nil
	}
	if err := c.writeFrame(b); err != nil && !errors.Is(err, errTCPFull) {
		return 0, err
	}
	return len(b), nil
}

func (p *tcpPacketConn) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

func (p *tcpPacketConn) LocalAddr() net.Addr { return net.TCPAddrFromAddrPort(p.local) }

// Deadlines are not used by the agents; Close unblocks ReadFrom.
func (p *tcpPacketConn) SetDeadline(time.Time) error      { return nil }
func (p *tcpPacketConn) SetReadDeadline(time.Time) error  { return nil }
func (p *tcpPacketConn) SetWriteDeadline(time.Time) error { return nil }
