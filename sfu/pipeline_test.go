package sfu

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"testing"

	"github.com/pion/srtp/v3"
)

const gcm = srtp.ProtectionProfileAeadAes128Gcm

// threeParty returns a conference with endpoints a, b, c (manual sending); a signals audio 111
// and video 222.
func threeParty(t *testing.T) (*testBridge, *Conference, *client, *client, *client) {
	t.Helper()
	tb := newTestBridge(t, true, false)
	c, err := tb.CreateConference("m1", "room@conference")
	if err != nil {
		t.Fatal(err)
	}
	a := joinSecure(t, c, "a", gcm)
	b := joinSecure(t, c, "b", gcm)
	cc := joinSecure(t, c, "c", gcm)
	if err := a.ep.SetSources([]MediaSource{audioSource("a-a0", 111), videoSource("a-v0", 222)}); err != nil {
		t.Fatal(err)
	}
	settle(a, b, cc)
	return tb, c, a, b, cc
}

func TestForwardReachesEveryOtherEndpointIntact(t *testing.T) {
	tb, _, a, b, c := threeParty(t)
	plainAudio := a.rtpPacket(111, 111, 80)
	plainVideo := a.rtpPacket(222, 100, 1200)
	a.ep.receiveOne(a.protect(t, plainAudio), false)
	a.ep.receiveOne(a.protect(t, plainVideo), false)
	for _, r := range []*client{b, c} {
		r.ep.drain()
		got := tb.writer(r.ep.id).take()
		if len(got) != 2 {
			t.Fatalf("%s got %d datagrams, want 2", r.ep.id, len(got))
		}
		for i, want := range [][]byte{plainAudio, plainVideo} {
			if plain := r.unprotect(t, got[i]); !bytes.Equal(plain, want) {
				t.Errorf("%s datagram %d differs from what a sent", r.ep.id, i)
			}
		}
	}
	a.ep.drain()
	if n := len(tb.writer("a").take()); n != 0 {
		t.Errorf("sender got %d of its own packets back", n)
	}
	if s := a.ep.Stats(); s.PacketsReceived != 2 {
		t.Errorf("a PacketsReceived = %d, want 2", s.PacketsReceived)
	}
	if s := b.ep.Stats(); s.PacketsSent != 2 || s.BytesSent == 0 {
		t.Errorf("b PacketsSent = %d BytesSent = %d, want 2 and > 0", s.PacketsSent, s.BytesSent)
	}
}

func TestDropsAreCountedAndDoNotDisturbOthers(t *testing.T) {
	tb, _, a, b, c := threeParty(t)
	if err := b.ep.SetSources([]MediaSource{videoSource("b-v0", 333)}); err != nil {
		t.Fatal(err)
	}
	// unknown SSRC
	a.ep.receiveOne(a.protect(t, a.rtpPacket(999, 100, 100)), false)
	// SSRC signalled by b, sent by a
	a.ep.receiveOne(a.protect(t, a.rtpPacket(333, 100, 100)), false)
	// wrong auth tag
	bad := a.protect(t, a.rtpPacket(222, 100, 100))
	bad[len(bad)-1] ^= 0xff
	a.ep.receiveOne(bad, false)
	// garbage, too short and too long
	a.ep.receiveOne([]byte{0x80}, false)
	a.ep.receiveOne(make([]byte, 3000), false)
	a.ep.receiveOne([]byte{0x80, 0xc8, 0, 1}, true)
	// force-muted video
	a.ep.SetForceMute(false, true)
	a.ep.receiveOne(a.protect(t, a.rtpPacket(222, 100, 100)), false)
	a.ep.SetForceMute(false, false)
	// and a good one, which must still arrive everywhere
	good := a.rtpPacket(222, 100, 500)
	a.ep.receiveOne(a.protect(t, good), false)

	s := a.ep.Stats()
	if s.DroppedUnknownSSRC != 1 || s.DroppedForeignSSRC != 1 || s.DroppedSRTPAuth != 4 || s.DroppedMuted != 1 {
		t.Errorf("drops = unknown %d foreign %d auth %d muted %d, want 1 1 4 1",
			s.DroppedUnknownSSRC, s.DroppedForeignSSRC, s.DroppedSRTPAuth, s.DroppedMuted)
	}
	for _, r := range []*client{b, c} {
		r.ep.drain()
		got := tb.writer(r.ep.id).take()
		if len(got) != 1 || !bytes.Equal(r.unprotect(t, got[0]), good) {
			t.Errorf("%s: got %d datagrams, want only the good packet", r.ep.id, len(got))
		}
	}
	st := tb.Stats()
	if st.DroppedUnknownSSRC != 1 || st.DroppedForeignSSRC != 1 || st.DroppedSRTPAuth != 4 || st.DroppedMuted != 1 {
		t.Errorf("bridge stats drops = %+v", st)
	}
}

