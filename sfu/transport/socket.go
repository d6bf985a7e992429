package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"
)

// socketAPI is how the mux binds, reads and writes its UDP sockets: the Linux fast path
// (SO_REUSEPORT, recvmmsg, sendmmsg; socket_linux.go) or the portable one below, which every
// platform Go supports can run and which Config.PortableSockets forces on Linux too.
type socketAPI struct {
	name string
	// reusePort: several sockets may share one port and the kernel spreads the datagrams
	// over them. Without it the mux binds one socket and runs one reader.
	reusePort bool
	// listen binds a socket asking for buffer bytes of receive and send buffer (buffer < 0:
	// the system's default) and returns the receive and send buffer sizes granted (0: unknown).
	listen    func(network, addr string, buffer int) (*net.UDPConn, [2]int, error)
	newReader func(c *net.UDPConn, n, size int) (datagramReader, error)
	// newSender returns a BatchWriter's send state on c. gsoOff is c's switch for UDP
	// segmentation offload: senders that can send a run of equal-sized datagrams as one
	// message (Linux, UDP_SEGMENT) do so while it is false, and set it when the kernel refuses.
	newSender func(c *net.UDPConn, n int, gsoOff *atomic.Bool) (datagramSender, error)
	// newGather returns a socket reader's send state for datagrams to many addresses
	// (readerSend; nil: the platform sends each writer's batch on its own).
	newGather func(c *net.UDPConn, n int, gsoOff *atomic.Bool) (gatherSender, error)
	// gso reports whether c can send with segmentation offload (nil: never).
	gso func(c *net.UDPConn) bool
	// drops returns how many datagrams the kernel dropped at c because its receive buffer was
	// full (0 where the platform does not tell).
	drops func(c *net.UDPConn) uint64
}

// datagramReader is one socket reader's receive state.
type datagramReader interface {
	// read blocks until at least one datagram arrived, the socket closed, or readWakeup passed
	// (os.ErrDeadlineExceeded): the reader wakes at least that often to show it is alive.
	read(now time.Time) (int, error)
	// datagram returns the i-th datagram of the last read (nil if it was truncated), its source
	// and when it arrived at the socket (unix nanoseconds; 0 where the reader cannot tell).
	datagram(i int) ([]byte, netip.AddrPort, int64)
}

// datagramSender is one BatchWriter's send state: every datagram of a batch goes to one address.
type datagramSender interface {
	setAddr(ap netip.AddrPort, v6socket bool)
	// set puts datagram i of the next batch in place.
	set(i int, b []byte)
	// write sends datagrams [0:n) and returns how many the kernel accepted, their bytes, and
	// the first error of those it did not take (the others of the batch are still tried,
	// except after a full send buffer, which drops the rest of the batch).
	write(n int) (sent int, bytes uint64, err error)
}

// gatherSender is a socket reader's send state for the datagrams of many writers, each with
// its own address (readerSend).
type gatherSender interface {
	// setTo puts datagram i of the next batch in place, to ap.
	setTo(i int, b []byte, ap netip.AddrPort, v6socket bool)
	// write sends datagrams [0:n) as datagramSender.write does.
	write(n int) (sent int, bytes uint64, err error)
	// accepted reports whether the kernel took datagram i of the last write.
	accepted(i int) bool
}

// socketsFor returns the socket API a mux with cfg uses.
func socketsFor(cfg Config) *socketAPI {
	if cfg.PortableSockets || fastSockets == nil {
		return &portableSockets
	}
	return fastSockets
}

// portableSockets reads and writes one datagram per call through package net.
var portableSockets = socketAPI{
	name:      "portable",
	listen:    listenPortable,
	newReader: newPortableReader,
	newSender: newPortableSender,
	drops:     func(*net.UDPConn) uint64 { return 0 },
}

func listenPortable(network, addr string, buffer int) (*net.UDPConn, [2]int, error) {
	ua, err := net.ResolveUDPAddr(network, addr)
	if err != nil {
		return nil, [2]int{}, err
	}
	c, err := net.ListenUDP(network, ua)
	if err != nil {
		return nil, [2]int{}, err
	}
	var granted [2]int
	if buffer >= 0 {
		// The system may grant less; it does not say how much without platform calls.
		if c.SetReadBuffer(buffer) == nil {
			granted[0] = buffer
		}
		if c.SetWriteBuffer(buffer) == nil {
			granted[1] = buffer
		}
	}
	return c, granted, nil
}

// wsaEMSGSIZE is Windows' error for a datagram that did not fit the read buffer.
const wsaEMSGSIZE = syscall.Errno(10040)

// portableReader reads one datagram per read, into a buffer one byte longer than the largest
// datagram it accepts, so that a truncated one is recognised on every platform.
type portableReader struct {
	conn     *net.UDPConn
	deadline time.Time
	buf      []byte
	size     int
	n        int
	from     netip.AddrPort
}

func newPortableReader(c *net.UDPConn, _, size int) (datagramReader, error) {
	return &portableReader{conn: c, buf: make([]byte, size+1), size: size}, nil
}

func (r *portableReader) read(now time.Time) (int, error) {
	if r.deadline.Sub(now) < readWakeup/2 {
		r.deadline = now.Add(readWakeup)
		if err := r.conn.SetReadDeadline(r.deadline); err != nil {
			return 0, err
		}
	}
	n, from, err := r.conn.ReadFromUDPAddrPort(r.buf)
	if err != nil {
		if errors.Is(err, wsaEMSGSIZE) {
			// Windows fails the read of a datagram larger than the buffer: a truncated one.
			r.n = r.size + 1
			return 1, nil
		}
		return 0, err
	}
	r.n, r.from = n, netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	return 1, nil
}

// datagram implements datagramReader. Package net gives no receive timestamps: the arrival
// time is unknown (the handler takes the read's time).
func (r *portableReader) datagram(int) ([]byte, netip.AddrPort, int64) {
	if r.n > r.size {
		return nil, netip.AddrPort{}, 0
	}
	return r.buf[:r.n], r.from, 0
}

// portableSender writes the datagrams of a batch one by one. Unlike sendmmsg under
// RawConn.Control, a write may wait while the send buffer is full.
type portableSender struct {
	conn *net.UDPConn
	bufs [][]byte
	addr netip.AddrPort
}

func newPortableSender(c *net.UDPConn, n int, _ *atomic.Bool) (datagramSender, error) {
	return &portableSender{conn: c, bufs: make([][]byte, n)}, nil
}

func (s *portableSender) setAddr(ap netip.AddrPort, v6socket bool) {
	if v6socket && ap.Addr().Is4() {
		ap = netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port())
	}
	s.addr = ap
}

func (s *portableSender) set(i int, b []byte) { s.bufs[i] = b }

func (s *portableSender) write(n int) (sent int, bytes uint64, err error) {
	for i := range n {
		m, werr := s.conn.WriteToUDPAddrPort(s.bufs[i], s.addr)
		s.bufs[i] = nil
		if werr != nil {
			if err == nil {
				err = fmt.Errorf("datagram %d of %d: %w", i+1, n, werr)
			}
			continue
		}
		sent++
		bytes += uint64(m)
	}
	return sent, bytes, err
}
