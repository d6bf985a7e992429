package transport

// ICE-TCP (RFC 6544): the bridge listens on one TCP port and advertises passive TCP host
// candidates, so that an endpoint whose network blocks UDP connects to the bridge directly.
// Every message on a connection is framed by a 2-byte length (RFC 4571). A connection belongs
// to no transport until its first frame, a STUN binding request whose USERNAME names a local
// ufrag and whose MESSAGE-INTEGRITY checks with that transport's password, binds it; from then
// on it is one more way datagrams reach the transport: STUN and DTLS go to its ICE agent (which
// sees the connection as a peer-reflexive TCP candidate of a passive local candidate), SRTP and
// SRTCP go straight to its Handler, as from the UDP port. When ICE selects a pair over the
// connection, the transport's BatchWriter frames its datagrams onto it instead of sendmmsg.
//
// Bounds: connections are capped (TCPConfig.MaxConns, and unbound ones per source address);
// an unbound connection has tcpHandshakeTimeout to send its binding request and is closed on
// anything else; a bound one is closed after tcpIdleTimeout without a frame; frames longer
// than a datagram buffer are skipped; each connection has its own reader goroutine, so none
// can block another; writes never wait for a full send buffer (a batch that finds no room is
// dropped, as on UDP), and a peer that reads nothing for tcpWriteTimeout is closed. Every drop
// and refusal is counted (TCPStats).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// TCPConfig configures ICE-TCP (JVB's videobridge.ice.tcp; the jitsi/jvb image's
// JVB_TCP_HARVESTER_DISABLED=false, JVB_TCP_PORT, JVB_TCP_MAPPED_PORT).
type TCPConfig struct {
	Enabled bool
	// Port is the TCP port to listen on (0: a free port, for tests). If it cannot be bound
	// and FallbackPort is not 0, FallbackPort is tried (JVB: 443, then 4443).
	Port, FallbackPort int
	// MappedPort is announced in the candidates instead of the bound port (a port forwarded
	// to it, JVB's mapped-port); 0: the bound port.
	MappedPort int
	// MaxConns caps the open connections (0: DefaultMaxTCPConns); more are closed at once.
	MaxConns int
}

// TCPStats counts the ICE-TCP port's connections and frames.
type TCPStats struct {
	Accepted, Open  uint64 // connections accepted in total; open now
	Bound           uint64 // connections a valid binding request tied to a transport
	Refused         uint64 // closed at accept: over MaxConns or the per-source cap of unbound ones
	Rejected        uint64 // closed before binding: first frame not a valid binding request
	TimedOut        uint64 // closed for silence (before binding, or idle after it)
	FramesReceived  uint64
	BytesReceived   uint64
	PacketsSent     uint64 // media datagrams written by BatchWriters
	BytesSent       uint64
	DroppedOversize uint64 // frames longer than a datagram buffer (skipped)
	DroppedFull     uint64 // datagrams not written: the connection's send buffer was full
	WriteFailures   uint64 // connections closed because a write failed or the peer read nothing for tcpWriteTimeout
}

const (
	// DefaultMaxTCPConns is TCPConfig.MaxConns when it is 0.
	DefaultMaxTCPConns = 4096
	// maxUnboundPerSource caps the connections from one IP address that have not yet sent a
	// valid binding request (a browser opens one per interface; a NAT may hide a few users).
	maxUnboundPerSource = 64
	// maxTCPConnsPerTransport caps the connections bound to one transport.
	maxTCPConnsPerTransport = 8
	// tcpReadBufSize is one connection's read buffer: several frames per read.
	tcpReadBufSize = 16 << 10
	// tcpMaxFrame is the longest frame accepted, the size of a datagram buffer.
	tcpMaxFrame = bufSize
)

// Timeouts, variables so that tests can shorten them: an unbound connection must send its
// binding request within tcpHandshakeTimeout; a bound one is closed after tcpIdleTimeout
// without a frame (browsers send a consent check every few seconds).
var (
	tcpHandshakeTimeout = 10 * time.Second
	tcpIdleTimeout      = 30 * time.Second
	// tcpWriteTimeout is how long the rest of a partly written batch may wait for room in the
	// send buffer: a peer that reads nothing for that long is gone, and its connection closed.
	tcpWriteTimeout = 5 * time.Second
)

// errTCPFull is returned when the send buffer had no room and nothing was written.
var errTCPFull = errors.New("transport: TCP send buffer full")

