package sfu

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtcp"

	"gojvb/sfu/channel"
)

// Integration tests of what a Jitsi Meet client with SSRC rewriting sees (issue 9): real pion
// clients on loopback, a bridge with JVB's allocation defaults, clients that learn remote
// sources only from the bridge channel. The client side is rewrite_peer_test.go.

// Three clients advertising ssrc-rewriting learn each other's sources only from
// VideoSourcesMap/AudioSourcesMap, renegotiate with the announced SSRCs and play every remote
// source, intact and from the announced owner, on exactly those SSRCs; a keyframe request about
// a slot reaches the sender on its own SSRC.
func TestRewritingClientsPlayRemoteSourcesByMappedSSRCs(t *testing.T) {
	b := newJVBDefaultsBridge(t)
	conf, err := b.CreateConference("meeting-rw", "rw@conference.example")
	if err != nil {
		t.Fatal(err)
	}
	var peers []*rwPeer
	for i := range 3 {
		peers = append(peers, joinRewriting(t, conf, i, 1))
	}
	waitHello(t, peers...)
	original := map[uint32]bool{}
	for _, p := range peers {
		// What lib-jitsi-meet sends when the channel opens, before the app has constraints.
		p.sendJSON(t, `{"colibriClass":"ReceiverVideoConstraints","lastN":-1,"assumedBandwidthBps":-1}`)
		p.signal(t)
		original[p.audioSSRC] = true
		for i := range p.encs {
			original[p.encs[i]], original[p.rtx[i]] = true, true
		}
	}
	stop := startSending(t, peers...)

	others := func(p *rwPeer, suffix string) []string {
		var out []string
		for _, r := range peers {
			if r != p {
				out = append(out, r.id+suffix)
			}
		}
		return out
	}
	for _, p := range peers {
		want := append(others(p, "-a0"), others(p, "-v0")...)
		p.wait(t, fmt.Sprintf("mappings of %v", want), func() bool {
			for _, s := range want {
				if p.slotOf(s) == 0 {
					return false
				}
			}
			return true
		})
		p.mu.Lock()
		seen := map[uint32]string{}
		claim := func(ssrc uint32, what string) {
			if original[ssrc] {
				t.Errorf("%s: %s is mapped to a sender's own SSRC %d", p.id, what, ssrc)
			}
			if prev, dup := seen[ssrc]; dup {
				t.Errorf("%s: SSRC %d announced for %s and %s", p.id, ssrc, prev, what)
			}
			seen[ssrc] = what
		}
		for _, v := range p.videoMap {
			claim(v.SSRC, v.Source)
			claim(v.RTX, v.Source+" rtx")
			if v.Source != v.Owner+"-v0" || v.VideoType != "CAMERA" || v.Owner == p.id {
				t.Errorf("%s: video mapping %+v", p.id, v)
			}
		}
		for _, a := range p.audioMap {
			claim(a.SSRC, a.Source)
			if a.Source != a.Owner+"-a0" || a.Owner == p.id {
				t.Errorf("%s: audio mapping %+v", p.id, a)
			}
		}
		if len(p.videoMap) != 2 || len(p.audioMap) != 2 {
			t.Errorf("%s: %d video and %d audio mappings, want 2 each", p.id, len(p.videoMap), len(p.audioMap))
		}
		p.mu.Unlock()
	}
	for _, p := range peers {
		p.renegotiate(t)
	}
	for _, p := range peers {
		p.waitPlayed(t, 25, nil, append(others(p, "-a0"), others(p, "-v0")...)...)
		p.wait(t, "ForwardedSources of the others' video", func() bool {
			return slices.Equal(sorted(p.forwardedNow()), others(p, "-v0"))
		})
	}

	// p0's PLI about the slot it plays p1's video on reaches p1 about p1's SSRC, from the
	// conference's feedback SSRC.
	p0, p1 := peers[0], peers[1]
	p0.mu.Lock()
	slot := p0.slotOf("p1-v0")
	p0.mu.Unlock()
	_, fbVideo := conf.FeedbackSSRCs()
	for len(p1.plis) > 0 { // the bridge's own requests, from when p0 and p2 started p1's video
		<-p1.plis
	}
	deadline := time.After(waitTimeout)
	for got := false; !got; {
		if err := p0.client.PC.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{SenderSSRC: 1, MediaSSRC: slot}}); err != nil {
			t.Fatal(err)
		}
		select {
		case pli := <-p1.plis:
			if pli.MediaSSRC != p1.encs[0] || pli.SenderSSRC != fbVideo {
				t.Fatalf("p1 got a PLI about SSRC %d from %d, want about its video SSRC %d from %d",
					pli.MediaSSRC, pli.SenderSSRC, p1.encs[0], fbVideo)
			}
			got = true
		case <-time.After(300 * time.Millisecond):
		case <-deadline:
			t.Fatal("p0's PLI about its slot never reached p1")
		}
	}
	if s := b.Stats(); s.KeyframeRequestsForwarded < 1 {
		t.Errorf("keyframe requests forwarded: %d", s.KeyframeRequestsForwarded)
	}
	stop()
	checkClean(t, peers...)
	for _, p := range peers {
		p.mu.Lock()
		for ssrc, st := range p.rx {
			if _, video := p.videoMap[ssrc]; video && !st.firstKey {
				t.Errorf("%s: video on slot %d did not start with a keyframe", p.id, ssrc)
			}
		}
		p.mu.Unlock()
	}
}

