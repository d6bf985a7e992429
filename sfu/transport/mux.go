package transport

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	readBatchSize = 32   // datagrams per recvmmsg
	bufSize       = 2048 // bytes per receive buffer; larger datagrams are dropped as garbage
	// readWakeup is the longest a reader blocks without a datagram before it wakes to beat its
	// heartbeat (Mux.Alive).
	readWakeup = time.Second
)

// ErrClosed is returned by operations on a closed Mux or Transport.
var ErrClosed = errors.New("transport: closed")

// Mux is the bridge's single UDP port shared by all transports: N SO_REUSEPORT sockets (one on
// the portable path), one reader goroutine each, demultiplexing by first byte (RFC 7983) and by
// validated address.
type Mux struct {
	cfg      Config
	api      *socketAPI
	log      *slog.Logger
	socks    []*socket
	v6       bool // sockets are AF_INET6 (dual-stack when bound to ::)
	local    netip.AddrPort
	listen   []net.Addr // host candidate addresses handed to pion's agents
	cert     *certificate
	iceMux   *iceUDPMux
	tcp      *tcpListener // ICE-TCP port; nil when off (tcp.go)
	iceTCP   *iceTCPMux
	readers  sync.WaitGroup
	closed   atomic.Bool
	rejected atomic.Uint64 // data channels refused
	// refusedChecks counts STUN requests an agent wanted to send to an address it may not check.
	refusedChecks atomic.Uint64

	// addrs maps a validated remote address to its transport; read per packet without locks,
	// changed in place under regMu.
	addrs *lookup[netip.AddrPort, *Transport]
	// ufrags maps a local ufrag to its transport; read per STUN request, changed under regMu.
	ufrags *lookup[string, *Transport]
	regMu  sync.Mutex
	// sources limits the STUN requests passed to agents per source IP address.
	sources *sourceLimiter

	txMu      sync.Mutex
	pendingTx map[[12]byte]pendingTx // STUN requests the agents sent, to route the responses
	txSweep   time.Time

	nextWriter atomic.Uint32

	// advertised is the current set of public addresses announced as srflx candidates
	// (SetAdvertised); read once per new transport, never per packet.
	advertised atomic.Pointer[[]AdvertisedAddr]
}

type pendingTx struct {
	t  *Transport
	at time.Time
}

// socket is one of the SO_REUSEPORT sockets with its reader's counters. Only its reader
// goroutine adds to the receive counters; writers add once per batch.
type socket struct {
	conn  *net.UDPConn
	batch datagramReader
	// epoch is odd while the reader is dispatching a batch; Transport.Close waits for it to move
	// so that no HandleSRTP call is in flight after Close returns.
	epoch atomic.Uint64
	// beat is when the reader last came back from the socket (unix nanoseconds), at least
	// every readWakeup while it is alive.
	beat  atomic.Int64
	stats socketStats
	// gsoOff is set when the socket sends without UDP segmentation offload: not available,
	// Config.NoGSO, or refused once by the kernel (every writer on the socket then stops).
	gsoOff    atomic.Bool
	gsoLogged atomic.Bool // the runtime refusal was logged
	_         [64]byte    // keep sockets' counters on separate cache lines
}

type socketStats struct {
	packetsReceived, bytesReceived atomic.Uint64
	packetsSent, bytesSent         atomic.Uint64
	garbage, unknownUfrag          atomic.Uint64
	badIntegrity, unknownAddr      atomic.Uint64
	notSecure, queueFull           atomic.Uint64
	addrRefused, stunRateLimited   atomic.Uint64
}

