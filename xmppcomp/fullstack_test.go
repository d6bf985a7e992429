package xmppcomp_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"gojvb/bwe"
	"gojvb/colibri"
	"gojvb/sfu"
	"gojvb/sfu/transport"
	"gojvb/sfu/transport/transporttest"
	"gojvb/xmppcomp"
	"gojvb/xmppcomp/prosodytest"
)

// The full path jicofo drives: focus (prosodytest.Focus, standing in for
// jicofo) -> prosody brewery MUC -> xmppcomp -> colibri.Handler -> sfu.Bridge,
// with two pion/webrtc clients using the transports the bridge returned.

const meeting = "8a7e2f0c-meeting"

// mediaXML is the <media/> list jicofo sends with an endpoint allocation.
const mediaXML = `<media type='audio'><payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='111' name='opus' clockrate='48000' channels='2'>` +
	`<parameter name='minptime' value='10'/><parameter name='useinbandfec' value='1'/>` +
	`<rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='transport-cc'/></payload-type>` +
	`<rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='1' uri='urn:ietf:params:rtp-hdrext:ssrc-audio-level'/></media>` +
	`<media type='video'><payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='100' name='VP8' clockrate='90000'>` +
	`<rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='nack'/><rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='nack' subtype='pli'/></payload-type>` +
	`<payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='96' name='rtx' clockrate='90000'><parameter name='apt' value='100'/></payload-type></media>`

func allocateXML(ep string, createConf bool) string {
	conf := ""
	if createConf {
		conf = ` create='true' name='room@conference.meet.jitsi'`
	}
	return `<conference-modify xmlns='jitsi:colibri2' meeting-id='` + meeting + `'` + conf + `>` +
		`<endpoint id='` + ep + `' create='true' stats-id='` + ep + `-stats'>` + mediaXML +
		`<transport ice-controlling='true'/><capability name='source-names'/></endpoint></conference-modify>`
}

