package transport_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	. "gojvb/sfu/transport"
	"gojvb/sfu/transport/transporttest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder is a Handler that keeps what the transport delivered.
type recorder struct {
	mu     sync.Mutex
	srtp   [][]byte
	rtcp   int
	keys   chan SRTPKeys
	msgs   chan string
	states chan State
	// onState, if set, runs inside HandleState (on the transport's event goroutine).
	onState func(State)
}

func newRecorder() *recorder {
	return &recorder{keys: make(chan SRTPKeys, 1), msgs: make(chan string, 16), states: make(chan State, 16)}
}

func (r *recorder) HandleSRTP(_ *Batch, buf []byte, rtcp bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rtcp {
		r.rtcp++
		return
	}
	r.srtp = append(r.srtp, append([]byte(nil), buf...))
}
func (r *recorder) HandleSecure(k SRTPKeys) { r.keys <- k }
func (r *recorder) HandleDataChannelOpen()  { r.msgs <- "open" }
func (r *recorder) HandleDataChannelMessage(msg []byte, isString bool) {
	r.msgs <- fmt.Sprintf("%v:%s", isString, msg)
}
func (r *recorder) HandleState(s State) {
	if r.onState != nil {
		r.onState(s)
	}
	r.states <- s
}

func (r *recorder) rtpPackets() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.srtp...)
}

func listenLoopback(t testing.TB) *Mux {
	t.Helper()
	return listenLoopbackWith(t, Config{})
}

// listenLoopbackWith binds a mux on 127.0.0.1 with two readers and cfg's other settings.
func listenLoopbackWith(t testing.TB, cfg Config) *Mux {
	t.Helper()
	cfg.BindAddr, cfg.Readers, cfg.Logger = netip.MustParseAddr("127.0.0.1"), 2, slog.New(slog.DiscardHandler)
	m, err := Listen(cfg)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// client is a pion/webrtc peer that answers the bridge's offer, like a browser does.
type client struct {
	pc     *webrtc.PeerConnection
	track  *webrtc.TrackLocalStaticRTP
	dc     *webrtc.DataChannel
	dcMsgs chan string
	remote chan *rtp.Packet
}

const bridgeAudioSSRC = 0xB1D6E001

// clientOptions vary how the pion client answers.
type clientOptions struct {
	profile    dtls.SRTPProtectionProfile // 0: pion's defaults
	passive    bool                       // answer setup:passive (the bridge becomes DTLS client)
	dataProtos []string                   // protocols of the data channels to open; nil: one colibri channel
}

func newClient(t *testing.T, bridge Description, o clientOptions) (*client, Description) {
	t.Helper()
	profile := o.profile
	se := webrtc.SettingEngine{}
	if o.passive {
		if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleServer); err != nil {
			t.Fatal(err)
		}
	}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	if profile != 0 {
		se.SetSRTPProtectionProfiles(profile)
	}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	c := &client{pc: pc, dcMsgs: make(chan string, 16), remote: make(chan *rtp.Packet, 16)}
	c.track, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "client")
	if err != nil {
		t.Fatal(err)
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			select {
			case c.remote <- p:
			default:
			}
		}
	})
	offer := transporttest.OfferSDP(bridge, transporttest.OfferOptions{Audio: true, AudioSSRCs: []uint32{bridgeAudioSSRC}})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		t.Fatalf("client SetRemoteDescription: %v\n%s", err, offer)
	}
	if _, err := pc.AddTrack(c.track); err != nil {
		t.Fatal(err)
	}
	protos := o.dataProtos
	if protos == nil {
		protos = []string{ColibriProtocol}
	}
	for i, proto := range protos {
		dc, err := pc.CreateDataChannel(fmt.Sprintf("channel %d", i), &webrtc.DataChannelInit{Protocol: &proto})
		if err != nil {
			t.Fatal(err)
		}
		dc.OnMessage(func(m webrtc.DataChannelMessage) { c.dcMsgs <- fmt.Sprintf("%v:%s", m.IsString, m.Data) })
		if i == 0 {
			c.dc = dc
		}
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	desc, err := transporttest.DescriptionFromSDP(pc.LocalDescription().SDP)
	if err != nil {
		t.Fatal(err)
	}
	return c, desc
}