func TestReceiverWithoutKeysAndFullQueueAreCountedDrops(t *testing.T) {
	tb := newTestBridge(t, true, false)
	c, _ := tb.CreateConference("m", "")
	a := joinSecure(t, c, "a", gcm)
	b := joinSecure(t, c, "b", gcm)
	if _, err := c.CreateEndpoint(EndpointConfig{ID: "nokeys", InitialLastN: -1}); err != nil {
		t.Fatal(err)
	}
	if err := a.ep.SetSources([]MediaSource{videoSource("a-v0", 1)}); err != nil {
		t.Fatal(err)
	}
	settle(b)
	c.Endpoint("nokeys").drain() // it chooses what to receive before it has keys
	for range queueSize + 10 {
		a.ep.receiveOne(a.protect(t, a.rtpPacket(1, 100, 50)), false)
	}
	s := a.ep.Stats()
	if s.DroppedQueueFull != 10 || s.DroppedNotSecure != queueSize+10 {
		t.Errorf("queue full %d, not secure %d; want 10, %d", s.DroppedQueueFull, s.DroppedNotSecure, queueSize+10)
	}
	b.ep.drain()
	if n := len(tb.writer("b").take()); n != queueSize {
		t.Errorf("b got %d, want %d", n, queueSize)
	}
}

