package bench

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"
	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"golang.org/x/net/ipv4"
)

// secureConn is one simulated endpoint's transport to the bridge: a pion ICE agent (controlled,
// the bridge is controlling), a DTLS client (the endpoint answers setup=active) and SRTP
// contexts keyed from DTLS. One goroutine reads the ICE connection and demultiplexes DTLS
// records (to the DTLS pipe) from SRTP/SRTCP (decrypted in place and handed to the endpoint).
type secureConn struct {
	agent *ice.Agent
	cert  tls.Certificate
	fp    string // our sha-256 fingerprint

	conn *ice.Conn
	pipe *dtlsPipe
	dtls *dtls.Conn

	writeMu sync.Mutex
	local   *srtp.Context
	encBuf  []byte

	remote *srtp.Context // used only by the read loop after ready
	ready  chan struct{}

	readerDone chan struct{}
	loopback   bool

	sockets *socketList // the ICE agent's sockets, for the cheap receive path
	cheap   *cheapReceiver
	batch   *sendBatch // under writeMu; nil: one write per packet through the ICE connection
}

// sendBatch is the RTP packets of one frame (and the audio packet due with it), encrypted and
// waiting to go out in one sendmmsg on the ICE agent's socket to the bridge.
type sendBatch struct {
	pc   *ipv4.PacketConn
	msgs []ipv4.Message
	n    int
}

const sendBatchSize = 32

func newSendBatch(pc *ipv4.PacketConn, to net.Addr) *sendBatch {
	b := &sendBatch{pc: pc, msgs: make([]ipv4.Message, sendBatchSize)}
	for i := range b.msgs {
		b.msgs[i].Buffers = [][]byte{make([]byte, 0, 1600)}
		b.msgs[i].Addr = to
	}
	return b
}

// queueRTP encrypts pkt for the next flush (sending the queue first when it is full).
func (s *secureConn) queueRTP(pkt []byte) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.local == nil {
		return errNotReady
	}
	b := s.batch
	if b == nil {
		return s.writeRTPLocked(pkt)
	}
	if b.n == len(b.msgs) {
		if err := s.flushLocked(); err != nil {
			return err
		}
	}
	m := &b.msgs[b.n]
	out, err := s.local.EncryptRTP(m.Buffers[0][:0], pkt, nil)
	if err != nil {
		return fmt.Errorf("SRTP encrypt: %w", err)
	}
	m.Buffers[0] = out
	b.n++
	return nil
}

// flush sends what queueRTP queued.
func (s *secureConn) flush() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.flushLocked()
}

func (s *secureConn) flushLocked() error {
	b := s.batch
	if b == nil || b.n == 0 {
		return nil
	}
	defer func() { b.n = 0 }()
	for sent := 0; sent < b.n; {
		k, err := b.pc.WriteBatch(b.msgs[sent:b.n], 0)
		if err != nil {
			return fmt.Errorf("send %d packets: %w", b.n-sent, err)
		}
		sent += k
	}
	return nil
}

// socketList collects the sockets an ICE agent opens through bigBufferNet.
type socketList struct {
	mu    sync.Mutex
	conns []*batchConn
}

func (l *socketList) add(c *batchConn) {
	l.mu.Lock()
	l.conns = append(l.conns, c)
	l.mu.Unlock()
}

func (l *socketList) setSink(s mediaSink) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.setSink(s)
	}
}

var quietPion = logging.NewDefaultLoggerFactory() // level from PION_LOG_* env; default is quiet

func init() { quietPion.DefaultLogLevel = logging.LogLevelDisabled }

// newSecureConn creates the ICE agent; with loopbackOnly it gathers only loopback host
// candidates and ignores the bridge's other candidates, so a local run stays on loopback.
func newSecureConn(loopbackOnly bool) (*secureConn, error) {
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		return nil, fmt.Errorf("generate DTLS certificate: %w", err)
	}
	failed, disc, keep := 15*time.Second, 5*time.Second, 2*time.Second
	nw, err := stdnet.NewNet()
	if err != nil {
		return nil, fmt.Errorf("ICE network: %w", err)
	}
	sockets := &socketList{}
	agent, err := ice.NewAgent(&ice.AgentConfig{
		Net:                 bigBufferNet{nw, sockets},
		NetworkTypes:        []ice.NetworkType{ice.NetworkTypeUDP4},
		CandidateTypes:      []ice.CandidateType{ice.CandidateTypeHost},
		IncludeLoopback:     loopbackOnly,
		IPFilter:            func(ip net.IP) bool { return !loopbackOnly || ip.IsLoopback() },
		MulticastDNSMode:    ice.MulticastDNSModeDisabled,
		FailedTimeout:       &failed,
		DisconnectedTimeout: &disc,
		KeepaliveInterval:   &keep,
		LoggerFactory:       quietPion,
	})
	if err != nil {
		return nil, fmt.Errorf("create ICE agent: %w", err)
	}
	s := &secureConn{
		agent:      agent,
		cert:       cert,
		ready:      make(chan struct{}),
		readerDone: make(chan struct{}),
		encBuf:     make([]byte, 0, 1600),
		loopback:   loopbackOnly,
		sockets:    sockets,
	}
	sum := sha256.Sum256(cert.Certificate[0])
	s.fp = fingerprintString(sum[:])
	return s, nil
}

