package main

import (
	"context"
	"encoding/xml"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"gojvb/cmd/jvb/internal/config"
	"gojvb/colibri"
	"gojvb/sfu/channel"
	"gojvb/sfu/transport"
	"gojvb/sfu/transport/transporttest"
	"gojvb/xmppcomp/prosodytest"
)

// focus is a jicofo stand-in on a real prosody: it sends COLIBRI2 to bridges' occupant JIDs
// in the brewery, shaped as jicofo's Colibri2Session builds them.
type focus struct {
	t *testing.T
	f *prosodytest.Focus
}

func (f focus) send(to, payload string) string {
	f.t.Helper()
	id, err := f.f.SendIQ(context.Background(), to, "get", payload)
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

// await returns the conference-modified answering id (failing the test on an error IQ).
func (f focus) await(id string) *colibri.ConferenceModified {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	st, err := f.f.Await(ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	var iq struct {
		CM *colibri.ConferenceModified `xml:"jitsi:colibri2 conference-modified"`
	}
	if err := xml.Unmarshal([]byte(st.Raw), &iq); err != nil || st.Type != "result" || iq.CM == nil {
		f.t.Fatalf("COLIBRI2 request failed: %v %s", err, st.Raw)
	}
	return iq.CM
}

func (f focus) do(to, payload string) *colibri.ConferenceModified {
	f.t.Helper()
	return f.await(f.send(to, payload))
}

var relayMedia = fmt.Sprintf(`<media type='audio'><payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='%d' name='opus' clockrate='48000' channels='2'/>`+
	`<rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='%d' uri='urn:ietf:params:rtp-hdrext:ssrc-audio-level'/></media>`+
	`<media type='video'><payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='%d' name='VP8' clockrate='90000'>`+
	`<rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='nack' subtype='pli'/></payload-type>`+
	`<payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='%d' name='rtx' clockrate='90000'><parameter name='apt' value='%d'/></payload-type></media>`,
	transporttest.OpusPT, transporttest.ExtAudioLevel, transporttest.VP8PT, transporttest.RTXPT, transporttest.VP8PT)

// relayClient is a pion client joined to one bridge through the focus.
type relayClient struct {
	id                   string
	pc                   *transporttest.Peer
	bridgeTransport      transport.Description
	audio, video         *webrtc.TrackLocalStaticRTP
	audioSSRC, videoSSRC uint32
	dc                   *webrtc.DataChannel

	mu       sync.Mutex
	got      map[uint32]int
	mapped   map[string]uint32 // source name -> SSRC, from VideoSourcesMap/AudioSourcesMap
	hello    bool
	changed  chan struct{}
	declared []uint32 // audio, video SSRCs the last offer declared
}

func (c *relayClient) kick() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// wait waits (with c.mu held while cond runs) until cond holds.
func (c *relayClient) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		c.mu.Lock()
		ok := cond()
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-c.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			c.mu.Lock()
			defer c.mu.Unlock()
			t.Fatalf("%s: timed out waiting for %s (got %v, mapped %v)", c.id, what, c.got, c.mapped)
		}
	}
}