// A receiver with lastN=1 gets the video of the current dominant speaker only, following the
// speaker (from ssrc-audio-level) as it changes, and the ForwardedSources it gets always match
// the video that arrives: before anyone speaks the first endpoint (join order), then p3 who
// talks, then p2 who takes over. The senders' SenderSourceConstraints follow.
func TestLastNOneFollowsTheDominantSpeaker(t *testing.T) {
	b := newJVBDefaultsBridge(t)
	conf, err := b.CreateConference("meeting-ln", "ln@conference.example")
	if err != nil {
		t.Fatal(err)
	}
	recv := joinRewriting(t, conf, 0, 1)
	var senders []*rwPeer
	for i := 1; i <= 3; i++ {
		senders = append(senders, joinRewriting(t, conf, i, 1))
	}
	p1, p2, p3 := senders[0], senders[1], senders[2]
	waitHello(t, append([]*rwPeer{recv}, senders...)...)
	for _, s := range senders {
		s.signal(t)
	}
	stop := startSending(t, senders...)
	recv.sendJSON(t, `{"colibriClass":"ReceiverVideoConstraints","lastN":1,"defaultConstraints":{"maxHeight":180}}`)

	videos := []string{"p1-v0", "p2-v0", "p3-v0"}
	follow := func(want string) {
		t.Helper()
		recv.wait(t, "ForwardedSources ["+want+"] and its mapping", func() bool {
			return slices.Equal(recv.forwardedNow(), []string{want}) && recv.slotOf(want) != 0
		})
		recv.renegotiate(t)
		recv.waitPlayed(t, 10, nil, want)
		base := map[string]int{}
		for _, v := range videos {
			base[v] = recv.received(v)
		}
		recv.waitPlayed(t, 50, base, want)
		for _, v := range videos {
			if got := recv.received(v) - base[v]; v != want && got != 0 {
				t.Errorf("while %s is forwarded, %d packets of %s arrived", want, got, v)
			}
		}
	}
	dominant := func(id string) channel.DominantSpeakerEndpointChangeEvent {
		t.Helper()
		var ev channel.DominantSpeakerEndpointChangeEvent
		recv.wait(t, "dominant speaker "+id, func() bool {
			for _, e := range recv.speakers {
				if e.DominantSpeakerEndpoint == id {
					ev = e
					return true
				}
			}
			return false
		})
		return ev
	}
	maxHeight := func(p *rwPeer, want int) {
		t.Helper()
		p.wait(t, fmt.Sprintf("SenderSourceConstraints %s-v0 %d", p.id, want), func() bool {
			n := len(p.constraints)
			return n > 0 && p.constraints[n-1] == channel.SenderSourceConstraints{SourceName: p.id + "-v0", MaxHeight: want}
		})
	}

	// Nobody has spoken: the first other endpoint in join order.
	follow("p1-v0")
	maxHeight(p1, 180)
	// p3 talks (levels vary; p1 and p2 send no levels): it takes the floor and the only video.
	p3.level.Store(levelTalk)
	if ev := dominant("p3"); len(ev.PreviousSpeakers) != 0 || ev.Silence {
		t.Errorf("first speaker event %+v", ev)
	}
	follow("p3-v0")
	maxHeight(p3, 180)
	maxHeight(p1, 0)
	// p3 falls back to background noise and p2 talks: p2 takes over, p3 is the previous speaker.
	p3.level.Store(levelNoise)
	p2.level.Store(levelTalk)
	if ev := dominant("p2"); !slices.Equal(ev.PreviousSpeakers, []string{"p3"}) {
		t.Errorf("second speaker event %+v, want previous speakers [p3]", ev)
	}
	follow("p2-v0")
	maxHeight(p2, 180)
	maxHeight(p3, 0)
	stop()
	checkClean(t, recv)

	recv.mu.Lock()
	defer recv.mu.Unlock()
	// Every video packet's source was in the ForwardedSources in effect when it arrived, give or
	// take the time a message and a packet sent together may overtake each other.
	const skew = 500 * time.Millisecond
	late := 0
	for _, a := range recv.arrivals {
		if !forwardedAround(recv.forwarded, a.source, a.at, skew) {
			if late++; late <= 5 {
				t.Errorf("%s video arrived at %v, not forwarded then (ForwardedSources %v)",
					a.source, a.at.Format("15:04:05.000"), recv.forwarded)
			}
		}
	}
	for _, fs := range recv.forwarded {
		if len(fs.sources) > 1 {
			t.Errorf("lastN=1 receiver got ForwardedSources %v", fs.sources)
		}
	}
	for ssrc, st := range recv.rx {
		if _, video := recv.videoMap[ssrc]; video && !st.firstKey {
			t.Errorf("video on slot %d (%s) did not start with a keyframe", ssrc, recv.videoMap[ssrc].Source)
		}
	}
	if len(recv.arrivals) < 150 {
		t.Errorf("only %d video packets arrived", len(recv.arrivals))
	}
}