func waitState(t *testing.T, r *recorder, want State) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case s := <-r.states:
			if s == want {
				return
			}
			if s == StateFailed {
				t.Fatalf("transport failed while waiting for %v", want)
			}
		case <-timeout:
			t.Fatalf("timed out waiting for state %v", want)
		}
	}
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(15 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// connect runs a full bridge-side transport against a pion client over loopback.
func connect(t *testing.T, m *Mux, o clientOptions) (*Transport, *recorder, *client) {
	t.Helper()
	r := newRecorder()
	tr, err := m.NewTransport(Options{ICEControlling: true, SCTP: true}, r)
	if err != nil {
		t.Fatalf("NewTransport: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	local := tr.LocalDescription()
	if got := local.Fingerprints[0].Setup; got != "actpass" {
		t.Fatalf("setup before remote known = %q, want actpass", got)
	}
	if len(local.Candidates) == 0 || local.Candidates[0].Port != int(m.LocalAddr().Port()) {
		t.Fatalf("local candidates %+v do not carry the mux port %d", local.Candidates, m.LocalAddr().Port())
	}
	c, remote := newClient(t, local, o)
	wantRemote, wantLocal := "active", "passive"
	if o.passive {
		wantRemote, wantLocal = "passive", "active"
	}
	if remote.Fingerprints[0].Setup != wantRemote {
		t.Fatalf("pion answered setup %q, want %s", remote.Fingerprints[0].Setup, wantRemote)
	}
	// Trickle: ufrag/pwd/fingerprint first, candidates in a second call.
	cands := remote.Candidates
	remote.Candidates = nil
	if err := tr.SetRemoteDescription(remote); err != nil {
		t.Fatalf("SetRemoteDescription: %v", err)
	}
	if err := tr.SetRemoteDescription(Description{Candidates: cands}); err != nil {
		t.Fatalf("SetRemoteDescription(candidates): %v", err)
	}
	waitState(t, r, StateSecure)
	if got := tr.LocalDescription().Fingerprints[0].Setup; got != wantLocal {
		t.Fatalf("setup after remote %s = %q, want %s", wantRemote, got, wantLocal)
	}
	return tr, r, c
}

func TestTransportConnectsPionClient(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dtls    dtls.SRTPProtectionProfile
		profile srtp.ProtectionProfile
		passive bool
		// portable forces the socket path other platforms take (one socket, plain reads and
		// writes), so that Linux CI runs it end to end.
		portable bool
	}{
		{"AEAD_AES_128_GCM", dtls.SRTP_AEAD_AES_128_GCM, srtp.ProtectionProfileAeadAes128Gcm, false, false},
		{"AES128_CM_HMAC_SHA1_80", dtls.SRTP_AES128_CM_HMAC_SHA1_80, srtp.ProtectionProfileAes128CmHmacSha1_80, false, false},
		{"bridge DTLS client", 0, srtp.ProtectionProfileAeadAes128Gcm, true, false},
		{"portable sockets", 0, srtp.ProtectionProfileAeadAes128Gcm, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := listenLoopbackWith(t, Config{PortableSockets: tc.portable})
			tr, r, c := connect(t, m, clientOptions{profile: tc.dtls, passive: tc.passive})
			keys := recv(t, r.keys, "SRTP keys")
			if keys.Profile != tc.profile {
				t.Fatalf("profile = %v, want %v", keys.Profile, tc.profile)
			}

			// Client → bridge SRTP: the bridge's remote keys decrypt it.
			payload := []byte("opus frame from the client")
			deadline := time.Now().Add(10 * time.Second)
			for len(r.rtpPackets()) == 0 && time.Now().Before(deadline) {
				if err := c.track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: 1, Timestamp: 960, SSRC: 1234}, Payload: payload}); err != nil {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			pkts := r.rtpPackets()
			if len(pkts) == 0 {
				t.Fatal("no SRTP reached HandleSRTP")
			}
			dec, err := srtp.CreateContext(keys.RemoteMasterKey, keys.RemoteMasterSalt, keys.Profile)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := dec.DecryptRTP(nil, pkts[0], nil)
			if err != nil {
				t.Fatalf("decrypt client SRTP with RemoteMasterKey: %v", err)
			}
			var p rtp.Packet
			if err := p.Unmarshal(plain); err != nil || !bytes.Equal(p.Payload, payload) {
				t.Fatalf("decrypted payload %q (err %v), want %q", p.Payload, err, payload)
			}

			// Bridge → client SRTP through the BatchWriter with the local keys.
			enc, err := srtp.CreateContext(keys.LocalMasterKey, keys.LocalMasterSalt, keys.Profile)
			if err != nil {
				t.Fatal(err)
			}
			w := tr.NewBatchWriter()
			var got *rtp.Packet
			for seq := uint16(1); got == nil && seq < 500; seq++ {
				out := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, Timestamp: uint32(seq) * 960, SSRC: bridgeAudioSSRC}, Payload: []byte("from the bridge")}
				raw, _ := out.Marshal()
				b, err := enc.EncryptRTP(w.Buffer(), raw, nil)
				if err != nil {
					t.Fatal(err)
				}
				w.Commit(b)
				if err := w.Flush(); err != nil {
					t.Fatalf("Flush: %v", err)
				}
				select {
				case got = <-c.remote:
				case <-time.After(20 * time.Millisecond):
				}
			}
			if got == nil || string(got.Payload) != "from the bridge" {
				t.Fatalf("client did not decrypt the bridge's SRTP (got %v)", got)
			}

			// Data channel: the open event first, then messages in order.
			if open := recv(t, r.msgs, "channel open"); open != "open" {
				t.Fatalf("first data channel event = %s", open)
			}
			for i := range 3 {
				if err := c.dc.SendText(fmt.Sprintf(`{"n":%d}`, i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.dc.Send([]byte{1, 2, 3}); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if got, want := recv(t, r.msgs, "client message"), fmt.Sprintf(`true:{"n":%d}`, i); got != want {
					t.Fatalf("message %d = %s, want %s", i, got, want)
				}
			}
			if got := recv(t, r.msgs, "binary message"); got != "false:\x01\x02\x03" {
				t.Fatalf("binary message = %q", got)
			}
			// A message larger than the reader's first buffer arrives whole, and so does the next.
			big := `{"pad":"` + strings.Repeat("x", 12<<10) /* 3x the first 4 KiB buffer */ + `"}`
			for _, m := range []string{big, `{"after":"big"}`} {
				if err := c.dc.SendText(m); err != nil {
					t.Fatal(err)
				}
				if got := recv(t, r.msgs, "large message"); got != "true:"+m {
					t.Fatalf("message of %d bytes arrived as %d bytes", len(m)+5, len(got))
				}
			}
			if err := tr.SendDataChannel([]byte(`{"colibriClass":"EndpointStats"}`), true); err != nil {
				t.Fatal(err)
			}
			if got := recv(t, c.dcMsgs, "bridge message"); got != `true:{"colibriClass":"EndpointStats"}` {
				t.Fatalf("bridge message = %s", got)
			}

			st := m.Stats()
			if st.PacketsReceived == 0 || st.PacketsSent == 0 || st.BytesSent == 0 {
				t.Fatalf("stats not counting: %+v", st)
			}
			if err := tr.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if tr.State() != StateClosed {
				t.Fatalf("state after Close = %v", tr.State())
			}
			if err := tr.SendDataChannel([]byte("x"), true); err == nil {
				t.Fatal("SendDataChannel after Close succeeded")
			}
		})
	}
}

