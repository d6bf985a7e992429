//go:build soak && linux

package sfu

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"gojvb/sfu/transport"
	"gojvb/sfu/transport/transporttest"
)

// TestSoak holds the soak and fault scenarios of issue 14: minutes each, real pion clients on
// loopback, a live pair of peers whose media must not suffer from what a third one does. They
// are built only with -tags soak (not in CI); the README lists each command and its figures:
//
//	go test -tags soak -run TestSoak/<name> -timeout 30m -v ./sfu/
func TestSoak(t *testing.T) {
	t.Run("join-leave", soakJoinLeave)
	t.Run("network-drop", soakNetworkDrop)
	t.Run("dead-receiver/never-reads", func(t *testing.T) { soakDeadReceiver(t, transporttest.FaultNoRead) })
	t.Run("dead-receiver/socket-closed", func(t *testing.T) { soakDeadReceiver(t, transporttest.FaultClosed) })
	t.Run("pli-nack-storm", soakKeyframeStorm)
	t.Run("ssrc-spoofing", soakSSRCSpoofing)
	t.Run("channel-flood", soakChannelFlood)
}

// livePair starts a bridge with a conference holding p0 and p1 plus one peer per extra option
// set, every one receiving every other's media, and paced media from each.
func livePair(t *testing.T, extra ...transporttest.PeerOptions) (*Bridge, *Conference, []*peer, *pacedMedia) {
	t.Helper()
	b := newLoopbackBridge(t)
	conf, err := b.CreateConference("soak", "soak@conference.example")
	if err != nil {
		t.Fatal(err)
	}
	peers := []*peer{joinPeer(t, conf, 0), joinPeer(t, conf, 1)}
	for i, opts := range extra {
		p := joinPeerWith(t, conf, 2+i, opts, nil)
		t.Cleanup(p.client.Close)
		peers = append(peers, p)
	}
	connectAll(t, peers)
	m := startPacedMedia(t, peers)
	waitFlow(t, peers, peers, 25, nil)
	return b, conf, peers, m
}

