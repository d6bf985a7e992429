package sfu

import (
	"encoding/binary"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/srtp/v3"

	"gojvb/bwe"
)

// Tests of what a Jitsi Meet client sees: the receiver's choice of sources (lastN, constraints,
// encodings), SSRC rewriting and its maps, sender constraints, dominant speaker, silence.

const (
	ptOpus    = 111
	ptVP8     = 100
	extLevel  = 1
	testClock = 90000
)

var meetMedia = []PayloadType{
	{Media: MediaAudio, ID: ptOpus, Name: "opus", ClockRate: 48000, Channels: 2},
	{Media: MediaVideo, ID: ptVP8, Name: "VP8", ClockRate: testClock},
}

var meetExts = []HeaderExtension{{Media: MediaAudio, ID: extLevel, URI: extAudioLevel}}

// jvbBridge is a manual-mode test bridge with JVB's allocation defaults (nothing forwarded
// before the receiver's constraints).
func jvbBridge(t *testing.T, tweak func(*bwe.Config)) (*testBridge, *Conference) {
	t.Helper()
	tb := newTestBridge(t, true, false)
	tb.alloc = bwe.DefaultConfig()
	if tweak != nil {
		tweak(&tb.alloc)
	}
	c, err := tb.CreateConference("m", "room@conference")
	if err != nil {
		t.Fatal(err)
	}
	return tb, c
}

// joinMeet joins an endpoint as Jitsi Meet would (opus + VP8, audio levels), with its bridge
// channel open.
func joinMeet(t *testing.T, c *Conference, id string, rewrite bool) *client {
	t.Helper()
	e, err := c.CreateEndpoint(EndpointConfig{ID: id, InitialLastN: -1, SSRCRewriting: rewrite,
		PayloadTypes: meetMedia, HeaderExts: meetExts})
	if err != nil {
		t.Fatal(err)
	}
	keys := testKeys(t, gcm)
	if err := e.setKeys(keys); err != nil {
		t.Fatal(err)
	}
	send, _ := srtp.CreateContext(keys.RemoteMasterKey, keys.RemoteMasterSalt, gcm)
	recv, _ := srtp.CreateContext(keys.LocalMasterKey, keys.LocalMasterSalt, gcm)
	endpointHandler{e}.HandleDataChannelOpen()
	return &client{ep: e, send: send, recv: recv}
}

// simulcastSource is a 3-encoding VP8 source with RTX: SSRCs base, base+1, base+2 (+10 for RTX).
func simulcastSource(name string, base uint32) MediaSource {
	m := MediaSource{Type: MediaVideo, Name: name,
		Groups: []SSRCGroup{{Semantics: "SIM", SSRCs: []uint32{base, base + 1, base + 2}}}}
	for i := uint32(0); i < 3; i++ {
		m.Sources = append(m.Sources, Source{SSRC: base + i, Name: name}, Source{SSRC: base + 10 + i, Name: name})
		m.Groups = append(m.Groups, SSRCGroup{Semantics: "FID", SSRCs: []uint32{base + i, base + 10 + i}})
	}
	return m
}

// vp8 builds a VP8 RTP packet: a keyframe start or an interframe.
func (cl *client) vp8(ssrc uint32, seq uint16, ts uint32, keyframe bool) []byte {
	p := make([]byte, 12, 12+200)
	p[0], p[1] = 0x80, ptVP8
	binary.BigEndian.PutUint16(p[2:], seq)
	binary.BigEndian.PutUint32(p[4:], ts)
	binary.BigEndian.PutUint32(p[8:], ssrc)
	p = append(p, 0x10) // S: start of partition 0
	if keyframe {
		p = append(p, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01) // 640x360
	} else {
		p = append(p, 0x11, 0x02, 0x00)
	}
	return append(p, make([]byte, 100)...)
}

// opus builds an audio packet with an ssrc-audio-level extension (RFC 6464 level).
func (cl *client) opus(ssrc uint32, seq uint16, level uint8) []byte {
	p := make([]byte, 12, 60)
	p[0], p[1] = 0x90, ptOpus // X bit
	binary.BigEndian.PutUint16(p[2:], seq)
	binary.BigEndian.PutUint32(p[4:], uint32(seq)*960)
	binary.BigEndian.PutUint32(p[8:], ssrc)
	p = append(p, 0xbe, 0xde, 0, 1, extLevel<<4, 0x80|level, 0, 0)
	return append(p, make([]byte, 40)...)
}