type tcpCounters struct {
	accepted, open, bound, refused, rejected, timedOut  atomic.Uint64
	frames, bytes, packetsSent, bytesSent               atomic.Uint64
	oversize, full, writeFailures, garbage, notSecure   atomic.Uint64
	badIntegrity, rateLimited, queueFull, unknownUfrags atomic.Uint64
}

// tcpListener is the ICE-TCP port: the accept loop and every connection's reader.
type tcpListener struct {
	m         *Mux
	ln        *net.TCPListener
	local     netip.AddrPort
	announced int // port in the candidates
	max       int
	stats     tcpCounters
	wg        sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	conns   map[*tcpConn]struct{}
	unbound map[netip.Addr]int // unbound connections per source address
}

// listenTCP binds the ICE-TCP port next to the UDP one (same bind address).
func (m *Mux) listenTCP(cfg TCPConfig) error {
	host := ""
	network := "tcp"
	if m.cfg.BindAddr.IsValid() {
		host, network = m.cfg.BindAddr.String(), "tcp6"
		if m.cfg.BindAddr.Unmap().Is4() {
			host, network = m.cfg.BindAddr.Unmap().String(), "tcp4"
		}
	}
	ports := []int{cfg.Port}
	if cfg.FallbackPort != 0 && cfg.FallbackPort != cfg.Port {
		ports = append(ports, cfg.FallbackPort)
	}
	var errs []error
	for _, port := range ports {
		if port < 0 || port > 65535 {
			return fmt.Errorf("transport: TCP port %d: expected 0..65535", port)
		}
		ln, err := net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		l := &tcpListener{m: m, ln: ln.(*net.TCPListener), max: cfg.MaxConns,
			conns: map[*tcpConn]struct{}{}, unbound: map[netip.Addr]int{}}
		la := l.ln.Addr().(*net.TCPAddr).AddrPort()
		l.local = netip.AddrPortFrom(la.Addr().Unmap(), la.Port())
		l.announced = int(l.local.Port())
		if cfg.MappedPort > 0 && cfg.MappedPort <= 65535 {
			l.announced = cfg.MappedPort
		}
		if l.max <= 0 {
			l.max = DefaultMaxTCPConns
		}
		m.tcp = l
		m.iceTCP = &iceTCPMux{l: l}
		l.wg.Add(1)
		go l.acceptLoop()
		if len(errs) > 0 {
			m.log.Info("ICE-TCP port not bindable, using the fallback", "port", ports[0], "err", errors.Join(errs...))
		}
		m.log.Info("ICE-TCP port bound", "addr", l.local.String(), "announced_port", l.announced)
		return nil
	}
	return fmt.Errorf("transport: bind ICE-TCP port (tried %v): %w", ports, errors.Join(errs...))
}

// TCPAddr is the bound ICE-TCP address; invalid when ICE-TCP is off.
func (m *Mux) TCPAddr() netip.AddrPort {
	if m.tcp == nil {
		return netip.AddrPort{}
	}
	return m.tcp.local
}

