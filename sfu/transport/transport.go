package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v3"
	dtlsnet "github.com/pion/dtls/v3/pkg/net"
	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/sctp"
)

const (
	gatherTimeout = 5 * time.Second
	eventQueueLen = 64
)

// ICE timeouts (pion's defaults: an agent that never connects fails after their sum, 30 s);
// variables so that tests can shorten them.
var (
	iceDisconnectedTimeout = 5 * time.Second
	iceFailedTimeout       = 25 * time.Second
)

// newCredentials returns a fresh local ICE ufrag (8 chars) and pwd (26 chars, 130 bits); tests
// replace it to get fixed credentials.
var newCredentials = func() (ufrag, pwd string) { return rand.Text()[:8], rand.Text() }

// Transport is one endpoint's ICE/DTLS(/SCTP) state on the shared port.
type Transport struct {
	mux        *Mux
	handler    Handler
	opts       Options
	log        *slog.Logger
	logFactory logging.LoggerFactory

	localUfrag, localPwd string
	localKey             []byte                 // MESSAGE-INTEGRITY key of requests to us
	remoteKey            atomic.Pointer[[]byte] // MESSAGE-INTEGRITY key of responses to our checks
	secure               atomic.Bool            // SRTP keys were delivered: SRTP may flow
	lastCheck            atomic.Int64           // unix ns of the last authenticated STUN from the peer
	remoteAddr           atomic.Pointer[netip.AddrPort]
	conn4, conn6         *muxedConn
	agent                *ice.Agent
	localCands           []Candidate
	tcp                  tcpTransport // ICE-TCP connections (tcp.go)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // run goroutine and data channel reader

	events     chan func()
	eventsDone chan struct{}
	eventsG    atomic.Uint64 // id of the event goroutine, to tell a Close from a callback

	unregistered bool             // guarded by mux.regMu
	addrs        []netip.AddrPort // validated remote addresses, guarded by mux.regMu
	learned      int              // how many of them were not signalled, guarded by mux.regMu
	// stunRequests limits the STUN requests passed to the agent (STUNRequestRate).
	stunRequests rateCell
	// signalled holds the addresses of the remote candidates given to the agent (replaced
	// copy-on-write under mu): with the validated ones, the only addresses it may check.
	signalled atomic.Pointer[[]netip.AddrPort]

	mu          sync.Mutex
	state       State
	closed      bool
	started     bool
	remoteUfrag string
	remoteFPs   []Fingerprint
	// remoteCandidates counts the remote candidates handed to the agent (MaxRemoteCandidates).
	remoteCandidates int
	fpReady          chan struct{}
	roleKnown        bool
	isServer         bool // bridge is the DTLS server
	dconn            *dtls.Conn
	assoc            *sctp.Association

	dcMu sync.Mutex
	dc   dataChannel
}