// sent decodes what the receiver got: RTP SSRC/seq/ts per datagram.
type sentRTP struct {
	ssrc uint32
	seq  uint16
	ts   uint32
}

func (cl *client) rtpOut(t *testing.T, tb *testBridge) []sentRTP {
	t.Helper()
	cl.ep.drain()
	var out []sentRTP
	for _, d := range tb.writer(cl.ep.id).take() {
		if d[1] >= 192 && d[1] <= 223 {
			continue // RTCP
		}
		p := cl.unprotect(t, d)
		out = append(out, sentRTP{binary.BigEndian.Uint32(p[8:]), binary.BigEndian.Uint16(p[2:]), binary.BigEndian.Uint32(p[4:])})
	}
	return out
}

// messages returns the bridge-channel messages sent to cl of one class, decoded.
func messages(tb *testBridge, cl *client, class string) []map[string]any {
	var out []map[string]any
	for _, m := range tb.transport(cl.ep.id).sent() {
		var v map[string]any
		if json.Unmarshal(m, &v) == nil && v["colibriClass"] == class {
			out = append(out, v)
		}
	}
	return out
}

func forwardedSources(tb *testBridge, cl *client) []string {
	ms := messages(tb, cl, "ForwardedSources")
	if len(ms) == 0 {
		return nil
	}
	var names []string
	for _, n := range ms[len(ms)-1]["forwardedSources"].([]any) {
		names = append(names, n.(string))
	}
	return names
}

func (cl *client) say(msg string) {
	endpointHandler{cl.ep}.HandleDataChannelMessage([]byte(msg), true)
}

func TestNoVideoBeforeReceiverConstraintsThenThumbnails(t *testing.T) {
	tb, c := jvbBridge(t, nil)
	a := joinMeet(t, c, "a", false)
	r := joinMeet(t, c, "r", false)
	if err := a.ep.SetSources([]MediaSource{audioSource("a-a0", 1), videoSource("a-v0", 2)}); err != nil {
		t.Fatal(err)
	}
	settle(a, r)
	a.ep.receiveOne(a.protect(t, a.opus(1, 1, 30)), false)
	a.ep.receiveOne(a.protect(t, a.vp8(2, 1, 3000, true)), false)
	if got := r.rtpOut(t, tb); len(got) != 1 || got[0].ssrc != 1 {
		t.Fatalf("before constraints r got %v, want the audio packet only", got)
	}
	if fs := forwardedSources(tb, r); len(fs) != 0 {
		t.Errorf("ForwardedSources before constraints = %v, want []", fs)
	}
	// The first constraints without defaultConstraints make the default 180p.
	r.say(`{"colibriClass":"ReceiverVideoConstraints","lastN":-1}`)
	settle(r)
	a.ep.receiveOne(a.protect(t, a.vp8(2, 2, 6000, true)), false)
	if got := r.rtpOut(t, tb); len(got) != 1 || got[0].ssrc != 2 {
		t.Fatalf("after constraints r got %v, want a's video on its primary SSRC", got)
	}
	if fs := forwardedSources(tb, r); !slices.Equal(fs, []string{"a-v0"}) {
		t.Errorf("ForwardedSources = %v, want [a-v0]", fs)
	}
	// a is told the largest height anyone wants of a-v0.
	sc := messages(tb, a, "SenderSourceConstraints")
	if len(sc) == 0 || sc[len(sc)-1]["sourceName"] != "a-v0" || sc[len(sc)-1]["maxHeight"] != float64(180) {
		t.Errorf("SenderSourceConstraints to a = %v, want a-v0 180", sc)
	}
}

