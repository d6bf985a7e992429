package transporttest

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	piontransport "github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"

	"gojvb/sfu/transport"
)

// gatherTimeout bounds ICE gathering on loopback, which normally takes milliseconds.
const gatherTimeout = 10 * time.Second

// PeerOptions chooses how a Peer's pion API is built; the zero value is a plain client.
type PeerOptions struct {
	// Interceptors registers pion's default interceptors (NACK, RTCP reports, TWCC) like a
	// browser-grade client.
	Interceptors bool
	// MaxBundle sets the max-bundle policy (the bridge always bundles).
	MaxBundle bool
	// TCPOnly restricts the client to ICE-TCP, as on a network that blocks UDP: it gathers
	// nothing and connects out to the bridge's passive TCP candidates.
	TCPOnly bool
	// Net, when set, is the network the peer's ICE agent opens its sockets on (fault tests
	// wrap the standard one to drop or stop traffic).
	Net piontransport.Net
}

// Peer is a pion/webrtc client that talks to a bridge over UDP4 (or TCP4) loopback only (no mDNS). It
// owns every goroutine it starts for its tracks (RTCP readers, OnTrack/OnRTP handlers): Close
// closes the PeerConnection and waits for all of them.
type Peer struct {
	PC *webrtc.PeerConnection

	connected chan struct{}

	mu      sync.Mutex
	closed  bool
	wg      sync.WaitGroup
	tracks  []*webrtc.TrackRemote // remote tracks being read, woken by Close
	senders []*webrtc.RTPSender   // local tracks' senders whose RTCP is read, woken by Close
}

// NewPeer builds the PeerConnection. The caller must Close it (t.Cleanup(p.Close) in tests).
func NewPeer(opts PeerOptions) (*Peer, error) {
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if opts.TCPOnly {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	}
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	if opts.Net != nil {
		se.SetNet(opts.Net)
	}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("transporttest: register codecs: %w", err)
	}
	apiOpts := []func(*webrtc.API){webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me)}
	if opts.Interceptors {
		ir := &interceptor.Registry{}
		if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
			return nil, fmt.Errorf("transporttest: register interceptors: %w", err)
		}
		apiOpts = append(apiOpts, webrtc.WithInterceptorRegistry(ir))
	}
	var cfg webrtc.Configuration
	if opts.MaxBundle {
		cfg.BundlePolicy = webrtc.BundlePolicyMaxBundle
	}
	pc, err := webrtc.NewAPI(apiOpts...).NewPeerConnection(cfg)
	if err != nil {
		return nil, fmt.Errorf("transporttest: new PeerConnection: %w", err)
	}
	p := &Peer{PC: pc, connected: make(chan struct{})}
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(p.connected) })
		}
	})
	return p, nil
}

// Close closes the PeerConnection and waits for the goroutines the Peer owns.
func (p *Peer) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	_ = p.PC.Close()
	// Closing the PeerConnection should end every read, but pion's SRTP read stream can miss
	// the close's wakeup (seen once: a TrackRemote.Read blocked for minutes after Close); a
	// deadline in the past wakes such a reader for sure.
	p.mu.Lock()
	tracks, senders := p.tracks, p.senders
	p.mu.Unlock()
	past := time.Unix(1, 0)
	for _, tr := range tracks {
		_ = tr.SetReadDeadline(past)
	}
	for _, s := range senders {
		_ = s.SetReadDeadline(past)
	}
	p.wg.Wait()
}

// Go runs f in a goroutine Close waits for; once the peer is closed it runs nothing. f must
// return when the PeerConnection is closed (or be ended by its caller before Close).
func (p *Peer) Go(f func()) {
	if p.enter() {
		go func() {
			defer p.wg.Done()
			f()
		}()
	}
}

// enter registers a running handler unless the peer is closed (so no Add races Close's Wait).
func (p *Peer) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	return true
}

// OnTrack sets pion's track handler; each call of f counts as a goroutine of the peer, so f
// must return once reading the track fails.
func (p *Peer) OnTrack(f func(*webrtc.TrackRemote, *webrtc.RTPReceiver)) {
	p.PC.OnTrack(func(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return
		}
		p.wg.Add(1)
		p.tracks = append(p.tracks, tr) // under the lock that Close takes: Close sees it
		p.mu.Unlock()
		defer p.wg.Done()
		f(tr, r)
	})
}

// OnRTP reads every remote track until it ends and hands each packet to f.
func (p *Peer) OnRTP(f func(*webrtc.TrackRemote, *rtp.Packet)) {
	p.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			f(tr, pkt)
		}
	})
}

// AddTrack adds track and reads its sender's RTCP (pion needs that read for its interceptors)
// in a goroutine of the peer, handing each batch to onRTCP (nil: discard). It returns the
// SSRC pion chose for the track.
func (p *Peer) AddTrack(track webrtc.TrackLocal, onRTCP func([]rtcp.Packet)) (uint32, error) {
	s, err := p.PC.AddTrack(track)
	if err != nil {
		return 0, fmt.Errorf("transporttest: AddTrack: %w", err)
	}
	p.mu.Lock()
	p.senders = append(p.senders, s)
	p.mu.Unlock()
	p.Go(func() {
		for {
			pkts, _, err := s.ReadRTCP()
			if err != nil {
				return
			}
			if onRTCP != nil {
				onRTCP(pkts)
			}
		}
	})
	return uint32(s.GetParameters().Encodings[0].SSRC), nil
}

// OpusTrack and VP8Track are local RTP tracks (ids "audio" and "video") in stream streamID.
func OpusTrack(streamID string) *webrtc.TrackLocalStaticRTP {
	return mustTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", streamID)
}

// VP8Track: see OpusTrack.
func VP8Track(streamID string) *webrtc.TrackLocalStaticRTP {
	return mustTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", streamID)
}

func mustTrack(c webrtc.RTPCodecCapability, id, streamID string) *webrtc.TrackLocalStaticRTP {
	tr, err := webrtc.NewTrackLocalStaticRTP(c, id, streamID)
	if err != nil { // only on a bad option, and none are passed
		panic(err)
	}
	return tr
}

// SetOffer applies sdp as the remote offer.
func (p *Peer) SetOffer(sdp string) error {
	if err := p.PC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return fmt.Errorf("transporttest: SetRemoteDescription: %w", err)
	}
	return nil
}

// Answer creates and applies the answer to the current remote offer and returns its SDP once
// ICE gathering finished (so it carries every candidate).
func (p *Peer) Answer() (string, error) {
	ans, err := p.PC.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("transporttest: CreateAnswer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(p.PC)
	if err := p.PC.SetLocalDescription(ans); err != nil {
		return "", fmt.Errorf("transporttest: SetLocalDescription: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(gatherTimeout):
		return "", errors.New("transporttest: ICE gathering did not complete")
	}
	return p.PC.LocalDescription().SDP, nil
}

// AnswerTransport is Answer followed by DescriptionFromSDP: the transport to give the bridge.
func (p *Peer) AnswerTransport() (transport.Description, error) {
	sdp, err := p.Answer()
	if err != nil {
		return transport.Description{}, err
	}
	return DescriptionFromSDP(sdp)
}

// WaitConnected waits until the PeerConnection reached the connected state (ICE and DTLS done).
func (p *Peer) WaitConnected(timeout time.Duration) error {
	select {
	case <-p.connected:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("transporttest: not connected within %v (state %v)", timeout, p.PC.ConnectionState())
	}
}
