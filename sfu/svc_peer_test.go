package sfu

import (
	"encoding/binary"
	"fmt"
	"math/bits"
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

// This file is the media side of the VP9/AV1/VP8 layering integration tests (svc_e2e_test.go):
// a pion client (without SSRC rewriting: the focus's offer names each remote track by its
// primary SSRC) that sends a synthetic layered stream of one codec, or receives and records
// every packet as played, and the generators of those streams. Payloads are the codec's payload
// descriptor (VP8, VP9) or AV1 aggregation header with a Dependency Descriptor extension (two-byte
// form, like Chrome), followed by a body that says which encoding, picture, spatial and temporal
// layer and packet it is, so a receiver can check every packet is intact.

// Payload types as pion registers them by default, and the DD extension id every endpoint gets.
const (
	svcPTVP8 = 96
	svcPTVP9 = 98
	svcPTAV1 = 45
	svcExtDD = 11
	// svcFrame is the RTP timestamp step of one picture (30 fps).
	svcFrame = 3000
	// svcBodyLen is the size of a packet's body after the descriptor.
	svcBodyLen = 300
	// svcPktsPerFrame is how many RTP packets each layer frame takes.
	svcPktsPerFrame = 2
)

// temporalPattern is the L?T3 temporal layer of picture i after a keyframe (0 2 1 2).
var temporalPattern = [4]int{0, 2, 1, 2}

// svcStream describes what a sender sends: codec, simulcast encodings (SSRCs), spatial layers
// per encoding and each layer's size.
type svcStream struct {
	codec    string // "VP8", "VP9", "AV1"
	encs     int
	spatial  int
	temporal int      // 3 (pattern 0 2 1 2) or 2 (pattern 0 1)
	sizes    [][2]int // by encoding (simulcast) or by spatial layer (SVC): width, height
	keyEvery int      // pictures between periodic keyframes
}

func (s svcStream) pt() uint8 {
	switch s.codec {
	case "VP9":
		return svcPTVP9
	case "AV1":
		return svcPTAV1
	}
	return svcPTVP8
}

func (s svcStream) tid(pos int) int {
	if s.temporal == 2 {
		return pos % 2
	}
	return temporalPattern[pos%4]
}

// size returns the width and height of encoding enc's spatial layer sid.
func (s svcStream) size(enc, sid int) (int, int) {
	i := enc
	if s.spatial > 1 {
		i = sid
	}
	return s.sizes[i][0], s.sizes[i][1]
}

// encState is where one encoding's counters have got to.
type encState struct {
	seq   uint16
	pic   uint16 // VP8/VP9 picture ID (15 bits) or AV1 frame_number
	tl0   uint8
	pos   int // pictures since the last keyframe
	first bool
}

// svcGen builds the packets of a svcStream.
type svcGen struct {
	s    svcStream
	encs []encState
}

func newSVCGen(s svcStream) *svcGen {
	g := &svcGen{s: s, encs: make([]encState, s.encs)}
	for i := range g.encs {
		// Each encoding's counters start elsewhere, so a switch must rewrite them.
		g.encs[i] = encState{seq: uint16(1000*i + 7), pic: uint16(3000*i + 11), tl0: uint8(40*i + 3), first: true}
	}
	return g
}

// sentPkt is one packet a sender writes (SSRC is the caller's).
type sentPkt struct {
	h       rtp.Header
	payload []byte
}

// body is the part of every payload after the descriptor: who and what it is, then filler.
func svcBody(enc, sid, tid int, n uint16, idx int, key bool) []byte {
	b := make([]byte, svcBodyLen)
	copy(b, "SVC")
	b[3], b[4], b[5] = byte(enc), byte(sid), byte(tid)
	binary.BigEndian.PutUint16(b[6:], n)
	b[8] = byte(idx)
	if key {
		b[9] = 1
	}
	for i := 10; i < len(b); i++ {
		b[i] = byte(i*13) ^ byte(n) ^ byte(enc<<4|sid<<2|tid)
	}
	return b
}

// bodyInfo is what a received body says.
type bodyInfo struct {
	enc, sid, tid int
	n             uint16 // picture index of the sender (same for every encoding)
	idx           int    // packet within the layer frame
	key           bool
}

// readBody finds and checks the body at the end of a payload.
func readBody(payload []byte) (bodyInfo, bool) {
	if len(payload) < svcBodyLen {
		return bodyInfo{}, false
	}
	b := payload[len(payload)-svcBodyLen:]
	if string(b[:3]) != "SVC" {
		return bodyInfo{}, false
	}
	bi := bodyInfo{enc: int(b[3]), sid: int(b[4]), tid: int(b[5]), n: binary.BigEndian.Uint16(b[6:]), idx: int(b[8]), key: b[9] == 1}
	return bi, slices.Equal(b, svcBody(bi.enc, bi.sid, bi.tid, bi.n, bi.idx, bi.key))
}

// picture returns the packets of picture n of encoding enc, a keyframe if key.
func (g *svcGen) picture(enc int, n uint16, key bool) []sentPkt {
	st := &g.encs[enc]
	if key {
		st.pos = 0
	}
	tid := g.s.tid(st.pos)
	st.pos++
	if tid == 0 && !st.first {
		st.tl0++
	}
	var out []sentPkt
	for sid := range g.s.spatial {
		for idx := range svcPktsPerFrame {
			first, last := idx == 0, idx == svcPktsPerFrame-1
			h := rtp.Header{Version: 2, PayloadType: g.s.pt(), SequenceNumber: st.seq, Timestamp: uint32(n) * svcFrame,
				Marker: last && sid == g.s.spatial-1}
			st.seq++
			var desc []byte
			switch g.s.codec {
			case "VP8":
				desc = g.vp8(enc, st, tid, first, key)
			case "VP9":
				desc = g.vp9(enc, st, sid, tid, first, last, key)
			case "AV1":
				dd := g.av1DD(enc, st, sid, tid, first, last, key)
				_ = h.SetExtensionWithProfile(svcExtDD, dd, rtp.ExtensionProfileTwoByte)
				desc = []byte{0x10} // aggregation header: one OBU element without a length
				if first && key && sid == 0 {
					desc[0] |= 0x08 // N: a new coded video sequence
				}
			}
			out = append(out, sentPkt{h: h, payload: append(desc, svcBody(enc, sid, tid, n, idx, key)...)})
			if g.s.codec == "AV1" && last {
				st.pic++ // each layer frame has its own frame_number
			}
		}
	}
	if g.s.codec != "AV1" {
		st.pic = (st.pic + 1) & 0x7fff
	}
	st.first = false
	return out
}

// vp8 is a VP8 payload descriptor (X, 15-bit picture ID, TL0PICIDX, TID with Y) and, on the
// first packet, the frame tag (and keyframe header with the encoding's size).
func (g *svcGen) vp8(enc int, st *encState, tid int, first, key bool) []byte {
	b := []byte{0x80, 0xe0, 0x80 | byte(st.pic>>8), byte(st.pic), st.tl0, byte(tid) << 6}
	if tid > 0 {
		b[5] |= 0x20
	}
	if !first {
		return b
	}
	b[0] |= 0x10
	if !key {
		return append(b, 0x11, 0x02, 0x00)
	}
	w, h := g.s.size(enc, 0)
	return append(b, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, byte(w), byte(w>>8), byte(h), byte(h>>8))
}

// vp9 is a non-flexible VP9 payload descriptor (RFC 9628) with a 15-bit picture ID, layer
// indices and TL0PICIDX, and the scalability structure (sizes, a 0 2 1 2 picture group) on the
// first packet of a keyframe.
func (g *svcGen) vp9(enc int, st *encState, sid, tid int, first, last, key bool) []byte {
	b0 := byte(0xa0) // I, L
	if !key {
		b0 |= 0x40
	}
	if first {
		b0 |= 0x08
	}
	if last {
		b0 |= 0x04
	}
	ss := key && first && sid == 0
	if ss {
		b0 |= 0x02
	}
	layer := byte(tid<<5 | sid<<1)
	if tid > 0 {
		layer |= 0x10 // U: every upper-layer picture references only lower layers
	}
	if sid > 0 {
		layer |= 0x01 // D: inter-layer prediction
	}
	b := []byte{b0, 0x80 | byte(st.pic>>8), byte(st.pic), layer, st.tl0}
	if !ss {
		return b
	}
	b = append(b, byte(g.s.spatial-1)<<5|0x10|0x08)
	for s := range g.s.spatial {
		w, h := g.s.size(enc, s)
		b = binary.BigEndian.AppendUint16(b, uint16(w))
		b = binary.BigEndian.AppendUint16(b, uint16(h))
	}
	// N_G = 4: TID, U, R = 1 and the reference's P_DIFF of each picture of the pattern.
	b = append(b, 4)
	for i, pdiff := range [4]byte{4, 1, 2, 1} {
		t := temporalPattern[i]
		u := byte(0)
		if t > 0 {
			u = 0x10
		}
		b = append(b, byte(t<<5)|u|1<<2, pdiff)
	}
	return b
}

// av1Template is one frame dependency template of the structures the AV1 sender uses.
type av1Template struct {
	sid, tid int
	fdiffs   []uint32
}

// av1Templates returns the stream's templates: the keyframe's, then per (spatial, temporal)
// layer the one its frames use; index of the template of (sid, tid) on a non-key frame is
// 1 + sid*temporal + tid (after the keyframe template, whose layer is S0T0).
func (s svcStream) av1Templates() []av1Template {
	ts := []av1Template{{sid: 0, tid: 0}}
	for sid := range s.spatial {
		for tid := range s.temporal {
			fd := []uint32{uint32(s.spatial * s.temporal)}
			if tid > 0 {
				fd = []uint32{uint32(s.spatial)}
			}
			if sid > 0 {
				fd = append(fd, 1)
			}
			ts = append(ts, av1Template{sid: sid, tid: tid, fdiffs: fd})
		}
	}
	return ts
}

// av1DD is the frame's Dependency Descriptor; the first packet of a keyframe carries the
// template structure (with every spatial layer's resolution, no chains).
func (g *svcGen) av1DD(enc int, st *encState, sid, tid int, first, last, key bool) []byte {
	ts := g.s.av1Templates()
	offset := uint32(3) // template ids do not start at 0
	tmpl := 1 + sid*g.s.temporal + tid
	if key && sid == 0 {
		tmpl = 0
	}
	w := &ddBits{}
	w.put(b2u(first), 1).put(b2u(last), 1).put((offset+uint32(tmpl))%64, 6).put(uint32(st.pic), 16)
	if !(first && key && sid == 0) {
		return w.b
	}
	dts := g.s.spatial * g.s.temporal
	w.put(1, 1).put(0, 4) // structure present, nothing else
	w.put(offset, 6).put(uint32(dts-1), 5)
	for i, t := range ts {
		idc := uint32(3)
		if i+1 < len(ts) {
			switch n := ts[i+1]; {
			case n.sid == t.sid && n.tid == t.tid:
				idc = 0
			case n.sid == t.sid && n.tid == t.tid+1:
				idc = 1
			default:
				idc = 2
			}
		}
		w.put(idc, 2)
	}
	for _, t := range ts { // decode target indications: required where the layer is in the target
		for dt := range dts {
			dsid, dtid := dt/g.s.temporal, dt%g.s.temporal
			dti := uint32(0)
			if t.sid <= dsid && t.tid <= dtid {
				dti = 2
			}
			w.put(dti, 2)
		}
	}
	for _, t := range ts {
		for _, f := range t.fdiffs {
			w.put(1, 1).put(f-1, 4)
		}
		w.put(0, 1)
	}
	w.ns(0, uint32(dts)+1) // no chains
	w.put(1, 1)
	for s := range g.s.spatial {
		wd, ht := g.s.size(enc, s)
		w.put(uint32(wd-1), 16).put(uint32(ht-1), 16)
	}
	return w.b
}

// ddBits writes Dependency Descriptor bit fields.
type ddBits struct {
	b []byte
	n int
}

func (w *ddBits) put(v uint32, n int) *ddBits {
	for i := n - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.b = append(w.b, 0)
		}
		if v>>i&1 != 0 {
			w.b[len(w.b)-1] |= 0x80 >> (w.n % 8)
		}
		w.n++
	}
	return w
}