// joinClient allocates endpoint id on the bridge at occupant (creating the conference when
// create), connects a pion client to it as jicofo's offer and the client's session-accept do,
// and signals the client's sources.
func joinClient(t *testing.T, f focus, occupant, meeting, id string, create, rewrite bool) *relayClient {
	t.Helper()
	conf := ""
	if create {
		conf = ` create='true' name='room@conference.meet.jitsi'`
	}
	caps := `<capability name='source-names'/>`
	if rewrite {
		caps += `<capability name='ssrc-rewriting'/>`
	}
	r := f.do(occupant, `<conference-modify xmlns='jitsi:colibri2' meeting-id='`+meeting+`'`+conf+`>`+
		`<endpoint id='`+id+`' create='true' stats-id='`+id+`-stats'>`+relayMedia+
		`<transport ice-controlling='true'><sctp/></transport><sources/>`+caps+`</endpoint></conference-modify>`)
	c := &relayClient{id: id, got: map[uint32]int{}, mapped: map[string]uint32{}, changed: make(chan struct{}, 1)}
	c.bridgeTransport = r.Endpoints[0].Transport.ICEUDP.Description()
	var err error
	if c.pc, err = transporttest.NewPeer(transporttest.PeerOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.pc.Close)
	c.pc.OnRTP(func(_ *webrtc.TrackRemote, p *rtp.Packet) {
		c.mu.Lock()
		c.got[p.SSRC]++
		c.mu.Unlock()
		c.kick()
	})
	if err := c.pc.SetOffer(transporttest.OfferSDP(c.bridgeTransport, transporttest.OfferOptions{Audio: true, Video: true})); err != nil {
		t.Fatal(err)
	}
	c.audio, c.video = transporttest.OpusTrack(id), transporttest.VP8Track(id)
	if c.audioSSRC, err = c.pc.AddTrack(c.audio, nil); err != nil {
		t.Fatal(err)
	}
	if c.videoSSRC, err = c.pc.AddTrack(c.video, nil); err != nil {
		t.Fatal(err)
	}
	proto := transport.ColibriProtocol
	if c.dc, err = c.pc.PC.CreateDataChannel("JVB data channel", &webrtc.DataChannelInit{Protocol: &proto}); err != nil {
		t.Fatal(err)
	}
	c.dc.OnOpen(func() {
		// What lib-jitsi-meet sends first: all of lastN, no app constraints yet.
		_ = c.dc.SendText(`{"colibriClass":"ReceiverVideoConstraints","lastN":-1,"assumedBandwidthBps":-1}`)
	})
	c.dc.OnMessage(func(m webrtc.DataChannelMessage) { c.message(m.Data) })
	answer, err := c.pc.AnswerTransport()
	if err != nil {
		t.Fatal(err)
	}
	accept := &colibri.ConferenceModify{MeetingID: meeting, Endpoints: []colibri.Endpoint{{
		ID: id, StatsID: id + "-stats",
		Transport: &colibri.Transport{ICEUDP: colibri.NewICEUDPTransport(answer)},
		Sources:   c.sources(),
	}}}
	raw, err := accept.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	f.do(occupant, string(raw))
	return c
}

func (c *relayClient) message(data []byte) {
	m, err := channel.Parse(data)
	if err != nil {
		return
	}
	c.mu.Lock()
	switch m := m.(type) {
	case *channel.ServerHello:
		c.hello = true
	case *channel.VideoSourcesMap:
		for _, v := range m.Mapped {
			c.mapped[v.Source] = v.SSRC
		}
	case *channel.AudioSourcesMap:
		for _, a := range m.Mapped {
			c.mapped[a.Source] = a.SSRC
		}
	}
	c.mu.Unlock()
	c.kick()
}

// sources is the client's <sources/> as jicofo signals them (session-accept, relay mirrors).
func (c *relayClient) sources() *colibri.Sources {
	return &colibri.Sources{MediaSources: []colibri.MediaSource{
		{Type: "audio", ID: c.id + "-a0", Sources: []colibri.Source{{SSRC: c.audioSSRC, Name: c.id + "-a0"}}},
		{Type: "video", ID: c.id + "-v0", Sources: []colibri.Source{{SSRC: c.videoSSRC, Name: c.id + "-v0", VideoType: "camera"}}},
	}}
}

// sourcesElement renames the marshalled Sources to the <sources/> element.
func sourcesElement(b []byte) string {
	s := string(b)
	s = strings.Replace(s, "<Sources>", "<sources>", 1)
	return strings.Replace(s, "</Sources>", "</sources>", 1)
}

// expect renegotiates so the client plays audio and video on the given SSRCs (jicofo's
// source-add, or lib-jitsi-meet's own after a source map).
func (c *relayClient) expect(t *testing.T, audio, video uint32) {
	t.Helper()
	c.mu.Lock()
	c.declared = []uint32{audio, video}
	c.mu.Unlock()
	if err := c.pc.SetOffer(transporttest.OfferSDP(c.bridgeTransport, transporttest.OfferOptions{Audio: true, Video: true,
		AudioSSRCs: []uint32{audio}, VideoSSRCs: []uint32{video}})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.pc.Answer(); err != nil {
		t.Fatal(err)
	}
}

// sendRelayMedia sends audio and video every 20 ms from each client until stop.
func sendRelayMedia(t *testing.T, clients ...*relayClient) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(1); ; seq++ {
			for _, c := range clients {
				_ = c.audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 960},
					Payload: []byte{'a', 1, 2, 3}})
				// A VP8 keyframe start every 10th frame (payload descriptor S=1, then a key frame header).
				key := byte(1)
				if seq%10 == 1 {
					key = 0
				}
				_ = c.video.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, Marker: true},
					Payload: append([]byte{0x10, key, 0, 0, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xb4, 0x00}, make([]byte, 500)...)})
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

