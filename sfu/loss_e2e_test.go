package sfu

import (
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"gojvb/sfu/transport"
	"gojvb/sfu/transport/transporttest"
)

// The loss tests: a pion sender and a pion receiver through the bridge, with a lossRelay on one
// of the two links. Sender -> bridge loss must be repaired by the bridge's own NACKs (pion's NACK
// responder answers on the RTX SSRC, the bridge restores the packets into the stream);
// bridge -> receiver loss by the receiver's NACKs (pion's NACK generator), answered from the
// bridge's history. The receiver identifies each packet by the sender's sequence number carried
// in the VP8 payload, so completeness is judged on what the sender sent, whatever the bridge
// rewrote.

const (
	lossPacing  = 10 * time.Millisecond // one single-packet VP8 frame per 10 ms
	lossWindow  = 250                   // packets whose arrival is counted
	lossDelay   = 5 * time.Millisecond  // one-way delay the relay adds
	lossSettle  = 3 * time.Second       // after the window was sent, how long recovery may take
	lossSeed    = 20261205
	lossVP8PT   = ptVP8
	lossRTXPT   = ptRTX
	lossPeerIdx = 0 // the sender's index in its payload marker
)

// lossPeer is a pion client with one video section of its own and, on a receiver, one sendonly
// section for the sender's video.
type lossPeer struct {
	id            string
	ep            *Endpoint
	client        *transporttest.Peer
	relay         *lossRelay // nil: straight to the bridge
	rtx           bool       // VP8 has an RTX payload type (apt) in this peer's offers
	video         *webrtc.TrackLocalStaticRTP
	ssrc, rtxSSRC uint32
	notify        chan struct{}

	mu     sync.Mutex
	got    map[uint16]int // video packets received by the sender's sequence number (payload)
	bad    []string
	ssrcs  map[uint32]bool // SSRCs the video was played on
	viaRTX map[uint32]int  // packets pion restored from RTX, by RTX SSRC
}

// lossPeerOpts chooses a lossPeer. Every client runs pion's default interceptors (NACK generator
// and responder, RTCP reports, TWCC): pion's NewAPI registers them even when no registry is
// given, so a client without them is not available here.
type lossPeerOpts struct {
	relay bool // put a lossRelay between the client and the bridge
	rtx   bool // negotiate RTX
	send  bool // add a VP8 track
}

// joinLossPeer creates endpoint id (VP8 with generic NACK, and RTX when o.rtx) and its pion
// client, with a lossRelay on the path when o.relay, and starts ICE/DTLS.
func joinLossPeer(t *testing.T, b *Bridge, conf *Conference, id string, o lossPeerOpts) *lossPeer {
	t.Helper()
	p := &lossPeer{id: id, rtx: o.rtx, notify: make(chan struct{}, 1), got: map[uint16]int{}, ssrcs: map[uint32]bool{},
		viaRTX: map[uint32]int{}}
	pts := []PayloadType{{Media: MediaVideo, ID: lossVP8PT, Name: "VP8", ClockRate: 90000,
		Feedback: []RTCPFeedback{{Type: "nack"}, {Type: "nack", Subtype: "pli"}, {Type: "ccm", Subtype: "fir"}}}}
	if o.rtx {
		pts = append(pts, PayloadType{Media: MediaVideo, ID: lossRTXPT, Name: "rtx", ClockRate: 90000,
			Params: map[string]string{"apt": fmt.Sprint(lossVP8PT)}})
	}
	var err error
	if p.ep, err = conf.CreateEndpoint(EndpointConfig{ID: id, ICEControlling: true, InitialLastN: -1, PayloadTypes: pts}); err != nil {
		t.Fatal(err)
	}
	if o.relay {
		if p.relay, err = newLossRelay(b.LocalAddr(), lossDelay); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.relay.Close)
	}
	if p.client, err = transporttest.NewPeer(transporttest.PeerOptions{Interceptors: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.client.Close) // runs before the relay's Close
	p.client.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, attrs, err := tr.ReadRTP()
			if err != nil {
				return
			}
			rtxSSRC, _ := attrs.Get(webrtc.AttributeRtxSsrc).(uint32)
			p.record(pkt, rtxSSRC)
		}
	})
	if err := p.client.SetOffer(p.offer(nil)); err != nil {
		t.Fatal(err)
	}
	if o.send {
		p.video = transporttest.VP8Track(id)
		if p.ssrc, err = p.client.AddTrack(p.video, nil); err != nil {
			t.Fatal(err)
		}
		for _, s := range p.client.PC.GetSenders() {
			if s.Track() == p.video {
				p.rtxSSRC = uint32(s.GetParameters().Encodings[0].RTX.SSRC)
			}
		}
		if o.rtx && p.rtxSSRC == 0 {
			t.Fatal("pion negotiated no RTX SSRC for the sender")
		}
	}
	desc, err := p.client.AnswerTransport()
	if err != nil {
		t.Fatal(err)
	}
	if p.relay != nil {
		if len(desc.Candidates) == 0 {
			t.Fatal("client answered without candidates")
		}
		c := desc.Candidates[0]
		p.relay.setClient(netipAddrPort(t, c.IP, c.Port))
		c.IP, c.Port = p.relay.bridgeFacing().Addr().String(), int(p.relay.bridgeFacing().Port())
		desc.Candidates = []transport.Candidate{c}
	}
	if err := p.ep.SetRemoteTransport(desc); err != nil {
		t.Fatal(err)
	}
	return p
}