func TestMaxHeight180OfThreeEncodingsGetsTheLowOnly(t *testing.T) {
	tb, c := jvbBridge(t, nil)
	a := joinMeet(t, c, "a", false)
	r := joinMeet(t, c, "r", false)
	if err := a.ep.SetSources([]MediaSource{simulcastSource("a-v0", 100)}); err != nil {
		t.Fatal(err)
	}
	r.say(`{"colibriClass":"ReceiverVideoConstraints","lastN":-1,"defaultConstraints":{"maxHeight":180}}`)
	settle(a, r)
	for i := uint16(0); i < 5; i++ {
		for enc := uint32(0); enc < 3; enc++ {
			a.ep.receiveOne(a.protect(t, a.vp8(100+enc, 10+i, 3000*uint32(i), i == 0)), false)
		}
	}
	got := r.rtpOut(t, tb)
	if len(got) != 5 {
		t.Fatalf("r got %d packets, want the 5 of the low encoding", len(got))
	}
	for i, p := range got {
		if p.ssrc != 100 || p.seq != 10+uint16(i) {
			t.Errorf("packet %d = %+v, want SSRC 100 seq %d", i, p, 10+i)
		}
	}
	if s := a.ep.Stats(); s.DroppedQueueFull != 0 {
		t.Errorf("queue drops %d", s.DroppedQueueFull)
	}
	// 720p: the high encoding from its next keyframe on, continuing the same stream.
	r.say(`{"colibriClass":"ReceiverVideoConstraints","defaultConstraints":{"maxHeight":720}}`)
	settle(r)
	a.ep.receiveOne(a.protect(t, a.vp8(102, 15, 15000, false)), false) // not a keyframe: dropped
	a.ep.receiveOne(a.protect(t, a.vp8(100, 15, 15000, false)), false) // low until the switch
	a.ep.receiveOne(a.protect(t, a.vp8(102, 16, 18000, true)), false)
	a.ep.receiveOne(a.protect(t, a.vp8(100, 16, 18000, true)), false) // after the switch: dropped
	got = r.rtpOut(t, tb)
	if len(got) != 2 || got[0].seq != 15 || got[1].ssrc != 100 || got[1].seq != 16 {
		t.Fatalf("switch to 720p: r got %+v, want low seq 15 then high as SSRC 100 seq 16", got)
	}
	// The projection asked a for a keyframe of the high encoding.
	a.ep.drain()
	if n := len(tb.writer("a").take()); n == 0 {
		t.Error("no keyframe request reached a")
	}
}

func TestLastNOneForwardsTheDominantSpeakersVideoOnly(t *testing.T) {
	tb, c := jvbBridge(t, nil)
	a := joinMeet(t, c, "a", false)
	b := joinMeet(t, c, "b", false)
	r := joinMeet(t, c, "r", false)
	for i, cl := range []*client{a, b} {
		base := uint32(10 * (i + 1))
		if err := cl.ep.SetSources([]MediaSource{audioSource(cl.ep.id+"-a0", base), videoSource(cl.ep.id+"-v0", base+1)}); err != nil {
			t.Fatal(err)
		}
	}
	r.say(`{"colibriClass":"ReceiverVideoConstraints","lastN":1,"defaultConstraints":{"maxHeight":180}}`)
	settle(a, b, r)
	speak := func(who *client, ssrc uint32) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for seq := uint16(1); ; seq++ {
			// a speaking voice: levels that vary (a constant level is the detector's noise floor)
			who.ep.receiveOne(who.protect(t, who.opus(ssrc, seq, uint8(15+seq%20))), false)
			ds := messages(tb, r, "DominantSpeakerEndpointChangeEvent")
			if len(ds) > 0 && ds[len(ds)-1]["dominantSpeakerEndpoint"] == who.ep.id {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never became the dominant speaker (events %v)", who.ep.id, ds)
			}
			time.Sleep(20 * time.Millisecond) // 20 ms audio frames in real time: the detector's input
		}
	}
	for _, who := range []struct {
		cl         *client
		audio, vid uint32
	}{{b, 20, 21}, {a, 10, 11}} {
		speak(who.cl, who.audio)
		settle(r)
		r.rtpOut(t, tb) // audio so far
		a.ep.receiveOne(a.protect(t, a.vp8(11, 1, 3000, true)), false)
		b.ep.receiveOne(b.protect(t, b.vp8(21, 1, 3000, true)), false)
		got := r.rtpOut(t, tb)
		if len(got) != 1 || got[0].ssrc != who.vid {
			t.Errorf("with %s speaking r got %+v, want only SSRC %d", who.cl.ep.id, got, who.vid)
		}
		if fs := forwardedSources(tb, r); !slices.Equal(fs, []string{who.cl.ep.id + "-v0"}) {
			t.Errorf("with %s speaking ForwardedSources = %v", who.cl.ep.id, fs)
		}
	}
	ds := messages(tb, r, "DominantSpeakerEndpointChangeEvent")
	if prev := ds[len(ds)-1]["previousSpeakers"]; len(prev.([]any)) != 1 || prev.([]any)[0] != "b" {
		t.Errorf("previousSpeakers = %v, want [b]", prev)
	}
}

