package standalone

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"gojvb/sfu/transport/transporttest"
)

// pionPeer is an independent WebRTC client (pion) that joins a room through the focus's HTTP
// protocol like the page does, without SSRC rewriting (it learns sources from offers). It opens
// the bridge channel and asks for every source at 180p (nothing is forwarded before that). It re-sends the first remote video and audio it receives as its
// own tracks (so browsers have a real VP8/Opus stream from it to decode), counts what it gets
// per remote owner and checks VP8 key frame headers.
type pionPeer struct {
	t      *testing.T
	base   string
	peer   *transporttest.Peer
	ep     string
	token  string
	audio  *webrtc.TrackLocalStaticRTP
	video  *webrtc.TrackLocalStaticRTP
	ctx    context.Context
	cancel context.CancelFunc

	rewriting bool // asks the focus for SSRC rewriting (set before join; media maps are not handled)

	mu        sync.Mutex
	version   int
	roster    []string // participants of the latest offer
	mids      map[string]midInfo
	got       map[string]*received // by owner endpoint id
	echoFrom  string               // owner whose media is re-sent ("" = whoever arrives first)
	echoVideo uint32               // SSRC whose packets are re-sent as our video
	echoAudio uint32
	remoteErr error
}

type midInfo struct{ owner, source, kind string }

type received struct {
	AudioPackets, VideoPackets int
	KeyFrames                  int // VP8 key frames with a valid start code and size
	Width, Height              int
}

func newPionPeer(t *testing.T, base string) *pionPeer {
	t.Helper()
	tp, err := transporttest.NewPeer(transporttest.PeerOptions{Interceptors: true, MaxBundle: true})
	if err != nil {
		t.Fatal(err)
	}
	p := &pionPeer{t: t, base: base, peer: tp, got: map[string]*received{}, mids: map[string]midInfo{}}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.audio, p.video = transporttest.OpusTrack("pion"), transporttest.VP8Track("pion")
	tp.OnTrack(p.onTrack)
	t.Cleanup(p.close)
	return p
}

func (p *pionPeer) post(path string, body, out any) error {
	b, _ := json.Marshal(body)
	resp, err := http.Post(p.base+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// join joins room, answers the first offer and starts the long-poll loop.
func (p *pionPeer) join(room string) error {
	var jr joinResponse
	if err := p.post("/api/join", joinRequest{Room: room, SSRCRewriting: p.rewriting}, &jr); err != nil {
		return err
	}
	p.ep, p.token = jr.EndpointID, jr.Token
	if err := p.applyOffer(jr.Offer, true); err != nil {
		return err
	}
	p.peer.Go(p.pollLoop)
	p.peer.Go(p.pliLoop)
	return nil
}

func (p *pionPeer) applyOffer(o offerMessage, first bool) error {
	if err := p.peer.SetOffer(o.SDP); err != nil {
		return err
	}
	p.mu.Lock()
	p.mids = parseOfferMids(o.SDP)
	p.roster = o.Participants
	p.mu.Unlock()
	if first {
		for _, tr := range []*webrtc.TrackLocalStaticRTP{p.audio, p.video} {
			if _, err := p.peer.AddTrack(tr, p.senderRTCP); err != nil {
				return err
			}
		}
		if err := p.openBridgeChannel(); err != nil {
			return err
		}
	}
	answer, err := p.peer.Answer()
	if err != nil {
		return err
	}
	err = p.post("/api/answer", answerRequest{EndpointID: p.ep, Token: p.token, Version: o.Version,
		SDP: answer}, nil)
	if err == nil {
		p.mu.Lock()
		p.version = o.Version
		p.mu.Unlock()
	}
	return err
}

// openBridgeChannel creates the bridge channel like the page does; once it is open it sends the
// tile-view ReceiverVideoConstraints.
func (p *pionPeer) openBridgeChannel() error {
	protocol := "http://jitsi.org/protocols/colibri"
	dc, err := p.peer.PC.CreateDataChannel("JVB data channel", &webrtc.DataChannelInit{Protocol: &protocol})
	if err != nil {
		return fmt.Errorf("bridge channel: %w", err)
	}
	dc.OnOpen(func() {
		err := dc.SendText(`{"colibriClass":"ReceiverVideoConstraints","lastN":-1,"defaultConstraints":{"maxHeight":180}}`)
		if err != nil {
			p.setErr(fmt.Errorf("send ReceiverVideoConstraints: %w", err))
		}
	})
	return nil
}

func (p *pionPeer) pollLoop() {
	for p.ctx.Err() == nil {
		p.mu.Lock()
		url := fmt.Sprintf("%s/api/offer?endpoint=%s&token=%s&after=%d", p.base, p.ep, p.token, p.version)
		p.mu.Unlock()
		req, _ := http.NewRequestWithContext(p.ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		var o offerMessage
		status := resp.StatusCode
		if status == http.StatusOK {
			err = json.NewDecoder(resp.Body).Decode(&o)
		}
		resp.Body.Close()
		switch {
		case status == http.StatusOK && err == nil:
			if err := p.applyOffer(o, false); err != nil {
				p.setErr(err)
			}
		case status == http.StatusNoContent:
		default:
			if p.ctx.Err() == nil {
				p.setErr(fmt.Errorf("long-poll: HTTP %d", status))
			}
			return
		}
	}
}

func (p *pionPeer) setErr(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.remoteErr == nil {
		p.remoteErr = err
	}
}

// pliLoop asks every remote video sender for key frames once a second, like a receiver that
// has just started decoding.
func (p *pionPeer) pliLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
		var pkts []rtcp.Packet
		for _, tr := range p.peer.PC.GetTransceivers() {
			if r := tr.Receiver(); r != nil && tr.Kind() == webrtc.RTPCodecTypeVideo {
				for _, track := range r.Tracks() {
					if track.SSRC() != 0 {
						pkts = append(pkts, &rtcp.PictureLossIndication{MediaSSRC: uint32(track.SSRC())})
					}
				}
			}
		}
		if len(pkts) > 0 {
			_ = p.peer.PC.WriteRTCP(pkts)
		}
	}
}

// senderRTCP handles RTCP for one of our tracks; a PLI for our (echoed) video goes upstream to
// the browser we echo.
func (p *pionPeer) senderRTCP(pkts []rtcp.Packet) {
	for _, pkt := range pkts {
		switch pkt.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			p.mu.Lock()
			src := p.echoVideo
			p.mu.Unlock()
			if src != 0 {
				_ = p.peer.PC.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: src}})
			}
		}
	}
}