func fingerprintString(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(':')
		}
		fmt.Fprintf(&sb, "%02X", c)
	}
	return sb.String()
}

// bigBufferNet gives the ICE agent's UDP sockets the same 4 MiB buffers the baseline's sockets
// get, so bursts (keyframes) are not lost in the load generator's own socket, and wraps them
// in batchConns for the cheap receive path.
type bigBufferNet struct {
	*stdnet.Net
	sockets *socketList
}

func (n bigBufferNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	_ = c.SetReadBuffer(4 << 20)
	_ = c.SetWriteBuffer(4 << 20)
	bc := newBatchConn(c)
	n.sockets.add(bc)
	return bc, nil
}

// localDescription gathers candidates (blocking until gathering completes) and returns the
// endpoint's transport as it would appear in a session-accept.
func (s *secureConn) localDescription(ctx context.Context) (*c2ICEUDP, error) {
	done := make(chan struct{})
	var once sync.Once
	if err := s.agent.OnCandidate(func(c ice.Candidate) {
		if c == nil {
			once.Do(func() { close(done) })
		}
	}); err != nil {
		return nil, fmt.Errorf("ICE OnCandidate: %w", err)
	}
	if err := s.agent.GatherCandidates(); err != nil {
		return nil, fmt.Errorf("gather ICE candidates: %w", err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("gather ICE candidates: %w", ctx.Err())
	}
	ufrag, pwd, err := s.agent.GetLocalUserCredentials()
	if err != nil {
		return nil, fmt.Errorf("ICE credentials: %w", err)
	}
	cands, err := s.agent.GetLocalCandidates()
	if err != nil {
		return nil, fmt.Errorf("ICE local candidates: %w", err)
	}
	if len(cands) == 0 {
		return nil, errors.New("no loopback ICE candidate gathered")
	}
	d := &c2ICEUDP{
		XMLNS:        "urn:xmpp:jingle:transports:ice-udp:1",
		Ufrag:        ufrag,
		Pwd:          pwd,
		RTCPMux:      true,
		Fingerprints: []c2Fingerprint{{Fingerprint: s.fp, Hash: "sha-256", Setup: "active"}},
	}
	for i, c := range cands {
		d.Candidates = append(d.Candidates, c2Candidate{
			Component: 1, Foundation: c.Foundation(), ID: fmt.Sprintf("c%d", i),
			Priority: flexUint(c.Priority()), Protocol: "udp", Type: "host",
			IP: c.Address(), Port: flexUint(c.Port()),
		})
	}
	return d, nil
}

// connect runs ICE (controlled) and the DTLS client handshake against the bridge's transport,
// then derives the SRTP contexts. handler gets every decrypted RTP/RTCP packet.
func (s *secureConn) connect(ctx context.Context, remote *c2ICEUDP, h packetHandler) error {
	if remote == nil || remote.Ufrag == "" || remote.Pwd == "" {
		return errors.New("bridge transport has no ICE ufrag/pwd")
	}
	var fp string
	for _, f := range remote.Fingerprints {
		if strings.EqualFold(f.Hash, "sha-256") {
			fp = f.Fingerprint
		}
	}
	if fp == "" {
		return errors.New("bridge transport has no sha-256 fingerprint")
	}
	added := s.addRemoteCandidates(remote.Candidates, s.loopback)
	if added == 0 && s.loopback {
		// A local bridge that only advertises this host's other addresses: still local traffic.
		added = s.addRemoteCandidates(remote.Candidates, false)
	}
	if added == 0 {
		return fmt.Errorf("bridge transport has no usable UDP candidate (%d offered)", len(remote.Candidates))
	}
	conn, err := s.agent.Accept(ctx, remote.Ufrag, remote.Pwd)
	if err != nil {
		return fmt.Errorf("ICE: %w", err)
	}
	s.conn = conn
	s.pipe = newDTLSPipe(conn)
	go s.readLoop(h)

	dconn, err := dtls.ClientWithOptions(s.pipe, conn.RemoteAddr(),
		dtls.WithCertificates(s.cert),
		dtls.WithInsecureSkipVerify(true),
		dtls.WithSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80),
		dtls.WithExtendedMasterSecret(dtls.RequireExtendedMasterSecret),
		dtls.WithLoggerFactory(quietPion),
		dtls.WithVerifyPeerCertificate(func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("bridge sent no certificate")
			}
			sum := sha256.Sum256(raw[0])
			if got := fingerprintString(sum[:]); !strings.EqualFold(got, fp) {
				return fmt.Errorf("bridge certificate fingerprint %s does not match signalled %s", got, fp)
			}
			return nil
		}),
	)
	if err != nil {
		return fmt.Errorf("DTLS client: %w", err)
	}
	if err := dconn.HandshakeContext(ctx); err != nil {
		_ = dconn.Close()
		return fmt.Errorf("DTLS handshake: %w", err)
	}
	s.dtls = dconn
	prof, ok := dconn.SelectedSRTPProtectionProfile()
	if !ok {
		return errors.New("DTLS: no SRTP profile negotiated")
	}
	var sprof srtp.ProtectionProfile
	switch prof {
	case dtls.SRTP_AEAD_AES_128_GCM:
		sprof = srtp.ProtectionProfileAeadAes128Gcm
	case dtls.SRTP_AES128_CM_HMAC_SHA1_80:
		sprof = srtp.ProtectionProfileAes128CmHmacSha1_80
	default:
		return fmt.Errorf("DTLS: unexpected SRTP profile %v", prof)
	}
	state, ok := dconn.ConnectionState()
	if !ok {
		return errors.New("DTLS: no connection state")
	}
	cfg := srtp.Config{Profile: sprof}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, true); err != nil {
		return fmt.Errorf("SRTP keys from DTLS: %w", err)
	}
	local, err := srtp.CreateContext(cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, sprof)
	if err != nil {
		return fmt.Errorf("SRTP local context: %w", err)
	}
	rem, err := srtp.CreateContext(cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt, sprof)
	if err != nil {
		return fmt.Errorf("SRTP remote context: %w", err)
	}
	s.writeMu.Lock()
	s.local = local
	s.writeMu.Unlock()
	s.remote = rem
	close(s.ready)
	if e, ok := h.(*simEndpoint); ok && e.sampleEvery > 0 {
		// The cheap path gets its own context: until the sink is set, readLoop may still be
		// decrypting with s.remote.
		own, err := srtp.CreateContext(cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt, sprof)
		if err != nil {
			return fmt.Errorf("SRTP remote context: %w", err)
		}
		s.cheap = newCheapReceiver(e, own, e.sampleEvery)
		s.sockets.setSink(s.cheap)
		s.sockets.mu.Lock()
		if len(s.sockets.conns) == 1 && s.sockets.conns[0].pc != nil {
			s.writeMu.Lock()
			s.batch = newSendBatch(s.sockets.conns[0].pc, conn.RemoteAddr())
			s.writeMu.Unlock()
		}
		s.sockets.mu.Unlock()
	}
	return nil
}

