//go:build linux

package transport

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fastSockets is the Linux path: SO_REUSEPORT sockets, recvmmsg with a kernel receive timestamp
// per datagram (SO_TIMESTAMPNS), and sendmmsg, with runs of equal-sized datagrams sent as one
// message each (UDP_SEGMENT) where the kernel supports it.
var fastSockets = &socketAPI{
	name:      "recvmmsg",
	reusePort: true,
	listen:    listenUDP,
	newReader: func(c *net.UDPConn, n, size int) (datagramReader, error) { return newRecvBatch(c, n, size) },
	newSender: func(c *net.UDPConn, n int, gsoOff *atomic.Bool) (datagramSender, error) {
		return newSendBatch(c, n, gsoOff)
	},
	newGather: func(c *net.UDPConn, n int, gsoOff *atomic.Bool) (gatherSender, error) {
		s, err := newSendBatch(c, n, gsoOff)
		if err != nil {
			return nil, err
		}
		s.dsts = make([]netip.AddrPort, n)
		s.names = make([]unix.RawSockaddrInet6, n)
		s.namelens = make([]uint32, n)
		s.ok = make([]bool, n)
		return s, nil
	},
	gso:   gsoSupported,
	drops: socketDrops,
}

// listenUDP binds a UDP socket with SO_REUSEPORT so several sockets can share one port, and
// asks for buffer bytes of receive and send buffer (buffer < 0: the kernel's default). It
// turns on SO_TIMESTAMPNS: every datagram read carries when it arrived. It returns the receive
// and send buffer sizes the kernel granted.
func listenUDP(network, addr string, buffer int) (*net.UDPConn, [2]int, error) {
	var granted [2]int
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); serr != nil {
				serr = fmt.Errorf("SO_REUSEPORT: %w", serr)
				return
			}
			// Without receive timestamps (a kernel or sandbox that refuses the option) the
			// datagrams carry none and each takes its batch's time: worse feedback, still media.
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
			if buffer >= 0 {
				setBuffer(int(fd), unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, buffer)
				setBuffer(int(fd), unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, buffer)
			}
			granted[0], _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
			granted[1], _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
		}); err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), network, addr)
	if err != nil {
		return nil, granted, err
	}
	return pc.(*net.UDPConn), granted, nil
}

// setBuffer sets a socket buffer size, beyond net.core.[rw]mem_max when the process may
// (CAP_NET_ADMIN), else as far as that limit allows. The caller logs what was granted.
func setBuffer(fd, force, plain, size int) {
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, force, size) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, plain, size)
	}
}

// skMeminfoDrops is the index of the drop counter in SO_MEMINFO's array (linux/sock_diag.h).
const skMeminfoDrops = 8

// socketDrops returns how many datagrams the kernel dropped at c because its receive buffer
// was full (or the socket filter refused them).
func socketDrops(c *net.UDPConn) uint64 {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	var info [skMeminfoDrops + 2]uint32
	var drops uint64
	_ = rc.Control(func(fd uintptr) {
		n := uint32(unsafe.Sizeof(info))
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO,
			uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&n)), 0)
		if e == 0 && n > skMeminfoDrops*4 {
			drops = uint64(info[skMeminfoDrops])
		}
	})
	return drops
}

// sizeofTimespec is the payload of an SCM_TIMESTAMPNS control message.
const sizeofTimespec = int(unsafe.Sizeof(unix.Timespec{}))

// ctrlSize is one datagram's control buffer: room for its SCM_TIMESTAMPNS, the only control
// message the socket asks for.
var ctrlSize = unix.CmsgSpace(sizeofTimespec)

// recvBatch is one reader's preallocated recvmmsg state.
type recvBatch struct {
	conn     *net.UDPConn
	deadline time.Time // read deadline last set
	rc       syscall.RawConn
	hdrs     []unix.Mmsghdr
	iovs     []unix.Iovec
	names    []unix.RawSockaddrInet6
	bufs     [][]byte
	ctrl     []byte // ctrlSize bytes of control messages per datagram, 8-byte aligned
	n        int
	errno    error
	fn       func(fd uintptr) bool
}

func newRecvBatch(c *net.UDPConn, n, size int) (*recvBatch, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("transport: raw socket: %w", err)
	}
	r := &recvBatch{
		conn:  c,
		rc:    rc,
		hdrs:  make([]unix.Mmsghdr, n),
		iovs:  make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrInet6, n),
		bufs:  make([][]byte, n),
	}
	// Control messages are read in place as structs: back them with words so they are aligned.
	words := make([]uint64, (n*ctrlSize+7)/8)
	r.ctrl = unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), n*ctrlSize)
	backing := make([]byte, n*size)
	for i := range n {
		r.bufs[i] = backing[i*size : (i+1)*size : (i+1)*size]
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(size)
	}
	r.fn = r.recv
	return r, nil
}

