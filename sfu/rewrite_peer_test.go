package sfu

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"gojvb/sfu/channel"
	"gojvb/sfu/transport"
	"gojvb/sfu/transport/transporttest"
)

// This file is the client side of the SSRC-rewriting integration tests: a pion client that
// plays lib-jitsi-meet with flags.ssrcRewritingEnabled. Its focus (the test) never tells it a
// remote SSRC: it learns remote sources only from VideoSourcesMap/AudioSourcesMap and, like
// JingleSessionPC.processSourceMap, renegotiates with one section per newly mapped SSRC (msid
// remote-video-N / remote-audio-N, an FID group slot+rtx for video). pion plays only SSRCs
// declared in its remote description (the offers carry no MID/RID extensions), so a packet on any
// other SSRC never reaches OnTrack.

// waitTimeout bounds every wait for an event of the bridge (ICE, DTLS, messages, media).
const waitTimeout = 20 * time.Second

// RTX payload type and ssrc-audio-level id of the offers built here (opus and VP8 as in
// selection_test.go).
const (
	ptRTX           = 96
	extIDAudioLevel = extLevel
	vp8FrameLen     = 120
)

// Audio-level modes of a sender.
const (
	levelNone  int32 = iota // no ssrc-audio-level extension
	levelNoise              // a quiet, slightly varying level (a noise floor)
	levelTalk               // speech: loud, varying levels with the odd quiet packet
)

// rawTrack is a local video track whose packets keep the SSRC the test gives them, so that one
// pion sender plays a browser's simulcast encoder (SIM SSRCs plus their RTX SSRCs).
type rawTrack struct {
	*webrtc.TrackLocalStaticRTP
	mu sync.Mutex
	w  webrtc.TrackLocalWriter
}

func (r *rawTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	c, err := r.TrackLocalStaticRTP.Bind(ctx)
	if err == nil {
		r.mu.Lock()
		r.w = ctx.WriteStream()
		r.mu.Unlock()
	}
	return c, err
}

func (r *rawTrack) write(h *rtp.Header, payload []byte) {
	r.mu.Lock()
	w := r.w
	r.mu.Unlock()
	if w != nil {
		_, _ = w.WriteRTP(h, payload)
	}
}

// rxStream is what a client received on one SSRC.
type rxStream struct {
	kind     webrtc.RTPCodecType
	n        int
	firstKey bool   // the first video packet started a VP8 keyframe
	from     [8]int // packets by sender index (payload marker)
	encs     [3]int // video packets by encoding (payload marker)
	lastSeq  uint16
	encStart [3]encStart
}

// encStart is the first packet of one encoding played on a stream.
type encStart struct {
	seen, key     bool
	seq, afterSeq uint16 // its sequence number, and that of the packet played before it
}

// fsChange is a ForwardedSources message and when it arrived.
type fsChange struct {
	at      time.Time
	sources []string
}

func (f fsChange) String() string { return f.at.Format("15:04:05.000") + fmt.Sprint(f.sources) }

// videoArrival is one video packet as played: when, and the source its SSRC was mapped to.
type videoArrival struct {
	at     time.Time
	source string
}

// rwPeer is a pion client of an endpoint created with SSRCRewriting.
type rwPeer struct {
	idx       int
	id        string
	ep        *Endpoint
	client    *transporttest.Peer
	audio     *webrtc.TrackLocalStaticRTP
	video     *rawTrack
	audioSSRC uint32
	encs, rtx []uint32 // video: SIM SSRCs (lowest first) and their RTX SSRCs
	dc        *webrtc.DataChannel
	level     atomic.Int32 // levelNone, levelNoise or levelTalk
	notify    chan struct{}
	plis      chan *rtcp.PictureLossIndication // PLIs the client got about its video

	mu          sync.Mutex
	hello       bool
	videoMap    map[uint32]channel.VideoSourceMapping // by slot SSRC
	audioMap    map[uint32]channel.AudioSourceMapping
	sections    []uint32 // mapped SSRCs in the order the client added their sections
	forwarded   []fsChange
	speakers    []channel.DominantSpeakerEndpointChangeEvent
	constraints []channel.SenderSourceConstraints
	rx          map[uint32]*rxStream
	arrivals    []videoArrival
	bad         []string // what the client saw that a Jitsi Meet client would choke on
}