// 1 000 endpoints join (ICE, DTLS, SCTP), exchange media with a live pair and leave, four at a
// time; goroutines, heap and fds must come back to where they were, and the pair keep its rate.
func soakJoinLeave(t *testing.T) {
	cycles := envInt("SOAK_CYCLES", 1000)
	const workers = 4
	b, conf, peers, m := livePair(t)
	p0, p1 := peers[0], peers[1]

	// The pair receive only each other, as after a pin: a pion client never ends the remote
	// tracks of peers that left (no renegotiation here), so their goroutines would pile up in
	// the test's own clients and hide what the bridge does.
	for i, p := range peers {
		p.mu.Lock()
		p.acceptStrangers = true // the endpoints joining and leaving, until the pin applies
		p.mu.Unlock()
		other := peers[1-i].id
		for _, msg := range []string{
			`{"colibriClass":"ReceiverAudioSubscription","include":["` + other + `-a0"]}`,
			`{"colibriClass":"ReceiverVideoConstraints","lastN":1,"selectedSources":["` + other + `-v0"]}`,
		} {
			if err := p.dc.SendText(msg); err != nil {
				t.Fatal(err)
			}
		}
	}
	var next atomic.Int64
	next.Store(10)
	var goneMu sync.Mutex
	var gone []weak.Pointer[Endpoint] // every endpoint that left: none may stay reachable
	cycle := func(t *testing.T) {
		q := joinPeerWith(t, conf, int(next.Add(1)), transporttest.PeerOptions{}, []*peer{p0, p1})
		defer q.client.Close()
		waitServerHello(t, q)
		if err := q.ep.SetSources([]MediaSource{audioSource(q.id+"-a0", q.audioSSRC), videoSource(q.id+"-v0", q.videoSSRC)}); err != nil {
			t.Fatal(err)
		}
		// Media both ways: the bridge takes q's and forwards the pair's to q.
		ok := soakWait(20*time.Second, func() bool {
			for seq := uint16(1); seq <= 2; seq++ {
				_ = q.audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq}, Payload: payload('a', q.idx, seq, payloadAudio)})
				_ = q.video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Marker: true}, Payload: payload('v', q.idx, seq, payloadVideo)})
			}
			return q.ep.Stats().PacketsReceived >= 10 && q.received(p0.audioSSRC) >= 3 && q.received(p0.videoSSRC) >= 3
		})
		if !ok {
			t.Fatalf("%s: no media both ways (bridge got %d packets from it; it got %d audio, %d video of p0)",
				q.id, q.ep.Stats().PacketsReceived, q.received(p0.audioSSRC), q.received(p0.videoSSRC))
		}
		if n := q.wrong.Load(); n != 0 {
			t.Fatalf("%s received %d packets that differ from what p0 sent", q.id, n)
		}
		q.ep.Expire()
		goneMu.Lock()
		gone = append(gone, weak.Make(q.ep))
		goneMu.Unlock()
	}
	run := func(n int) time.Duration {
		start := time.Now()
		var done atomic.Int64
		t.Run(fmt.Sprintf("cycles-%d", n), func(t *testing.T) {
			for w := range workers {
				t.Run(fmt.Sprint("worker-", w), func(t *testing.T) {
					t.Parallel()
					for done.Add(1) <= int64(n) && !t.Failed() {
						cycle(t)
					}
				})
			}
		})
		return time.Since(start)
	}
	run(20) // pools, caches and pion's lazily built state reach their working size
	settled := func(base resources) resources {
		var r resources
		soakWait(30*time.Second, func() bool {
			r = measureResources(t)
			return r.goroutines <= base.goroutines && r.fds <= base.fds
		})
		return r
	}
	before := measureResources(t)
	created0 := b.Stats().EndpointsCreated
	fwd, sent := pairWindow(m, p0, p1, 2*time.Second)
	checkPair(t, "pair before", fwd, sent)

	took := run(cycles)
	if t.Failed() {
		return
	}
	after := settled(before)
	t.Logf("%d join/leave cycles with media in %v (%.0f ms each, %d at a time)", cycles, took.Round(time.Second),
		float64(took.Milliseconds())*workers/float64(cycles), workers)
	t.Logf("before: %v; after: %v", before, after)
	if got := b.Stats().EndpointsCreated - created0; got != uint64(cycles) {
		t.Errorf("endpoints created during the soak: %d, want %d", got, cycles)
	}
	if n := len(conf.Endpoints()); n != 2 {
		t.Errorf("%d endpoints left in the conference, want the pair", n)
	}
	if after.goroutines > before.goroutines {
		var sb strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&sb, 1)
		t.Errorf("goroutines grew from %d to %d over %d cycles:\n%s", before.goroutines, after.goroutines, cycles, sb.String())
	}
	if after.fds > before.fds {
		t.Errorf("open fds grew from %d to %d over %d cycles", before.fds, after.fds, cycles)
	}
	// Pools and caches at their working size, plus 2 KiB per cycle: a leak of a few KiB per
	// endpoint shows over 1 000 cycles.
	if growth := int64(after.heap) - int64(before.heap); growth > 2<<20+int64(cycles)*2<<10 {
		t.Errorf("heap grew by %.1f MiB over %d cycles (%d bytes per cycle)", float64(growth)/(1<<20), cycles, growth/int64(cycles))
	}
	// Everything a departed endpoint leaves behind is released at once (this found a closing
	// agent's last STUN transaction keeping its transport for 30 s); the few seconds allow for
	// a transport whose close is still finishing.
	goneMu.Lock()
	var reachable []int
	w0 := time.Now()
	soakWait(10*time.Second, func() bool {
		runtime.GC()
		reachable = reachable[:0]
		for i, w := range gone {
			if w.Value() != nil {
				reachable = append(reachable, i)
			}
		}
		return len(reachable) == 0
	})
	goneMu.Unlock()
	t.Logf("endpoints that left and are still reachable: %d of %d (after waiting %v)", len(reachable), len(gone), time.Since(w0).Round(time.Millisecond))
	if len(reachable) > 0 {
		t.Errorf("endpoints that left still reachable 10 s later: %d of %d (by order of leaving: %v)", len(reachable), len(gone), reachable)
	}
	if path := os.Getenv("SOAK_HEAPPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		_ = pprof.Lookup("heap").WriteTo(f, 0)
		_ = f.Close()
	}
	fwd, sent = pairWindow(m, p0, p1, 2*time.Second)
	checkPair(t, "pair after", fwd, sent)
	checkIntact(t, peers)
}