// Listen binds cfg.Readers SO_REUSEPORT sockets on one port and starts one reader goroutine per
// socket. Port 0 picks a free port for the first socket and binds the others to the same port.
// The portable path (off Linux, or Config.PortableSockets) binds one socket whatever Readers says.
func Listen(cfg Config) (*Mux, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Readers <= 0 {
		cfg.Readers = runtime.GOMAXPROCS(0)
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("transport: config Port=%d: expected 0..65535", cfg.Port)
	}
	network, host := "udp", ""
	if cfg.BindAddr.IsValid() {
		host = cfg.BindAddr.String()
		network = "udp6"
		if cfg.BindAddr.Unmap().Is4() {
			network = "udp4"
			host = cfg.BindAddr.Unmap().String()
		}
	}
	cert, err := newCertificate()
	if err != nil {
		return nil, err
	}
	api := socketsFor(cfg)
	if !api.reusePort {
		cfg.Readers = 1
	}
	m := &Mux{cfg: cfg, api: api, log: cfg.Logger.With("component", "transport"), cert: cert, pendingTx: map[[12]byte]pendingTx{}}
	m.SetAdvertised(cfg.Advertised)
	m.addrs = newLookup[netip.AddrPort, *Transport](hashAddrPort)
	m.ufrags = newLookup[string, *Transport](hashString)
	m.sources = newSourceLimiter()
	port := cfg.Port
	buffer := cfg.SocketBuffer
	if buffer == 0 {
		buffer = DefaultSocketBuffer
	}
	for i := range cfg.Readers {
		c, granted, err := api.listen(network, net.JoinHostPort(host, strconv.Itoa(port)), buffer)
		if err != nil {
			m.closeSockets()
			return nil, fmt.Errorf("transport: bind UDP %s port %d (socket %d of %d): %w", network, port, i+1, cfg.Readers, err)
		}
		if i == 0 {
			la := c.LocalAddr().(*net.UDPAddr).AddrPort()
			port = int(la.Port())
			m.local = netip.AddrPortFrom(la.Addr().Unmap(), la.Port())
			m.v6 = la.Addr().Is6() && !la.Addr().Is4In6()
			if network == "udp4" {
				m.v6 = false
			}
			// The kernel reports twice what it granted (it counts its bookkeeping).
			m.log.Debug("UDP socket buffers", "asked", buffer, "rcvbuf", granted[0], "sndbuf", granted[1])
		}
		rb, err := api.newReader(c, readBatchSize, bufSize)
		if err != nil {
			c.Close()
			m.closeSockets()
			return nil, err
		}
		s := &socket{conn: c, batch: rb}
		s.gsoOff.Store(cfg.NoGSO || api.gso == nil || !api.gso(c))
		s.gsoLogged.Store(s.gsoOff.Load()) // only a refusal at run time is news
		s.beat.Store(time.Now().UnixNano())
		m.socks = append(m.socks, s)
	}
	m.listen = listenAddresses(m.local, m.v6)
	m.iceMux = &iceUDPMux{m: m}
	if cfg.TCP.Enabled {
		if err := m.listenTCP(cfg.TCP); err != nil {
			m.closeSockets()
			return nil, err
		}
	}
	for _, s := range m.socks {
		m.readers.Add(1)
		go m.readLoop(s)
	}
	m.log.Info("UDP port bound", "addr", m.local.String(), "readers", len(m.socks), "sockets", api.name,
		"gso", !m.socks[0].gsoOff.Load())
	return m, nil
}

func (m *Mux) closeSockets() {
	for _, s := range m.socks {
		s.conn.Close()
	}
}

// Close stops the readers and closes the sockets. Close the transports first: one still open
// stops receiving and its writes fail with ErrClosed, but its own goroutines run until its Close.
func (m *Mux) Close() error {
	if m.closed.Swap(true) {
		return nil
	}
	m.closeSockets()
	if m.tcp != nil {
		m.tcp.close()
	}
	m.readers.Wait()
	return nil
}

// LocalAddr is the bound address and port.
func (m *Mux) LocalAddr() netip.AddrPort { return m.local }

// Stats sums the per-socket counters.
func (m *Mux) Stats() MuxStats {
	var st MuxStats
	for _, s := range m.socks {
		c := &s.stats
		st.PacketsReceived += c.packetsReceived.Load()
		st.BytesReceived += c.bytesReceived.Load()
		st.PacketsSent += c.packetsSent.Load()
		st.BytesSent += c.bytesSent.Load()
		st.DroppedGarbage += c.garbage.Load()
		st.DroppedUnknownUfrag += c.unknownUfrag.Load()
		st.DroppedBadIntegrity += c.badIntegrity.Load()
		st.DroppedUnknownAddr += c.unknownAddr.Load()
		st.DroppedNotSecure += c.notSecure.Load()
		st.DroppedQueueFull += c.queueFull.Load()
		st.DroppedSocketOverflow += m.api.drops(s.conn)
		st.DroppedAddrRefused += c.addrRefused.Load()
		st.DroppedSTUNRateLimited += c.stunRateLimited.Load()
	}
	st.RejectedDataChannels = m.rejected.Load()
	st.RefusedChecks = m.refusedChecks.Load()
	if m.tcp != nil {
		m.tcp.addTo(&st)
	}
	return st
}