func (r *recvBatch) recv(fd uintptr) bool {
	for i := range r.hdrs {
		h := &r.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		h.Namelen = unix.SizeofSockaddrInet6
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
		h.Control = &r.ctrl[i*ctrlSize]
		h.SetControllen(ctrlSize) // the kernel sets it to what it wrote
		h.Flags = 0
		r.hdrs[i].Len = 0
	}
	for {
		n, e := mmsg(unix.SYS_RECVMMSG, fd, r.hdrs)
		switch e {
		case 0:
			r.n, r.errno = n, nil
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // wait for the poller
		default:
			r.n, r.errno = 0, e
			return true
		}
	}
}

// read implements datagramReader.
func (r *recvBatch) read(now time.Time) (int, error) {
	if r.deadline.Sub(now) < readWakeup/2 {
		r.deadline = now.Add(readWakeup)
		if err := r.conn.SetReadDeadline(r.deadline); err != nil {
			return 0, err
		}
	}
	if err := r.rc.Read(r.fn); err != nil {
		return 0, err
	}
	if r.errno != nil {
		return 0, r.errno
	}
	return r.n, nil
}

// datagram implements datagramReader: the arrival time is the datagram's kernel receive
// timestamp (0 if it came without one).
func (r *recvBatch) datagram(i int) ([]byte, netip.AddrPort, int64) {
	h := &r.hdrs[i]
	if h.Hdr.Flags&unix.MSG_TRUNC != 0 {
		return nil, netip.AddrPort{}, 0
	}
	ctrl := r.ctrl[i*ctrlSize : (i+1)*ctrlSize]
	if n := uint64(h.Hdr.Controllen); n < uint64(len(ctrl)) {
		ctrl = ctrl[:n]
	}
	return r.bufs[i][:h.Len], sockaddrToAddrPort(&r.names[i]), arrivalTime(ctrl)
}

// arrivalTime returns the SCM_TIMESTAMPNS time among the control messages in ctrl, in unix
// nanoseconds, or 0 if there is none (or ctrl is malformed). It does not allocate.
func arrivalTime(ctrl []byte) int64 {
	for len(ctrl) >= unix.SizeofCmsghdr {
		h, data, rest, err := unix.ParseOneSocketControlMessage(ctrl)
		if err != nil {
			return 0
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && len(data) >= sizeofTimespec {
			var ts unix.Timespec
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&ts)), sizeofTimespec), data)
			return max(ts.Nano(), 0)
		}
		ctrl = rest
	}
	return 0
}

func sockaddrToAddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		p := (*[2]byte)(unsafe.Pointer(&sa4.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), uint16(p[0])<<8|uint16(p[1]))
	case unix.AF_INET6:
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(p[0])<<8|uint16(p[1]))
	}
	return netip.AddrPort{}
}

// putSockaddr writes ap into sa in the socket's family and returns the length to pass.
func putSockaddr(sa *unix.RawSockaddrInet6, ap netip.AddrPort, v6socket bool) uint32 {
	*sa = unix.RawSockaddrInet6{}
	if !v6socket {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		sa4.Family = unix.AF_INET
		p := (*[2]byte)(unsafe.Pointer(&sa4.Port))
		p[0], p[1] = byte(ap.Port()>>8), byte(ap.Port())
		sa4.Addr = ap.Addr().Unmap().As4()
		return unix.SizeofSockaddrInet4
	}
	sa.Family = unix.AF_INET6
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(ap.Port()>>8), byte(ap.Port())
	sa.Addr = ap.Addr().As16()
	return unix.SizeofSockaddrInet6
}

// UDP segmentation offload (UDP_SEGMENT, Linux 4.18): one message carries a run of datagrams of
// one size (the last may be shorter) and the kernel cuts it into datagrams as late as it can, so
// the stack is walked once per run instead of once per datagram.
const (
	// maxGSOSegments is how many datagrams one message may carry (UDP_MAX_SEGMENTS of older
	// kernels; newer ones take 128).
	maxGSOSegments = 64
	// maxGSOSegment is the largest datagram sent in a run: with IPv6 and UDP headers (48 bytes)
	// a segment must fit a 1500-byte MTU, or the kernel refuses the whole message.
	maxGSOSegment = 1452
	// maxGSOBytes bounds a run's payload below IP's 64 KiB.
	maxGSOBytes = 65000
)