// addRemoteCandidates adds the bridge's UDP candidates (only loopback ones if loopbackOnly).
func (s *secureConn) addRemoteCandidates(cands []c2Candidate, loopbackOnly bool) int {
	added := 0
	for _, c := range cands {
		if c.Protocol != "" && !strings.EqualFold(c.Protocol, "udp") {
			continue
		}
		if ip := net.ParseIP(c.IP); ip == nil || loopbackOnly && !ip.IsLoopback() || ip.To4() == nil {
			continue
		}
		cand, err := ice.NewCandidateHost(&ice.CandidateHostConfig{
			Network: "udp", Address: c.IP, Port: int(c.Port), Component: 1,
			Priority: uint32(c.Priority), Foundation: c.Foundation,
		})
		if err != nil {
			continue
		}
		if err := s.agent.AddRemoteCandidate(cand); err == nil {
			added++
		}
	}
	return added
}

// packetHandler receives decrypted packets on the transport's read goroutine.
type packetHandler interface {
	handleRTP(now time.Time, hdr *rtp.Header, payload []byte, size int)
	handleRTCP(pkts []rtcp.Packet)
}

func (s *secureConn) readLoop(h packetHandler) {
	defer close(s.readerDone)
	buf := make([]byte, 1600)
	dec := make([]byte, 1600)
	var hdr rtp.Header
	var rh rtcp.Header
	for {
		n, err := s.conn.Read(buf)
		if err != nil {
			s.pipe.close()
			return
		}
		if n == 0 {
			continue
		}
		b := buf[:n]
		switch {
		case b[0] >= 20 && b[0] <= 63:
			s.pipe.push(b)
		case b[0] >= 128 && b[0] <= 191 && n >= 12:
			select {
			case <-s.ready:
			default:
				continue // SRTP before the handshake finished
			}
			if pt := b[1] & 0x7f; pt >= 64 && pt <= 95 {
				out, err := s.remote.DecryptRTCP(dec[:0], b, &rh)
				if err != nil {
					continue
				}
				pkts, err := rtcp.Unmarshal(out)
				if err != nil {
					continue
				}
				h.handleRTCP(pkts)
				continue
			}
			out, err := s.remote.DecryptRTP(dec[:0], b, &hdr)
			if err != nil {
				continue
			}
			hl := hdr.MarshalSize()
			if hl > len(out) {
				continue
			}
			end := len(out)
			if hdr.Padding && end > hl {
				end -= int(out[end-1])
				if end < hl {
					continue
				}
			}
			h.handleRTP(time.Now(), &hdr, out[hl:end], n)
		}
	}
}