// offer is the focus's offer: p's own sendrecv video section and a sendonly one for sender's
// video (FID group when p negotiates RTX). With a relay, the only candidate is the relay's.
func (p *lossPeer) offer(sender *lossPeer) string {
	desc := p.ep.LocalTransport()
	if p.relay != nil {
		a := p.relay.clientFacing()
		for i := range desc.Candidates {
			desc.Candidates[i].IP, desc.Candidates[i].Port = a.Addr().String(), int(a.Port())
		}
		desc.Candidates = desc.Candidates[:1]
	}
	mids := []string{"0"}
	if sender != nil {
		mids = append(mids, "1")
	}
	var b strings.Builder
	b.WriteString("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")
	fmt.Fprintf(&b, "a=group:BUNDLE %s\r\na=msid-semantic: WMS *\r\n", strings.Join(mids, " "))
	video := func(mid, dir string) {
		pts := fmt.Sprint(lossVP8PT)
		if p.rtx {
			pts += fmt.Sprintf(" %d", lossRTXPT)
		}
		fmt.Fprintf(&b, "m=video 9 UDP/TLS/RTP/SAVPF %s\r\nc=IN IP4 0.0.0.0\r\n%s", pts, transporttest.TransportAttrs(desc))
		fmt.Fprintf(&b, "a=mid:%s\r\na=%s\r\na=rtcp-mux\r\n", mid, dir)
		fmt.Fprintf(&b, "a=rtpmap:%d VP8/90000\r\n", lossVP8PT)
		for _, fb := range []string{"nack", "nack pli", "ccm fir"} {
			fmt.Fprintf(&b, "a=rtcp-fb:%d %s\r\n", lossVP8PT, fb)
		}
		if p.rtx {
			fmt.Fprintf(&b, "a=rtpmap:%d rtx/90000\r\na=fmtp:%d apt=%d\r\n", lossRTXPT, lossRTXPT, lossVP8PT)
		}
	}
	video("0", "sendrecv")
	if sender != nil {
		video("1", "sendonly")
		ssrcs := []uint32{sender.ssrc}
		if p.rtx {
			ssrcs = append(ssrcs, sender.rtxSSRC)
			fmt.Fprintf(&b, "a=ssrc-group:FID %d %d\r\n", sender.ssrc, sender.rtxSSRC)
		}
		fmt.Fprintf(&b, "a=msid:%s %s-v0\r\n", sender.id, sender.id)
		for _, s := range ssrcs {
			fmt.Fprintf(&b, "a=ssrc:%d cname:%s\r\na=ssrc:%d msid:%s %s-v0\r\n", s, sender.id, s, sender.id, sender.id)
		}
	}
	return b.String()
}

// record notes one played video packet by the sequence number its payload carries; rtxSSRC is
// the SSRC of the RTX packet pion restored it from (0: it came as it is).
func (p *lossPeer) record(pkt *rtp.Packet, rtxSSRC uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer func() {
		select {
		case p.notify <- struct{}{}:
		default:
		}
	}()
	p.ssrcs[pkt.SSRC] = true
	if rtxSSRC != 0 {
		p.viaRTX[rtxSSRC]++
	}
	mk, ok := readMarker(pkt.Payload)
	if !ok || mk.kind != 'V' || mk.idx != lossPeerIdx {
		if len(p.bad) < 10 {
			p.bad = append(p.bad, fmt.Sprintf("SSRC %d seq %d: payload not what the sender sent", pkt.SSRC, pkt.SequenceNumber))
		}
		return
	}
	off := 4
	if pkt.Payload[1]&1 == 0 {
		off = 11
	}
	seq := uint16(pkt.Payload[off+3])<<8 | uint16(pkt.Payload[off+4])
	p.got[seq]++
}