// An endpoint's network drops (nothing leaves or reaches its client): its transport fails when
// ICE gives up on it (5 s disconnected + 25 s failed), which is when the expiry check (colibri,
// JVB's "transport failed") expires it; the live pair keeps its rate all along.
func soakNetworkDrop(t *testing.T) {
	fn := newFaultNet(t)
	b, conf, peers, m := livePair(t, transporttest.PeerOptions{Net: fn})
	p0, p1, p2 := peers[0], peers[1], peers[2]
	fwd, sent := pairWindow(m, p0, p1, 2*time.Second)
	checkPair(t, "pair before", fwd, sent)

	fn.Set(transporttest.FaultDrop)
	dropped := time.Now()
	var failedNs atomic.Int64 // when the transport failed, watched every 20 ms
	watch := make(chan struct{})
	go func() {
		defer close(watch)
		soakWait(60*time.Second, func() bool {
			if st := p2.ep.State(); st == transport.StateFailed || st == transport.StateClosed {
				failedNs.Store(int64(time.Since(dropped)))
				return true
			}
			return false
		})
	}()
	for i := 0; failedNs.Load() == 0; i++ {
		if time.Since(dropped) > 60*time.Second {
			<-watch
			t.Fatalf("transport of %s still %v %v after its network dropped", p2.id, p2.ep.State(), time.Since(dropped).Round(time.Second))
		}
		fwd, sent := pairWindow(m, p0, p1, 2*time.Second)
		checkPair(t, fmt.Sprintf("pair %2d s after the drop", (i+1)*2), fwd, sent)
	}
	<-watch
	failed := time.Duration(failedNs.Load())
	idle := time.Since(p2.ep.LastActivity())
	t.Logf("transport of the dropped endpoint failed %v after the drop (last activity %v before)", failed.Round(100*time.Millisecond), idle.Round(100*time.Millisecond))
	// ICE's own timers: disconnected after 5 s without a packet, failed 25 s later.
	if failed < 25*time.Second || failed > 35*time.Second {
		t.Errorf("transport failed %v after the drop, want 30 s (ICE disconnected 5 s + failed 25 s)", failed)
	}
	p2.ep.Expire() // what the expiry check does on "transport failed"
	if n := len(conf.Endpoints()); n != 2 {
		t.Errorf("%d endpoints after the expiry, want the pair", n)
	}
	fwd, sent = pairWindow(m, p0, p1, 2*time.Second)
	checkPair(t, "pair after the expiry", fwd, sent)
	if st := b.Stats(); st.ICEFailed != 1 || st.DTLSFailed != 0 {
		t.Errorf("counted %d ICE failures and %d DTLS failures, want the one ICE failure", st.ICEFailed, st.DTLSFailed)
	}
	checkIntact(t, peers[:2])
}

// A receiver that stops reading (its kernel buffer fills) or whose socket is closed (the
// bridge's datagrams are refused): its queue keeps draining (Alive holds, no stall) and the
// live pair keeps its rate.
func soakDeadReceiver(t *testing.T, mode transporttest.FaultMode) {
	fn := newFaultNet(t)
	b, _, peers, m := livePair(t, transporttest.PeerOptions{Net: fn})
	p0, p1, p2 := peers[0], peers[1], peers[2]
	fwd, sent := pairWindow(m, p0, p1, 2*time.Second)
	checkPair(t, "pair before", fwd, sent)
	st0 := p2.ep.Stats()

	fn.Set(mode)
	for i := range 10 {
		fwd, sent := pairWindow(m, p0, p1, 2*time.Second)
		checkPair(t, fmt.Sprintf("pair %2d s after the fault", (i+1)*2), fwd, sent)
		if err := b.Alive(); err != nil {
			t.Errorf("bridge not alive %d s after the fault: %v", (i+1)*2, err)
		}
	}
	st := p2.ep.Stats()
	t.Logf("dead receiver over 20 s: %d packets sent to it, %d send failures, %d queue-full drops",
		st.PacketsSent-st0.PacketsSent, st.DroppedSendFailed-st0.DroppedSendFailed, st.DroppedQueueFull-st0.DroppedQueueFull)
	// Its queue never stays full: the sender goroutine drains it whatever the kernel does with
	// the datagrams.
	if full := st.DroppedQueueFull - st0.DroppedQueueFull; full > 0 {
		t.Errorf("%d packets dropped on the dead receiver's full queue", full)
	}
	checkIntact(t, peers[:2])
}