func TestTwoTransportsShareThePort(t *testing.T) {
	m := listenLoopback(t)
	type peer struct {
		r *recorder
		c *client
	}
	var peers []peer
	for range 2 {
		_, r, c := connect(t, m, clientOptions{})
		peers = append(peers, peer{r, c})
	}
	// Both clients send at once; each bridge transport must get only its own client's packets.
	deadline := time.Now().Add(10 * time.Second)
	for seq := uint16(1); time.Now().Before(deadline); seq++ {
		if len(peers[0].r.rtpPackets()) >= 5 && len(peers[1].r.rtpPackets()) >= 5 {
			break
		}
		for i, p := range peers {
			if err := p.c.track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq}, Payload: []byte{byte(i)}}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i, p := range peers {
		keys := recv(t, p.r.keys, "keys")
		dec, err := srtp.CreateContext(keys.RemoteMasterKey, keys.RemoteMasterSalt, keys.Profile)
		if err != nil {
			t.Fatal(err)
		}
		pkts := p.r.rtpPackets()
		if len(pkts) < 5 {
			t.Fatalf("peer %d: %d SRTP packets, want >= 5", i, len(pkts))
		}
		for _, raw := range pkts {
			plain, err := dec.DecryptRTP(nil, raw, nil)
			if err != nil {
				t.Fatalf("peer %d got a packet it cannot decrypt: %v", i, err)
			}
			var pk rtp.Packet
			if err := pk.Unmarshal(plain); err != nil || !bytes.Equal(pk.Payload, []byte{byte(i)}) {
				t.Fatalf("peer %d got payload %v (err %v), want [%d]", i, pk.Payload, err, i)
			}
		}
	}
}