// window counts, for the sender sequence numbers [from, from+n), those received and the extra
// copies (duplicates) of them.
func (p *lossPeer) window(from uint16, n int) (have, dups int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range n {
		if c := p.got[from+uint16(i)]; c > 0 {
			have++
			dups += c - 1
		}
	}
	return have, dups
}

func netipAddrPort(t *testing.T, ip string, port int) netip.AddrPort {
	t.Helper()
	a, err := netip.ParseAddr(ip)
	if err != nil {
		t.Fatal(err)
	}
	return netip.AddrPortFrom(a, uint16(port))
}

// lossSender sends single-packet VP8 frames (a keyframe every tenth) every lossPacing until
// stopped or until it wrote sequence number until (when set); sent is the last one written.
type lossSender struct {
	sent, until atomic.Uint32
	stop        func()
}

func startLossSender(t *testing.T, p *lossPeer) *lossSender {
	s := &lossSender{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(lossPacing)
		defer tick.Stop()
		for seq := uint16(1); ; seq++ {
			_ = p.video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 900, Marker: true},
				Payload: vp8Frame(lossPeerIdx, 0, seq, seq%10 == 1)})
			s.sent.Store(uint32(seq))
			if uint32(seq) == s.until.Load() {
				return
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	s.stop = func() { once.Do(func() { close(done); wg.Wait() }) }
	t.Cleanup(s.stop)
	return s
}

// waitSent waits until the sender wrote sequence number seq.
func (s *lossSender) waitSent(t *testing.T, seq uint16) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for uint16(s.sent.Load())-seq >= 0x8000 { // not yet at seq
		if time.Now().After(deadline) {
			t.Fatalf("sender stuck at %d, want %d", s.sent.Load(), seq)
		}
		time.Sleep(lossPacing)
	}
}

// lossSetup is a sender and a receiver in one conference, connected, the receiver negotiated
// with the sender's video, the sender's source signalled, and media flowing.
type lossSetup struct {
	b        *Bridge
	snd, rcv *lossPeer
	sender   *lossSender
	from     uint16 // first sequence number of the counted window
}

func newLossSetup(t *testing.T, sndOpts, rcvOpts lossPeerOpts, arm func(s *lossSetup)) *lossSetup {
	t.Helper()
	s := &lossSetup{b: newLoopbackBridge(t)}
	conf, err := s.b.CreateConference("loss", "loss@conference.example")
	if err != nil {
		t.Fatal(err)
	}
	sndOpts.send = true
	s.snd = joinLossPeer(t, s.b, conf, "p0", sndOpts)
	s.rcv = joinLossPeer(t, s.b, conf, "p1", rcvOpts)
	for _, p := range []*lossPeer{s.snd, s.rcv} {
		if err := p.client.WaitConnected(waitTimeout); err != nil {
			t.Fatalf("%s: %v", p.id, err)
		}
	}
	if err := s.rcv.client.SetOffer(s.rcv.offer(s.snd)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.rcv.client.Answer(); err != nil {
		t.Fatal(err)
	}
	src := videoSource(s.snd.id+"-v0", s.snd.ssrc)
	if s.snd.rtxSSRC != 0 {
		src.Sources = append(src.Sources, Source{SSRC: s.snd.rtxSSRC, Name: src.Name})
		src.Groups = []SSRCGroup{{Semantics: "FID", SSRCs: []uint32{s.snd.ssrc, s.snd.rtxSSRC}}}
	}
	if err := s.snd.ep.SetSources([]MediaSource{src}); err != nil {
		t.Fatal(err)
	}
	if arm != nil {
		arm(s)
	}
	s.sender = startLossSender(t, s.snd)
	s.rcv.waitFor(t, "the first video packet", func() bool { return len(s.rcv.got) > 0 })
	s.from = uint16(s.sender.sent.Load()) + 20
	// A few packets after the window reveal loss at its end; then the sender stops, so what is
	// still missing is asked for again on the NACKers' timers, not on new arrivals.
	s.sender.until.Store(uint32(s.from + lossWindow + 10))
	return s
}

// waitFor waits until cond (called with p.mu held) holds.
func (p *lossPeer) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitNotified(t, &p.mu, p.notify, p.id+": "+what, cond, func() string { return "" })
}

