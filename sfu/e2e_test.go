package sfu

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"gojvb/bwe"
	"gojvb/sfu/transport"
	"gojvb/sfu/transport/transporttest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// peer is a pion/webrtc client joined to a real bridge over the single UDP port on 127.0.0.1.
// The bridge offers it (like jicofo does) one sendrecv audio and video section for its own
// media, a data channel, and, after renegotiation, one sendonly section per remote source.
type peer struct {
	idx                  int
	id                   string
	ep                   *Endpoint
	client               *transporttest.Peer
	audio, video         *webrtc.TrackLocalStaticRTP
	audioSSRC, videoSSRC uint32
	dc                   *webrtc.DataChannel
	dcMsgs               chan string
	plis                 chan *rtcp.PictureLossIndication

	mu    sync.Mutex
	got   map[uint32]int // RTP packets received per SSRC
	wrong atomic.Int64   // received packets whose SSRC or bytes were not what was sent
	// pliCount counts every PLI the client got (plis keeps only the first few).
	pliCount atomic.Int64
	owner    map[uint32]*peer
	// acceptStrangers counts media from SSRCs not in owner in strangers, not as wrong (peers
	// that join and leave around a soak's live pair).
	acceptStrangers bool
	strangers       int
}

const (
	payloadAudio = 80
	payloadVideo = 1100
)

// payload is what peer idx sends as packet seq of kind: checkable byte for byte by receivers.
func payload(kind byte, idx int, seq uint16, n int) []byte {
	p := make([]byte, n)
	p[0], p[1] = kind, byte(idx)
	binary.BigEndian.PutUint16(p[2:], seq)
	for i := 4; i < n; i++ {
		p[i] = byte(i*7) ^ byte(seq) ^ byte(idx)
	}
	return p
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newLoopbackBridge(t *testing.T) *Bridge {
	t.Helper()
	alloc := bwe.DefaultConfig()
	alloc.InitialMaxHeight = -1 // every source without waiting for ReceiverVideoConstraints
	b, err := New(Config{
		Transport:  transport.Config{BindAddr: netip.MustParseAddr("127.0.0.1"), Readers: 2},
		Logger:     quietLogger(),
		Allocation: &alloc,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("bridge Close: %v", err)
		}
	})
	return b
}

// offer builds the bridge's SDP offer for p with a section per source of each remote peer.
func (p *peer) offer(remotes []*peer) string {
	desc := p.ep.LocalTransport()
	mids := []string{"0", "1", "2"}
	for _, r := range remotes {
		mids = append(mids, "a"+r.id, "v"+r.id)
	}
	var b strings.Builder
	b.WriteString("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")
	fmt.Fprintf(&b, "a=group:BUNDLE %s\r\na=msid-semantic: WMS *\r\n", strings.Join(mids, " "))
	section := func(m, mid, dir string) {
		b.WriteString(m + "\r\nc=IN IP4 0.0.0.0\r\n" + transporttest.TransportAttrs(desc))
		fmt.Fprintf(&b, "a=mid:%s\r\n", mid)
		if dir != "" {
			fmt.Fprintf(&b, "a=%s\r\na=rtcp-mux\r\n", dir)
		}
	}
	audio := func(mid, dir string) {
		section("m=audio 9 UDP/TLS/RTP/SAVPF 111", mid, dir)
		b.WriteString("a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n")
	}
	video := func(mid, dir string) {
		section("m=video 9 UDP/TLS/RTP/SAVPF 100", mid, dir)
		b.WriteString("a=rtpmap:100 VP8/90000\r\na=rtcp-fb:100 nack pli\r\na=rtcp-fb:100 ccm fir\r\n")
	}
	ssrc := func(ssrc uint32, owner, track string) {
		fmt.Fprintf(&b, "a=msid:%s %s\r\na=ssrc:%d cname:%s\r\na=ssrc:%d msid:%s %s\r\n",
			owner, track, ssrc, owner, ssrc, owner, track)
	}
	audio("0", "sendrecv")
	video("1", "sendrecv")
	section("m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "2", "")
	b.WriteString("a=sctp-port:5000\r\na=max-message-size:262144\r\n")
	for _, r := range remotes {
		audio("a"+r.id, "sendonly")
		ssrc(r.audioSSRC, r.id, r.id+"-a0")
		video("v"+r.id, "sendonly")
		ssrc(r.videoSSRC, r.id, r.id+"-v0")
	}
	return b.String()
}

// joinPeer creates endpoint "p<idx>" in conf and a pion client for it, and starts ICE/DTLS.
func joinPeer(t *testing.T, conf *Conference, idx int) *peer {
	t.Helper()
	p := joinPeerWith(t, conf, idx, transporttest.PeerOptions{}, nil)
	t.Cleanup(p.client.Close)
	return p
}

// joinPeerWith is joinPeer with the client's options and an offer that already has sections for
// remotes' sources (whose media it then checks, counting others' apart as strangers); the caller
// closes p.client.
func joinPeerWith(t *testing.T, conf *Conference, idx int, opts transporttest.PeerOptions, remotes []*peer) *peer {
	t.Helper()
	p := &peer{idx: idx, id: fmt.Sprintf("p%d", idx), dcMsgs: make(chan string, 16),
		plis: make(chan *rtcp.PictureLossIndication, 16), got: map[uint32]int{}}
	var err error
	p.ep, err = conf.CreateEndpoint(EndpointConfig{ID: p.id, ICEControlling: true, SCTP: true, InitialLastN: -1})
	if err != nil {
		t.Fatal(err)
	}
	if p.client, err = transporttest.NewPeer(opts); err != nil {
		t.Fatal(err)
	}
	if len(remotes) > 0 {
		p.acceptStrangers = true
		p.owner = map[uint32]*peer{}
		for _, r := range remotes {
			p.owner[r.audioSSRC], p.owner[r.videoSSRC] = r, r
		}
	}
	p.client.OnRTP(func(_ *webrtc.TrackRemote, pkt *rtp.Packet) { p.record(pkt) })
	if err := p.client.SetOffer(p.offer(remotes)); err != nil {
		p.client.Close()
		t.Fatal(err)
	}
	onRTCP := func(pkts []rtcp.Packet) { // keyframe requests are what we look for
		for _, pk := range pkts {
			if pli, ok := pk.(*rtcp.PictureLossIndication); ok {
				p.pliCount.Add(1)
				select {
				case p.plis <- pli:
				default:
				}
			}
		}
	}
	p.audio, p.video = transporttest.OpusTrack(p.id), transporttest.VP8Track(p.id)
	if p.audioSSRC, err = p.client.AddTrack(p.audio, onRTCP); err != nil {
		t.Fatal(err)
	}
	if p.videoSSRC, err = p.client.AddTrack(p.video, onRTCP); err != nil {
		t.Fatal(err)
	}
	proto := transport.ColibriProtocol
	p.dc, err = p.client.PC.CreateDataChannel("JVB data channel", &webrtc.DataChannelInit{Protocol: &proto})
	if err != nil {
		t.Fatal(err)
	}
	p.dc.OnMessage(func(m webrtc.DataChannelMessage) {
		select {
		case p.dcMsgs <- string(m.Data):
		default:
		}
	})
	desc, err := p.client.AnswerTransport()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ep.SetRemoteTransport(desc); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *peer) record(pkt *rtp.Packet) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got[pkt.SSRC]++
	from := p.owner[pkt.SSRC]
	kind := byte('v')
	size := payloadVideo
	if from != nil && pkt.SSRC == from.audioSSRC {
		kind, size = 'a', payloadAudio
	}
	if from == nil && p.acceptStrangers {
		p.strangers++
		return
	}
	if from == nil || !bytes.Equal(pkt.Payload, payload(kind, from.idx, pkt.SequenceNumber, size)) {
		p.wrong.Add(1)
	}
}