// TestTwoBridgesRelayThroughProsody runs two of our bridges in one prosody brewery with distinct
// relay ids. A jicofo-shaped focus puts one pion client on each, creates the relay pair
// (pipelined creates, then each side's transport forwarded with setup rewritten, the endpoints
// behind each bridge mirrored), and the clients play each other's audio and video, with SSRC
// rewriting off (the focus signals remote SSRCs) and on (the bridge maps them). The endpoint
// leaving one bridge disappears on the other; expiring the relay cleans up both.
func TestTwoBridgesRelayThroughProsody(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	pf := prosodytest.DialFocus(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pf.JoinBrewery(ctx, "focus"); err != nil {
		t.Fatal(err)
	}
	bridgeEnv := func(nick, relayID string) map[string]string {
		return map[string]string{
			"XMPP_SERVER": srv.Addr(), "JVB_AUTH_PASSWORD": prosodytest.JVBPassword, "JVB_MUC_NICKNAME": nick,
			"ENABLE_OCTO": "1", "JVB_OCTO_RELAY_ID": relayID, "COLIBRI_REST_ENABLED": "true", "JVB_OCTO_REGION": "region-" + relayID,
		}
	}
	fast := func(c *config.Config) {
		c.StatsInterval, c.PresenceInterval = 100*time.Millisecond, 200*time.Millisecond
	}
	bA := startBridge(t, bridgeEnv("jvb-a", "relay-a"), fast)
	bB := startBridge(t, bridgeEnv("jvb-b", "relay-b"), fast)
	occA, occB := prosodytest.Brewery+"/jvb-a", prosodytest.Brewery+"/jvb-b"
	seen := map[string]string{}
	for len(seen) < 2 {
		select {
		case p := <-pf.Presences():
			if st, ok := p.Stats(); ok && st["relay_id"] != "" && (p.From == occA || p.From == occB) {
				seen[p.From] = st["relay_id"] + " " + st["region"]
			}
		case <-ctx.Done():
			t.Fatalf("no presence with relay_id from both bridges: %v", seen)
		}
	}
	if seen[occA] != "relay-a region-relay-a" || seen[occB] != "relay-b region-relay-b" {
		t.Fatalf("relay ids and regions in presence: %v", seen)
	}

	for _, rewrite := range []bool{false, true} {
		t.Run(fmt.Sprintf("rewriting=%v", rewrite), func(t *testing.T) {
			f := focus{t: t, f: pf}
			meeting := fmt.Sprintf("m-relay-%v", rewrite)
			ca := joinClient(t, f, occA, meeting, "a1", true, rewrite)
			cb := joinClient(t, f, occB, meeting, "b1", true, rewrite)

			// addLinkBetween: both creates pipelined, each with the other bridge's endpoints.
			mirror := func(c *relayClient, create string) string {
				return `<endpoints><endpoint id='` + c.id + `'` + create + ` stats-id='` + c.id + `-stats'><capability name='source-names'/>` +
					sourcesElement(mustXML(t, c.sources())) + `</endpoint></endpoints>`
			}
			idA := f.send(occA, `<conference-modify xmlns='jitsi:colibri2' meeting-id='`+meeting+`'><relay id='relay-b' mesh-id='0' create='true'>`+
				relayMedia+`<transport use-unique-port='true' ice-controlling='true'><sctp role='client'/></transport>`+mirror(cb, ` create='true'`)+`</relay></conference-modify>`)
			idB := f.send(occB, `<conference-modify xmlns='jitsi:colibri2' meeting-id='`+meeting+`'><relay id='relay-a' mesh-id='0' create='true'>`+
				relayMedia+`<transport><sctp role='server'/></transport>`+mirror(ca, ` create='true'`)+`</relay></conference-modify>`)
			rA, rB := f.await(idA), f.await(idB)
			for _, r := range []*colibri.ConferenceModified{rA, rB} {
				if len(r.Relays) != 1 || r.Relays[0].Transport == nil || r.Relays[0].Transport.ICEUDP == nil ||
					r.Relays[0].Transport.ICEUDP.Fingerprints[0].Setup != "actpass" {
					t.Fatalf("relay create response %+v", r)
				}
			}
			forward := func(to, id string, from *colibri.ConferenceModified, setup string) {
				ice := *from.Relays[0].Transport.ICEUDP
				ice.Fingerprints = append([]colibri.Fingerprint(nil), ice.Fingerprints...)
				for i := range ice.Fingerprints {
					ice.Fingerprints[i].Setup = setup
				}
				req := &colibri.ConferenceModify{MeetingID: meeting, Relays: []colibri.Relay{{ID: id, Transport: &colibri.Transport{ICEUDP: &ice}}}}
				f.do(to, string(mustXML(t, req)))
			}
			forward(occA, "relay-b", rB, "active")
			forward(occB, "relay-a", rA, "passive")

			stop := sendRelayMedia(t, ca, cb)
			for _, pair := range [][2]*relayClient{{ca, cb}, {cb, ca}} {
				c, other := pair[0], pair[1]
				audio, video := other.audioSSRC, other.videoSSRC
				if rewrite {
					c.wait(t, "the other bridge's sources mapped", func() bool {
						return c.mapped[other.id+"-a0"] != 0 && c.mapped[other.id+"-v0"] != 0
					})
					c.mu.Lock()
					audio, video = c.mapped[other.id+"-a0"], c.mapped[other.id+"-v0"]
					c.mu.Unlock()
				}
				c.expect(t, audio, video)
				c.wait(t, "the other client's audio and video", func() bool { return c.got[audio] >= 20 && c.got[video] >= 20 })
			}
			stop()
			if st := bA.stats(t, func(m map[string]any) bool { return m["octo_endpoints"] == float64(1) }); st["total_relays"] == float64(0) {
				t.Errorf("bridge A stats without relays: %v", st)
			}
			if code, body := bA.do(t, "GET", "/debug?full=true", ""); code != 200 ||
				!strings.Contains(body, `"relay-b":{"id":"relay-b"`) || !strings.Contains(body, `"b1":[`) {
				t.Errorf("/debug does not show the relay and b1 behind it: %d %.600s", code, body)
			}

			// b1 leaves bridge B; jicofo mirrors it to A, where it disappears.
			f.do(occB, `<conference-modify xmlns='jitsi:colibri2' meeting-id='`+meeting+`'><endpoint id='b1' expire='true'/></conference-modify>`)
			f.do(occA, `<conference-modify xmlns='jitsi:colibri2' meeting-id='`+meeting+`'><relay id='relay-b'><endpoints><endpoint id='b1' expire='true'/></endpoints></relay></conference-modify>`)
			if c := bA.sfu.Conference(meeting); c == nil || c.RemoteEndpoint("b1") != nil {
				t.Fatalf("b1 still behind A's relay (conference %v)", c)
			}
			bA.stats(t, func(m map[string]any) bool { return m["octo_endpoints"] == float64(0) })

			// Relay expire on both sides, then the conferences.
			for _, x := range [][2]string{{occA, "relay-b"}, {occB, "relay-a"}} {
				f.do(x[0], `<conference-modify xmlns='jitsi:colibri2' meeting-id='`+meeting+`'><relay id='`+x[1]+`' expire='true'/></conference-modify>`)
			}
			if c := bA.sfu.Conference(meeting); c == nil || len(c.Relays()) != 0 {
				t.Fatalf("A's relay survived its expire (conference %v)", c)
			}
			if bB.sfu.Conference(meeting) != nil {
				t.Error("B's conference outlived its last endpoint and relay")
			}
			f.do(occA, `<conference-modify xmlns='jitsi:colibri2' meeting-id='`+meeting+`' expire='true'/>`)
			if bA.sfu.Conference(meeting) != nil {
				t.Error("A's conference survived its expire")
			}
		})
	}
}

func mustXML(t *testing.T, v any) []byte {
	t.Helper()
	b, err := xml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