func TestRemoteDescriptionErrors(t *testing.T) {
	m := listenLoopback(t)
	tr, err := m.NewTransport(Options{ICEControlling: true}, newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.SetRemoteDescription(Description{Fingerprints: []Fingerprint{{Hash: "md5", Value: "00", Setup: "active"}}}); err == nil {
		t.Fatal("md5 fingerprint accepted")
	}
	if err := tr.SetRemoteDescription(Description{Fingerprints: []Fingerprint{{Hash: "sha-256", Value: "00", Setup: "sideways"}}}); err == nil {
		t.Fatal("bad setup accepted")
	}
	if err := tr.SetRemoteDescription(Description{Candidates: []Candidate{{Foundation: "1", Priority: 1, IP: "not-an-ip", Port: 1, Type: "host"}}}); err == nil {
		t.Fatal("bad candidate accepted")
	}
	ignored := []Candidate{
		{Foundation: "1", Component: 1, Protocol: "udp", Priority: 1, IP: "3f1c5b2e-7c1d.local", Port: 5000, Type: "host"},
		{Foundation: "2", Component: 1, Protocol: "tcp", Priority: 1, IP: "127.0.0.1", Port: 9, Type: "host", TCPType: "active"},
	}
	if err := tr.SetRemoteDescription(Description{Candidates: ignored}); err != nil {
		t.Fatalf("mDNS/TCP candidates rejected: %v", err)
	}
	if err := tr.SetRemoteDescription(Description{Fingerprints: []Fingerprint{{Hash: "sha-256", Value: "00", Setup: "passive"}}}); err != nil {
		t.Fatal(err)
	}
	if got := tr.LocalDescription().Fingerprints[0].Setup; got != "active" {
		t.Fatalf("setup after remote passive = %q, want active", got)
	}
	tr.Close()
	if err := tr.SetRemoteDescription(Description{}); err != ErrClosed {
		t.Fatalf("SetRemoteDescription after Close = %v", err)
	}
}

func TestFingerprintMismatchFails(t *testing.T) {
	m := listenLoopback(t)
	r := newRecorder()
	tr, err := m.NewTransport(Options{ICEControlling: true, SCTP: true}, r)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	// Like an endpoint expiring on failure, close the transport from inside the callback.
	closed := make(chan error, 1)
	r.onState = func(s State) {
		if s == StateFailed {
			closed <- tr.Close()
		}
	}
	_, remote := newClient(t, tr.LocalDescription(), clientOptions{})
	// Signal a fingerprint that is not the client's certificate's.
	remote.Fingerprints[0].Value = strings.Repeat("AB:", 31) + "AB"
	if err := tr.SetRemoteDescription(remote); err != nil {
		t.Fatal(err)
	}
	waitState(t, r, StateFailed)
	if err := recv(t, closed, "Close called from HandleState"); err != nil {
		t.Fatalf("Close from HandleState: %v", err)
	}
	if tr.State() != StateClosed {
		t.Fatalf("state %v after Close", tr.State())
	}
	select {
	case <-r.keys:
		t.Fatal("keys delivered although the certificate did not match")
	default:
	}
}

func TestOnlyOneColibriDataChannelIsAccepted(t *testing.T) {
	m := listenLoopback(t)
	_, r, c := connect(t, m, clientOptions{dataProtos: []string{ColibriProtocol, "other-protocol", ColibriProtocol}})
	if open := recv(t, r.msgs, "channel open"); open != "open" {
		t.Fatalf("first data channel event = %s", open)
	}
	deadline := time.Now().Add(10 * time.Second)
	for m.Stats().RejectedDataChannels < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := m.Stats().RejectedDataChannels; got != 2 {
		t.Fatalf("RejectedDataChannels = %d, want 2", got)
	}
	if err := c.dc.SendText("still works"); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, r.msgs, "message on the accepted channel"); got != "true:still works" {
		t.Fatalf("got %q", got)
	}
	select {
	case extra := <-c.dcMsgs:
		t.Fatalf("a rejected channel got a message: %s", extra)
	default:
	}
}