// forwardedAround reports whether source was in a ForwardedSources in effect at some time within
// skew of at.
func forwardedAround(history []fsChange, source string, at time.Time, skew time.Duration) bool {
	for i, fs := range history {
		from, until := fs.at, at.Add(time.Hour)
		if i+1 < len(history) {
			until = history[i+1].at
		}
		if from.Before(at.Add(skew)) && until.After(at.Add(-skew)) && slices.Contains(fs.sources, source) {
			return true
		}
	}
	return false
}

// A receiver asking maxHeight 180 of a sender with three simulcast encodings (SIM group, an FID
// RTX per encoding) gets only the low encoding, starting at its keyframe, on the slot SSRC the
// map announced; asking 720 then switches it to the high encoding at a keyframe, on the same
// SSRC with consecutive sequence numbers. The sender is asked for what is needed.
func TestMaxHeight180GetsOnlyTheLowEncoding(t *testing.T) {
	b := newJVBDefaultsBridge(t)
	conf, err := b.CreateConference("meeting-sim", "sim@conference.example")
	if err != nil {
		t.Fatal(err)
	}
	recv := joinRewriting(t, conf, 0, 1)
	sender := joinRewriting(t, conf, 1, 3)
	waitHello(t, recv, sender)
	sender.signal(t)
	stop := startSending(t, sender)
	// What Jitsi Meet sends: nothing by default, explicit constraints for the visible tiles.
	recv.sendJSON(t, `{"colibriClass":"ReceiverVideoConstraints","lastN":-1,"defaultConstraints":{"maxHeight":0},`+
		`"constraints":{"p1-v0":{"maxHeight":180}}}`)
	recv.wait(t, "p1-v0 forwarded and mapped", func() bool {
		return slices.Equal(recv.forwardedNow(), []string{"p1-v0"}) && recv.slotOf("p1-v0") != 0 && recv.slotOf("p1-a0") != 0
	})
	recv.renegotiate(t)
	recv.waitPlayed(t, 100, nil, "p1-v0", "p1-a0")
	sender.wait(t, "SenderSourceConstraints p1-v0 180", func() bool {
		return slices.Contains(sender.constraints, channel.SenderSourceConstraints{SourceName: "p1-v0", MaxHeight: 180})
	})
	recv.mu.Lock()
	slot := recv.slotOf("p1-v0")
	st := *recv.rx[slot]
	recv.mu.Unlock()
	if st.encs[1] != 0 || st.encs[2] != 0 || st.encs[0] != st.n {
		t.Errorf("at maxHeight 180 the slot carried %v packets of encodings 0, 1, 2 (of %d)", st.encs, st.n)
	}
	if !st.firstKey || !st.encStart[0].key {
		t.Errorf("the low encoding did not start with a keyframe: %+v", st.encStart[0])
	}

	recv.sendJSON(t, `{"colibriClass":"ReceiverVideoConstraints","constraints":{"p1-v0":{"maxHeight":720}}}`)
	recv.wait(t, "the high encoding", func() bool { return recv.rx[slot].encs[2] >= 1 })
	recv.mu.Lock()
	lowAtSwitch := recv.rx[slot].encs[0]
	recv.mu.Unlock()
	recv.wait(t, "100 packets of the high encoding", func() bool { return recv.rx[slot].encs[2] >= 100 })
	sender.wait(t, "SenderSourceConstraints p1-v0 720", func() bool {
		return slices.Contains(sender.constraints, channel.SenderSourceConstraints{SourceName: "p1-v0", MaxHeight: 720})
	})
	stop()
	checkClean(t, recv, sender)
	recv.mu.Lock()
	defer recv.mu.Unlock()
	st = *recv.rx[slot]
	if st.encs[1] != 0 || st.encs[0] != lowAtSwitch {
		t.Errorf("after the switch to 720: %v packets of encodings 0, 1, 2 (%d of encoding 0 at the switch)", st.encs, lowAtSwitch)
	}
	if s := st.encStart[2]; !s.key || s.seq != s.afterSeq+1 {
		t.Errorf("the high encoding started at %+v, want a keyframe right after the last low packet", s)
	}
	if len(recv.videoMap) != 1 {
		t.Errorf("video mappings %v, want the one slot", recv.videoMap)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