// run waits until the window was sent and the receiver has all of it or lossSettle passed, and
// returns the received ratio and the duplicates the receiver played.
func (s *lossSetup) run(t *testing.T) (ratio float64, have, dups int) {
	t.Helper()
	last := s.from + lossWindow - 1
	s.sender.waitSent(t, last)
	deadline := time.NewTimer(lossSettle)
	defer deadline.Stop()
	for done := false; !done; {
		if have, _ = s.rcv.window(s.from, lossWindow); have == lossWindow {
			break
		}
		select {
		case <-s.rcv.notify:
		case <-deadline.C:
			done = true
		}
	}
	have, dups = s.rcv.window(s.from, lossWindow)
	s.rcv.mu.Lock()
	if len(s.rcv.bad) > 0 {
		t.Errorf("receiver: %s", strings.Join(s.rcv.bad, "; "))
	}
	s.rcv.mu.Unlock()
	return float64(have) / lossWindow, have, dups
}

func missingSeqs(p *lossPeer, from uint16, n int) []uint16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []uint16
	for i := range n {
		if p.got[from+uint16(i)] == 0 {
			out = append(out, from+uint16(i))
		}
	}
	return out
}

// senderLoss is one impairment of the sender's link.
type senderLoss struct {
	name     string
	rate     float64
	burst    bool // 10 consecutive packets lost once
	slowRTX  bool // retransmissions arrive after the bridge asked again: it gets them twice
	minRatio float64
}

// Random loss of the sender's packets (and of its retransmissions).
func TestLossSenderToBridgeIsRepairedByBridgeNACKs(t *testing.T) {
	testLossSenderToBridge(t, []senderLoss{
		{name: "random5pct", rate: 0.05, minRatio: 0.99},
		{name: "random20pct", rate: 0.20, minRatio: 0.95},
	})
}

// A burst, and retransmissions so late that the bridge asks again and receives them twice.
func TestLossSenderToBridgeBurstAndLateRetransmissions(t *testing.T) {
	testLossSenderToBridge(t, []senderLoss{
		{name: "burst10", burst: true, minRatio: 0.99},
		{name: "random5pct-slowRTX", rate: 0.05, slowRTX: true, minRatio: 0.99},
	})
}

func testLossSenderToBridge(t *testing.T, cases []senderLoss) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			var policy *lossPolicy
			s := newLossSetup(t, lossPeerOpts{relay: true, rtx: true}, lossPeerOpts{rtx: true},
				func(s *lossSetup) {
					// the original stream and its retransmissions are lost alike
					policy = newLossPolicy(lossSeed, tc.rate, s.snd.ssrc, s.snd.rtxSSRC)
					s.snd.relay.up.Store(policy)
				})
			if tc.burst {
				policy.burst(s.snd.ssrc, s.from+50, 10)
			}
			if tc.slowRTX {
				policy.hold(s.snd.rtxSSRC, 200*time.Millisecond) // > nack.Interval (150 ms)
			}
			ratio, have, dups := s.run(t)
			st := s.snd.ep.Stats()
			lost, _ := policy.counts(s.snd.ssrc)
			rtxLost, rtxPassed := policy.counts(s.snd.rtxSSRC)
			t.Logf("%s: received %d/%d (%.2f%%), duplicates played %d; relay dropped %d media + %d of %d RTX; bridge NACKsSent %d RetransmissionsReceived %d DroppedDuplicates %d; %v",
				tc.name, have, lossWindow, 100*ratio, dups, lost, rtxLost, rtxLost+rtxPassed,
				st.NACKsSent, st.RetransmissionsReceived, st.DroppedDuplicates, time.Since(start).Round(time.Millisecond))
			if ratio < tc.minRatio {
				t.Errorf("received %.2f%% of the window, want >= %.0f%% (missing %v)", 100*ratio, 100*tc.minRatio, missingSeqs(s.rcv, s.from, lossWindow))
			}
			// pion's NACK generator is always on (NewAPI registers it when no registry is given), so
			// the receiver NACKs a gap the bridge is still repairing: not cached then, and a
			// resend only when its NACK crossed the repaired packet. Any other duplicate the
			// receiver played is one the bridge forwarded twice.
			rs := s.rcv.ep.Stats()
			if uint64(dups) > rs.Retransmissions {
				t.Errorf("the receiver played %d duplicates, %d explained by its own NACKs: the bridge forwarded a retransmission it already had",
					dups, rs.Retransmissions)
			}
			if lost == 0 || st.NACKsSent == 0 || st.RetransmissionsReceived == 0 {
				t.Errorf("relay dropped %d, bridge sent %d NACKs and restored %d retransmissions: want all > 0",
					lost, st.NACKsSent, st.RetransmissionsReceived)
			}
			if tc.slowRTX && st.DroppedDuplicates == 0 {
				t.Error("retransmissions arrived twice but the bridge dropped no duplicate")
			}
			t.Logf("%s: loss-free receiver sent %d NACKs (%d not cached, %d resent)", tc.name, rs.NACKsReceived, rs.RetransmissionsNotCached, rs.Retransmissions)
		})
	}
}