func TestKeyframeRequestReachesSenderFromFeedbackSSRC(t *testing.T) {
	tb, c, a, b, _ := threeParty(t)
	_, fbVideo := c.FeedbackSSRCs()
	b.ep.receiveOne(b.protectRTCP(t, pli(0xb0b, 222)), true)
	b.ep.drain() // b's goroutine translates its request
	a.ep.drain()
	got := tb.writer("a").take()
	if len(got) != 1 {
		t.Fatalf("a got %d datagrams, want 1 PLI", len(got))
	}
	plain, err := a.recv.DecryptRTCP(nil, got[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain, pli(fbVideo, 222)) {
		t.Errorf("forwarded PLI = %x, want %x", plain, pli(fbVideo, 222))
	}
	// A second one inside the min interval is dropped; one for an unknown SSRC too.
	b.ep.receiveOne(b.protectRTCP(t, pli(0xb0b, 222)), true)
	b.ep.receiveOne(b.protectRTCP(t, pli(0xb0b, 4242)), true)
	b.ep.drain()
	if s := b.ep.Stats(); s.KeyframeRequestsForwarded != 1 || s.KeyframeRequestsDropped != 2 {
		t.Errorf("keyframe requests forwarded %d dropped %d, want 1 2", s.KeyframeRequestsForwarded, s.KeyframeRequestsDropped)
	}
}

func TestFIRBecomesPLI(t *testing.T) {
	tb, c, a, b, _ := threeParty(t)
	_, fbVideo := c.FeedbackSSRCs()
	// Receiver report (consumed) followed by a FIR for 222 in one compound packet.
	rr := []byte{0x80, 201, 0, 1, 0, 0, 0xb, 0xb}
	fir := make([]byte, 20)
	fir[0], fir[1] = 0x80|fmtFIR, rtcpPSFB
	binary.BigEndian.PutUint16(fir[2:], 4)
	binary.BigEndian.PutUint32(fir[4:], 0xb0b)
	binary.BigEndian.PutUint32(fir[12:], 222)
	fir[16] = 7
	b.ep.receiveOne(b.protectRTCP(t, append(rr, fir...)), true)
	b.ep.drain()
	a.ep.drain()
	got := tb.writer("a").take()
	if len(got) != 1 {
		t.Fatalf("a got %d datagrams, want 1", len(got))
	}
	plain, err := a.recv.DecryptRTCP(nil, got[0], nil)
	if err != nil || !bytes.Equal(plain, pli(fbVideo, 222)) {
		t.Errorf("forwarded = %x (%v), want PLI %x", plain, err, pli(fbVideo, 222))
	}
}

func TestSetSourcesReplacesAndRejectsConflicts(t *testing.T) {
	tb, _, a, b, c := threeParty(t)
	err := b.ep.SetSources([]MediaSource{videoSource("b-v0", 222)})
	if !errors.Is(err, ErrSSRCConflict) {
		t.Fatalf("SetSources with a's SSRC: err = %v, want ErrSSRCConflict", err)
	}
	if err := b.ep.SetSources([]MediaSource{{Type: 0, Name: "x", Sources: []Source{{SSRC: 5}}}}); !errors.Is(err, ErrInvalidSource) {
		t.Fatalf("bad media type: err = %v", err)
	}
	// Full replacement: a drops its audio source and adds an RTX SSRC via a FID group.
	v := videoSource("a-v0", 222)
	v.Groups = []SSRCGroup{{Semantics: "FID", SSRCs: []uint32{222, 223}}}
	if err := a.ep.SetSources([]MediaSource{v}); err != nil {
		t.Fatal(err)
	}
	if got := a.ep.Sources(); len(got) != 1 || got[0].Name != "a-v0" || len(got[0].Groups) != 1 {
		t.Errorf("Sources() = %+v", got)
	}
	settle(b, c)
	a.ep.receiveOne(a.protect(t, a.rtpPacket(111, 111, 20)), false)
	a.ep.receiveOne(a.protect(t, a.rtpPacket(223, 96, 20)), false)
	a.ep.receiveOne(a.protect(t, a.rtpPacket(222, 100, 20)), false)
	if s := a.ep.Stats(); s.DroppedUnknownSSRC != 1 || s.DroppedRTX != 1 {
		t.Errorf("removed audio SSRC: unknown drops = %d, RTX drops %d, want 1 and 1", s.DroppedUnknownSSRC, s.DroppedRTX)
	}
	for _, r := range []*client{b, c} {
		r.ep.drain()
		if n := len(tb.writer(r.ep.id).take()); n != 1 {
			t.Errorf("%s got %d, want the video packet only (RTX is not forwarded)", r.ep.id, n)
		}
	}
	// Once a leaves, b may take its SSRC.
	a.ep.Expire()
	if err := b.ep.SetSources([]MediaSource{videoSource("b-v0", 222)}); err != nil {
		t.Errorf("SSRC of an expired endpoint: %v", err)
	}
}

func TestExpiredEndpointStopsReceiving(t *testing.T) {
	tb, c, a, b, cc := threeParty(t)
	cc.ep.Expire()
	select {
	case <-cc.ep.Done():
	default:
		t.Fatal("Done not closed after Expire")
	}
	if c.Endpoint("c") != nil || len(c.Endpoints()) != 2 {
		t.Fatal("expired endpoint still listed")
	}
	a.ep.receiveOne(a.protect(t, a.rtpPacket(222, 100, 100)), false)
	b.ep.drain()
	if n := len(tb.writer("b").take()); n != 1 {
		t.Errorf("b got %d, want 1", n)
	}
	if n := cc.ep.queue.pop(); n != nil {
		t.Error("packet queued to an expired endpoint")
	}
	if err := cc.ep.SendMessage([]byte("{}")); !errors.Is(err, ErrExpired) {
		t.Errorf("SendMessage after expire: %v", err)
	}
	if !tb.transport("c").closed {
		t.Error("transport not closed")
	}
}

func TestOneServerHelloPerChannelAndEndpointMessagesAreRelayedWithTheirSender(t *testing.T) {
	tb, _, a, b, c := threeParty(t)
	for _, cl := range []*client{a, b, c} {
		endpointHandler{cl.ep}.HandleDataChannelOpen()
	}
	if m := tb.transport("a").take(); len(m) == 0 || string(m[0]) != `{"colibriClass":"ServerHello"}` {
		t.Fatalf("a's first message %q, want ServerHello", m)
	}
	for _, cl := range []*client{b, c} {
		tb.transport(cl.ep.id).take()
	}
	h := endpointHandler{a.ep}
	h.HandleDataChannelMessage([]byte(`{"colibriClass":"ClientHello"}`), true)
	h.HandleDataChannelMessage([]byte(`{"colibriClass":"EndpointMessage","to":"b","from":"c","msgPayload":{"x":1}}`), true)
	h.HandleDataChannelMessage([]byte(`{"colibriClass":"EndpointMessage","to":"","msgPayload":{"y":2}}`), true)
	h.HandleDataChannelMessage([]byte(`not json`), true)
	h.HandleDataChannelMessage([]byte(`{"colibriClass":"NoSuchClass"}`), true)
	if sent := tb.transport("a").take(); len(sent) != 0 {
		t.Errorf("a was sent %q after its ClientHello, want nothing: the channel's greeting answered it", sent)
	}
	gotB := tb.transport("b").take()
	gotC := tb.transport("c").take()
	if len(gotB) != 2 || len(gotC) != 1 {
		t.Fatalf("b got %q, c got %q; want the one-to-one and the broadcast at b, the broadcast at c", gotB, gotC)
	}
	for _, m := range append(gotB, gotC...) {
		var v struct{ From string }
		if err := json.Unmarshal(m, &v); err != nil || v.From != "a" {
			t.Errorf("relayed %s: from = %q, want a (the bridge overwrites a spoofed from)", m, v.From)
		}
	}
	s := a.ep.Stats()
	if s.DataChannelMessagesReceived != 5 || s.DataChannelMessagesMalformed != 1 || s.DataChannelMessagesUnknown != 1 {
		t.Errorf("counters: received %d malformed %d unknown %d, want 5/1/1",
			s.DataChannelMessagesReceived, s.DataChannelMessagesMalformed, s.DataChannelMessagesUnknown)
	}
}

func TestBridgeLifecycleAndStats(t *testing.T) {
	tb := newTestBridge(t, false, true)
	c, err := tb.CreateConference("m", "n")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.CreateConference("m", "n"); !errors.Is(err, ErrConferenceExists) {
		t.Errorf("duplicate conference: %v", err)
	}
	joinSecure(t, c, "x", gcm)
	if _, err := c.CreateEndpoint(EndpointConfig{ID: "x"}); !errors.Is(err, ErrEndpointExists) {
		t.Errorf("duplicate endpoint: %v", err)
	}
	joinSecure(t, c, "y", gcm)
	c2, _ := tb.CreateConference("m2", "")
	joinSecure(t, c2, "z", gcm)
	s := tb.Stats()
	if s.Conferences != 2 || s.Endpoints != 3 || s.LargestConference != 2 || s.EndpointsCreated != 3 || s.ConferencesCreated != 2 {
		t.Errorf("stats = %+v", s)
	}
	c.Expire()
	if tb.Conference("m") != nil || !c.Expired() {
		t.Error("expired conference still on the bridge")
	}
	if _, err := c.CreateEndpoint(EndpointConfig{ID: "late"}); !errors.Is(err, ErrExpired) {
		t.Errorf("endpoint in expired conference: %v", err)
	}
	s = tb.Stats()
	if s.Conferences != 1 || s.Endpoints != 1 || s.ConferencesCompleted != 1 {
		t.Errorf("after expire: %+v", s)
	}
}

// senderReport builds an SR for ssrc with one report block.
func senderReport(ssrc uint32) []byte {
	b := make([]byte, 52)
	b[0], b[1] = 0x81, rtcpSR
	binary.BigEndian.PutUint16(b[2:], 12)
	binary.BigEndian.PutUint32(b[4:], ssrc)
	for i := 8; i < 28; i++ {
		b[i] = byte(i) // NTP time, RTP time, counts
	}
	binary.BigEndian.PutUint32(b[28:], 0xdead) // report block about something a received
	return b
}

func TestSenderReportFollowsForwardedRTPWithoutReportBlocks(t *testing.T) {
	tb, _, a, b, _ := threeParty(t)
	// Before any RTP of 222 reached b, its SR is not sent to b.
	a.ep.receiveOne(a.protectRTCP(t, senderReport(222)), true)
	b.ep.drain()
	if n := len(tb.writer("b").take()); n != 0 {
		t.Fatalf("SR before RTP: b got %d datagrams", n)
	}
	a.ep.receiveOne(a.protect(t, a.rtpPacket(222, 100, 10)), false)
	a.ep.receiveOne(a.protectRTCP(t, senderReport(222)), true)
	// An SR about an SSRC a did not signal goes nowhere.
	a.ep.receiveOne(a.protectRTCP(t, senderReport(4242)), true)
	b.ep.drain()
	got := tb.writer("b").take()
	if len(got) != 2 {
		t.Fatalf("b got %d datagrams, want RTP + SR", len(got))
	}
	plain, err := b.recv.DecryptRTCP(nil, got[1], nil)
	if err != nil {
		t.Fatal(err)
	}
	want := senderReport(222)[:28]
	want[0], want[3] = 0x80, 6
	// The counts are what b got on the stream: one packet of 10 payload bytes.
	binary.BigEndian.PutUint32(want[20:], 1)
	binary.BigEndian.PutUint32(want[24:], 10)
	if !bytes.Equal(plain, want) {
		t.Errorf("forwarded SR = %x, want %x", plain, want)
	}
}

// A padding-only packet on a media SSRC (a sender probing without RTX) is not forwarded and
// is no keyframe: the next media packet follows the last forwarded one without a gap.
func TestPaddingOnAMediaSSRCIsDroppedWithoutAGap(t *testing.T) {
	tb, _, a, b, _ := threeParty(t)
	a.ep.AddPayloadTypes(meetMedia, nil) // 100 is VP8: the projection parses every payload
	vp8 := func(key bool) []byte {
		p := a.rtpPacket(222, ptVP8, 0)
		return append(p, vp8Frame(0, 0, binary.BigEndian.Uint16(p[2:4]), key)...)
	}
	first := vp8(true)
	padding := a.rtpPacket(222, ptVP8, 0)
	padding[0] |= 0x20 // P: the payload is 200 bytes of padding
	padding = append(padding, make([]byte, 199)...)
	padding = append(padding, 200)
	next := vp8(false)
	var seqs []uint16
	for _, pkt := range [][]byte{first, padding, next} {
		a.ep.receiveOne(a.protect(t, pkt), false)
		b.ep.drain()
		for _, d := range tb.writer("b").take() {
			plain := b.unprotect(t, d)
			if len(plain) <= 12 {
				t.Fatalf("b got a packet without payload: %x", plain)
			}
			seqs = append(seqs, binary.BigEndian.Uint16(plain[2:4]))
		}
	}
	if len(seqs) != 2 || seqs[1] != seqs[0]+1 {
		t.Errorf("b got sequence numbers %v, want the two media packets, consecutive", seqs)
	}
	if s := a.ep.Stats(); s.DroppedPadding != 1 || s.KeyframesReceived != 1 {
		t.Errorf("a counted %d padding drops and %d keyframes, want 1 and 1 (the first packet)", s.DroppedPadding, s.KeyframesReceived)
	}
}
