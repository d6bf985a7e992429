package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
)

// udpRelay is the baseline: the least a forwarder can do. One socket, one goroutine locked to
// its OS thread, recvmmsg a batch, send every datagram to every other member of the sender's
// conference with sendmmsg. No SRTP, no parsing, no per-receiver logic. Its thread's CPU clock
// is the cost of that forwarding.
type udpRelay struct {
	conn *net.UDPConn
	pc   *ipv4.PacketConn

	mu      sync.Mutex
	members map[netip.AddrPort]int // sender address -> conference
	groups  [][]*net.UDPAddr
	// routes, when not nil, forwards RTP by SSRC only to these receivers (mirroring the
	// bridge's flow), drops silent audio and RTCP.
	routes map[uint32][]*net.UDPAddr

	forwarded atomic.Uint64
	tid       atomic.Int32
	done      chan struct{}
}

func newUDPRelay() (*udpRelay, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("baseline relay listen: %w", err)
	}
	_ = c.SetReadBuffer(4 << 20)
	_ = c.SetWriteBuffer(4 << 20)
	return &udpRelay{
		conn:    c,
		pc:      ipv4.NewPacketConn(c),
		members: make(map[netip.AddrPort]int),
		done:    make(chan struct{}),
	}, nil
}

func (r *udpRelay) addr() *net.UDPAddr { return r.conn.LocalAddr().(*net.UDPAddr) }

// join adds a member address to conference conf.
func (r *udpRelay) join(conf int, a *net.UDPAddr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.groups) <= conf {
		r.groups = append(r.groups, nil)
	}
	r.groups[conf] = append(r.groups[conf], a)
	r.members[a.AddrPort()] = conf
}

// cpu is the relay thread's CPU time so far (0 before it started).
func (r *udpRelay) cpu() time.Duration {
	tid := r.tid.Load()
	if tid == 0 {
		return 0
	}
	return threadCPU(tid)
}

// run forwards until close is called.
func (r *udpRelay) run() {
	defer close(r.done)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r.tid.Store(threadID())
	const batch = 64
	rmsgs := make([]ipv4.Message, batch)
	for i := range rmsgs {
		rmsgs[i].Buffers = [][]byte{make([]byte, 1600)}
	}
	const wcap = 256
	wmsgs := make([]ipv4.Message, 0, wcap)
	bufs := make([][1][]byte, wcap)
	flush := func() {
		for sent := 0; sent < len(wmsgs); {
			k, err := r.pc.WriteBatch(wmsgs[sent:], 0)
			if err != nil {
				break
			}
			sent += k
		}
		r.forwarded.Add(uint64(len(wmsgs)))
		wmsgs = wmsgs[:0]
	}
	for {
		n, err := r.pc.ReadBatch(rmsgs, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		r.mu.Lock()
		for i := 0; i < n; i++ {
			m := &rmsgs[i]
			src, ok := m.Addr.(*net.UDPAddr)
			if !ok {
				continue
			}
			conf, ok := r.members[src.AddrPort()]
			if !ok {
				continue
			}
			dsts := r.groups[conf]
			if r.routes != nil {
				dsts = r.route(m.Buffers[0][:m.N])
			}
			for _, dst := range dsts {
				if dst.Port == src.Port && dst.IP.Equal(src.IP) {
					continue
				}
				if len(wmsgs) == wcap {
					flush()
				}
				k := len(wmsgs)
				bufs[k][0] = m.Buffers[0][:m.N]
				wmsgs = append(wmsgs, ipv4.Message{Buffers: bufs[k][:], Addr: dst})
			}
		}
		r.mu.Unlock()
		flush()
	}
}

// route is where a mirroring relay sends pkt: nowhere for RTCP, silent audio and unknown SSRCs.
func (r *udpRelay) route(pkt []byte) []*net.UDPAddr {
	if len(pkt) < 12 || isRTCP(pkt) {
		return nil
	}
	h, err := parseClearHeader(pkt, 0, extAudioLvl)
	if err != nil || h.hasLevel && h.level == 127 {
		return nil
	}
	return r.routes[h.ssrc]
}

func (r *udpRelay) close() {
	_ = r.conn.Close()
	<-r.done
}

// plainConn is a baseline endpoint's socket: plain RTP/RTCP to and from the relay.
type plainConn struct {
	conn *net.UDPConn
	done chan struct{}
}

func newPlainConn(relay *net.UDPAddr) (*plainConn, error) {
	c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, relay)
	if err != nil {
		return nil, fmt.Errorf("baseline endpoint socket: %w", err)
	}
	_ = c.SetReadBuffer(4 << 20)
	return &plainConn{conn: c, done: make(chan struct{})}, nil
}

func (p *plainConn) writeRTP(pkt []byte) error  { _, err := p.conn.Write(pkt); return err }
func (p *plainConn) writeRTCP(pkt []byte) error { _, err := p.conn.Write(pkt); return err }

// readLoop reads in batches like the bridge's endpoints do (with the kernel's arrival times)
// and accounts every packet, reading its clear send stamp, until the socket is closed.
func (p *plainConn) readLoop(e *simEndpoint) {
	defer close(p.done)
	bc := newBatchConn(p.conn)
	bc.setSink(plainSink{e})
	buf := make([]byte, 1600)
	for {
		if _, _, err := bc.ReadFrom(buf); err != nil {
			return
		}
	}
}

// plainSink accounts the plain RTP a baseline endpoint receives; other members' RTCP, which
// the relay forwards blindly, is ignored.
type plainSink struct{ e *simEndpoint }

func (s plainSink) onDatagram(b, oob []byte, now time.Time) {
	if isRTCP(b) {
		return
	}
	h, err := parseClearHeader(b, extTCC, extAudioLvl)
	if err != nil {
		return
	}
	s.e.onClearRTP(now, &h, len(b), 1)
	if sent, height, ok := readStamp(unpadded(b, h.hdrLen)); ok {
		at, ok := rxTimestamp(oob)
		if !ok {
			at = now.UnixNano()
		}
		s.e.recv.addSample(h.ssrc, at-sent, height)
	}
}

func (p *plainConn) close() {
	_ = p.conn.Close()
	<-p.done
}

// baselineRun connects the endpoints to a fresh relay. It returns a function that stops
// everything (relay and sockets) and the relay itself.
func baselineConnect(_ context.Context, confs [][]*simEndpoint, plan relayPlan) (*udpRelay, func(), error) {
	relay, err := newUDPRelay()
	if err != nil {
		return nil, nil, err
	}
	go relay.run()
	var conns []*plainConn
	stop := func() {
		relay.close()
		for _, c := range conns {
			c.close()
		}
	}
	var addrs []*net.UDPAddr
	for ci, eps := range confs {
		for _, e := range eps {
			pc, err := newPlainConn(relay.addr())
			if err != nil {
				stop()
				return nil, nil, err
			}
			conns = append(conns, pc)
			a := pc.conn.LocalAddr().(*net.UDPAddr)
			addrs = append(addrs, a)
			relay.join(ci, a)
			e.tr = pc
			go pc.readLoop(e)
		}
	}
	if plan != nil {
		routes := map[uint32][]*net.UDPAddr{}
		for ssrc, idx := range plan {
			for _, i := range idx {
				if i < len(addrs) {
					routes[ssrc] = append(routes[ssrc], addrs[i])
				}
			}
		}
		relay.mu.Lock()
		relay.routes = routes
		relay.mu.Unlock()
	}
	return relay, stop, nil
}