// The receiver negotiated RTX: the bridge answers inside RTX on the sender's RTX SSRC.
func TestLossBridgeToReceiverIsRepairedFromHistoryInRTX(t *testing.T) {
	testLossBridgeToReceiver(t, true)
}

// The receiver negotiated no RTX: the bridge resends the packets as they were.
func TestLossBridgeToReceiverIsRepairedFromHistoryAsIs(t *testing.T) {
	testLossBridgeToReceiver(t, false)
}

func testLossBridgeToReceiver(t *testing.T, rtx bool) {
	for _, tc := range []struct {
		name     string
		rate     float64
		burst    bool
		minRatio float64
	}{
		{"random5pct", 0.05, false, 0.99},
		{"random20pct", 0.20, false, 0.95},
		{"burst10", 0, true, 0.99},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			var policy *lossPolicy
			s := newLossSetup(t, lossPeerOpts{rtx: true}, lossPeerOpts{relay: true, rtx: rtx},
				func(s *lossSetup) {
					ssrcs := []uint32{s.snd.ssrc}
					if rtx {
						ssrcs = append(ssrcs, s.snd.rtxSSRC) // what the bridge resends on
					}
					policy = newLossPolicy(lossSeed, tc.rate, ssrcs...)
					s.rcv.relay.down.Store(policy)
				})
			if tc.burst {
				policy.burst(s.snd.ssrc, s.from+50, 10)
			}
			ratio, have, dups := s.run(t)
			rs := s.rcv.ep.Stats()
			lost, _ := policy.counts(s.snd.ssrc)
			s.rcv.mu.Lock()
			played, viaRTX := len(s.rcv.ssrcs), maps.Clone(s.rcv.viaRTX)
			s.rcv.mu.Unlock()
			t.Logf("%s: received %d/%d (%.2f%%), duplicates played %d; relay dropped %d; bridge NACKsReceived %d Retransmissions %d NotCached %d; restored from RTX %v; %v",
				tc.name, have, lossWindow, 100*ratio, dups, lost, rs.NACKsReceived, rs.Retransmissions, rs.RetransmissionsNotCached,
				viaRTX, time.Since(start).Round(time.Millisecond))
			if played != 1 {
				t.Errorf("video played on %d SSRCs, want 1", played)
			}
			switch {
			case rtx && (len(viaRTX) != 1 || viaRTX[s.snd.rtxSSRC] == 0):
				t.Errorf("packets restored from RTX by SSRC %v, want some on the sender's RTX SSRC %d only", viaRTX, s.snd.rtxSSRC)
			case !rtx && len(viaRTX) != 0:
				t.Errorf("a receiver without RTX got RTX: %v", viaRTX)
			}
			if ratio < tc.minRatio {
				t.Errorf("received %.2f%% of the window, want >= %.0f%% (missing %v)", 100*ratio, 100*tc.minRatio, missingSeqs(s.rcv, s.from, lossWindow))
			}
			if lost == 0 || rs.NACKsReceived == 0 || rs.Retransmissions == 0 {
				t.Errorf("relay dropped %d, bridge got %d NACKs and resent %d: want all > 0", lost, rs.NACKsReceived, rs.Retransmissions)
			}
			if ss := s.snd.ep.Stats(); ss.NACKsSent != 0 {
				t.Errorf("the bridge NACKed the loss-free sender %d times", ss.NACKsSent)
			}
		})
	}
}