// ns writes x < n in the non-symmetric encoding (AV1 spec 4.10.10).
func (w *ddBits) ns(x, n uint32) *ddBits {
	bw := bits.Len32(n)
	m := uint32(1)<<bw - n
	if x < m {
		return w.put(x, bw-1)
	}
	return w.put(x+m, bw)
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// rxPkt is one packet as a receiver played it.
type rxPkt struct {
	seq     uint16
	ts      uint32
	marker  bool
	pt      uint8
	payload []byte
	dd      []byte
}

// svcPeer is a pion client of an endpoint without SSRC rewriting that sends one svcStream or
// receives the others' video.
type svcPeer struct {
	id     string
	ep     *Endpoint
	client *transporttest.Peer
	stream svcStream
	video  *rawTrack
	ssrcs  []uint32 // by encoding; the first is pion's own
	dc     *webrtc.DataChannel
	notify chan struct{}
	plis   atomic.Int32 // keyframe requests the sender got

	mu      sync.Mutex
	hello   bool
	rx      map[uint32][]rxPkt
	fwd     [][]string
	badMsgs []string
}

// svcPayloadTypes are every endpoint's video payload types (no RTX, no NACK: the stream is
// what the sender sends).
var svcPayloadTypes = []PayloadType{
	{Media: MediaVideo, ID: svcPTVP8, Name: "VP8", ClockRate: 90000},
	{Media: MediaVideo, ID: svcPTVP9, Name: "VP9", ClockRate: 90000, Params: map[string]string{"profile-id": "0"}},
	{Media: MediaVideo, ID: svcPTAV1, Name: "AV1", ClockRate: 90000},
}

// joinSVC creates endpoint id and its pion client; a sender (s.encs > 0) adds its video.
func joinSVC(t *testing.T, conf *Conference, id string, s svcStream) *svcPeer {
	t.Helper()
	p := &svcPeer{id: id, stream: s, notify: make(chan struct{}, 1), rx: map[uint32][]rxPkt{}}
	var err error
	p.ep, err = conf.CreateEndpoint(EndpointConfig{ID: id, ICEControlling: true, SCTP: true, InitialLastN: -1,
		PayloadTypes: svcPayloadTypes,
		HeaderExts:   []HeaderExtension{{Media: MediaVideo, ID: svcExtDD, URI: extAV1DD}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.client, err = transporttest.NewPeer(transporttest.PeerOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.client.Close)
	p.client.OnRTP(p.record)
	if err := p.client.SetOffer(p.offer(nil)); err != nil {
		t.Fatal(err)
	}
	if s.encs > 0 {
		caps := map[string]webrtc.RTPCodecCapability{
			"VP8": {MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
			"VP9": {MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0"},
			"AV1": {MimeType: webrtc.MimeTypeAV1, ClockRate: 90000},
		}
		tr, err := webrtc.NewTrackLocalStaticRTP(caps[s.codec], "video", id)
		if err != nil {
			t.Fatal(err)
		}
		p.video = &rawTrack{TrackLocalStaticRTP: tr}
		own, err := p.client.AddTrack(p.video, func(pkts []rtcp.Packet) {
			for _, pk := range pkts {
				if _, ok := pk.(*rtcp.PictureLossIndication); ok {
					p.plis.Add(1)
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		p.ssrcs = append(p.ssrcs, own)
		for i := 1; i < s.encs; i++ {
			p.ssrcs = append(p.ssrcs, 0x5c000000+uint32(i))
		}
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

func (p *svcPeer) kick() {
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

func (p *svcPeer) message(data []byte) {
	m, err := channel.Parse(data)
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.kick()
	if err != nil {
		p.badMsgs = append(p.badMsgs, fmt.Sprintf("%.100s: %v", data, err))
		return
	}
	switch m := m.(type) {
	case *channel.ServerHello:
		p.hello = true
	case *channel.ForwardedSources:
		p.fwd = append(p.fwd, slices.Clone(m.Sources))
	}
}

func (p *svcPeer) record(_ *webrtc.TrackRemote, pkt *rtp.Packet) {
	r := rxPkt{seq: pkt.SequenceNumber, ts: pkt.Timestamp, marker: pkt.Marker, pt: pkt.PayloadType,
		payload: slices.Clone(pkt.Payload)}
	if dd := pkt.GetExtension(svcExtDD); dd != nil {
		r.dd = slices.Clone(dd)
	}
	p.mu.Lock()
	p.rx[pkt.SSRC] = append(p.rx[pkt.SSRC], r)
	p.mu.Unlock()
	p.kick()
}

// wait waits until cond (called with p.mu held) holds.
func (p *svcPeer) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitNotified(t, &p.mu, p.notify, p.id+": "+what, cond, func() string {
		n := map[uint32]int{}
		for s, l := range p.rx {
			n[s] = len(l)
		}
		return fmt.Sprintf("forwarded %v; rx %v; bad messages %v", p.fwd, n, p.badMsgs)
	})
}

// packets returns a copy of what arrived on ssrc.
func (p *svcPeer) packets(ssrc uint32) []rxPkt {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.rx[ssrc])
}

func (p *svcPeer) sendJSON(t *testing.T, msg string) {
	t.Helper()
	if err := p.dc.SendText(msg); err != nil {
		t.Fatalf("%s: sending %s: %v", p.id, msg, err)
	}
}

// source is the sender's video as the focus signals it: a SIM group when it has several
// encodings.
func (p *svcPeer) source() MediaSource {
	v := MediaSource{Type: MediaVideo, Name: p.id + "-v0"}
	for _, s := range p.ssrcs {
		v.Sources = append(v.Sources, Source{SSRC: s, Name: v.Name})
	}
	if len(p.ssrcs) > 1 {
		v.Groups = append(v.Groups, SSRCGroup{Semantics: "SIM", SSRCs: slices.Clone(p.ssrcs)})
	}
	return v
}

// offer is the focus's offer: the client's own video and data channel, and a sendonly section
// per remote sender naming its primary SSRC.
func (p *svcPeer) offer(remotes []*svcPeer) string {
	desc := p.ep.LocalTransport()
	mids := []string{"v", "d"}
	for _, r := range remotes {
		mids = append(mids, "r"+r.id)
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
	video := func(mid, dir string) {
		section(fmt.Sprintf("m=video 9 UDP/TLS/RTP/SAVPF %d %d %d", svcPTVP8, svcPTVP9, svcPTAV1), mid, dir)
		fmt.Fprintf(&b, "a=extmap-allow-mixed\r\na=extmap:%d %s\r\n", svcExtDD, extAV1DD)
		for _, c := range []struct {
			pt   int
			name string
		}{{svcPTVP8, "VP8"}, {svcPTVP9, "VP9"}, {svcPTAV1, "AV1"}} {
			fmt.Fprintf(&b, "a=rtpmap:%d %s/90000\r\na=rtcp-fb:%d nack pli\r\n", c.pt, c.name, c.pt)
		}
		fmt.Fprintf(&b, "a=fmtp:%d profile-id=0\r\n", svcPTVP9)
	}
	video("v", "sendrecv")
	section("m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "d", "")
	b.WriteString("a=sctp-port:5000\r\na=max-message-size:262144\r\n")
	for _, r := range remotes {
		video("r"+r.id, "sendonly")
		msid := r.id + "-v0"
		fmt.Fprintf(&b, "a=msid:%s %s\r\na=ssrc:%d cname:%s\r\na=ssrc:%d msid:%s %s\r\n",
			r.id, msid, r.ssrcs[0], r.id, r.ssrcs[0], r.id, msid)
	}
	return b.String()
}

// connectSVC waits for every client's bridge channel, gives each receiver a section for the
// sender, and signals the sender's video.
func connectSVC(t *testing.T, sender *svcPeer, receivers ...*svcPeer) {
	t.Helper()
	for _, p := range append([]*svcPeer{sender}, receivers...) {
		p.wait(t, "ServerHello", func() bool { return p.hello })
	}
	for _, r := range receivers {
		if err := r.client.SetOffer(r.offer([]*svcPeer{sender})); err != nil {
			t.Fatalf("%s renegotiation: %v", r.id, err)
		}
		if _, err := r.client.Answer(); err != nil {
			t.Fatalf("%s renegotiation: %v", r.id, err)
		}
	}
	if err := sender.ep.SetSources([]MediaSource{sender.source()}); err != nil {
		t.Fatal(err)
	}
}

// startSVC sends the sender's stream, one picture of every encoding per 33 ms, with a keyframe
// every keyEvery pictures and on the next picture after a keyframe request, until stop.
func startSVC(t *testing.T, p *svcPeer) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		g := newSVCGen(p.stream)
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		seenPLIs := int32(0)
		for n := uint16(0); ; n++ {
			plis := p.plis.Load()
			key := int(n)%p.stream.keyEvery == 0 || plis != seenPLIs
			seenPLIs = plis
			for enc, ssrc := range p.ssrcs {
				for _, sp := range g.picture(enc, n, key) {
					sp.h.SSRC = ssrc
					p.video.write(&sp.h, sp.payload)
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
