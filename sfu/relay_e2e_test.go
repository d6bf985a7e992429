package sfu

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"gojvb/bwe"
	"gojvb/sfu/channel"
	"gojvb/sfu/transport"
)

// relayPair creates the relay between conferences a (on the bridge with relay id "A") and b
// (relay id "B") the way jicofo does: a is the initiator (ICE controlling, SCTP client), each
// side gets the other's transport with setup rewritten to active (to the initiator) or passive.
func relayPair(t *testing.T, a, b *Conference) (ab, ba *Relay) {
	t.Helper()
	var err error
	if ab, err = a.CreateRelay(RelayConfig{ID: "B", MeshID: "0", ICEControlling: true, SCTP: true, SCTPClient: true, UniquePort: true}); err != nil {
		t.Fatal(err)
	}
	if ba, err = b.CreateRelay(RelayConfig{ID: "A", MeshID: "0", SCTP: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateRelay(RelayConfig{ID: "B"}); err == nil {
		t.Fatal("a second relay with the same id was created")
	}
	da, db := ab.LocalTransport(), ba.LocalTransport()
	for _, d := range []transport.Description{da, db} {
		if len(d.Fingerprints) != 1 || d.Fingerprints[0].Setup != "actpass" || len(d.Candidates) == 0 {
			t.Fatalf("relay transport %+v: want one actpass fingerprint and candidates", d)
		}
	}
	db.Fingerprints[0].Setup, da.Fingerprints[0].Setup = "active", "passive"
	if err := ab.SetRemoteTransport(db); err != nil {
		t.Fatal(err)
	}
	if err := ba.SetRemoteTransport(da); err != nil {
		t.Fatal(err)
	}
	return ab, ba
}

// mirror signals peer p (local on its own bridge) behind relay r of the other bridge.
func mirror(t *testing.T, r *Relay, p *peer) {
	t.Helper()
	e, err := r.AddEndpoint(p.id, "stats-"+p.id)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetSources([]MediaSource{audioSource(p.id+"-a0", p.audioSSRC), videoSource(p.id+"-v0", p.videoSSRC)}); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRelayTwoBridges puts p1 on bridge A and p2, p3 on bridge B, links the conference's two
// halves with a relay and checks that everyone gets everyone's audio and video, that p1's media
// crosses the relay once for its two receivers on B, that an endpoint leaving B disappears on
// A, and that expiring the relay leaves nothing behind (goleak in TestMain).
func TestRelayTwoBridges(t *testing.T) {
	bA, bB := newLoopbackBridge(t), newLoopbackBridge(t)
	bA.relayID, bB.relayID = "A", "B"
	cA, err := bA.CreateConference("m1", "room@conference.example")
	if err != nil {
		t.Fatal(err)
	}
	cB, err := bB.CreateConference("m1", "room@conference.example")
	if err != nil {
		t.Fatal(err)
	}
	p1, p2, p3 := joinPeer(t, cA, 1), joinPeer(t, cB, 2), joinPeer(t, cB, 3)
	ab, ba := relayPair(t, cA, cB)
	peers := []*peer{p1, p2, p3}
	connectAll(t, peers)
	mirror(t, ab, p2)
	mirror(t, ab, p3)
	mirror(t, ba, p1)
	if _, err := ab.AddEndpoint("p1", ""); err == nil {
		t.Error("a remote endpoint with a local endpoint's id was created")
	}

	stop := sendMedia(t, peers)
	waitFlow(t, peers, peers, 30, nil)
	stop()
	checkIntact(t, peers)

	// EndpointMessage across the relay: 1:1 from p1 (A) to p2 (B), broadcast from p3 (B) to p1.
	endpointMessage(t, p1, p2, `{"colibriClass":"EndpointMessage","to":"p2","msgPayload":{"n":1}}`, `"from":"p1"`)
	endpointMessage(t, p3, p1, `{"colibriClass":"EndpointMessage","to":"","msgPayload":{"n":2}}`, `"from":"p3"`)
	// p1 shares its screen: B's track of p1's video follows (SourceVideoTypeMessage with endpointId).
	if err := p1.dc.SendText(`{"colibriClass":"SourceVideoTypeMessage","sourceName":"p1-v0","videoType":"desktop"}`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "p1-v0 to be a desktop share on B", func() bool {
		src := cB.sources.Load().bySSRC[p1.videoSSRC]
		return src != nil && src.track.vtype() == bwe.VideoDesktop
	})

	// p1's packets crossed once although two receivers on B got them.
	st := ab.Stats()
	fromP1 := max(p2.received(p1.audioSSRC)+p2.received(p1.videoSSRC), p3.received(p1.audioSSRC)+p3.received(p1.videoSSRC))
	if st.PacketsSent < uint64(fromP1) || st.PacketsSent > uint64(fromP1)*6/5+20 {
		t.Errorf("relay A->B forwarded %d packets; B's receivers each got up to %d of p1's: want about one crossing per packet",
			st.PacketsSent, fromP1)
	}
	if st.Endpoints != 2 || ba.Stats().Endpoints != 1 {
		t.Errorf("endpoints behind relays: A sees %d, B sees %d; want 2 and 1", st.Endpoints, ba.Stats().Endpoints)
	}
	if rt := bA.Stats().Relay; rt.Relays != 1 || rt.Conferences != 1 || rt.Endpoints != 2 || rt.PacketsSent == 0 || rt.PacketsReceived == 0 {
		t.Errorf("bridge A relay totals %+v", rt)
	}

	// p3 leaves B; jicofo mirrors it to A.
	p3.ep.Expire()
	ab.Endpoint("p3").Expire()
	if cA.RemoteEndpoint("p3") != nil {
		t.Error("p3 is still behind A's relay")
	}
	for _, ssrc := range []uint32{p3.audioSSRC, p3.videoSSRC} {
		if cA.sources.Load().bySSRC[ssrc] != nil {
			t.Errorf("A still has p3's SSRC %d", ssrc)
		}
	}
	stop = sendMedia(t, peers)
	base := snapshot(peers)
	waitFlow(t, []*peer{p1, p2}, []*peer{p1, p2}, 20, base)
	stop()

	ab.Expire()
	ba.Expire()
	<-ab.Done()
	if len(cA.Relays()) != 0 || len(cB.Relays()) != 0 || cB.RemoteEndpoint("p1") != nil {
		t.Error("relays or their endpoints survived expiry")
	}
	if rt := bA.Stats().Relay; rt.Relays != 0 || rt.Created != 1 || rt.PacketsSent < st.PacketsSent {
		t.Errorf("bridge A relay totals after expiry %+v", rt)
	}
}

// TestRelayRewritingClients runs the relay with JVB's allocation defaults and SSRC-rewriting
// clients (jicofo's default): p0 on A, p1 and p2 on B. Each client learns the others' sources
// from VideoSourcesMap/AudioSourcesMap, local or behind the relay alike, and plays them; the
// relay carries p0's video once for its two receivers on B, and only once B's receivers asked
// for it (AddReceiver).
func TestRelayRewritingClients(t *testing.T) {
	bA, bB := newJVBDefaultsBridge(t), newJVBDefaultsBridge(t)
	bA.relayID, bB.relayID = "A", "B"
	cA, err := bA.CreateConference("m2", "rw@conference.example")
	if err != nil {
		t.Fatal(err)
	}
	cB, err := bB.CreateConference("m2", "rw@conference.example")
	if err != nil {
		t.Fatal(err)
	}
	p0, p1, p2 := joinRewriting(t, cA, 0, 1), joinRewriting(t, cB, 1, 1), joinRewriting(t, cB, 2, 1)
	peers := []*rwPeer{p0, p1, p2}
	media := RelayConfig{
		PayloadTypes: []PayloadType{
			{Media: MediaAudio, ID: ptOpus, Name: "opus", ClockRate: 48000, Channels: 2},
			{Media: MediaVideo, ID: ptVP8, Name: "VP8", ClockRate: 90000},
			{Media: MediaVideo, ID: ptRTX, Name: "rtx", ClockRate: 90000, Params: map[string]string{"apt": "100"}},
		},
		HeaderExts: []HeaderExtension{{Media: MediaAudio, ID: extIDAudioLevel, URI: extAudioLevel}},
	}
	ab, ba := relayPair(t, cA, cB)
	ab.AddPayloadTypes(media.PayloadTypes, media.HeaderExts)
	ba.AddPayloadTypes(media.PayloadTypes, media.HeaderExts)
	waitHello(t, peers...)
	for _, p := range peers {
		p.sendJSON(t, `{"colibriClass":"ReceiverVideoConstraints","lastN":-1,"assumedBandwidthBps":-1}`)
		p.signal(t)
	}
	for _, m := range []struct {
		r *Relay
		p *rwPeer
	}{{ab, p1}, {ab, p2}, {ba, p0}} {
		e, err := m.r.AddEndpoint(m.p.id, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.SetSources(m.p.sources()); err != nil {
			t.Fatal(err)
		}
	}
	stop := startSending(t, peers...)
	defer stop()
	for _, p := range peers {
		var want []string
		for _, r := range peers {
			if r != p {
				want = append(want, r.id+"-a0", r.id+"-v0")
			}
		}
		p.wait(t, fmt.Sprintf("mappings of %v", want), func() bool {
			for _, s := range want {
				if p.slotOf(s) == 0 {
					return false
				}
			}
			return true
		})
		p.renegotiate(t)
		p.waitPlayed(t, 25, nil, want...)
		p.mu.Lock()
		if len(p.bad) > 0 {
			t.Errorf("%s: %v", p.id, p.bad)
		}
		p.mu.Unlock()
	}
	// p0 talks on A: B finds the dominant speaker itself from the levels the relay carries.
	p0.level.Store(levelTalk)
	for _, p := range []*rwPeer{p1, p2} {
		p.wait(t, "p0 as dominant speaker", func() bool {
			n := len(p.speakers)
			return n > 0 && p.speakers[n-1].DominantSpeakerEndpoint == "p0"
		})
	}
	// B's receivers' thumbnails (JVB's default 180) reach p0 as its sender constraint, through
	// AddReceiver: nobody on A receives p0.
	p0.wait(t, "SenderSourceConstraints p0-v0 180 from B's receivers", func() bool {
		n := len(p0.constraints)
		return n > 0 && p0.constraints[n-1] == channel.SenderSourceConstraints{SourceName: "p0-v0", MaxHeight: 180}
	})

	// B's receivers turn video off: the relay stops carrying p0's video (union of their
	// constraints), audio still crosses.
	p0video := cA.sources.Load().bySSRC[p0.encs[0]]
	p0audio := cA.sources.Load().bySSRC[p0.audioSSRC]
	if !ab.link.wanted.Load().has(p0video) {
		t.Error("p0's video is not crossing the relay while B's receivers want it")
	}
	for _, p := range []*rwPeer{p1, p2} {
		p.sendJSON(t, `{"colibriClass":"ReceiverVideoConstraints","lastN":0}`)
	}
	waitFor(t, "p0's video to leave the relay", func() bool { return !ab.link.wanted.Load().has(p0video) })
	if !ab.link.wanted.Load().has(p0audio) {
		t.Error("p0's audio stopped crossing the relay")
	}
	p1.sendJSON(t, `{"colibriClass":"ReceiverVideoConstraints","lastN":-1}`)
	waitFor(t, "p0's video back on the relay for p1 alone", func() bool { return ab.link.wanted.Load().has(p0video) })
	stop()
	// One crossing per packet of p0 (audio and video) for B's two receivers.
	sent := ab.Stats().PacketsSent
	got := uint64(max(p1.received("p0-a0")+p1.received("p0-v0"), p2.received("p0-a0")+p2.received("p0-v0")))
	if sent < got || sent > got*6/5+20 {
		t.Errorf("relay A->B forwarded %d packets; B's receivers each played up to %d of p0's", sent, got)
	}
	ab.Expire()
	ba.Expire()
}

// TestRelaysOfTwoConferencesBetweenTheSameBridges: two conferences spread over the same two
// bridges have a relay each; the initiator's relays have ports of their own (use-unique-port),
// so the other bridge tells them apart on its shared port and both carry their media.
func TestRelaysOfTwoConferencesBetweenTheSameBridges(t *testing.T) {
	bA, bB := newLoopbackBridge(t), newLoopbackBridge(t)
	bA.relayID, bB.relayID = "A", "B"
	var all []*peer
	var relays []*Relay
	for i, meeting := range []string{"m1", "m2"} {
		cA, err := bA.CreateConference(meeting, "")
		if err != nil {
			t.Fatal(err)
		}
		cB, err := bB.CreateConference(meeting, "")
		if err != nil {
			t.Fatal(err)
		}
		pa, pb := joinPeer(t, cA, 10*i+1), joinPeer(t, cB, 10*i+2)
		ab, ba := relayPair(t, cA, cB)
		if ab.mux == nil || ab.mux.LocalAddr() == bA.LocalAddr() || ba.mux != nil {
			t.Fatalf("relay ports: initiator %v (bridge %v), other %v", ab.mux, bA.LocalAddr(), ba.mux)
		}
		connectAll(t, []*peer{pa, pb})
		mirror(t, ab, pb)
		mirror(t, ba, pa)
		all = append(all, pa, pb)
		relays = append(relays, ab, ba)
	}
	stop := sendMedia(t, all)
	for i := 0; i < len(all); i += 2 {
		waitFlow(t, all[i:i+2], all[i:i+2], 20, nil)
	}
	stop()
	checkIntact(t, all)
	for _, r := range relays {
		r.Expire()
	}
}

// endpointMessage sends msg on from's bridge channel and waits for to to get it, with want in it.
func endpointMessage(t *testing.T, from, to *peer, msg, want string) {
	t.Helper()
	for len(to.dcMsgs) > 0 { // what came before (ForwardedSources, speakers) may fill the buffer
		<-to.dcMsgs
	}
	if err := from.dc.SendText(msg); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-to.dcMsgs:
			if strings.Contains(m, "EndpointMessage") && strings.Contains(m, want) {
				return
			}
		case <-deadline:
			t.Fatalf("%s did not get %s from %s", to.id, msg, from.id)
		}
	}
}
