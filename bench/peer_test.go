package bench

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/datachannel"
	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"
	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/sctp"
	"github.com/pion/srtp/v3"
	"github.com/pion/transport/v5/stdnet"
	"go.uber.org/goleak"
)

// pionPeer is an independent ICE-controlling, DTLS-server, SCTP-server peer built from raw
// pion, answering REST COLIBRI2 like a bridge and forwarding every SRTP packet to the other
// endpoints of its conference. It exists to test the simulated endpoints' client stack (ICE
// role, DTLS client, SRTP, fingerprint check, data channel) independently of our bridge.
type pionPeer struct {
	t   *testing.T
	srv *httptest.Server

	mu   sync.Mutex
	eps  map[string]*peerEP
	wg   sync.WaitGroup
	dcOK int
	rtcp int
}

type peerEP struct {
	id, meeting string
	agent       *ice.Agent
	cert        tls.Certificate
	conn        *ice.Conn
	dtls        *dtls.Conn
	assoc       *sctp.Association
	mu          sync.Mutex
	local       *srtp.Context
	remote      *srtp.Context
}

func newPionPeer(t *testing.T) *pionPeer {
	p := &pionPeer{t: t, eps: map[string]*peerEP{}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	return p
}

func (p *pionPeer) close() {
	p.srv.Close()
	p.mu.Lock()
	for _, e := range p.eps {
		if e.assoc != nil {
			_ = e.assoc.Close()
		}
		if e.dtls != nil {
			_ = e.dtls.Close()
		}
		_ = e.agent.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *pionPeer) serve(w http.ResponseWriter, r *http.Request) {
	var req c2Request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.Method == http.MethodPatch {
		req.MeetingID = strings.TrimPrefix(r.URL.Path, "/colibri/v2/conferences/")
	}
	var resp c2Response
	for _, ep := range req.Endpoints {
		switch {
		case ep.Create:
			desc, err := p.create(req.MeetingID, ep.ID)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			resp.Endpoints = append(resp.Endpoints, c2Endpoint{ID: ep.ID, Transport: &c2Transport{Transport: desc}})
		case ep.Transport != nil && ep.Transport.Transport != nil:
			p.mu.Lock()
			e := p.eps[ep.ID]
			p.mu.Unlock()
			if e == nil {
				http.Error(w, "unknown endpoint", http.StatusNotFound)
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.connect(e, ep.Transport.Transport) }()
			resp.Endpoints = append(resp.Endpoints, c2Endpoint{ID: ep.ID})
		}
	}
	_ = json.NewEncoder(w).Encode(resp)
}

func (p *pionPeer) create(meeting, id string) (*c2ICEUDP, error) {
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		return nil, err
	}
	nw, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	agent, err := ice.NewAgent(&ice.AgentConfig{
		Net:          bigBufferNet{nw, &socketList{}},
		NetworkTypes: []ice.NetworkType{ice.NetworkTypeUDP4}, CandidateTypes: []ice.CandidateType{ice.CandidateTypeHost},
		IncludeLoopback: true, IPFilter: func(ip net.IP) bool { return ip.IsLoopback() },
		MulticastDNSMode: ice.MulticastDNSModeDisabled, LoggerFactory: quietPion,
	})
	if err != nil {
		return nil, err
	}
	s := &secureConn{agent: agent}
	desc, err := s.localDescription(context.Background())
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(cert.Certificate[0])
	desc.Fingerprints = []c2Fingerprint{{Fingerprint: fingerprintString(sum[:]), Hash: "sha-256", Setup: "actpass"}}
	e := &peerEP{id: id, meeting: meeting, agent: agent, cert: cert}
	p.mu.Lock()
	p.eps[id] = e
	p.mu.Unlock()
	return desc, nil
}

func (p *pionPeer) connect(e *peerEP, remote *c2ICEUDP) {
	for _, c := range remote.Candidates {
		cand, err := ice.NewCandidateHost(&ice.CandidateHostConfig{Network: "udp", Address: c.IP, Port: int(c.Port), Component: 1})
		if err == nil {
			_ = e.agent.AddRemoteCandidate(cand)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := e.agent.Dial(ctx, remote.Ufrag, remote.Pwd) // the bridge is ICE controlling
	if err != nil {
		p.t.Errorf("peer ICE: %v", err)
		return
	}
	pipe := newDTLSPipe(conn)
	dc, err := dtls.ServerWithOptions(pipe, conn.RemoteAddr(),
		dtls.WithCertificates(e.cert),
		dtls.WithSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM),
		dtls.WithExtendedMasterSecret(dtls.RequireExtendedMasterSecret),
		dtls.WithClientAuth(dtls.RequireAnyClientCert),
		dtls.WithLoggerFactory(quietPion),
	)
	if err != nil {
		p.t.Errorf("peer DTLS: %v", err)
		return
	}
	readDone := make(chan struct{})
	var ready = make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 1600)
		dec := make([]byte, 1600)
		var hdr rtp.Header
		for {
			n, err := conn.Read(buf)
			if err != nil {
				pipe.close()
				return
			}
			b := buf[:n]
			if b[0] >= 20 && b[0] <= 63 {
				pipe.push(b)
				continue
			}
			select {
			case <-ready:
			default:
				continue
			}
			if pt := b[1] & 0x7f; pt >= 64 && pt <= 95 {
				if _, err := e.remote.DecryptRTCP(dec[:0], b, nil); err == nil {
					p.mu.Lock()
					p.rtcp++
					p.mu.Unlock()
				}
				continue
			}
			out, err := e.remote.DecryptRTP(dec[:0], b, &hdr)
			if err != nil {
				continue
			}
			p.forward(e, out)
		}
	}()
	p.wg.Add(1)
	go func() { defer p.wg.Done(); <-readDone }()
	if err := dc.HandshakeContext(ctx); err != nil {
		p.t.Errorf("peer DTLS handshake: %v", err)
		return
	}
	state, _ := dc.ConnectionState()
	cfg := srtp.Config{Profile: srtp.ProtectionProfileAeadAes128Gcm}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, false); err != nil {
		p.t.Errorf("peer keys: %v", err)
		return
	}
	local, _ := srtp.CreateContext(cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, cfg.Profile)
	rem, _ := srtp.CreateContext(cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt, cfg.Profile)
	e.mu.Lock()
	e.conn, e.dtls, e.local, e.remote = conn, dc, local, rem
	e.mu.Unlock()
	close(ready)
	assoc, err := sctp.ServerWithOptions(sctp.WithNetConn(dc), sctp.WithLoggerFactory(quietPion))
	if err != nil {
		return
	}
	e.mu.Lock()
	e.assoc = assoc
	e.mu.Unlock()
	ch, err := datachannel.Accept(assoc, &datachannel.Config{LoggerFactory: quietPion})
	if err != nil {
		return
	}
	buf := make([]byte, 4096)
	n, _, err := ch.ReadDataChannel(buf)
	if err == nil && strings.Contains(string(buf[:n]), "ReceiverVideoConstraints") && ch.Config.Protocol == "http://jitsi.org/protocols/colibri" {
		_, _ = ch.WriteDataChannel([]byte(`{"colibriClass":"ServerHello"}`), true)
		p.mu.Lock()
		p.dcOK++
		p.mu.Unlock()
	}
}