// gsoSupported reports whether the kernel knows UDP_SEGMENT on c.
func gsoSupported(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		_, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
	}); err != nil {
		return false
	}
	return serr == nil
}

// gsoCtrlSize is one message's control buffer: a UDP_SEGMENT control message (a uint16).
var gsoCtrlSize = unix.CmsgSpace(2)

// sendBatch is one BatchWriter's preallocated sendmmsg state: every datagram goes to one
// address. Datagrams are messages of their own, or, with segmentation offload, runs of
// equal-sized datagrams are one message each. A reader's gather batch (readerSend) is a
// sendBatch with an address per datagram (dsts non-nil): a run then also ends where the
// address changes.
type sendBatch struct {
	rc      syscall.RawConn
	gsoOff  *atomic.Bool // the socket's: set, and read before each batch
	hdrs    []unix.Mmsghdr
	iovs    []unix.Iovec // one per datagram; a message points at its datagrams' run of them
	lens    []int        // per datagram
	first   []int        // per message: its first datagram
	count   []int        // per message: how many datagrams it carries
	ctrl    []byte       // gsoCtrlSize bytes per message, 8-byte aligned
	name    unix.RawSockaddrInet6
	namelen uint32
	// Per datagram, in a gather batch only: its address, as compared and as passed.
	dsts     []netip.AddrPort
	names    []unix.RawSockaddrInet6
	namelens []uint32
	ok       []bool // the kernel accepted datagram i (gather batch)
	n        int    // datagrams in the batch
	off      int    // messages hdrs[off:msgs] still to send
	msgs     int
	sent     int // datagrams the kernel accepted
	bytes    uint64
	errno    error
	// messages counts every message the kernel accepted (tests: proof that runs were joined).
	messages uint64
	// sendmmsg is the system call; tests replace it to play a kernel that refuses offload.
	sendmmsg func(fd uintptr, hdrs []unix.Mmsghdr) (int, syscall.Errno)
	fn       func(fd uintptr)
}

func newSendBatch(c *net.UDPConn, n int, gsoOff *atomic.Bool) (*sendBatch, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("transport: raw socket: %w", err)
	}
	if gsoOff == nil {
		gsoOff = new(atomic.Bool)
		gsoOff.Store(true)
	}
	s := &sendBatch{
		rc: rc, gsoOff: gsoOff,
		hdrs: make([]unix.Mmsghdr, n), iovs: make([]unix.Iovec, n), lens: make([]int, n),
		first: make([]int, n), count: make([]int, n), sendmmsg: sysSendmmsg,
	}
	words := make([]uint64, (n*gsoCtrlSize+7)/8)
	s.ctrl = unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), n*gsoCtrlSize)
	s.fn = s.send
	return s, nil
}

func sysSendmmsg(fd uintptr, hdrs []unix.Mmsghdr) (int, syscall.Errno) {
	return mmsg(unix.SYS_SENDMMSG, fd, hdrs)
}

// mmsg runs recvmmsg or sendmmsg (trap) with MSG_DONTWAIT as a raw system call, outside the
// runtime's entersyscall/exitsyscall. It cannot block, and one call is bounded by one batch, so
// keeping the goroutine's P through it costs the scheduler nothing. What it saves: a bridge idle
// between batches leaves every P idle, the runtime's monitor thread (sysmon) then sleeps, and
// each entersyscall woke it again, two of its context switches per batch. On the 3x6 scenario
// that was 3,200 wakeups/s and a tenth of the bridge's CPU (README, "Where issue 15's bars
// stand").
func mmsg(trap, fd uintptr, hdrs []unix.Mmsghdr) (int, syscall.Errno) {
	n, _, e := unix.RawSyscall6(trap, fd, uintptr(unsafe.Pointer(&hdrs[0])), uintptr(len(hdrs)), unix.MSG_DONTWAIT, 0, 0)
	return int(n), e
}

func (s *sendBatch) setAddr(ap netip.AddrPort, v6socket bool) {
	s.namelen = putSockaddr(&s.name, ap, v6socket)
}

// set puts datagram i in place.
func (s *sendBatch) set(i int, b []byte) {
	if len(b) == 0 {
		s.iovs[i].Base = nil
	} else {
		s.iovs[i].Base = &b[0]
	}
	s.iovs[i].SetLen(len(b))
	s.lens[i] = len(b)
}

// setTo puts datagram i of a gather batch in place, to ap.
func (s *sendBatch) setTo(i int, b []byte, ap netip.AddrPort, v6socket bool) {
	s.set(i, b)
	if i > 0 && s.dsts[i-1] == ap {
		s.names[i], s.namelens[i] = s.names[i-1], s.namelens[i-1]
	} else {
		s.namelens[i] = putSockaddr(&s.names[i], ap, v6socket)
	}
	s.dsts[i] = ap
}