func (l *tcpListener) acceptLoop() {
	defer l.wg.Done()
	for {
		c, err := l.ln.AcceptTCP()
		if err != nil {
			if l.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors or the like: back off instead of spinning.
			l.m.log.Warn("ICE-TCP accept failed", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		l.admit(c)
	}
}

func (l *tcpListener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// admit starts a reader for c unless a cap says no.
func (l *tcpListener) admit(c *net.TCPConn) {
	l.stats.accepted.Add(1)
	ra := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	remote := netip.AddrPortFrom(ra.Addr().Unmap(), ra.Port())
	la := c.LocalAddr().(*net.TCPAddr).AddrPort()
	tc := &tcpConn{l: l, c: c, remote: remote, local: la.Addr().Unmap(), done: make(chan struct{})}
	l.mu.Lock()
	if l.closed || len(l.conns) >= l.max || l.unbound[remote.Addr()] >= maxUnboundPerSource {
		l.mu.Unlock()
		l.stats.refused.Add(1)
		c.Close()
		return
	}
	l.conns[tc] = struct{}{}
	l.unbound[remote.Addr()]++
	l.wg.Add(1)
	l.mu.Unlock()
	l.stats.open.Add(1)
	if err := tc.setup(); err != nil {
		l.m.log.Debug("ICE-TCP connection setup failed", "remote", remote.String(), "err", err)
	}
	go tc.serve()
}

// forget removes c (its reader is ending).
func (l *tcpListener) forget(c *tcpConn, wasBound bool) {
	l.mu.Lock()
	delete(l.conns, c)
	if !wasBound {
		if l.unbound[c.remote.Addr()]--; l.unbound[c.remote.Addr()] <= 0 {
			delete(l.unbound, c.remote.Addr())
		}
	}
	l.mu.Unlock()
	l.stats.open.Add(^uint64(0))
}

// bound moves c from the unbound count of its source.
func (l *tcpListener) bound(c *tcpConn) {
	l.mu.Lock()
	if l.unbound[c.remote.Addr()]--; l.unbound[c.remote.Addr()] <= 0 {
		delete(l.unbound, c.remote.Addr())
	}
	l.mu.Unlock()
	l.stats.bound.Add(1)
}

// close stops accepting, closes every connection and waits for the readers.
func (l *tcpListener) close() {
	l.mu.Lock()
	l.closed = true
	conns := make([]*tcpConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	l.ln.Close()
	for _, c := range conns {
		c.close()
	}
	l.wg.Wait()
}

func (l *tcpListener) snapshot() TCPStats {
	s := &l.stats
	return TCPStats{
		Accepted: s.accepted.Load(), Open: s.open.Load(), Bound: s.bound.Load(),
		Refused: s.refused.Load(), Rejected: s.rejected.Load(), TimedOut: s.timedOut.Load(),
		FramesReceived: s.frames.Load(), BytesReceived: s.bytes.Load(),
		PacketsSent: s.packetsSent.Load(), BytesSent: s.bytesSent.Load(),
		DroppedOversize: s.oversize.Load(), DroppedFull: s.full.Load(), WriteFailures: s.writeFailures.Load(),
	}
}

// addTo adds the drops that the UDP port counts under the same names to st.
func (l *tcpListener) addTo(st *MuxStats) {
	s := &l.stats
	st.TCP = l.snapshot()
	st.DroppedGarbage += s.garbage.Load()
	st.DroppedNotSecure += s.notSecure.Load()
	st.DroppedBadIntegrity += s.badIntegrity.Load()
	st.DroppedSTUNRateLimited += s.rateLimited.Load()
	st.DroppedQueueFull += s.queueFull.Load()
	st.DroppedUnknownUfrag += s.unknownUfrags.Load()
}

// tcpFramer cuts RFC 4571 frames out of a connection's byte stream, in place in one buffer:
// read into Space, report the bytes with Filled, take frames with Next until it has none, then
// Compact before the next read. A frame longer than tcpMaxFrame is skipped (Next reports it),
// however many reads it spans. No frame straddles the buffer's end, since a whole one fits.
type tcpFramer struct {
	buf        []byte
	r, w, skip int
}

func newTCPFramer(size int) tcpFramer { return tcpFramer{buf: make([]byte, size)} }

func (f *tcpFramer) space() []byte { return f.buf[f.w:] }
func (f *tcpFramer) filled(n int)  { f.w += n }

// next returns the next whole frame (valid until compact), or oversize when it skipped the
// header of a frame longer than tcpMaxFrame, or neither when it needs more bytes.
func (f *tcpFramer) next() (frame []byte, oversize, ok bool) {
	if f.skip > 0 {
		d := min(f.skip, f.w-f.r)
		f.r, f.skip = f.r+d, f.skip-d
		if f.skip > 0 {
			return nil, false, false
		}
	}
	if f.w-f.r < 2 {
		return nil, false, false
	}
	n := int(binary.BigEndian.Uint16(f.buf[f.r:]))
	if n > tcpMaxFrame {
		f.r += 2
		f.skip = n
		return nil, true, false
	}
	if f.w-f.r < 2+n {
		return nil, false, false
	}
	frame = f.buf[f.r+2 : f.r+2+n]
	f.r += 2 + n
	return frame, false, true
}

// compact moves the unread tail to the front of the buffer.
func (f *tcpFramer) compact() {
	f.w = copy(f.buf, f.buf[f.r:f.w])
	f.r = 0
}

// tcpConn is one accepted connection. Its reader goroutine owns the read side and, until the
// connection is bound, t and pc; the write side is shared by the transport's BatchWriter and
// its ICE agent, serialised by wmu.
type tcpConn struct {
	l      *tcpListener
	c      *net.TCPConn
	remote netip.AddrPort
	local  netip.Addr
	done   chan struct{} // closed when the reader has returned
	once   sync.Once

	t  atomic.Pointer[Transport] // set once by the reader when a binding request binds it
	pc *tcpPacketConn            // the agent's conn it feeds (reader goroutine only)
	// stun is the reader's copy of the STUN message being checked, with room for the HMAC
	// that the check appends.
	stun []byte

	wmu       sync.Mutex
	rest      []byte // the unwritten end of a partly written batch
	restSince time.Time
	tcpWriteState
}

func (c *tcpConn) close() {
	c.once.Do(func() { c.c.Close() })
}

// serve reads frames until the connection fails, times out or is closed.
func (c *tcpConn) serve() {
	l := c.l
	defer func() {
		c.close()
		t := c.t.Load()
		if t != nil {
			t.tcp.drop(c)
		}
		l.forget(c, t != nil)
		close(c.done)
		l.wg.Done()
	}()
	fr := newTCPFramer(tcpReadBufSize)
	c.stun = make([]byte, 0, tcpMaxFrame+64)
	st := &readerState{}
	deadline := time.Now().Add(tcpHandshakeTimeout)
	if err := c.c.SetReadDeadline(deadline); err != nil {
		return
	}
	for {
		n, err := c.c.Read(fr.space())
		now := time.Now()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				l.stats.timedOut.Add(1)
			}
			return
		}
		fr.filled(n)
		l.stats.bytes.Add(uint64(n))
		if !c.dispatch(st, &fr, now) {
			return
		}
		fr.compact()
		if c.t.Load() != nil && deadline.Sub(now) < tcpIdleTimeout/2 {
			deadline = now.Add(tcpIdleTimeout)
			if err := c.c.SetReadDeadline(deadline); err != nil {
				return
			}
		}
	}
}

// dispatch hands every whole frame read so far to handle, as one Batch; false closes the
// connection.
func (c *tcpConn) dispatch(st *readerState, fr *tcpFramer, now time.Time) bool {
	l := c.l
	st.batch.Start(now.UnixNano())
	defer st.batch.Finish()
	// Counted once per read: the counters are shared by every connection.
	frames := uint64(0)
	defer func() { l.stats.frames.Add(frames) }()
	for {
		frame, oversize, ok := fr.next()
		if oversize {
			l.stats.oversize.Add(1)
			if c.t.Load() == nil {
				l.stats.rejected.Add(1)
				return false
			}
			continue
		}
		if !ok {
			return true
		}
		frames++
		if !c.handle(st, frame) {
			return false
		}
	}
}

// handle dispatches one frame by its first byte (RFC 7983); false closes the connection.
func (c *tcpConn) handle(st *readerState, frame []byte) bool {
	l := c.l
	if len(frame) == 0 {
		l.stats.garbage.Add(1)
		return c.reject(c.t.Load() != nil)
	}
	t := c.t.Load()
	switch b := frame[0]; {
	case b <= 3:
		return c.handleSTUN(st, frame)
	case t == nil:
		l.stats.rejected.Add(1) // anything before the binding request
		return false
	case b >= 128 && b <= 191: // RTP / RTCP
		rtcp := len(frame) >= 2 && frame[1] >= 192 && frame[1] <= 223
		if len(frame) < 8 || (!rtcp && len(frame) < 12) {
			l.stats.garbage.Add(1)
			return true
		}
		if !t.secure.Load() {
			l.stats.notSecure.Add(1)
			return true
		}
		t.handler.HandleSRTP(&st.batch, frame, rtcp)
	case b >= 20 && b <= 63: // DTLS
		if len(frame) < 13 {
			l.stats.garbage.Add(1)
			return true
		}
		if !c.pc.push(frame, c.remote) {
			l.stats.queueFull.Add(1)
		}
	default:
		l.stats.garbage.Add(1)
	}
	return true
}

// writeFrame frames one datagram from the ICE agent (STUN, DTLS).
func (c *tcpConn) writeFrame(b []byte) error {
	if len(b) > 0xFFFF {
		return fmt.Errorf("transport: %d-byte datagram does not fit an ICE-TCP frame", len(b))
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.frames = append(c.frames[:0], byte(len(b)>>8), byte(len(b)))
	c.frames = append(c.frames, b...)
	return c.writeLocked(c.frames)
}

// writeDatagrams frames ds into one write (BatchWriter): 0 allocations once the connection's
// buffers have grown to a batch.
func (c *tcpConn) writeDatagrams(ds [][]byte) (bytes uint64, err error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	f := c.frames[:0]
	for _, d := range ds {
		f = append(f, byte(len(d)>>8), byte(len(d)))
		f = append(f, d...)
		bytes += uint64(len(d))
	}
	c.frames = f
	return bytes, c.writeLocked(f)
}

// writeLocked writes b (whole frames) without waiting for the socket. If the send buffer has
// no room, nothing is written and errTCPFull returned (the caller drops b, as a full UDP socket
// would). If it takes part of b, the rest is kept and goes out first on the next write, before
// which every write is dropped: frames must stay whole. A rest that has found no room for
// tcpWriteTimeout closes the connection.
func (c *tcpConn) writeLocked(b []byte) error {
	if len(c.rest) > 0 {
		n, err := c.writeRaw(c.rest)
		c.rest = c.rest[:copy(c.rest, c.rest[n:])]
		if err != nil && !errors.Is(err, errTCPFull) {
			return c.fail(err)
		}
		if len(c.rest) > 0 {
			if time.Since(c.restSince) > tcpWriteTimeout {
				return c.fail(fmt.Errorf("transport: ICE-TCP peer read nothing for %v", tcpWriteTimeout))
			}
			return errTCPFull
		}
	}
	n, err := c.writeRaw(b)
	if n > 0 && n < len(b) {
		c.rest = append(c.rest[:0], b[n:]...)
		c.restSince = time.Now()
		return nil
	}
	if err != nil && !errors.Is(err, errTCPFull) {
		return c.fail(err)
	}
	return err
}

// fail closes the connection after a write error (counted unless it was closed already).
func (c *tcpConn) fail(err error) error {
	if !errors.Is(err, net.ErrClosed) {
		c.l.stats.writeFailures.Add(1)
	}
	c.close()
	return err
}

// tcpTransport is a transport's ICE-TCP state: the agent's packet conns (one per local
// address of its passive candidates), the connections bound to it, the selected one.
type tcpTransport struct {
	selected atomic.Pointer[tcpConn] // the selected pair is over this connection

	mu     sync.Mutex
	closed bool
	pcs    []*tcpPacketConn
	conns  []*tcpConn
}

// bind ties c to t; false if t is closing or has maxTCPConnsPerTransport connections.
func (s *tcpTransport) bind(t *Transport, c *tcpConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.conns) >= maxTCPConnsPerTransport || len(s.pcs) == 0 {
		return false
	}
	pc := s.pcs[0]
	for _, p := range s.pcs {
		if p.local.Addr() == c.local {
			pc = p
			break
		}
	}
	c.pc = pc
	s.conns = append(s.conns, c)
	c.t.Store(t)
	return true
}

func (s *tcpTransport) drop(c *tcpConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.conns {
		if x == c {
			s.conns = append(s.conns[:i], s.conns[i+1:]...)
			break
		}
	}
}

// conn returns the connection from remote, nil if none.
func (s *tcpTransport) conn(remote netip.AddrPort) *tcpConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		if c.remote == remote {
			return c
		}
	}
	return nil
}

// packetConn returns the agent's conn for local address ip, creating it.
func (s *tcpTransport) packetConn(t *Transport, local netip.AddrPort) *tcpPacketConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pcs {
		if p.local == local {
			return p
		}
	}
	p := newTCPPacketConn(t, local)
	if s.closed {
		p.Close()
	}
	s.pcs = append(s.pcs, p)
	return p
}

// selectPair records whether the selected pair is over one of t's connections.
func (s *tcpTransport) selectPair(remote netip.AddrPort, isTCP bool) {
	var c *tcpConn
	if isTCP {
		c = s.conn(remote)
	}
	s.selected.Store(c)
}

// close closes t's connections and packet conns and waits until their readers returned, so
// that no HandleSRTP call from them is in flight afterwards.
func (s *tcpTransport) close() {
	s.mu.Lock()
	s.closed = true
	conns := append([]*tcpConn(nil), s.conns...)
	pcs := s.pcs
	s.mu.Unlock()
	for _, p := range pcs {
		p.Close()
	}
	for _, c := range conns {
		c.close()
	}
	for _, c := range conns {
		<-c.done
	}
}