// forward re-encrypts a decrypted RTP packet for every other secure endpoint of the meeting.
func (p *pionPeer) forward(from *peerEP, pkt []byte) {
	p.mu.Lock()
	var to []*peerEP
	for _, e := range p.eps {
		if e != from && e.meeting == from.meeting {
			to = append(to, e)
		}
	}
	p.mu.Unlock()
	for _, e := range to {
		e.mu.Lock()
		if e.local != nil {
			if out, err := e.local.EncryptRTP(nil, pkt, nil); err == nil {
				_, _ = e.conn.Write(out)
			}
		}
		e.mu.Unlock()
	}
}

func TestEndpointsJoinAndExchangeMediaThroughAPionPeer(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	peer := newPionPeer(t)
	sc := DefaultScenario()
	sc.Duration, sc.Warmup, sc.RampUp = 1500*time.Millisecond, 500*time.Millisecond, 300*time.Millisecond
	res, err := Run(context.Background(), Options{Scenario: sc, BridgeURL: peer.srv.URL, BridgePID: selfPID()})
	peer.close()
	if err != nil {
		t.Fatal(err)
	}
	r := res.Result
	t.Logf("joined %d, join p50 %.1f ms, %.0f pps, loss %.4f, latency p50 %.3f ms", res.Joined, res.JoinMs.P50, r.ForwardedPacketsPerS, r.LossFraction, r.Latency.P50)
	if res.Joined != 3 || res.JoinFailures != 0 {
		t.Fatalf("joined %d, failed %d: %v", res.Joined, res.JoinFailures, res.Notes)
	}
	if r.ForwardedPacketsPerS < 3*2*(50+90)*0.8 || r.LossFraction > 0.001 {
		t.Fatalf("%.0f pps, loss %.4f", r.ForwardedPacketsPerS, r.LossFraction)
	}
	// The cheap receive path: every packet accounted, about one in SampleEvery per stream
	// decrypted for latency.
	if r.LatencySamples == 0 || r.LatencySamples > r.ForwardedPackets/uint64(sc.SampleEvery/2) || r.Latency.P50 <= 0 {
		t.Fatalf("%d latency samples of %d packets (sample every %d), p50 %.3f ms", r.LatencySamples, r.ForwardedPackets, sc.SampleEvery, r.Latency.P50)
	}
	if r.Discontinuities != 0 {
		t.Fatalf("%d discontinuities through a peer that forwards every packet unchanged", r.Discontinuities)
	}
	peer.mu.Lock()
	dcOK, rtcpN := peer.dcOK, peer.rtcp
	peer.mu.Unlock()
	if dcOK != 3 || res.BridgeChannelsOpen != 3 {
		t.Fatalf("bridge channels: peer saw %d ReceiverVideoConstraints, client opened %d; want 3", dcOK, res.BridgeChannelsOpen)
	}
	if rtcpN == 0 {
		t.Fatal("peer received no SRTCP from the endpoints")
	}
	if res.TCCFeedbackSent == 0 {
		t.Fatal("receivers sent no transport-cc feedback for the tagged packets they got")
	}
}

func selfPID() int { return os.Getpid() }