// group builds the messages for datagrams [from, n): with offload, each run of datagrams of one
// size (up to maxGSOSegment) and one address, closed by a shorter one or by the limits, is one
// message.
func (s *sendBatch) group(from int) {
	gso := !s.gsoOff.Load()
	s.off, s.msgs = 0, 0
	for i := from; i < s.n; {
		start, size := i, s.lens[i]
		i++
		if gso && size > 0 && size <= maxGSOSegment {
			total := size
			for i < s.n && i-start < maxGSOSegments && s.lens[i] > 0 && s.lens[i] <= size && total+s.lens[i] <= maxGSOBytes &&
				(s.dsts == nil || s.dsts[i] == s.dsts[start]) {
				total += s.lens[i]
				i++
				if s.lens[i-1] < size {
					break // a shorter datagram ends the run
				}
			}
		}
		m := s.msgs
		s.msgs++
		s.first[m], s.count[m] = start, i-start
		h := &s.hdrs[m].Hdr
		if s.dsts != nil {
			h.Name = (*byte)(unsafe.Pointer(&s.names[start]))
			h.Namelen = s.namelens[start]
		} else {
			h.Name = (*byte)(unsafe.Pointer(&s.name))
			h.Namelen = s.namelen
		}
		h.Iov = &s.iovs[start]
		h.SetIovlen(i - start)
		h.Flags = 0
		s.hdrs[m].Len = 0
		if i-start == 1 {
			h.Control = nil
			h.SetControllen(0)
			continue
		}
		ctrl := s.ctrl[m*gsoCtrlSize : (m+1)*gsoCtrlSize]
		cm := (*unix.Cmsghdr)(unsafe.Pointer(&ctrl[0]))
		cm.Level, cm.Type = unix.IPPROTO_UDP, unix.UDP_SEGMENT
		cm.SetLen(unix.CmsgLen(2))
		*(*uint16)(unsafe.Pointer(&ctrl[unix.CmsgLen(0)])) = uint16(size)
		h.Control = &ctrl[0]
		h.SetControllen(gsoCtrlSize)
	}
}

// send runs sendmmsg until every message went out or was dropped. It runs under
// RawConn.Control, not Write: it never waits for the poller, and several goroutines may send on
// one socket at once (Write would serialize them on the descriptor's write lock).
func (s *sendBatch) send(fd uintptr) {
	for s.off < s.msgs {
		n, e := s.sendmmsg(fd, s.hdrs[s.off:s.msgs])
		switch e {
		case 0:
			for m := s.off; m < s.off+n; m++ {
				s.bytes += uint64(s.hdrs[m].Len) // the kernel sets each sent message's length
				s.sent += s.count[m]
				if s.ok != nil {
					for i := s.first[m]; i < s.first[m]+s.count[m]; i++ {
						s.ok[i] = true
					}
				}
			}
			s.messages += uint64(n)
			s.off += n
		case unix.EAGAIN:
			// The send buffer is full: drop the rest of the batch (the caller counts them)
			// rather than wait for the poller, so one congested socket never stalls a sender
			// behind a queue that keeps growing.
			if s.errno == nil {
				s.errno = e
			}
			s.off = s.msgs
		case unix.EINTR:
		case unix.EIO, unix.EINVAL:
			if s.count[s.off] > 1 {
				// The kernel refused offload (a device without checksum offload: EIO; a
				// segment over the path's MTU: EINVAL): the socket sends without it from
				// now on, starting with what is left of this batch.
				s.gsoOff.Store(true)
				s.group(s.first[s.off])
				continue
			}
			fallthrough
		default:
			// Skip the message the kernel refused (e.g. EMSGSIZE) and keep the rest flowing.
			if s.errno == nil {
				s.errno = e
			}
			s.off++
		}
	}
}

// accepted reports whether datagram i of a gather batch's last write went out.
func (s *sendBatch) accepted(i int) bool { return s.ok[i] }

// write implements datagramSender without waiting: the first per-datagram error is returned
// (EAGAIN: the send buffer was full and the datagrams from there on were dropped).
func (s *sendBatch) write(n int) (int, uint64, error) {
	s.n, s.sent, s.bytes, s.errno = n, 0, 0, nil
	if s.ok != nil {
		clear(s.ok[:n])
	}
	s.group(0)
	if err := s.rc.Control(s.fn); err != nil {
		return 0, 0, err
	}
	return s.sent, s.bytes, s.errno
}