// joinRewriting creates endpoint "p<idx>" with SSRC rewriting and a pion client sending nEnc
// video encodings (each with an RTX SSRC) and audio, and starts ICE/DTLS/SCTP.
func joinRewriting(t *testing.T, conf *Conference, idx, nEnc int) *rwPeer {
	t.Helper()
	p := &rwPeer{idx: idx, id: fmt.Sprintf("p%d", idx), notify: make(chan struct{}, 1), plis: make(chan *rtcp.PictureLossIndication, 16),
		videoMap: map[uint32]channel.VideoSourceMapping{}, audioMap: map[uint32]channel.AudioSourceMapping{},
		rx: map[uint32]*rxStream{}}
	var err error
	p.ep, err = conf.CreateEndpoint(EndpointConfig{ID: p.id, ICEControlling: true, SCTP: true, SSRCRewriting: true,
		InitialLastN: -1,
		PayloadTypes: []PayloadType{
			{Media: MediaAudio, ID: ptOpus, Name: "opus", ClockRate: 48000, Channels: 2},
			{Media: MediaVideo, ID: ptVP8, Name: "VP8", ClockRate: 90000},
			{Media: MediaVideo, ID: ptRTX, Name: "rtx", ClockRate: 90000, Params: map[string]string{"apt": "100"}},
		},
		HeaderExts: []HeaderExtension{{Media: MediaAudio, ID: extIDAudioLevel, URI: extAudioLevel}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.client, err = transporttest.NewPeer(transporttest.PeerOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.client.Close)
	p.client.OnRTP(p.record)
	if err := p.client.SetOffer(p.offer()); err != nil {
		t.Fatal(err)
	}
	p.audio = transporttest.OpusTrack(p.id)
	if p.audioSSRC, err = p.client.AddTrack(p.audio, nil); err != nil {
		t.Fatal(err)
	}
	p.video = &rawTrack{TrackLocalStaticRTP: transporttest.VP8Track(p.id)}
	own, err := p.client.AddTrack(p.video, func(pkts []rtcp.Packet) {
		for _, pk := range pkts {
			if pli, ok := pk.(*rtcp.PictureLossIndication); ok {
				select {
				case p.plis <- pli:
				default:
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// The lowest encoding is the SSRC pion knows (its RTCP reaches the sender's reader); the
	// others are the test's own, like a browser's further simulcast encodings.
	base := uint32(idx+1) * 0x01000000
	p.encs = append(p.encs, own)
	for i := 1; i < nEnc; i++ {
		p.encs = append(p.encs, base+uint32(i))
	}
	for i := range nEnc {
		p.rtx = append(p.rtx, base+0x100+uint32(i))
	}
	proto := transport.ColibriProtocol
	if p.dc, err = p.client.PC.CreateDataChannel("JVB data channel", &webrtc.DataChannelInit{Protocol: &proto}); err != nil {
		t.Fatal(err)
	}
	p.dc.OnMessage(func(m webrtc.DataChannelMessage) { p.message(m.Data) })
	desc, err := p.client.AnswerTransport()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ep.SetRemoteTransport(desc); err != nil {
		t.Fatal(err)
	}
	return p
}

// sources is what the focus signals to the bridge for p: its audio, and its video as a SIM
// group (more than one encoding) with an FID group per encoding.
func (p *rwPeer) sources() []MediaSource {
	v := MediaSource{Type: MediaVideo, Name: p.id + "-v0"}
	for i, s := range p.encs {
		v.Sources = append(v.Sources, Source{SSRC: s, Name: v.Name}, Source{SSRC: p.rtx[i], Name: v.Name})
		v.Groups = append(v.Groups, SSRCGroup{Semantics: "FID", SSRCs: []uint32{s, p.rtx[i]}})
	}
	if len(p.encs) > 1 {
		v.Groups = append(v.Groups, SSRCGroup{Semantics: "SIM", SSRCs: slices.Clone(p.encs)})
	}
	return []MediaSource{audioSource(p.id+"-a0", p.audioSSRC), v}
}

func (p *rwPeer) signal(t *testing.T) {
	t.Helper()
	if err := p.ep.SetSources(p.sources()); err != nil {
		t.Fatal(err)
	}
}

func (p *rwPeer) kick() {
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

func (p *rwPeer) badf(format string, args ...any) {
	if len(p.bad) < 10 {
		p.bad = append(p.bad, fmt.Sprintf(format, args...))
	}
}

// message handles one bridge-channel message (pion delivers them in order on one goroutine).
func (p *rwPeer) message(data []byte) {
	m, err := channel.Parse(data)
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.kick()
	if err != nil {
		p.badf("unparseable message %.200s: %v", data, err)
		return
	}
	switch m := m.(type) {
	case *channel.ServerHello:
		p.hello = true
	case *channel.VideoSourcesMap:
		for _, v := range m.Mapped {
			if v.SSRC == 0 || v.RTX == 0 || v.SSRC == v.RTX || v.Source == "" || v.Owner == "" {
				p.badf("bad video mapping %+v", v)
				continue
			}
			p.videoMap[v.SSRC] = v
		}
	case *channel.AudioSourcesMap:
		for _, a := range m.Mapped {
			if a.SSRC == 0 || a.Source == "" || a.Owner == "" {
				p.badf("bad audio mapping %+v", a)
				continue
			}
			p.audioMap[a.SSRC] = a
		}
	case *channel.ForwardedSources:
		p.forwarded = append(p.forwarded, fsChange{time.Now(), slices.Clone(m.Sources)})
	case *channel.DominantSpeakerEndpointChangeEvent:
		p.speakers = append(p.speakers, *m)
	case *channel.SenderSourceConstraints:
		p.constraints = append(p.constraints, *m)
	}
}

// record checks one played RTP packet: it arrived on the track of its SSRC, the kind of the
// mapping, intact, from the mapping's owner.
func (p *rwPeer) record(tr *webrtc.TrackRemote, pkt *rtp.Packet) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.kick()
	st := p.rx[pkt.SSRC]
	if st == nil {
		st = &rxStream{kind: tr.Kind()}
		p.rx[pkt.SSRC] = st
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			st.firstKey = len(pkt.Payload) > 1 && pkt.Payload[0] == 0x10 && pkt.Payload[1]&1 == 0
		}
	}
	st.n++
	if uint32(tr.SSRC()) != pkt.SSRC {
		p.badf("SSRC %d played on the track of SSRC %d", pkt.SSRC, tr.SSRC())
	}
	mk, ok := readMarker(pkt.Payload)
	if !ok {
		p.badf("SSRC %d: payload is not what any sender sent: % x", pkt.SSRC, pkt.Payload[:min(16, len(pkt.Payload))])
		return
	}
	st.from[mk.idx&7]++
	owner := ""
	switch tr.Kind() {
	case webrtc.RTPCodecTypeAudio:
		owner = p.audioMap[pkt.SSRC].Owner
		if mk.kind != 'A' {
			p.badf("audio SSRC %d carries video", pkt.SSRC)
		}
	case webrtc.RTPCodecTypeVideo:
		m := p.videoMap[pkt.SSRC]
		owner = m.Owner
		if mk.kind != 'V' {
			p.badf("video SSRC %d carries audio", pkt.SSRC)
		}
		if e := &st.encStart[mk.enc%3]; !e.seen {
			*e = encStart{seen: true, key: pkt.Payload[1]&1 == 0, seq: pkt.SequenceNumber, afterSeq: st.lastSeq}
		}
		st.lastSeq = pkt.SequenceNumber
		st.encs[mk.enc%3]++
		p.arrivals = append(p.arrivals, videoArrival{now, m.Source})
	}
	if want := fmt.Sprintf("p%d", mk.idx); owner != want {
		p.badf("%s SSRC %d is mapped to %q but carries media of %s", tr.Kind(), pkt.SSRC, owner, want)
	}
}

// wait waits until cond (called with p.mu held) holds.
func (p *rwPeer) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitNotified(t, &p.mu, p.notify, p.id+": "+what, cond, func() string {
		return fmt.Sprintf("maps: video %v audio %v; forwarded %v; rx %v; bad %v",
			p.videoMap, p.audioMap, p.forwardedNow(), p.rxCounts(), p.bad)
	})
}

func (p *rwPeer) rxCounts() map[uint32]int {
	m := map[uint32]int{}
	for s, st := range p.rx {
		m[s] = st.n
	}
	return m
}

// forwardedNow is the last ForwardedSources received (nil before any). p.mu must be held.
func (p *rwPeer) forwardedNow() []string {
	if len(p.forwarded) == 0 {
		return nil
	}
	return p.forwarded[len(p.forwarded)-1].sources
}

// slotOf returns the SSRC the client knows source by (0 if not mapped). p.mu must be held.
func (p *rwPeer) slotOf(source string) uint32 {
	for s, v := range p.videoMap {
		if v.Source == source {
			return s
		}
	}
	for s, a := range p.audioMap {
		if a.Source == source {
			return s
		}
	}
	return 0
}

// received returns how many packets the client played from source's slot.
func (p *rwPeer) received(source string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st := p.rx[p.slotOf(source)]; st != nil {
		return st.n
	}
	return 0
}

// waitPlayed waits until the client played n more packets (than in base) of each source.
func (p *rwPeer) waitPlayed(t *testing.T, n int, base map[string]int, sources ...string) {
	t.Helper()
	for _, src := range sources {
		p.wait(t, fmt.Sprintf("%d packets of %s", n, src), func() bool {
			st := p.rx[p.slotOf(src)]
			return st != nil && st.n-base[src] >= n
		})
	}
}

// renegotiate applies an offer with a section for every mapped SSRC (new ones appended), as
// lib-jitsi-meet's synthetic source-add does, and answers it.
func (p *rwPeer) renegotiate(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	var fresh []uint32
	for s := range p.videoMap {
		if !slices.Contains(p.sections, s) {
			fresh = append(fresh, s)
		}
	}
	for s := range p.audioMap {
		if !slices.Contains(p.sections, s) {
			fresh = append(fresh, s)
		}
	}
	slices.Sort(fresh)
	p.sections = append(p.sections, fresh...)
	sdp := p.offer()
	p.mu.Unlock()
	if err := p.client.SetOffer(sdp); err != nil {
		t.Fatalf("%s renegotiation: %v", p.id, err)
	}
	if _, err := p.client.Answer(); err != nil {
		t.Fatalf("%s renegotiation: %v", p.id, err)
	}
}

// offer builds the focus's offer: the client's own audio, video and data channel, and a
// sendonly section per mapped SSRC in p.sections. p.mu must be held (or p not yet shared).
// pion plays no SSRC the offer does not declare: every section declares SSRCs (so its payload
// type fallback for undeclared SSRCs finds none to use) and there is no MID/RID extension.
func (p *rwPeer) offer() string {
	desc := p.ep.LocalTransport()
	mids := []string{"0", "1", "2"}
	for i := range p.sections {
		mids = append(mids, fmt.Sprintf("r%d", i))
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
		section(fmt.Sprintf("m=audio 9 UDP/TLS/RTP/SAVPF %d", ptOpus), mid, dir)
		fmt.Fprintf(&b, "a=extmap:%d %s\r\n", extIDAudioLevel, extAudioLevel)
		fmt.Fprintf(&b, "a=rtpmap:%d opus/48000/2\r\na=fmtp:%d minptime=10;useinbandfec=1\r\n", ptOpus, ptOpus)
	}
	video := func(mid, dir string) {
		section(fmt.Sprintf("m=video 9 UDP/TLS/RTP/SAVPF %d %d", ptVP8, ptRTX), mid, dir)
		fmt.Fprintf(&b, "a=rtpmap:%d VP8/90000\r\na=rtcp-fb:%d nack pli\r\na=rtcp-fb:%d ccm fir\r\n", ptVP8, ptVP8, ptVP8)
		fmt.Fprintf(&b, "a=rtpmap:%d rtx/90000\r\na=fmtp:%d apt=%d\r\n", ptRTX, ptRTX, ptVP8)
	}
	ssrc := func(ssrc uint32, msid string) {
		fmt.Fprintf(&b, "a=ssrc:%d cname:jvb\r\na=ssrc:%d msid:%s %s\r\n", ssrc, ssrc, msid, msid)
	}
	// The bridge's own sources in the client's sections, as jicofo signals them: they also keep
	// pion from playing an undeclared SSRC there by its payload type.
	fbAudio, fbVideo := p.ep.Conference().FeedbackSSRCs()
	audio("0", "sendrecv")
	b.WriteString("a=msid:jvb-a0 jvb-a0\r\n")
	ssrc(fbAudio, "jvb-a0")
	video("1", "sendrecv")
	b.WriteString("a=msid:jvb-v0 jvb-v0\r\n")
	ssrc(fbVideo, "jvb-v0")
	section("m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "2", "")
	b.WriteString("a=sctp-port:5000\r\na=max-message-size:262144\r\n")
	var nv, na int
	for i, s := range p.sections {
		mid := fmt.Sprintf("r%d", i)
		if v, ok := p.videoMap[s]; ok {
			nv++
			video(mid, "sendonly")
			msid := fmt.Sprintf("remote-video-%d", nv)
			fmt.Fprintf(&b, "a=msid:%s %s\r\na=ssrc-group:FID %d %d\r\n", msid, msid, v.SSRC, v.RTX)
			ssrc(v.SSRC, msid)
			ssrc(v.RTX, msid)
			continue
		}
		na++
		audio(mid, "sendonly")
		msid := fmt.Sprintf("remote-audio-%d", na)
		fmt.Fprintf(&b, "a=msid:%s %s\r\n", msid, msid)
		ssrc(s, msid)
	}
	return b.String()
}

// sendJSON sends a bridge-channel message.
func (p *rwPeer) sendJSON(t *testing.T, msg string) {
	t.Helper()
	if err := p.dc.SendText(msg); err != nil {
		t.Fatalf("%s: sending %s: %v", p.id, msg, err)
	}
}

// waitHello waits for each client's bridge channel (ServerHello).
func waitHello(t *testing.T, peers ...*rwPeer) {
	t.Helper()
	for _, p := range peers {
		p.wait(t, "ServerHello", func() bool { return p.hello })
	}
}

// startSending makes every sender send audio (with its level mode) and one VP8 frame per
// encoding every 20 ms, a keyframe every tenth frame, until stop is called.
func startSending(t *testing.T, senders ...*rwPeer) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(1); ; seq++ {
			for _, p := range senders {
				if p.ep.Expired() {
					continue
				}
				a := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 960},
					Payload: audioPayload(p.idx, seq)}
				if l, ok := audioLevelFor(p.level.Load(), seq); ok {
					_ = a.Header.SetExtension(extIDAudioLevel, []byte{l})
				}
				_ = p.audio.WriteRTP(a)
				for enc, ssrc := range p.encs {
					h := rtp.Header{Version: 2, PayloadType: ptVP8, SequenceNumber: seq, Timestamp: uint32(seq) * 1800,
						SSRC: ssrc, Marker: true}
					p.video.write(&h, vp8Frame(p.idx, enc, seq, seq%10 == 1))
				}
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

// audioLevelFor is the RFC 6464 byte (voice flag, level 0 loudest .. 127 silence) of packet seq.
func audioLevelFor(mode int32, seq uint16) (byte, bool) {
	switch mode {
	case levelNoise:
		return byte(68 + seq%5), true
	case levelTalk:
		if seq%10 == 0 {
			return 70, true // a breath: keeps the speaker's noise floor low
		}
		return 0x80 | byte(20+(seq*7)%20), true
	}
	return 0, false
}

const audioPayloadLen = 80

// audioPayload is what sender idx sends as audio packet seq.
func audioPayload(idx int, seq uint16) []byte {
	b := make([]byte, audioPayloadLen)
	b[0], b[1] = 'A', byte(idx)
	binary.BigEndian.PutUint16(b[2:], seq)
	for i := 4; i < len(b); i++ {
		b[i] = byte(i*5) ^ byte(seq) ^ byte(idx)
	}
	return b
}

// vp8Frame is a one-packet VP8 frame of sender idx's encoding enc: payload descriptor with S=1
// and partition 0, a frame tag (a keyframe adds the start code and the encoding's size), then a
// marker the receiver checks.
func vp8Frame(idx, enc int, seq uint16, key bool) []byte {
	b := make([]byte, 0, vp8FrameLen)
	b = append(b, 0x10)
	if key {
		w, h := 320<<enc, 180<<enc
		b = append(b, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, byte(w), byte(w>>8), byte(h), byte(h>>8))
	} else {
		b = append(b, 0x11, 0x02, 0x00)
	}
	b = append(b, 'V', byte(idx), byte(enc), byte(seq>>8), byte(seq))
	for i := len(b); i < vp8FrameLen; i++ {
		b = append(b, byte(i*3)^byte(seq)^byte(idx)^byte(enc))
	}
	return b
}

type marker struct {
	kind     byte
	idx, enc int
}

// readMarker recovers who sent a payload, and reports false unless it is byte for byte what
// that sender sent.
func readMarker(b []byte) (marker, bool) {
	switch {
	case len(b) == audioPayloadLen && b[0] == 'A':
		idx, seq := int(b[1]), binary.BigEndian.Uint16(b[2:])
		return marker{'A', idx, 0}, bytes.Equal(b, audioPayload(idx, seq))
	case len(b) == vp8FrameLen && b[0] == 0x10:
		key := b[1]&1 == 0
		off := 4
		if key {
			off = 11
		}
		if b[off] != 'V' {
			return marker{}, false
		}
		idx, enc, seq := int(b[off+1]), int(b[off+2]), binary.BigEndian.Uint16(b[off+3:])
		return marker{'V', idx, enc}, bytes.Equal(b, vp8Frame(idx, enc, seq, key))
	}
	return marker{}, false
}

// newJVBDefaultsBridge is a loopback bridge with JVB's allocation defaults: no video to a
// receiver before its first ReceiverVideoConstraints.
func newJVBDefaultsBridge(t *testing.T) *Bridge {
	t.Helper()
	b, err := New(Config{
		Transport: transport.Config{BindAddr: netip.MustParseAddr("127.0.0.1"), Readers: 2},
		Logger:    quietLogger(),
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

// checkClean fails the test with what any client saw that a Jitsi Meet client would choke on.
func checkClean(t *testing.T, peers ...*rwPeer) {
	t.Helper()
	for _, p := range peers {
		p.mu.Lock()
		if len(p.bad) > 0 {
			t.Errorf("%s: %s", p.id, strings.Join(p.bad, "; "))
		}
		p.mu.Unlock()
	}
}