// writeRTP encrypts and sends one RTP packet. Safe for concurrent use.
func (s *secureConn) writeRTP(pkt []byte) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.local == nil {
		return errNotReady
	}
	return s.writeRTPLocked(pkt)
}

func (s *secureConn) writeRTPLocked(pkt []byte) error {
	out, err := s.local.EncryptRTP(s.encBuf[:0], pkt, nil)
	if err != nil {
		return fmt.Errorf("SRTP encrypt: %w", err)
	}
	s.encBuf = out[:0]
	_, err = s.conn.Write(out)
	return err
}

// writeRTCP encrypts and sends one compound RTCP packet. Safe for concurrent use.
func (s *secureConn) writeRTCP(pkt []byte) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.local == nil {
		return errNotReady
	}
	out, err := s.local.EncryptRTCP(s.encBuf[:0], pkt, nil)
	if err != nil {
		return fmt.Errorf("SRTCP encrypt: %w", err)
	}
	s.encBuf = out[:0]
	_, err = s.conn.Write(out)
	return err
}

var errNotReady = errors.New("transport not ready")

// close stops the agent, the DTLS connection and the read goroutine, and waits for it.
func (s *secureConn) close() {
	if s.dtls != nil {
		_ = s.dtls.Close()
	}
	_ = s.agent.Close()
	if s.conn != nil {
		<-s.readerDone
	}
	if s.pipe != nil {
		s.pipe.close()
	}
}

// dtlsPipe is the net.PacketConn the DTLS client runs on: reads come from the demultiplexing
// read loop, writes go straight to the ICE connection.
type dtlsPipe struct {
	conn      *ice.Conn
	in        chan []byte
	closed    chan struct{}
	closeOnce sync.Once

	// The read deadline: pion's DTLS ends a timed-out handshake by setting one in the past and
	// waits for its reader to return, so a pipe that ignored it would hang the join forever.
	dlMu      sync.Mutex
	deadline  time.Time
	dlChanged chan struct{} // closed and replaced when the deadline changes
}

func newDTLSPipe(c *ice.Conn) *dtlsPipe {
	return &dtlsPipe{conn: c, in: make(chan []byte, 64), closed: make(chan struct{}), dlChanged: make(chan struct{})}
}

func (p *dtlsPipe) push(b []byte) {
	c := append([]byte(nil), b...)
	select {
	case p.in <- c:
	default: // DTLS retransmits; a dropped record is recovered
	}
}

func (p *dtlsPipe) close() { p.closeOnce.Do(func() { close(p.closed) }) }

func (p *dtlsPipe) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		p.dlMu.Lock()
		dl, changed := p.deadline, p.dlChanged
		p.dlMu.Unlock()
		var expired <-chan time.Time
		var t *time.Timer
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, nil, os.ErrDeadlineExceeded
			}
			t = time.NewTimer(d)
			expired = t.C
		}
		n, addr, err, again := 0, net.Addr(nil), error(nil), false
		select {
		case c := <-p.in:
			n, addr = copy(b, c), p.conn.RemoteAddr()
		case <-p.closed:
			err = net.ErrClosed
		case <-expired:
			err = os.ErrDeadlineExceeded
		case <-changed:
			again = true
		}
		if t != nil {
			t.Stop()
		}
		if !again {
			return n, addr, err
		}
	}
}

// SetReadDeadline makes ReadFrom fail with os.ErrDeadlineExceeded at t (zero: never), waking a
// blocked ReadFrom to look at the new deadline.
func (p *dtlsPipe) SetReadDeadline(t time.Time) error {
	p.dlMu.Lock()
	p.deadline = t
	close(p.dlChanged)
	p.dlChanged = make(chan struct{})
	p.dlMu.Unlock()
	return nil
}

// SetDeadline sets the read deadline; writes go straight to the ICE connection.
func (p *dtlsPipe) SetDeadline(t time.Time) error { return p.SetReadDeadline(t) }

func (p *dtlsPipe) WriteTo(b []byte, _ net.Addr) (int, error) { return p.conn.Write(b) }
func (p *dtlsPipe) Close() error                              { p.close(); return nil }
func (p *dtlsPipe) LocalAddr() net.Addr                       { return p.conn.LocalAddr() }
func (p *dtlsPipe) SetWriteDeadline(time.Time) error          { return nil }