// One receiver sends thousands of PLIs and NACKs per second about the pair's video: the requests
// are counted, the sender gets keyframe requests at the paced rate only, retransmissions stay
// bounded, CPU stays bounded and the pair keeps its rate.
func soakKeyframeStorm(t *testing.T) {
	const (
		perSecond = 4000 // compound PLI + NACK packets
		duration  = 10 * time.Second
	)
	b, _, peers, m := livePair(t, transporttest.PeerOptions{})
	p0, p1, p2 := peers[0], peers[1], peers[2]

	cpu0, wall0 := cpuTime(), time.Now()
	fwd, sent := pairWindow(m, p0, p1, 5*time.Second)
	checkPair(t, "pair before", fwd, sent)
	baseCPU := float64(cpuTime()-cpu0) / float64(time.Since(wall0))

	st0 := b.Stats()
	plis0 := p0.pliCount.Load()
	stop := make(chan struct{})
	var storm sync.WaitGroup
	var stormSent atomic.Int64
	storm.Add(1)
	go func() {
		defer storm.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for n := 0; ; {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for range perSecond / 1000 {
				n++
				pkts := []rtcp.Packet{
					&rtcp.PictureLossIndication{SenderSSRC: p2.videoSSRC, MediaSSRC: p0.videoSSRC},
					&rtcp.TransportLayerNack{SenderSSRC: p2.videoSSRC, MediaSSRC: p0.videoSSRC,
						Nacks: []rtcp.NackPair{{PacketID: uint16(n), LostPackets: 0xffff}}},
				}
				if p2.client.PC.WriteRTCP(pkts) == nil {
					stormSent.Add(1)
				}
			}
		}
	}()
	cpu1, wall1 := cpuTime(), time.Now()
	for i := range int(duration / (2 * time.Second)) {
		fwd, sent := pairWindow(m, p0, p1, 2*time.Second)
		checkPair(t, fmt.Sprintf("pair %2d s into the storm", (i+1)*2), fwd, sent)
	}
	stormCPU := float64(cpuTime()-cpu1) / float64(time.Since(wall1))
	close(stop)
	storm.Wait()
	elapsed := time.Since(wall1)

	st := b.Stats()
	n := stormSent.Load()
	plis := p0.pliCount.Load() - plis0
	t.Logf("storm: %d PLI+NACK compounds in %v (%.0f/s); bridge counted %d keyframe requests dropped, %d forwarded, %d NACKs received, %d retransmissions",
		n, elapsed.Round(100*time.Millisecond), float64(n)/elapsed.Seconds(), st.KeyframeRequestsDropped-st0.KeyframeRequestsDropped,
		st.KeyframeRequestsForwarded-st0.KeyframeRequestsForwarded, st.NACKsReceived-st0.NACKsReceived, st.Retransmissions-st0.Retransmissions)
	t.Logf("PLIs that reached the sender: %d; process CPU %.2f cores before, %.2f during (the storming client's own SRTCP included)", plis, baseCPU, stormCPU)
	if n < int64(duration.Seconds())*perSecond/4 {
		t.Errorf("the storm sent only %d compounds: not a storm", n)
	}
	// Keyframe pacing: at most one request per 200 ms per receiver and source, 3 per 10 s.
	if max := int64(elapsed/(200*time.Millisecond)) + 2; plis > max {
		t.Errorf("the sender got %d PLIs in %v, want at most %d (paced)", plis, elapsed, max)
	}
	// Every compound is counted: its PLI as forwarded or dropped (paced), and its NACK as
	// received, unless the receiver's inbox had no room and the compound was dropped whole
	// (counted as a dropped keyframe request): the storm's work stays bounded either way.
	if got := (st.KeyframeRequestsDropped - st0.KeyframeRequestsDropped) + (st.KeyframeRequestsForwarded - st0.KeyframeRequestsForwarded); got < uint64(n)/2 {
		t.Errorf("keyframe requests counted (dropped + forwarded): %d of %d sent", got, n)
	}
	if got := st.NACKsReceived - st0.NACKsReceived; got > uint64(n) {
		t.Errorf("NACKs counted: %d, more than the %d sent", got, n)
	}
	// Each packet is resent at most maxResends times: bounded by what p0 sent p2 (about 50
	// video packets/s).
	if rtx := st.Retransmissions - st0.Retransmissions; rtx > uint64(elapsed.Seconds()*50*maxResends*1.5) {
		t.Errorf("%d retransmissions in %v: more than %d per video packet", rtx, elapsed, maxResends)
	}
	if stormCPU > baseCPU+1.0 {
		t.Errorf("process CPU %.2f cores during the storm, %.2f before: more than one extra core", stormCPU, baseCPU)
	}
	checkIntact(t, peers)
}

