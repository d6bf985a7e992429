package sfu

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// This file is the impaired link of the loss tests: the kernel here has no netem, so a UDP relay
// of the test's own sits between one pion client and the bridge. It has two sockets on
// 127.0.0.1: the client's side (the client is given its address as the bridge's only candidate)
// and the bridge's side (the bridge is given its address as the client's only candidate), so ICE,
// DTLS and media all take the relay and nothing else. It can delay every datagram by a fixed time
// and drop or hold back RTP of chosen SSRCs in one direction; STUN, DTLS and RTCP always pass, so the
// handshake and the feedback are not what is tested.

// lossPolicy drops RTP of some SSRCs in one direction: each with probability rate (one seeded
// generator per SSRC, drawn once per packet of that SSRC, so the pattern depends only on the
// seed and the packet order of each stream), and, on burstSSRC, the first packet of each
// sequence number in [burstFrom, burstFrom+burstLen) (a resend on the same SSRC passes).
type lossPolicy struct {
	mu        sync.Mutex
	rate      float64
	seed      uint64
	rngs      map[uint32]*rand.Rand
	burstSSRC uint32
	burstFrom uint16
	burstLen  int
	burstHit  map[uint16]bool
	slow      map[uint32]bool // SSRCs whose packets take slowBy longer (kept in their own order)
	slowBy    time.Duration
	dropped   map[uint32]int // by SSRC
	passed    map[uint32]int
}

// newLossPolicy drops rate of the RTP packets of each of ssrcs.
func newLossPolicy(seed uint64, rate float64, ssrcs ...uint32) *lossPolicy {
	p := &lossPolicy{rate: rate, seed: seed, rngs: map[uint32]*rand.Rand{},
		dropped: map[uint32]int{}, passed: map[uint32]int{}}
	for i, s := range ssrcs {
		p.rngs[s] = rand.New(rand.NewPCG(seed, uint64(i)))
	}
	return p
}

// burst adds the loss of n consecutive packets of ssrc from sequence number from on.
func (p *lossPolicy) burst(ssrc uint32, from uint16, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.burstSSRC, p.burstFrom, p.burstLen, p.burstHit = ssrc, from, n, map[uint16]bool{}
	if p.rngs[ssrc] == nil {
		p.rngs[ssrc] = rand.New(rand.NewPCG(p.seed, uint64(len(p.rngs))))
	}
}

// drop decides the fate of one datagram.
func (p *lossPolicy) drop(b []byte) bool {
	// RFC 7983: RTP and RTCP start with 128..191; RTCP packet types are 192..223.
	if len(b) < 12 || b[0] < 128 || b[0] > 191 || b[1] >= 192 && b[1] <= 223 {
		return false
	}
	ssrc, seq := binary.BigEndian.Uint32(b[8:12]), binary.BigEndian.Uint16(b[2:4])
	p.mu.Lock()
	defer p.mu.Unlock()
	rng := p.rngs[ssrc]
	if rng == nil {
		return false
	}
	lost := rng.Float64() < p.rate
	if ssrc == p.burstSSRC && int(seq-p.burstFrom) < p.burstLen && !p.burstHit[seq] {
		p.burstHit[seq], lost = true, true
	}
	if lost {
		p.dropped[ssrc]++
	} else {
		p.passed[ssrc]++
	}
	return lost
}

// hold makes the packets of ssrc that are not dropped arrive by longer later.
func (p *lossPolicy) hold(ssrc uint32, by time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.slow == nil {
		p.slow = map[uint32]bool{}
	}
	p.slow[ssrc], p.slowBy = true, by
}

// extraDelay is how much later than the others the datagram b is to arrive.
func (p *lossPolicy) extraDelay(b []byte) time.Duration {
	if len(b) < 12 {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.slow[binary.BigEndian.Uint32(b[8:12])] {
		return p.slowBy
	}
	return 0
}

func (p *lossPolicy) counts(ssrc uint32) (dropped, passed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropped[ssrc], p.passed[ssrc]
}

// lossRelay forwards datagrams between one client and the bridge.
type lossRelay struct {
	clientSide, bridgeSide *net.UDPConn
	bridge                 *net.UDPAddr
	client                 atomic.Pointer[net.UDPAddr] // learnt from the client's answer and its datagrams
	delay                  time.Duration
	up, down               atomic.Pointer[lossPolicy] // client -> bridge, bridge -> client
	wg                     sync.WaitGroup
}

// newLossRelay starts a relay in front of bridge, each datagram delayed by delay.
func newLossRelay(bridge netip.AddrPort, delay time.Duration) (*lossRelay, error) {
	r := &lossRelay{bridge: net.UDPAddrFromAddrPort(bridge), delay: delay}
	var err error
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	if r.clientSide, err = net.ListenUDP("udp4", lo); err != nil {
		return nil, err
	}
	if r.bridgeSide, err = net.ListenUDP("udp4", lo); err != nil {
		_ = r.clientSide.Close()
		return nil, err
	}
	r.wg.Add(2)
	go r.pump(r.clientSide, r.bridgeSide, &r.up, true)
	go r.pump(r.bridgeSide, r.clientSide, &r.down, false)
	return r, nil
}

// clientFacing is the address the client must take for the bridge; bridgeFacing the one the
// bridge must take for the client.
func (r *lossRelay) clientFacing() netip.AddrPort {
	return r.clientSide.LocalAddr().(*net.UDPAddr).AddrPort()
}

func (r *lossRelay) bridgeFacing() netip.AddrPort {
	return r.bridgeSide.LocalAddr().(*net.UDPAddr).AddrPort()
}

func (r *lossRelay) setClient(a netip.AddrPort) { r.client.Store(net.UDPAddrFromAddrPort(a)) }

// pump reads from in and writes what it keeps to out (toward the bridge when up), delayed by
// r.delay (plus the policy's hold for held-back SSRCs).
func (r *lossRelay) pump(in, out *net.UDPConn, policy *atomic.Pointer[lossPolicy], up bool) {
	defer r.wg.Done()
	type datagram struct {
		b   []byte
		due time.Time
		to  *net.UDPAddr
	}
	// Two delay lines, the usual one and one for held-back SSRCs: each keeps its order.
	var lines [2]chan datagram
	var pending sync.WaitGroup
	for i := range lines {
		lines[i] = make(chan datagram, 4096)
		pending.Add(1)
		go func(line chan datagram) { // a datagram leaves when its time has come
			defer pending.Done()
			for d := range line {
				if wait := time.Until(d.due); wait > 0 {
					time.Sleep(wait)
				}
				_, _ = out.WriteToUDP(d.b, d.to)
			}
		}(lines[i])
	}
	defer func() {
		for _, l := range lines {
			close(l)
		}
		pending.Wait()
	}()
	buf := make([]byte, 2048)
	for {
		n, from, err := in.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		to := r.bridge
		if up {
			r.client.Store(from)
		} else if to = r.client.Load(); to == nil {
			continue
		}
		line, delay := lines[0], r.delay
		if p := policy.Load(); p != nil {
			if p.drop(buf[:n]) {
				continue
			}
			if extra := p.extraDelay(buf[:n]); extra > 0 {
				line, delay = lines[1], delay+extra
			}
		}
		select {
		case line <- datagram{b: append([]byte(nil), buf[:n]...), due: time.Now().Add(delay), to: to}:
		default: // a full delay line drops, like a router's queue
		}
	}
}

// Close stops the relay and waits for its goroutines.
func (r *lossRelay) Close() {
	_ = r.clientSide.Close()
	_ = r.bridgeSide.Close()
	r.wg.Wait()
}