func TestSSRCRewritingAnnouncesMapsAndKeepsStreamsContinuous(t *testing.T) {
	tb, c := jvbBridge(t, func(cfg *bwe.Config) { cfg.SSRCLimitVideo = 1 })
	a := joinMeet(t, c, "a", false)
	b := joinMeet(t, c, "b", false)
	r := joinMeet(t, c, "r", true)
	if err := a.ep.SetSources([]MediaSource{audioSource("a-a0", 10), videoSource("a-v0", 11)}); err != nil {
		t.Fatal(err)
	}
	if err := b.ep.SetSources([]MediaSource{videoSource("b-v0", 21)}); err != nil {
		t.Fatal(err)
	}
	r.say(`{"colibriClass":"ReceiverVideoConstraints","lastN":-1,"defaultConstraints":{"maxHeight":180},"selectedSources":["a-v0"]}`)
	settle(a, b, r)

	// Audio: mapped on its first packet, announced before it is sent.
	a.ep.receiveOne(a.protect(t, a.opus(10, 500, 30)), false)
	got := r.rtpOut(t, tb)
	am := messages(tb, r, "AudioSourcesMap")
	if len(am) != 1 || len(got) != 1 {
		t.Fatalf("audio: %d maps, %d packets", len(am), len(got))
	}
	m := am[0]["mappedSources"].([]any)[0].(map[string]any)
	if m["source"] != "a-a0" || m["owner"] != "a" || uint32(m["ssrc"].(float64)) != got[0].ssrc || got[0].ssrc == 10 {
		t.Errorf("audio map %v, packet SSRC %d: want a-a0 of a on a bridge SSRC", m, got[0].ssrc)
	}

	// Video: the one slot (ssrc-limit 1 caps lastN at 1) is a-v0's, the selected source.
	vm := messages(tb, r, "VideoSourcesMap")
	if len(vm) != 1 {
		t.Fatalf("video maps: %v", vm)
	}
	slot := vm[0]["mappedSources"].([]any)[0].(map[string]any)
	slotSSRC := uint32(slot["ssrc"].(float64))
	if slot["source"] != "a-v0" || slot["rtx"] == nil || slotSSRC == 11 || slotSSRC == 21 {
		t.Fatalf("video map %v", slot)
	}
	for i := uint16(0); i < 3; i++ {
		a.ep.receiveOne(a.protect(t, a.vp8(11, 100+i, 3000*uint32(i), i == 0)), false)
	}
	got = r.rtpOut(t, tb)
	if len(got) != 3 || got[0].ssrc != slotSSRC || got[2].seq != 102 {
		t.Fatalf("a's video on the slot: %+v", got)
	}
	// Selecting b instead remaps the slot: announced, and b's stream continues the slot's
	// numbering from its first keyframe on.
	r.say(`{"colibriClass":"ReceiverVideoConstraints","selectedSources":["b-v0"]}`)
	settle(r)
	vm = messages(tb, r, "VideoSourcesMap")
	if len(vm) != 2 {
		t.Fatalf("after selecting b: %d video maps", len(vm))
	}
	slot = vm[1]["mappedSources"].([]any)[0].(map[string]any)
	if slot["source"] != "b-v0" || slot["owner"] != "b" || uint32(slot["ssrc"].(float64)) != slotSSRC {
		t.Errorf("remap %v, want b-v0 on SSRC %d", slot, slotSSRC)
	}
	b.ep.receiveOne(b.protect(t, b.vp8(21, 7000, 90000, false)), false) // no keyframe yet: dropped
	b.ep.receiveOne(b.protect(t, b.vp8(21, 7001, 93000, true)), false)
	b.ep.receiveOne(b.protect(t, b.vp8(21, 7002, 93000, false)), false)
	got = r.rtpOut(t, tb)
	if len(got) != 2 || got[0].ssrc != slotSSRC || got[0].seq != 103 || got[1].seq != 104 || got[0].ts <= 6000 {
		t.Fatalf("b on the slot: %+v, want seq 103, 104 after a's 102 and a later timestamp", got)
	}
	// r's PLI for the slot SSRC reaches b for its own SSRC.
	r.ep.receiveOne(r.protectRTCP(t, pli(0x77, slotSSRC)), true)
	r.ep.drain()
	b.ep.drain()
	var plis []uint32
	for _, d := range tb.writer("b").take() {
		if p, err := b.recv.DecryptRTCP(nil, d, nil); err == nil && p[1] == rtcpPSFB {
			plis = append(plis, binary.BigEndian.Uint32(p[8:12]))
		}
	}
	if !slices.Contains(plis, 21) {
		t.Errorf("PLIs at b name %v, want 21", plis)
	}
	// The channel reopening resends every mapping.
	endpointHandler{r.ep}.HandleDataChannelOpen()
	settle(r)
	if n := len(messages(tb, r, "VideoSourcesMap")); n != 3 {
		t.Errorf("after reopening: %d video maps, want 3", n)
	}
}