// An endpoint sends RTP carrying another endpoint's SSRCs (and sequence numbers ahead of the
// victim's): every such packet is dropped and counted, and the receivers get only the victim's
// real media under those SSRCs.
func soakSSRCSpoofing(t *testing.T) {
	const spoofed = 1000
	b, conf, peers, m := livePair(t)
	p0, p1 := peers[0], peers[1]

	// The attacker joins with a raw video track (pion's own tracks would put back its SSRC).
	x := &peer{idx: 9, id: "x", dcMsgs: make(chan string, 16), got: map[uint32]int{}}
	var err error
	if x.ep, err = conf.CreateEndpoint(EndpointConfig{ID: x.id, ICEControlling: true, SCTP: true, InitialLastN: -1}); err != nil {
		t.Fatal(err)
	}
	if x.client, err = transporttest.NewPeer(transporttest.PeerOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.client.Close)
	if err := x.client.SetOffer(x.offer(nil)); err != nil {
		t.Fatal(err)
	}
	raw := &rawTrack{TrackLocalStaticRTP: transporttest.VP8Track(x.id)} // write keeps our SSRC
	if x.videoSSRC, err = x.client.AddTrack(raw, nil); err != nil {
		t.Fatal(err)
	}
	desc, err := x.client.AnswerTransport()
	if err != nil {
		t.Fatal(err)
	}
	if err := x.ep.SetRemoteTransport(desc); err != nil {
		t.Fatal(err)
	}
	if err := x.client.WaitConnected(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if !soakWait(10*time.Second, func() bool { raw.mu.Lock(); defer raw.mu.Unlock(); return raw.w != nil }) {
		t.Fatal("the attacker's raw track was never bound")
	}
	if err := x.ep.SetSources([]MediaSource{videoSource("x-v0", x.videoSSRC)}); err != nil {
		t.Fatal(err)
	}
	// Its own SSRC goes through (so the spoofed ones are refused for being someone else's);
	// the pair checks those packets too.
	for _, p := range peers {
		p.mu.Lock()
		owner := maps.Clone(p.owner) // connectAll gave every peer the same map
		owner[x.videoSSRC] = x
		p.owner = owner
		p.mu.Unlock()
	}
	seq := uint16(0)
	if !soakWait(10*time.Second, func() bool {
		seq++
		raw.write(&rtp.Header{Version: 2, PayloadType: 100, SSRC: x.videoSSRC, SequenceNumber: seq, Marker: true}, payload('v', x.idx, seq, payloadVideo))
		return p1.received(x.videoSSRC) > 0
	}) {
		t.Fatal("the attacker's own video never reached p1")
	}

	st0 := x.ep.Stats()
	got0 := p1.received(p0.audioSSRC) + p1.received(p0.videoSSRC)
	sent0 := m.count(p0)
	for i := range spoofed {
		ssrc := p0.videoSSRC
		if i%2 == 1 {
			ssrc = p0.audioSSRC
		}
		// Sequence numbers just ahead of the victim's, spoofed payload.
		raw.write(&rtp.Header{Version: 2, PayloadType: 100, SSRC: ssrc, SequenceNumber: uint16(m.count(p0)/2 + 5 + i%10), Marker: true},
			[]byte(strings.Repeat("X", 200)))
		if i%50 == 49 {
			time.Sleep(10 * time.Millisecond) // ~5 000 packets/s, not one burst into the socket buffer
		}
	}
	ok := soakWait(5*time.Second, func() bool { return x.ep.Stats().DroppedForeignSSRC-st0.DroppedForeignSSRC >= spoofed*9/10 })
	time.Sleep(200 * time.Millisecond)
	st := x.ep.Stats()
	got := p1.received(p0.audioSSRC) + p1.received(p0.videoSSRC) - got0
	sent := m.count(p0) - sent0
	t.Logf("%d spoofed packets: %d counted as another endpoint's SSRC; p1 got %d of p0's packets while p0 sent %d",
		spoofed, st.DroppedForeignSSRC-st0.DroppedForeignSSRC, got, sent)
	if !ok {
		t.Errorf("spoofed packets counted: %d of %d", st.DroppedForeignSSRC-st0.DroppedForeignSSRC, spoofed)
	}
	if got > sent {
		t.Errorf("p1 got %d packets under p0's SSRCs while p0 sent %d: spoofed ones were forwarded", got, sent)
	}
	if bs := b.Stats(); bs.DroppedForeignSSRC < spoofed*9/10 {
		t.Errorf("bridge total of foreign-SSRC drops %d", bs.DroppedForeignSSRC)
	}
	checkIntact(t, peers) // p1 checks every packet under p0's SSRCs byte for byte
	fwd, psent := pairWindow(m, p0, p1, 2*time.Second)
	checkPair(t, "pair after", fwd, psent)
}

// One endpoint floods the bridge channel (EndpointMessage to a peer, ReceiverVideoConstraints
// flipping, garbage) as fast as SCTP takes it: its messages are rate limited and counted, the
// others' messages all arrive, the sender is not flooded with keyframe requests and the pair
// keeps its rate.
func soakChannelFlood(t *testing.T) {
	const duration = 10 * time.Second
	b, _, peers, m := livePair(t, transporttest.PeerOptions{})
	p0, p1, p2 := peers[0], peers[1], peers[2]

	// p1's bridge channel: count p0's messages by number and p2's.
	var fromP0, fromP2, others atomic.Int64
	seen := make(map[int]bool)
	classes := make(map[string]int)
	var seenMu sync.Mutex
	done := make(chan struct{})
	var readers sync.WaitGroup
	readers.Add(1)
	go func() {
		defer readers.Done()
		for {
			select {
			case <-done:
				return
			case raw := <-p1.dcMsgs:
				var msg struct {
					Class   string `json:"colibriClass"`
					From    string `json:"from"`
					Payload struct {
						N int `json:"n"`
					} `json:"msgPayload"`
				}
				if json.Unmarshal([]byte(raw), &msg) != nil {
					continue
				}
				if msg.Class != "EndpointMessage" {
					others.Add(1)
					seenMu.Lock()
					classes[msg.Class]++
					seenMu.Unlock()
					continue
				}
				switch msg.From {
				case p0.id:
					fromP0.Add(1)
					seenMu.Lock()
					seen[msg.Payload.N] = true
					seenMu.Unlock()
				case p2.id:
					fromP2.Add(1)
				}
			}
		}
	}()
	t.Cleanup(func() { close(done); readers.Wait() })

	cpu0, wall0 := cpuTime(), time.Now()
	fwd, sent := pairWindow(m, p0, p1, 4*time.Second)
	checkPair(t, "pair before", fwd, sent)
	baseCPU := float64(cpuTime()-cpu0) / float64(time.Since(wall0))
	others0 := others.Load()
	seenMu.Lock()
	t.Logf("before the flood p1 got %v", classes)
	clear(classes)
	seenMu.Unlock()

	st0 := b.Stats()
	plis0 := p0.pliCount.Load()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var flooded atomic.Int64
	wg.Add(2)
	go func() { // the flood
		defer wg.Done()
		msgs := []string{
			`{"colibriClass":"EndpointMessage","to":"p1","msgPayload":{"n":-1}}`,
			`{"colibriClass":"EndpointMessage","to":"","msgPayload":{"n":-2}}`,
			`{"colibriClass":"ReceiverVideoConstraints","defaultConstraints":{"maxHeight":180}}`,
			`{"colibriClass":"ReceiverVideoConstraints","defaultConstraints":{"maxHeight":720},"lastN":1}`,
			`{"colibriClass":"EndpointStats","jvbRTT":5}`,
			`{"colibriClass":"SourceVideoTypeMessage","sourceName":"p2-v0","videoType":"desktop"}`,
			`{"colibriClass":"SourceVideoTypeMessage","sourceName":"p2-v0","videoType":"camera"}`,
			`{"colibriClass":`,
		}
		// SOAK_FLOOD_RATE messages/s (default 5 000; 1000000 is as fast as SCTP takes them).
		// The flooding client runs in the test's process: unpaced, its own SCTP and DTLS work
		// competes for the host's cores with the bridge and the live pair's clients.
		rate := envInt("SOAK_FLOOD_RATE", 5000)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i, due := 0, 0; ; {
			if rate > 0 && i >= due {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				due += rate / 1000
				continue
			}
			select {
			case <-stop:
				return
			default:
			}
			if p2.dc.BufferedAmount() > 1<<20 {
				time.Sleep(time.Millisecond) // SCTP's own pace
				continue
			}
			if p2.dc.SendText(msgs[i%len(msgs)]) == nil {
				flooded.Add(1)
			}
			i++
		}
	}()
	var legit atomic.Int64
	go func() { // p0: 10 messages/s to p1
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for n := 1; ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if p0.dc.SendText(fmt.Sprintf(`{"colibriClass":"EndpointMessage","to":"p1","msgPayload":{"n":%d}}`, n)) == nil {
				legit.Store(int64(n))
			}
		}
	}()
	start, cpu1 := time.Now(), cpuTime()
	for i := range int(duration / (2 * time.Second)) {
		fwd, sent := pairWindow(m, p0, p1, 2*time.Second)
		checkPair(t, fmt.Sprintf("pair %2d s into the flood", (i+1)*2), fwd, sent)
	}
	floodCPU := float64(cpuTime()-cpu1) / float64(time.Since(start))
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	otherMsgs := others.Load() - others0
	seenMu.Lock()
	t.Logf("during the flood p1 got %v", classes)
	statsRelayed, fsChanges := int64(classes["EndpointStats"]), classes["ForwardedSources"]
	seenMu.Unlock()
	// Flipping p2's video type re-runs every receiver's allocation (coalesced per receiver);
	// with nothing to change, p1 must not be sent a stream of ForwardedSources.
	if fsChanges > 4 {
		t.Errorf("p1 got %d ForwardedSources during the flood: the flooder's video type churns the others' allocations", fsChanges)
	}
	t.Logf("process CPU %.2f cores before, %.2f during the flood (the flooding client's SCTP included); p1 got %d bridge messages other than EndpointMessage during it",
		baseCPU, floodCPU, otherMsgs)
	want := int(legit.Load())
	if !soakWait(5*time.Second, func() bool { seenMu.Lock(); defer seenMu.Unlock(); return len(seen) >= want }) {
		seenMu.Lock()
		t.Errorf("p1 got %d of p0's %d messages during the flood", len(seen), want)
		seenMu.Unlock()
	}
	st := b.Stats()
	n := flooded.Load()
	relayed := fromP2.Load() + statsRelayed // EndpointMessage and EndpointStats share one bucket
	plis := p0.pliCount.Load() - plis0
	t.Logf("flood: %d messages in %v (%.0f/s); bridge counted %d received, %d dropped, %d malformed; p1 got %d of p2's (messages and stats) and %d of p0's %d; p0 got %d PLIs",
		n, elapsed.Round(100*time.Millisecond), float64(n)/elapsed.Seconds(), st.DataChannelMessagesReceived-st0.DataChannelMessagesReceived,
		st.DataChannelMessagesDropped-st0.DataChannelMessagesDropped, st.DataChannelMessagesMalformed-st0.DataChannelMessagesMalformed,
		relayed, fromP0.Load(), want, plis)
	if n < int64(duration.Seconds())*2000 {
		t.Errorf("the flood sent only %d messages: not thousands per second", n)
	}
	// EndpointMessage and EndpointStats share one bucket: a burst of endpointMessageBurst, then
	// endpointMessageRate per second.
	if max := int64(endpointMessageBurst + endpointMessageRate*(elapsed.Seconds()+1)); relayed > max {
		t.Errorf("p1 got %d of p2's messages in %v, want at most %d (rate limited)", relayed, elapsed, max)
	}
	if dropped := st.DataChannelMessagesDropped - st0.DataChannelMessagesDropped; dropped < uint64(n)/4 {
		t.Errorf("rate-limited messages counted: %d of %d flooded", dropped, n)
	}
	if max := int64(elapsed/(200*time.Millisecond)) + 2; plis > max {
		t.Errorf("the flood of constraints made the bridge send p0 %d PLIs in %v, want at most %d", plis, elapsed, max)
	}
	checkIntact(t, peers)
}