// sessionAcceptXML carries the client's transport (from its SDP answer)
// and its sources, like jicofo after a Jingle session-accept.
func sessionAcceptXML(ep string, d transport.Description, audioSSRC, videoSSRC uint32) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<conference-modify xmlns='jitsi:colibri2' meeting-id='%s'><endpoint id='%s'>`, meeting, ep)
	fmt.Fprintf(&b, `<transport><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='%s' pwd='%s'><rtcp-mux/>`, d.Ufrag, d.Pwd)
	for _, fp := range d.Fingerprints {
		fmt.Fprintf(&b, `<fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='%s' setup='active'>%s</fingerprint>`, fp.Hash, fp.Value)
	}
	for i, c := range d.Candidates {
		fmt.Fprintf(&b, `<candidate component='%d' foundation='%s' generation='0' id='c%d' network='0' priority='%d' protocol='%s' type='%s' ip='%s' port='%d'/>`,
			c.Component, c.Foundation, i, c.Priority, strings.ToLower(c.Protocol), c.Type, c.IP, c.Port)
	}
	b.WriteString(`</transport></transport><sources>`)
	fmt.Fprintf(&b, `<media-source type='audio' id='%s-a0'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='%d' name='%s-a0'/></media-source>`, ep, audioSSRC, ep)
	fmt.Fprintf(&b, `<media-source type='video' id='%s-v0'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='%d' name='%s-v0' videoType='camera'/></media-source>`, ep, videoSSRC, ep)
	b.WriteString(`</sources></endpoint></conference-modify>`)
	return b.String()
}

type modifiedReply struct {
	Type     string                      `xml:"type,attr"`
	Modified *colibri.ConferenceModified `xml:"jitsi:colibri2 conference-modified"`
}

func mustModified(t *testing.T, st prosodytest.Stanza) *colibri.ConferenceModified {
	t.Helper()
	var r modifiedReply
	if err := xml.Unmarshal([]byte(st.Raw), &r); err != nil {
		t.Fatalf("bad reply %s: %v", st.Raw, err)
	}
	if r.Type != "result" || r.Modified == nil {
		t.Fatalf("expected conference-modified, got %s", st.Raw)
	}
	return r.Modified
}

// client is a pion/webrtc participant.
type client struct {
	id                   string
	peer                 *transporttest.Peer
	audio, video         *webrtc.TrackLocalStaticRTP
	audioSSRC, videoSSRC uint32
	got                  map[uint32]*atomic.Int64
}

func newClient(t *testing.T, id string) *client {
	t.Helper()
	c := &client{id: id, got: map[uint32]*atomic.Int64{}}
	var err error
	if c.peer, err = transporttest.NewPeer(transporttest.PeerOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.peer.Close)
	c.audio, c.video = transporttest.OpusTrack(id), transporttest.VP8Track(id)
	if c.audioSSRC, err = c.peer.AddTrack(c.audio, nil); err != nil {
		t.Fatal(err)
	}
	if c.videoSSRC, err = c.peer.AddTrack(c.video, nil); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *client) expect(ssrcs ...uint32) {
	for _, s := range ssrcs {
		c.got[s] = &atomic.Int64{}
	}
	c.peer.OnRTP(func(_ *webrtc.TrackRemote, pkt *rtp.Packet) {
		if n, ok := c.got[pkt.SSRC]; ok {
			n.Add(1)
		}
	})
}

func (c *client) received(ssrc uint32) int64 { return c.got[ssrc].Load() }

// answer applies the bridge's offer and returns the client's ICE/DTLS
// description once gathering finished.
func (c *client) answer(t *testing.T, desc transport.Description, remote *client) transport.Description {
	t.Helper()
	offer := transporttest.OfferSDP(desc, transporttest.OfferOptions{Audio: true, Video: true, NoData: true,
		AudioSSRCs: []uint32{remote.audioSSRC}, VideoSSRCs: []uint32{remote.videoSSRC}})
	if err := c.peer.SetOffer(offer); err != nil {
		t.Fatalf("%s: %v\n%s", c.id, err, offer)
	}
	d, err := c.peer.AnswerTransport()
	if err != nil {
		t.Fatalf("%s: %v", c.id, err)
	}
	return d
}

// sendMedia writes audio and video RTP until ctx is done.
func (c *client) sendMedia(ctx context.Context) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var seq uint16
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		seq++
		for _, tr := range []*webrtc.TrackLocalStaticRTP{c.audio, c.video} {
			pt, size := uint8(111), 80
			if tr == c.video {
				pt, size = 100, 900
			}
			payload := make([]byte, size)
			payload[0] = 0x10 // VP8 descriptor: start of partition
			_ = tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq,
				Timestamp: uint32(seq) * 960}, Payload: payload})
		}
	}
}

func TestFullStackThroughProsody(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	// The clients send no ReceiverVideoConstraints: forward every source from the start.
	alloc := bwe.DefaultConfig()
	alloc.InitialMaxHeight = -1
	br, err := sfu.New(sfu.Config{
		Transport:  transport.Config{BindAddr: netip.MustParseAddr("127.0.0.1"), Readers: 2},
		Logger:     testLogger(t),
		Allocation: &alloc,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = br.Close() })
	col, err := colibri.NewHandler(colibri.Config{Bridge: colibri.NewSFUBridge(br), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = col.Close() })
	b := startBridge(t, srv, func(c *xmppcomp.Config) { c.Colibri = col })
	b.waitJoined(t, 5*time.Second)
	f := prosodytest.DialFocus(t, srv)
	ctx := ctxT(t, 60*time.Second)
	if err := f.JoinBrewery(ctx, "focus"); err != nil {
		t.Fatal(err)
	}
	nextBridgePresence(t, f, 3*time.Second, hasStats)

	ca, cb := newClient(t, "a1b2c3d4"), newClient(t, "e5f6a7b8")
	ca.expect(cb.audioSSRC, cb.videoSSRC)
	cb.expect(ca.audioSSRC, ca.videoSSRC)

	// Pipelined allocation, as jicofo does: the second create goes out
	// before the first reply.
	idA, err := f.SendIQ(ctx, occupant, "get", allocateXML(ca.id, true))
	if err != nil {
		t.Fatal(err)
	}
	idB, err := f.SendIQ(ctx, occupant, "get", allocateXML(cb.id, false))
	if err != nil {
		t.Fatal(err)
	}
	bridgeTransport := map[string]transport.Description{}
	for _, id := range []string{idA, idB} {
		res, err := f.Await(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		m := mustModified(t, res)
		if len(m.Endpoints) != 1 || m.Endpoints[0].Transport == nil || m.Endpoints[0].Transport.ICEUDP == nil {
			t.Fatalf("allocation reply without transport: %s", res.Raw)
		}
		ep := m.Endpoints[0]
		bridgeTransport[ep.ID] = ep.Transport.ICEUDP.Description()
	}
	if conf := br.Conference(meeting); conf == nil || conf.EndpointCount() != 2 {
		t.Fatalf("bridge conference after allocation: %v", conf)
	}

	descA := ca.answer(t, bridgeTransport[ca.id], cb)
	descB := cb.answer(t, bridgeTransport[cb.id], ca)
	idA, err = f.SendIQ(ctx, occupant, "get", sessionAcceptXML(ca.id, descA, ca.audioSSRC, ca.videoSSRC))
	if err != nil {
		t.Fatal(err)
	}
	idB, err = f.SendIQ(ctx, occupant, "get", sessionAcceptXML(cb.id, descB, cb.audioSSRC, cb.videoSSRC))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{idA, idB} {
		res, err := f.Await(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		mustModified(t, res)
	}

	mediaCtx, stopMedia := context.WithCancel(ctx)
	var senders sync.WaitGroup
	defer func() { stopMedia(); senders.Wait() }()
	senders.Go(func() { ca.sendMedia(mediaCtx) })
	senders.Go(func() { cb.sendMedia(mediaCtx) })
	flowing := func(what string, base map[uint32]int64) map[uint32]int64 {
		t.Helper()
		now := map[uint32]int64{}
		waitFor(t, 15*time.Second, what, func() bool {
			for _, p := range []struct {
				c    *client
				ssrc uint32
			}{{cb, ca.audioSSRC}, {cb, ca.videoSSRC}, {ca, cb.audioSSRC}, {ca, cb.videoSSRC}} {
				now[p.ssrc] = p.c.received(p.ssrc)
				if now[p.ssrc] <= base[p.ssrc]+10 {
					return false
				}
			}
			return true
		})
		return now
	}
	counts := flowing("audio and video forwarded both ways", nil)
	t.Logf("packets received per SSRC before the restart: %v", counts)

	// Prosody restarts: the bridge rejoins, conferences and media survive.
	srv.Restart()
	restarted := time.Now()
	f2 := prosodytest.DialFocus(t, srv)
	if err := f2.JoinBrewery(ctx, "focus"); err != nil {
		t.Fatal(err)
	}
	nextBridgePresence(t, f2, 5*time.Second-time.Since(restarted), hasStats)
	counts = flowing("media still forwarded after the prosody restart", counts)
	t.Logf("packets received per SSRC after the restart: %v", counts)
	res, err := f2.IQ(ctx, occupant, "get", `<conference-modify xmlns='jitsi:colibri2' meeting-id='`+meeting+`'>`+
		`<endpoint id='`+ca.id+`'><force-mute audio='false' video='false'/></endpoint></conference-modify>`)
	if err != nil {
		t.Fatal(err)
	}
	mustModified(t, res)

	// Endpoint expire: b stops receiving a's media; the conference keeps b.
	res, err = f2.IQ(ctx, occupant, "get", `<conference-modify xmlns='jitsi:colibri2' meeting-id='`+meeting+`'><endpoint id='`+ca.id+`' expire='true'/></conference-modify>`)
	if err != nil {
		t.Fatal(err)
	}
	mustModified(t, res)
	if conf := br.Conference(meeting); conf == nil || conf.EndpointCount() != 1 || conf.Endpoint(cb.id) == nil {
		t.Fatalf("after endpoint expire: %v", conf)
	}
	// Packets already in flight may still arrive, late on a loaded machine; a keeps sending every
	// 20 ms, so a bridge that still forwarded a's audio would never go quiet for 500 ms.
	var last int64
	quietSince := time.Now()
	waitFor(t, 15*time.Second, "b to stop receiving a's audio after a expired", func() bool {
		if n := cb.received(ca.audioSSRC); n != last {
			last, quietSince = n, time.Now()
		}
		return time.Since(quietSince) >= 500*time.Millisecond
	})

	// Conference expire: the meeting is gone for the next request.
	res, err = f2.IQ(ctx, occupant, "get", `<conference-modify xmlns='jitsi:colibri2' meeting-id='`+meeting+`' expire='true'/>`)
	if err != nil {
		t.Fatal(err)
	}
	mustModified(t, res)
	if conf := br.Conference(meeting); conf != nil {
		t.Fatalf("conference still present after expire: %v", conf)
	}
	res, err = f2.IQ(ctx, occupant, "get", `<conference-modify xmlns='jitsi:colibri2' meeting-id='`+meeting+`'><endpoint id='`+cb.id+`' stats-id='x'/></conference-modify>`)
	if err != nil {
		t.Fatal(err)
	}
	if cond, _ := iqError(t, res); cond != "item-not-found" || !strings.Contains(res.Raw, "conference_not_found") {
		t.Fatalf("request to an expired conference answered %s", res.Raw)
	}
}