// Alive fails when a socket reader has not come back from its socket for longer than maxAge
// (it wakes at least every second when it is healthy): it is stuck in a handler or gone.
func (m *Mux) Alive(maxAge time.Duration) error {
	if m.closed.Load() {
		return ErrClosed
	}
	now := time.Now().UnixNano()
	for i, s := range m.socks {
		if age := time.Duration(now - s.beat.Load()); age > maxAge {
			return fmt.Errorf("transport: UDP reader %d of %d silent for %v (limit %v)", i+1, len(m.socks), age.Round(time.Millisecond), maxAge)
		}
	}
	return nil
}

func (m *Mux) readLoop(s *socket) {
	defer m.readers.Done()
	st := &readerState{}
	st.batch.gather = newReaderSend(m, s)
	now := time.Now()
	for {
		s.beat.Store(now.UnixNano())
		n, err := s.batch.read(now)
		// One clock read per batch: the batch's time and the next heartbeat. Each datagram's
		// own arrival time comes from the kernel where the socket path gives one.
		now = time.Now()
		if err != nil {
			if m.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			m.log.Warn("UDP read failed", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		st.batch.Start(now.UnixNano())
		s.epoch.Add(1)
		var bytes uint64
		for i := range n {
			buf, from, at := s.batch.datagram(i)
			st.batch.SetPacketTime(at)
			bytes += uint64(len(buf))
			m.demux(s, st, buf, from)
		}
		st.batch.Finish()
		s.epoch.Add(1)
		s.stats.packetsReceived.Add(uint64(n))
		s.stats.bytesReceived.Add(bytes)
	}
}

// demux dispatches one datagram by its first byte (RFC 7983).
func (m *Mux) demux(s *socket, st *readerState, buf []byte, from netip.AddrPort) {
	if len(buf) == 0 {
		s.stats.garbage.Add(1)
		return
	}
	switch b := buf[0]; {
	case b >= 128 && b <= 191: // RTP / RTCP
		if len(buf) < 8 {
			s.stats.garbage.Add(1)
			return
		}
		t, _ := m.addrs.get(from)
		if t == nil {
			s.stats.unknownAddr.Add(1)
			return
		}
		if !t.secure.Load() {
			s.stats.notSecure.Add(1)
			return
		}
		rtcp := buf[1] >= 192 && buf[1] <= 223 // RFC 5761 §4
		if !rtcp && len(buf) < 12 {
			s.stats.garbage.Add(1)
			return
		}
		t.handler.HandleSRTP(&st.batch, buf, rtcp)
	case b <= 3: // STUN
		m.handleSTUN(s, st, buf, from)
	case b >= 20 && b <= 63: // DTLS
		if len(buf) < 13 {
			s.stats.garbage.Add(1)
			return
		}
		t, _ := m.addrs.get(from)
		if t == nil {
			s.stats.unknownAddr.Add(1)
			return
		}
		t.deliver(s, buf, from)
	default:
		s.stats.garbage.Add(1)
	}
}

// validate makes from a validated address of t (STUN with good integrity came from it). It
// refuses, returning false, an address another transport has validated (a participant with
// its own credentials could otherwise spoof another's address and take its media) and a new
// address that was not signalled as a candidate (a peer-reflexive one) once the transport has
// MaxRemoteAddrs of those. The cost is O(1) whatever the number of addresses on the port.
func (m *Mux) validate(from netip.AddrPort, t *Transport) bool {
	if owner, _ := m.addrs.get(from); owner == t {
		return true
	}
	m.regMu.Lock()
	defer m.regMu.Unlock()
	if t.unregistered {
		return false
	}
	if owner, _ := m.addrs.get(from); owner != nil {
		return owner == t
	}
	signalled := t.signalledAddr(from)
	if !signalled && t.learned >= MaxRemoteAddrs {
		return false
	}
	if !signalled {
		t.learned++
	}
	t.addrs = append(t.addrs, from)
	m.addrs.put(from, t)
	return true
}

// register makes t reachable by its local ufrag; it fails if the ufrag is taken.
func (m *Mux) register(t *Transport) bool {
	m.regMu.Lock()
	defer m.regMu.Unlock()
	if _, taken := m.ufrags.get(t.localUfrag); taken {
		return false
	}
	m.ufrags.put(t.localUfrag, t)
	return true
}

// unregister removes t's ufrag, addresses and pending STUN transactions, then waits until no
// reader is still dispatching a batch that may have looked t up.
func (m *Mux) unregister(t *Transport) {
	m.regMu.Lock()
	t.unregistered = true
	if owner, _ := m.ufrags.get(t.localUfrag); owner == t {
		m.ufrags.remove(t.localUfrag)
	}
	for _, a := range t.addrs {
		m.addrs.remove(a)
	}
	t.addrs = nil
	m.regMu.Unlock()

	m.txMu.Lock()
	for k, v := range m.pendingTx {
		if v.t == t {
			delete(m.pendingTx, k)
		}
	}
	m.txMu.Unlock()

	m.quiesce()
}

// quiesce waits until every reader that was dispatching a batch has finished it. It gives up
// after a second so that a Close called from a reader goroutine cannot hang forever.
func (m *Mux) quiesce() {
	deadline := time.Now().Add(time.Second)
	for _, s := range m.socks {
		e := s.epoch.Load()
		if e%2 == 0 {
			continue
		}
		for s.epoch.Load() == e && time.Now().Before(deadline) {
			runtime.Gosched()
		}
	}
}

// writeTo sends one datagram (STUN or DTLS from t's agent) through the first socket.
func (m *Mux) writeTo(t *Transport, b []byte, to netip.AddrPort) (int, error) {
	if m.closed.Load() {
		return 0, ErrClosed
	}
	if isSTUNRequest(b) {
		if !t.mayCheck(to) {
			m.refusedChecks.Add(1)
			return len(b), nil // as if sent: the agent gives up on the pair by itself
		}
		m.rememberTx(t, b)
	}
	s := m.socks[0]
	if m.v6 && to.Addr().Is4() {
		to = netip.AddrPortFrom(netip.AddrFrom16(to.Addr().As16()), to.Port())
	}
	n, err := s.conn.WriteToUDPAddrPort(b, to)
	if err == nil {
		s.stats.packetsSent.Add(1)
		s.stats.bytesSent.Add(uint64(n))
	}
	return n, err
}

// socketFor returns the socket a new BatchWriter sends through (round-robin over the sockets).
func (m *Mux) socketFor() *socket {
	return m.socks[int(m.nextWriter.Add(1))%len(m.socks)]
}

// gsoRefusal is what the sender logs, once per socket, when the kernel refused segmentation
// offload at run time (a send turned gsoOff on): newGSORefusal reports whether to log it now.
const gsoRefusal = "kernel refused UDP segmentation offload: the socket sends one datagram per message from now on"

func (s *socket) newGSORefusal() bool {
	return s.gsoOff.Load() && !s.gsoLogged.Load() && s.gsoLogged.CompareAndSwap(false, true)
}

// listenAddresses returns the host candidate addresses: the bound address, or every usable
// interface address when bound to the unspecified address.
func listenAddresses(local netip.AddrPort, v6 bool) []net.Addr {
	if !local.Addr().IsUnspecified() {
		return []net.Addr{net.UDPAddrFromAddrPort(local)}
	}
	var out []net.Addr
	var loopback []net.Addr
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			pfx, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			ip := pfx.Addr()
			if ip.IsLinkLocalUnicast() || ip.IsMulticast() || (ip.Is6() && !v6) {
				continue
			}
			ua := net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, local.Port()))
			if ip.IsLoopback() {
				loopback = append(loopback, ua)
				continue
			}
			out = append(out, ua)
		}
	}
	if len(out) == 0 {
		return loopback
	}
	return out
}

// MaxRemoteAddrs caps the peer-reflexive remote addresses (not signalled as candidates) one
// transport may validate over its lifetime: a browser behind NAT shows a handful, and every
// address the mux passes on becomes a candidate the agent answers and checks. Signalled
// candidates are bounded by MaxRemoteCandidates.
const MaxRemoteAddrs = 8