func (p *peer) received(ssrc uint32) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.got[ssrc]
}

// connectAll waits for every peer's bridge channel (ServerHello), renegotiates so each peer
// knows the others' SSRCs, then signals every peer's sources to the bridge.
func connectAll(t *testing.T, peers []*peer) {
	t.Helper()
	for _, p := range peers {
		select {
		case m := <-p.dcMsgs:
			if m != `{"colibriClass":"ServerHello"}` {
				t.Fatalf("%s: first data channel message %q, want ServerHello", p.id, m)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: no ServerHello (endpoint state %v)", p.id, p.ep.State())
		}
	}
	owner := map[uint32]*peer{}
	for _, p := range peers {
		owner[p.audioSSRC], owner[p.videoSSRC] = p, p
	}
	for _, p := range peers {
		var remotes []*peer
		for _, r := range peers {
			if r != p {
				remotes = append(remotes, r)
			}
		}
		p.mu.Lock()
		p.owner = owner
		p.mu.Unlock()
		if err := p.client.SetOffer(p.offer(remotes)); err != nil {
			t.Fatalf("%s renegotiation: %v", p.id, err)
		}
		if _, err := p.client.Answer(); err != nil {
			t.Fatalf("%s renegotiation: %v", p.id, err)
		}
	}
	for _, p := range peers {
		if err := p.ep.SetSources([]MediaSource{audioSource(p.id+"-a0", p.audioSSRC), videoSource(p.id+"-v0", p.videoSSRC)}); err != nil {
			t.Fatal(err)
		}
	}
}

// sendMedia makes every peer send audio and video every 20 ms until the returned stop is called.
func sendMedia(t *testing.T, peers []*peer) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(1); ; seq++ {
			for _, p := range peers {
				if p.ep.Expired() {
					continue
				}
				_ = p.audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 960},
					Payload: payload('a', p.idx, seq, payloadAudio)})
				_ = p.video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, Marker: true},
					Payload: payload('v', p.idx, seq, payloadVideo)})
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { close(done); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// flow is one receiver expecting one SSRC.
type flow struct {
	to   *peer
	ssrc uint32
}

// waitFlow waits until every receiver got at least n more packets on every SSRC of every
// sender than it had in base (nil: zero).
func waitFlow(t *testing.T, receivers, senders []*peer, n int, base map[*peer]map[uint32]int) {
	t.Helper()
	var flows []flow
	for _, r := range receivers {
		for _, s := range senders {
			if s != r {
				flows = append(flows, flow{r, s.audioSSRC}, flow{r, s.videoSSRC})
			}
		}
	}
	waitFlows(t, flows, n, base)
}

// waitFlows waits until each flow got at least n more packets than in base (nil: zero).
func waitFlows(t *testing.T, flows []flow, n int, base map[*peer]map[uint32]int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		missing := ""
		for _, f := range flows {
			if got := f.to.received(f.ssrc) - base[f.to][f.ssrc]; got < n {
				missing = fmt.Sprintf("%s has %d/%d packets of SSRC %d", f.to.id, got, n, f.ssrc)
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("media did not flow: %s", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func snapshot(peers []*peer) map[*peer]map[uint32]int {
	m := map[*peer]map[uint32]int{}
	for _, p := range peers {
		p.mu.Lock()
		m[p] = map[uint32]int{}
		for k, v := range p.got {
			m[p][k] = v
		}
		p.mu.Unlock()
	}
	return m
}

func checkIntact(t *testing.T, peers []*peer) {
	t.Helper()
	for _, p := range peers {
		if n := p.wrong.Load(); n != 0 {
			t.Errorf("%s received %d packets that differ from what was sent", p.id, n)
		}
	}
}