// NewTransport creates one endpoint's ICE/DTLS/SCTP transport on the mux, with fresh ICE
// credentials and its host (and advertised) candidates gathered.
func (m *Mux) NewTransport(opts Options, h Handler) (*Transport, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if h == nil {
		return nil, errors.New("transport: NewTransport needs a Handler")
	}
	logger := opts.Logger
	if logger == nil {
		logger = m.log
	}
	t := &Transport{
		mux:        m,
		handler:    h,
		opts:       opts,
		events:     make(chan func(), eventQueueLen),
		eventsDone: make(chan struct{}),
		fpReady:    make(chan struct{}),
	}
	t.conn4, t.conn6 = newMuxedConn(t), newMuxedConn(t)
	t.ctx, t.cancel = context.WithCancel(context.Background())
	// Every field the socket readers use is set before register publishes t.
	for {
		t.localUfrag, t.localPwd = newCredentials()
		t.localKey = []byte(t.localPwd)
		t.log = logger.With("ufrag", t.localUfrag)
		t.logFactory = newPionLoggerFactory(t.log)
		if m.register(t) {
			break
		}
	}
	go t.eventLoop()

	if err := t.startAgent(); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

func (t *Transport) startAgent() error {
	networks := []ice.NetworkType{ice.NetworkTypeUDP4}
	if t.mux.v6 {
		networks = append(networks, ice.NetworkTypeUDP6)
	}
	var tcpOpts []ice.AgentOption
	if t.mux.tcp != nil { // passive candidates only: the bridge never dials out
		networks = append(networks, ice.NetworkTypeTCP4)
		if t.mux.tcp.local.Addr().Is6() || t.mux.tcp.local.Addr().IsUnspecified() {
			networks = append(networks, ice.NetworkTypeTCP6)
		}
		tcpOpts = append(tcpOpts, ice.WithTCPMux(t.mux.iceTCP), ice.WithDisableActiveTCP())
	}
	agent, err := ice.NewAgentWithOptions(append(tcpOpts,
		ice.WithUDPMux(t.mux.iceMux),
		ice.WithLocalCredentials(t.localUfrag, t.localPwd),
		ice.WithCandidateTypes([]ice.CandidateType{ice.CandidateTypeHost}),
		ice.WithNetworkTypes(networks),
		ice.WithMulticastDNSMode(ice.MulticastDNSModeDisabled),
		ice.WithIncludeLoopback(),
		ice.WithDisconnectedTimeout(iceDisconnectedTimeout),
		ice.WithFailedTimeout(iceFailedTimeout),
		ice.WithLoggerFactory(t.logFactory),
	)...)
	if err != nil {
		return fmt.Errorf("transport: create ICE agent: %w", err)
	}
	t.agent = agent
	gathered := make(chan struct{})
	var cands []ice.Candidate
	var once sync.Once
	if err := agent.OnCandidate(func(c ice.Candidate) {
		if c == nil {
			once.Do(func() { close(gathered) })
			return
		}
		cands = append(cands, c)
	}); err != nil {
		return fmt.Errorf("transport: ICE candidate handler: %w", err)
	}
	if err := agent.OnConnectionStateChange(t.onICEState); err != nil {
		return fmt.Errorf("transport: ICE state handler: %w", err)
	}
	if err := agent.OnSelectedCandidatePairChange(t.onSelectedPair); err != nil {
		return fmt.Errorf("transport: ICE pair handler: %w", err)
	}
	if err := agent.GatherCandidates(); err != nil {
		return fmt.Errorf("transport: gather ICE candidates: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(gatherTimeout):
		return errors.New("transport: ICE candidate gathering timed out")
	}
	t.localCands = t.mux.candidates(cands)
	return nil
}

// candidates converts the agent's host candidates (dropping private ones unless allowed) and
// appends one server-reflexive candidate per advertised address.
func (m *Mux) candidates(cands []ice.Candidate) []Candidate {
	var out []Candidate
	explicit := !m.local.Addr().IsUnspecified()
	for _, c := range cands {
		ip, err := netip.ParseAddr(c.Address())
		if err != nil {
			continue
		}
		if !explicit && !m.cfg.AdvertisePrivate && (ip.IsPrivate() || ip.IsLoopback()) {
			continue
		}
		if c.NetworkType().IsTCP() {
			if tc, ok := m.tcpCandidate(c, ip); ok {
				out = append(out, tc)
			}
			continue
		}
		out = append(out, Candidate{
			Foundation: c.Foundation(), Component: 1, Protocol: "udp", Priority: c.Priority(),
			IP: ip.String(), Port: c.Port(), Type: "host", ID: c.ID(),
		})
	}
	var rel netip.Addr
	if len(m.listen) > 0 {
		rel = m.listen[0].(*net.UDPAddr).AddrPort().Addr().Unmap()
	}
	for i, a := range m.Advertised() {
		port := a.Port
		if port == 0 {
			port = int(m.local.Port())
		}
		// RFC 8445 §5.1.2.1: type preference 100 for server reflexive, local preference 65535-i.
		prio := uint32(100)<<24 | uint32(65535-i)<<8 | uint32(256-1)
		c := Candidate{
			Foundation: fmt.Sprintf("%d", 1000+i), Component: 1, Protocol: "udp", Priority: prio,
			IP: a.IP.Unmap().String(), Port: port, Type: "srflx", ID: fmt.Sprintf("srflx-%d", i),
		}
		if rel.IsValid() {
			c.RelAddr, c.RelPort = rel.String(), int(m.local.Port())
		}
		out = append(out, c)
	}
	return append(out, m.tcpAdvertised()...)
}

// SetAdvertised replaces the public addresses announced to transports created from now on
// (hostnames re-resolved, an address found again over STUN); existing transports keep theirs.
func (m *Mux) SetAdvertised(addrs []AdvertisedAddr) {
	c := slices.Clone(addrs)
	m.advertised.Store(&c)
}

// Advertised returns the public addresses new transports announce.
func (m *Mux) Advertised() []AdvertisedAddr {
	if p := m.advertised.Load(); p != nil {
		return slices.Clone(*p)
	}
	return slices.Clone(m.cfg.Advertised) // a Mux built without Listen (tests)
}

// LocalDescription returns ufrag, pwd, candidates and fingerprint of the bridge side; setup is
// "actpass" until the remote role is known, then "passive" (bridge is DTLS server) or "active".
func (t *Transport) LocalDescription() Description {
	t.mu.Lock()
	defer t.mu.Unlock()
	setup := "actpass"
	if t.roleKnown {
		setup = "active"
		if t.isServer {
			setup = "passive"
		}
	}
	return Description{
		Ufrag:        t.localUfrag,
		Pwd:          t.localPwd,
		Candidates:   append([]Candidate(nil), t.localCands...),
		Fingerprints: []Fingerprint{{Hash: "sha-256", Value: t.mux.cert.fingerprint, Setup: setup}},
		RTCPMux:      true,
	}
}

// SetRemoteDescription takes the endpoint's ICE/DTLS parameters. ufrag/pwd and fingerprints are
// taken the first time they are non-empty (ICE starts once ufrag+pwd are known); candidates are
// added every time (trickle). Remote setup "active" makes the bridge the DTLS server; "passive"
// and "actpass" make it the client. TCP and mDNS (".local") candidates are ignored. A malformed
// candidate is reported in the returned error, but everything else in d is still applied, so
// callers that must be lenient (jicofo drops the session on errors) may just log it.
func (t *Transport) SetRemoteDescription(d Description) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	start := false
	if t.remoteUfrag == "" && d.Ufrag != "" && d.Pwd != "" {
		t.remoteUfrag = d.Ufrag
		key := []byte(d.Pwd)
		t.remoteKey.Store(&key)
		start = true
	} else if t.remoteUfrag != "" && d.Ufrag != "" && d.Ufrag != t.remoteUfrag {
		t.log.Debug("ignoring changed remote ufrag (ICE restart is not supported)", "remote_ufrag", d.Ufrag)
	}
	if len(t.remoteFPs) == 0 && len(d.Fingerprints) > 0 {
		for _, fp := range d.Fingerprints {
			if _, err := fingerprintHash(fp.Hash); err != nil {
				return fmt.Errorf("transport: remote fingerprint hash=%q: expected sha-1, sha-224, sha-256, sha-384 or sha-512", fp.Hash)
			}
		}
		switch setup := strings.ToLower(d.Fingerprints[0].Setup); setup {
		case "active", "":
			t.isServer = true
		case "passive", "actpass":
			t.isServer = false
		default:
			return fmt.Errorf("transport: remote fingerprint setup=%q: expected active, passive or actpass", setup)
		}
		t.remoteFPs = append([]Fingerprint(nil), d.Fingerprints...)
		t.roleKnown = true
		close(t.fpReady)
	}
	var errs []error
	for _, c := range d.Candidates {
		if t.remoteCandidates >= MaxRemoteCandidates {
			errs = append(errs, fmt.Errorf("transport: more than %d remote candidates: the rest are ignored", MaxRemoteCandidates))
			break
		}
		if c.Protocol != "" && !strings.EqualFold(c.Protocol, "udp") {
			continue // the bridge only does ICE over UDP
		}
		if strings.HasSuffix(c.IP, ".local") {
			continue // mDNS-obfuscated host candidate: the peer is found as peer-reflexive instead
		}
		pc, err := ice.UnmarshalCandidate(c.SDP())
		if err != nil {
			errs = append(errs, fmt.Errorf("transport: remote candidate %s:%d: %w", c.IP, c.Port, err))
			continue
		}
		if ip, err := netip.ParseAddr(pc.Address()); err == nil {
			var next []netip.AddrPort
			if old := t.signalled.Load(); old != nil {
				next = append(next, *old...)
			}
			next = append(next, netip.AddrPortFrom(ip.Unmap(), uint16(pc.Port())))
			t.signalled.Store(&next)
		}
		if err := t.agent.AddRemoteCandidate(pc); err != nil {
			errs = append(errs, fmt.Errorf("transport: add remote candidate %s:%d: %w", c.IP, c.Port, err))
			continue
		}
		t.remoteCandidates++
	}
	if start {
		t.started = true
		t.wg.Add(1)
		go t.run(d.Ufrag, d.Pwd)
	}
	return errors.Join(errs...)
}

// MaxRemoteCandidates caps the remote candidates one transport takes over its lifetime (first
// description and trickle together): a browser gathers a handful per interface, and every one
// costs the ICE agent a pair to check, so a hostile request cannot make it check thousands.
const MaxRemoteCandidates = 64

// mayCheck says whether the agent may send a connectivity check to addr: a signalled remote
// candidate, or an address this transport validated (authenticated STUN came from it). Any
// other address would make the bridge a reflector for whoever can make the agent learn it.
func (t *Transport) mayCheck(addr netip.AddrPort) bool {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	if owner, _ := t.mux.addrs.get(addr); owner == t {
		return true
	}
	return t.signalledAddr(addr)
}

// signalledAddr says whether addr is one of the remote candidates given to the agent.
func (t *Transport) signalledAddr(addr netip.AddrPort) bool {
	if s := t.signalled.Load(); s != nil {
		for _, a := range *s {
			if a == addr {
				return true
			}
		}
	}
	return false
}

// LastConsentCheck returns when the peer last sent an authenticated STUN message (a
// connectivity or consent-freshness check, RFC 7675, or the answer to one of ours); zero if
// never. Browsers send one every few seconds while they are there, even when no media flows.
func (t *Transport) LastConsentCheck() time.Time {
	if ns := t.lastCheck.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// State returns the current connectivity state.
func (t *Transport) State() State {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return StateClosed
	}
	return t.state
}

func (t *Transport) setState(s State) {
	t.mu.Lock()
	cur := t.state
	if t.closed || cur == s || cur == StateFailed || (cur == StateSecure && s == StateConnected) {
		t.mu.Unlock()
		return
	}
	t.state = s
	t.mu.Unlock()
	t.log.Debug("transport state", "from", cur.String(), "to", s.String())
	t.emit(func() { t.handler.HandleState(s) })
}

func (t *Transport) fail(err error) {
	if t.ctx.Err() != nil {
		return
	}
	t.log.Info("transport failed", "err", err)
	t.setState(StateFailed)
}

func (t *Transport) onICEState(s ice.ConnectionState) {
	switch s {
	case ice.ConnectionStateChecking:
		t.setState(StateChecking)
	case ice.ConnectionStateConnected, ice.ConnectionStateCompleted:
		t.setState(StateConnected)
	case ice.ConnectionStateFailed:
		t.fail(errors.New("ICE failed"))
	}
}

func (t *Transport) onSelectedPair(_, remote ice.Candidate) {
	ip, err := netip.ParseAddr(remote.Address())
	if err != nil {
		return
	}
	ap := netip.AddrPortFrom(ip.Unmap(), uint16(remote.Port()))
	t.tcp.selectPair(ap, remote.NetworkType().IsTCP())
	t.remoteAddr.Store(&ap)
	t.log.Debug("ICE selected pair", "remote", ap.String())
}

// emit queues a Handler call for the event goroutine; calls stay in order.
func (t *Transport) emit(f func()) {
	select {
	case t.events <- f:
	case <-t.ctx.Done():
	}
}

func (t *Transport) eventLoop() {
	defer close(t.eventsDone)
	t.eventsG.Store(goroutineID())
	for {
		select {
		case f := <-t.events:
			if t.ctx.Err() != nil {
				return
			}
			f()
		case <-t.ctx.Done():
			return
		}
	}
}

// deliver hands a STUN or DTLS datagram to the transport's agent.
func (t *Transport) deliver(s *socket, b []byte, from netip.AddrPort) {
	c := t.conn4
	if from.Addr().Is6() {
		c = t.conn6
	}
	if !c.push(b, from) {
		s.stats.queueFull.Add(1)
	}
}

// run connects ICE, then DTLS, then (if asked) accepts the SCTP association.
func (t *Transport) run(remoteUfrag, remotePwd string) {
	defer t.wg.Done()
	var conn *ice.Conn
	var err error
	if t.opts.ICEControlling {
		conn, err = t.agent.StartDial(remoteUfrag, remotePwd)
	} else {
		conn, err = t.agent.StartAccept(remoteUfrag, remotePwd)
	}
	if err != nil {
		t.fail(fmt.Errorf("start ICE: %w", err))
		return
	}
	if err := t.agent.AwaitConnect(t.ctx); err != nil {
		t.fail(fmt.Errorf("ICE connect: %w", err))
		return
	}
	select {
	case <-t.fpReady:
	case <-t.ctx.Done():
		return
	}
	t.mu.Lock()
	fps, isServer := t.remoteFPs, t.isServer
	t.mu.Unlock()

	cfg := t.dtlsConfig(fps)
	pc := dtlsnet.PacketConnFromConn(conn)
	var dconn *dtls.Conn
	if isServer {
		dconn, err = dtls.Server(pc, conn.RemoteAddr(), cfg)
	} else {
		dconn, err = dtls.Client(pc, conn.RemoteAddr(), cfg)
	}
	if err != nil {
		t.fail(fmt.Errorf("DTLS setup: %w", err))
		return
	}
	if !t.keep(func() { t.dconn = dconn }) {
		dconn.Close()
		return
	}
	hctx, cancel := context.WithTimeout(t.ctx, dtlsHandshakeTimeout)
	err = dconn.HandshakeContext(hctx)
	cancel()
	if err != nil {
		t.fail(fmt.Errorf("DTLS handshake (server=%v): %w", isServer, err))
		return
	}
	keys, err := exportSRTPKeys(dconn, isServer)
	if err != nil {
		t.fail(err)
		return
	}
	t.emit(func() {
		t.handler.HandleSecure(keys)
		t.secure.Store(true)
	})
	t.setState(StateSecure)
	switch {
	case t.opts.SCTP && t.opts.Relay && t.opts.SCTPClient:
		t.dialSCTP(dconn)
	case t.opts.SCTP:
		t.serveSCTP(dconn)
	}
}

// keep runs set under t.mu unless the transport is closing; false means the caller must
// release what it wanted to store.
func (t *Transport) keep(set func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	set()
	return true
}

// Close stops every goroutine of this transport and unregisters its ufrag and addresses; no
// Handler call is running or starts after it returns. Close may be called from a Handler
// callback other than HandleSRTP (e.g. on StateFailed): it then waits for everything but that
// callback, which is its caller. It must not be called from HandleSRTP (it would wait up to a
// second for the reader).
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	dconn, assoc := t.dconn, t.assoc
	t.mu.Unlock()

	t.cancel()
	t.mux.unregister(t)
	t.tcp.close()
	t.dcMu.Lock()
	if t.dc != nil {
		t.dc.Close()
	}
	t.dcMu.Unlock()
	if assoc != nil {
		assoc.Close()
	}
	if dconn != nil {
		dconn.Close()
	}
	var err error
	if t.agent != nil {
		err = t.agent.Close()
	}
	t.conn4.Close()
	t.conn6.Close()
	t.wg.Wait()
	if g := goroutineID(); g == 0 || g != t.eventsG.Load() {
		<-t.eventsDone
	}
	if err != nil && !errors.Is(err, ice.ErrClosed) {
		return fmt.Errorf("transport: close ICE agent: %w", err)
	}
	return nil
}

// goroutineID returns the calling goroutine's id, read from the first line of its stack trace
// ("goroutine 123 [running]:"); 0 if that cannot be read. Close uses it only to tell whether it
// runs on the transport's event goroutine, where waiting for that goroutine would deadlock.
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b, ok := bytes.CutPrefix(b, []byte("goroutine "))
	if !ok {
		return 0
	}
	id, _, _ := bytes.Cut(b, []byte(" "))
	n, _ := strconv.ParseUint(string(id), 10, 64)
	return n
}