func TestSilenceIsDiscardedAfterThreeAndRenumbered(t *testing.T) {
	tb, c := jvbBridge(t, nil)
	a := joinMeet(t, c, "a", false)
	r := joinMeet(t, c, "r", false)
	if err := a.ep.SetSources([]MediaSource{audioSource("a-a0", 1)}); err != nil {
		t.Fatal(err)
	}
	settle(a, r)
	levels := []uint8{30, 127, 127, 127, 127, 127, 40, 50}
	for i, l := range levels {
		a.ep.receiveOne(a.protect(t, a.opus(1, uint16(100+i), l)), false)
	}
	got := r.rtpOut(t, tb)
	if len(got) != 6 {
		t.Fatalf("r got %d packets, want 6 (the 4th and 5th silent ones discarded)", len(got))
	}
	for i, p := range got {
		if p.seq != uint16(100+i) {
			t.Errorf("packet %d has seq %d, want %d (no gap)", i, p.seq, 100+i)
		}
	}
	if s := a.ep.Stats(); s.DroppedSilence != 2 {
		t.Errorf("silence drops %d, want 2", s.DroppedSilence)
	}
}

func TestHostileBridgeChannelInputIsBoundedAndCounted(t *testing.T) {
	tb, c := jvbBridge(t, nil)
	a := joinMeet(t, c, "a", false)
	b := joinMeet(t, c, "b", false)
	for range 1000 {
		a.say(`{"colibriClass":"EndpointMessage","to":"","msgPayload":{"spam":true}}`)
	}
	got := len(messages(tb, b, "EndpointMessage"))
	if got == 0 || got > endpointMessageBurst+10 {
		t.Errorf("b got %d of a's 1000 messages, want at most about the burst (%d)", got, endpointMessageBurst)
	}
	a.say(`{"colibriClass":"ReceiverVideoConstraints","selectedSources":["nobody-v0"],"constraints":{"x":{"maxHeight":720}}}`)
	a.say(strings.Repeat("[", 100000))
	a.say(`{"colibriClass":"EndpointMessage","to":"nobody","msgPayload":{}}`)
	settle(a)
	s := a.ep.Stats()
	if s.DataChannelMessagesDropped < 1000-endpointMessageBurst-10 || s.DataChannelMessagesMalformed != 1 {
		t.Errorf("dropped %d malformed %d", s.DataChannelMessagesDropped, s.DataChannelMessagesMalformed)
	}
}