func (p *pionPeer) onTrack(track *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	owner := ""
	p.mu.Lock()
	for _, tr := range p.peer.PC.GetTransceivers() {
		if tr.Receiver() == r {
			owner = p.mids[tr.Mid()].owner
		}
	}
	if owner == "" {
		owner = track.StreamID()
	}
	video := track.Kind() == webrtc.RTPCodecTypeVideo
	echo := false
	if p.echoFrom == "" || p.echoFrom == owner {
		if video && p.echoVideo == 0 {
			p.echoVideo, echo = uint32(track.SSRC()), true
		}
		if !video && p.echoAudio == 0 {
			p.echoAudio, echo = uint32(track.SSRC()), true
		}
	}
	if p.got[owner] == nil {
		p.got[owner] = &received{}
	}
	st := p.got[owner]
	p.mu.Unlock()
	var vp8 codecs.VP8Packet
	for {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			return
		}
		p.mu.Lock()
		if video {
			st.VideoPackets++
			if w, h, ok := vp8KeyFrame(&vp8, pkt); ok {
				st.KeyFrames++
				st.Width, st.Height = w, h
			}
		} else {
			st.AudioPackets++
		}
		p.mu.Unlock()
		if echo {
			out := p.audio
			if video {
				out = p.video
			}
			_ = out.WriteRTP(pkt)
		}
	}
}

// vp8KeyFrame reports whether pkt starts a VP8 key frame whose header (start code 9d 01 2a) is
// intact, with its dimensions.
func vp8KeyFrame(vp8 *codecs.VP8Packet, pkt *rtp.Packet) (w, h int, ok bool) {
	payload, err := vp8.Unmarshal(pkt.Payload)
	if err != nil || vp8.S != 1 || vp8.PID != 0 || len(payload) < 10 || payload[0]&1 != 0 {
		return 0, 0, false
	}
	if payload[3] != 0x9d || payload[4] != 0x01 || payload[5] != 0x2a {
		return 0, 0, false
	}
	w = int(payload[6]) | int(payload[7]&0x3f)<<8
	h = int(payload[8]) | int(payload[9]&0x3f)<<8
	return w, h, w > 0 && h > 0
}

func (p *pionPeer) snapshot() (map[string]received, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]received{}
	for k, v := range p.got {
		out[k] = *v
	}
	return out, p.remoteErr
}

func (p *pionPeer) leave() error {
	return p.post("/api/leave", leaveRequest{EndpointID: p.ep, Token: p.token}, nil)
}

func (p *pionPeer) close() {
	p.cancel()
	p.peer.Close()
}

// parseOfferMids maps each m-line's mid to the owner/source of its a=msid.
func parseOfferMids(sdp string) map[string]midInfo {
	out := map[string]midInfo{}
	var cur midInfo
	mid := ""
	flush := func() {
		if mid != "" {
			out[mid] = cur
		}
	}
	for line := range strings.Lines(sdp) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "m="):
			flush()
			mid, cur = "", midInfo{kind: strings.Fields(line[2:])[0]}
		case strings.HasPrefix(line, "a=mid:"):
			mid = line[6:]
		case strings.HasPrefix(line, "a=msid:"):
			f := strings.Fields(line[7:])
			if len(f) == 2 {
				cur.owner, cur.source = f[0], f[1]
			}
		}
	}
	flush()
	return out
}

var errNotYet = errors.New("not yet")

// waitFor polls cond every 250 ms until it returns nil or d elapses; then it fails with the
// last error.
func waitFor(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for {
		if err = cond(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v: %v", what, d, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// quietFor polls sample every 250 ms until it returned the same value for window, and fails if
// that does not happen within d. Traffic that is still being forwarded never goes quiet; packets
// that were merely in flight when the sender was removed do, however late they arrive.
func quietFor[T comparable](t *testing.T, d, window time.Duration, what string, sample func() (T, error)) {
	t.Helper()
	deadline := time.Now().Add(d)
	var last T
	var since time.Time
	for {
		v, err := sample()
		switch {
		case err != nil:
			since = time.Time{}
		case since.IsZero() || v != last:
			last, since = v, time.Now()
		case time.Since(since) >= window:
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still changing after %v (last %+v, err %v)", what, d, last, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