func TestCloseDuringHandshakeStopsEverything(t *testing.T) {
	m := listenLoopback(t)
	for _, stage := range []string{"before remote", "ICE started"} {
		r := newRecorder()
		tr, err := m.NewTransport(Options{ICEControlling: true, SCTP: true}, r)
		if err != nil {
			t.Fatal(err)
		}
		if stage != "before remote" {
			// Credentials of a peer that never answers: ICE keeps checking until Close.
			err := tr.SetRemoteDescription(Description{Ufrag: "peer", Pwd: "peer-password-peer-password",
				Candidates:   []Candidate{{Foundation: "1", Component: 1, Protocol: "udp", Priority: 2130706431, IP: "127.0.0.1", Port: 9, Type: "host"}},
				Fingerprints: []Fingerprint{{Hash: "sha-256", Value: strings.Repeat("00:", 31) + "00", Setup: "active"}}})
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := tr.Close(); err != nil {
			t.Fatalf("%s: Close: %v", stage, err)
		}
		if tr.State() != StateClosed {
			t.Fatalf("%s: state %v", stage, tr.State())
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.NewTransport(Options{}, newRecorder()); err != ErrClosed {
		t.Fatalf("NewTransport on a closed Mux = %v, want ErrClosed", err)
	}
	// goleak in TestMain checks that no agent, DTLS or reader goroutine survived.
}

// A connected peer that sends no media still shows it is there: its authenticated ICE checks
// (pion's keepalives, a browser's consent checks) move LastConsentCheck forward.
func TestConsentChecksShowAnIdlePeerIsThere(t *testing.T) {
	m := listenLoopback(t)
	tr, _, _ := connect(t, m, clientOptions{})
	first := tr.LastConsentCheck()
	if first.IsZero() {
		t.Fatal("no authenticated STUN recorded after connecting")
	}
	deadline := time.Now().Add(15 * time.Second)
	for !tr.LastConsentCheck().After(first) {
		if time.Now().After(deadline) {
			t.Fatalf("no ICE check from the idle peer since %v", first)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// secureBlocker holds HandleSecure until release is closed.
type secureBlocker struct {
	*recorder
	entered, release chan struct{}
	returned         atomic.Bool
}

func (h *secureBlocker) HandleSecure(SRTPKeys) {
	close(h.entered)
	<-h.release
	h.returned.Store(true)
}

// Close from another goroutine waits for a Handler call in progress: after it returns, nothing
// of the transport's runs in the Handler any more.
func TestCloseWaitsForARunningCallback(t *testing.T) {
	m := listenLoopback(t)
	h := &secureBlocker{recorder: newRecorder(), entered: make(chan struct{}), release: make(chan struct{})}
	tr, err := m.NewTransport(Options{ICEControlling: true}, h)
	if err != nil {
		t.Fatal(err)
	}
	released := false
	defer func() {
		if !released {
			close(h.release)
		}
		tr.Close()
	}()
	_, remote := newClient(t, tr.LocalDescription(), clientOptions{})
	if err := tr.SetRemoteDescription(remote); err != nil {
		t.Fatal(err)
	}
	recv(t, h.entered, "HandleSecure")
	closed := make(chan bool, 1)
	go func() {
		tr.Close()
		closed <- h.returned.Load()
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while HandleSecure was still running")
	case <-time.After(300 * time.Millisecond): // Close is (still) waiting, as it must
	}
	close(h.release)
	released = true
	if returned := recv(t, closed, "Close after HandleSecure returned"); !returned {
		t.Fatal("Close returned before HandleSecure did")
	}
}
