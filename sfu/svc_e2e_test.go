package sfu

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"

	"gojvb/simulcast"
)

// Integration tests of layer switching for VP8, VP9 and AV1 (issue 10): real pion clients on
// loopback, a bridge with JVB's allocation defaults, receivers without SSRC rewriting that play
// the sender's video on its primary SSRC. The clients are in svc_peer_test.go. No receiver
// sends a bandwidth estimate, so each gets its constraint's ideal layer (every temporal layer).

// svcSimulcast is a three-encoding simulcast stream with three temporal layers each.
func svcSimulcast(codec string) svcStream {
	return svcStream{codec: codec, encs: 3, spatial: 1, temporal: 3,
		sizes: [][2]int{{320, 180}, {640, 360}, {1280, 720}}, keyEvery: 15}
}

// A receiver asking maxHeight 180 of a three-encoding simulcast sender with temporal layers
// (VP8, VP9 and AV1 with the Dependency Descriptor) gets only the low encoding, every temporal
// layer of it, starting at a keyframe; asking 720 moves it to the high encoding at a keyframe
// (the AV1 one carrying its template structure) with no discontinuity: consecutive sequence
// numbers, increasing timestamps, consecutive picture IDs and TL0PICIDX (VP8, VP9) or
// frame_number (AV1), markers at picture ends. An on-stage receiver meanwhile gets the high
// encoding with the same guarantees.
func TestSimulcastThumbnailSwitchesUpAtKeyframe(t *testing.T) {
	for _, codec := range []string{"VP8", "VP9", "AV1"} {
		t.Run(codec, func(t *testing.T) {
			s := svcSimulcast(codec)
			b := newJVBDefaultsBridge(t)
			conf, err := b.CreateConference("meeting-sim-"+codec, "sim@conference.example")
			if err != nil {
				t.Fatal(err)
			}
			sender := joinSVC(t, conf, "p0", s)
			thumb := joinSVC(t, conf, "p1", svcStream{})
			stage := joinSVC(t, conf, "p2", svcStream{})
			connectSVC(t, sender, thumb, stage)
			thumb.sendJSON(t, `{"colibriClass":"ReceiverVideoConstraints","lastN":-1,"defaultConstraints":{"maxHeight":180}}`)
			stage.sendJSON(t, `{"colibriClass":"ReceiverVideoConstraints","lastN":-1,"onStageSources":["p0-v0"],`+
				`"defaultConstraints":{"maxHeight":180},"constraints":{"p0-v0":{"maxHeight":720}}}`)
			stop := startSVC(t, sender)
			ssrc := sender.ssrcs[0]

			perEnc := func(p *svcPeer, enc int) int {
				n := 0
				for _, r := range p.rx[ssrc] {
					if bi, ok := readBody(r.payload); ok && bi.enc == enc {
						n++
					}
				}
				return n
			}
			thumb.wait(t, "120 packets of the low encoding", func() bool { return perEnc(thumb, 0) >= 120 })
			stage.wait(t, "120 packets of the high encoding", func() bool { return perEnc(stage, 2) >= 120 })
			before := len(thumb.packets(ssrc))
			thumb.sendJSON(t, `{"colibriClass":"ReceiverVideoConstraints","lastN":-1,"defaultConstraints":{"maxHeight":180},`+
				`"constraints":{"p0-v0":{"maxHeight":720}}}`)
			thumb.wait(t, "120 packets of the high encoding", func() bool { return perEnc(thumb, 2) >= 120 })
			stop()

			got := thumb.packets(ssrc)
			a := analyse(t, "p1", s, got)
			if a.switches != 1 || a.order[0] != 0 || a.order[1] != 2 {
				t.Errorf("p1 got encodings in order %v, want [0 2]", a.order)
			}
			if a.firstOf[2] < before {
				t.Errorf("p1 got the high encoding at packet %d, before it asked for 720 (%d packets)", a.firstOf[2], before)
			}
			if a.perEnc[0] < 120 || a.perEnc[1] != 0 {
				t.Errorf("p1 packets by encoding %v", a.perEnc)
			}
			for _, enc := range []int{0, 2} {
				for tid := range 3 {
					if a.layers[[3]int{enc, 0, tid}] == 0 {
						t.Errorf("p1 got no packet of encoding %d temporal layer %d (unlimited budget)", enc, tid)
					}
				}
			}
			st := analyse(t, "p2", s, stage.packets(ssrc))
			if last := st.order[len(st.order)-1]; last != 2 || st.perEnc[2] < 120 {
				t.Errorf("p2 (on stage) got encodings in order %v (%v packets)", st.order, st.perEnc)
			}
			checkNoBadMessages(t, sender, thumb, stage)
		})
	}
}

// svcLayered is a sender of one SSRC with spatial and temporal layers: VP9 L3T3 or AV1 L2T2.
func svcLayered(codec string) svcStream {
	if codec == "AV1" {
		return svcStream{codec: codec, encs: 1, spatial: 2, temporal: 2,
			sizes: [][2]int{{640, 360}, {1280, 720}}, keyEvery: 30}
	}
	return svcStream{codec: codec, encs: 1, spatial: 3, temporal: 3,
		sizes: [][2]int{{320, 180}, {640, 360}, {1280, 720}}, keyEvery: 30}
}

// SVC in one SSRC (VP9 L3T3 in non-flexible mode, AV1 L2T2 with the Dependency Descriptor):
// the allocator sees each spatial layer with the height its keyframe's structure declares, so a
// thumbnail receiver (maxHeight 180) gets spatial layer 0 only and an on-stage receiver (720)
// every layer; both streams are valid: starting at the keyframe (with the VP9 scalability
// structure or the AV1 template structure), consecutive sequence numbers, increasing
// timestamps, the marker on the last packet of the top forwarded spatial layer of every picture
// (VP9: with the E bit; AV1: the descriptor's end_of_frame), consecutive picture IDs and
// TL0PICIDX, or AV1 frame numbers stepping as the sender's with descriptors that decode to the
// layers sent under the structure the receiver got.
func TestSVCInOneSSRCThumbnailGetsTheBaseSpatialLayer(t *testing.T) {
	for _, codec := range []string{"VP9", "AV1"} {
		t.Run(codec, func(t *testing.T) {
			s := svcLayered(codec)
			b := newJVBDefaultsBridge(t)
			conf, err := b.CreateConference("meeting-svc-"+codec, "svc@conference.example")
			if err != nil {
				t.Fatal(err)
			}
			sender := joinSVC(t, conf, "p0", s)
			thumb := joinSVC(t, conf, "p1", svcStream{})
			stage := joinSVC(t, conf, "p2", svcStream{})
			connectSVC(t, sender, thumb, stage)
			thumb.sendJSON(t, `{"colibriClass":"ReceiverVideoConstraints","lastN":-1,"defaultConstraints":{"maxHeight":180}}`)
			stage.sendJSON(t, `{"colibriClass":"ReceiverVideoConstraints","lastN":-1,"onStageSources":["p0-v0"],`+
				`"defaultConstraints":{"maxHeight":180},"constraints":{"p0-v0":{"maxHeight":720}}}`)
			stop := startSVC(t, sender)
			ssrc := sender.ssrcs[0]
			want := 40 * s.spatial * svcPktsPerFrame // 40 pictures
			stage.wait(t, fmt.Sprintf("%d packets", want), func() bool { return len(stage.rx[ssrc]) >= want })
			thumb.wait(t, fmt.Sprintf("%d packets", want/s.spatial), func() bool { return len(thumb.rx[ssrc]) >= want/s.spatial })
			stop()
			for _, r := range []*svcPeer{thumb, stage} {
				// The 180p thumbnail gets spatial layer 0 (the structure's 180p layer) with all
				// its temporal layers, the marker on its last packet; the 720p stage all layers.
				top := s.spatial
				if r == thumb {
					top = 1
				}
				a := analyse(t, r.id, s, r.packets(ssrc))
				for sid := range s.spatial {
					for tid := range s.temporal {
						switch n := a.layers[[3]int{0, sid, tid}]; {
						case sid < top && n == 0:
							t.Errorf("%s got no packet of spatial layer %d temporal layer %d", r.id, sid, tid)
						case sid >= top && n > 0:
							t.Errorf("%s got %d packets of spatial layer %d temporal layer %d, above its 180p", r.id, n, sid, tid)
						}
					}
				}
				if r == stage && a.incomplete > 0 {
					t.Errorf("%s got %d pictures without every layer frame and packet", r.id, a.incomplete)
				}
			}
			checkNoBadMessages(t, sender, thumb, stage)
		})
	}
}

// A thumbnail receiver (maxHeight 180) whose REMB allows less than its encoding's temporal
// layers get, once the bridge acts on it, only temporal layer 0 of the low encoding (VP8
// simulcast): still consecutive sequence numbers (dropped frames leave no gap), markers at
// picture ends, TL0PICIDX stepping by one per picture, picture IDs stepping as the sender's do.
func TestThumbnailUnderREMBGetsTemporalBaseLayer(t *testing.T) {
	s := svcSimulcast("VP8")
	b := newJVBDefaultsBridge(t)
	conf, err := b.CreateConference("meeting-remb", "remb@conference.example")
	if err != nil {
		t.Fatal(err)
	}
	sender := joinSVC(t, conf, "p0", s)
	thumb := joinSVC(t, conf, "p1", svcStream{})
	// The bridge allocates with a receiver's estimate only when it negotiated RTX (as JVB).
	thumb.ep.AddPayloadTypes([]PayloadType{{Media: MediaVideo, ID: 120, Name: "rtx", ClockRate: 90000,
		Params: map[string]string{"apt": strconv.Itoa(svcPTVP8)}}}, nil)
	connectSVC(t, sender, thumb)
	thumb.sendJSON(t, `{"colibriClass":"ReceiverVideoConstraints","lastN":-1,"defaultConstraints":{"maxHeight":180}}`)
	stop := startSVC(t, sender)
	ssrc := sender.ssrcs[0]
	thumb.wait(t, "60 packets", func() bool { return len(thumb.rx[ssrc]) >= 60 })
	// The low encoding sends ~40 kb/s in TL0, ~80 with TL1, ~160 with all: 60 kb/s fits TL0 only
	// (the allocator counts a layer at its peak 1 s rate of the last seconds, which for TL0
	// reaches about 50 kb/s on a loaded host).
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			_ = thumb.client.PC.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: 1, Bitrate: 60000, SSRCs: []uint32{ssrc}}})
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { close(done); wg.Wait() }()
	const tail = 60
	thumb.wait(t, fmt.Sprintf("%d packets of temporal layer 0 in a row", tail), func() bool {
		pkts := thumb.rx[ssrc]
		if len(pkts) < tail {
			return false
		}
		for _, p := range pkts[len(pkts)-tail:] {
			if bi, ok := readBody(p.payload); !ok || bi.tid != 0 {
				return false
			}
		}
		return true
	})
	stop()
	a := analyse(t, "p1", s, thumb.packets(ssrc))
	if a.perEnc[1] != 0 || a.perEnc[2] != 0 {
		t.Errorf("p1 packets by encoding %v, want the low one only", a.perEnc)
	}
	if a.layers[[3]int{0, 0, 2}] == 0 {
		t.Errorf("p1 never got temporal layer 2 before the REMB (layers %v)", a.layers)
	}
	checkNoBadMessages(t, sender, thumb)
}

func checkNoBadMessages(t *testing.T, peers ...*svcPeer) {
	t.Helper()
	for _, p := range peers {
		p.mu.Lock()
		if len(p.badMsgs) > 0 {
			t.Errorf("%s: unparseable bridge messages %v", p.id, p.badMsgs)
		}
		p.mu.Unlock()
	}
}

// streamSummary is what analyse found in a received stream.
type streamSummary struct {
	perEnc     [3]int
	order      []int          // encodings in the order they started
	firstOf    [3]int         // index of each encoding's first packet (-1 none)
	switches   int            // encoding changes
	layers     map[[3]int]int // packets by encoding, spatial, temporal layer
	incomplete int            // pictures (but the last) missing a layer frame or packet
}

// analyse checks that pkts, one receiver's stream on one SSRC, is what a decoder can play
// without noticing any switch: every payload intact, of the stream's payload type; the first
// packet and the first packet of each new encoding a keyframe start; consecutive sequence
// numbers; non-decreasing timestamps; the marker exactly on each picture's last packet; VP8 and
// VP9 picture IDs consecutive per picture and TL0PICIDX stepping at TL0 pictures; AV1 frame
// numbers consecutive per layer frame, descriptors decodable with the structure received.
func analyse(t *testing.T, who string, s svcStream, pkts []rxPkt) streamSummary {
	t.Helper()
	sum := streamSummary{firstOf: [3]int{-1, -1, -1}, layers: map[[3]int]int{}}
	if len(pkts) == 0 {
		t.Fatalf("%s received nothing", who)
	}
	errs := 0
	errf := func(format string, args ...any) {
		t.Helper()
		if errs++; errs <= 8 {
			t.Errorf("%s: "+format, append([]any{who}, args...)...)
		}
	}
	var structure simulcast.AV1Structure
	bodies := make([]bodyInfo, len(pkts))
	frames := make([]simulcast.FrameInfo, len(pkts))
	for i, p := range pkts {
		bi, ok := readBody(p.payload)
		if !ok {
			errf("packet %d (seq %d) is not intact", i, p.seq)
			continue
		}
		bodies[i] = bi
		if p.pt != s.pt() {
			errf("packet %d has payload type %d, want %d", i, p.pt, s.pt())
		}
		f := &frames[i]
		switch s.codec {
		case "VP8":
			ok = simulcast.ParseVP8(p.payload, f)
		case "VP9":
			ok = simulcast.ParseVP9(p.payload, f)
		case "AV1":
			ok = p.dd != nil && simulcast.ParseAV1DDWith(p.dd, &structure, f)
		}
		if !ok {
			errf("packet %d (seq %d): unparseable descriptor", i, p.seq)
			continue
		}
		if f.SID >= 0 && int(f.SID) != bi.sid && s.codec != "VP8" || f.TID >= 0 && int(f.TID) != bi.tid {
			errf("packet %d: descriptor says S%dT%d, sent as S%dT%d", i, f.SID, f.TID, bi.sid, bi.tid)
		}
		if s.codec == "AV1" && f.TID < 0 {
			errf("packet %d: descriptor template not in the structure received", i)
		}
		sum.perEnc[bi.enc]++
		sum.layers[[3]int{bi.enc, bi.sid, bi.tid}]++
		keyStart := bi.key && bi.idx == 0 && bi.sid == 0
		if i == 0 || bi.enc != bodies[i-1].enc {
			if i > 0 {
				sum.switches++
			}
			if sum.firstOf[bi.enc] < 0 {
				sum.firstOf[bi.enc] = i
			}
			sum.order = append(sum.order, bi.enc)
			if !keyStart || !f.Keyframe {
				errf("encoding %d starts at packet %d with %+v, not a keyframe start", bi.enc, i, bi)
			}
		}
		if i == 0 {
			continue
		}
		q, pf := pkts[i-1], frames[i-1]
		if p.seq != q.seq+1 {
			errf("packet %d: sequence number %d after %d", i, p.seq, q.seq)
		}
		if int32(p.ts-q.ts) < 0 {
			errf("packet %d: timestamp %d after %d", i, p.ts, q.ts)
		}
		newPicture := p.ts != q.ts
		if q.marker != newPicture {
			errf("packet %d (S%d): marker %v, but the next packet starts a new picture: %v", i-1, bodies[i-1].sid, q.marker, newPicture)
		}
		if q.marker && s.codec != "VP8" && !pf.EndOfFrame {
			errf("packet %d: marker without end of frame", i-1)
		}
		switch s.codec {
		case "VP8", "VP9":
			// The sender's picture IDs count its pictures: within an encoding the step is the
			// sender's (pictures of dropped layers leave gaps), across a switch it is 1.
			wantPic := pf.PictureID
			if newPicture {
				step := int32(1)
				if pb := bodies[i-1]; pb.enc == bi.enc {
					step = int32(bi.n - pb.n)
				}
				wantPic = (pf.PictureID + step) & 0x7fff
			}
			if f.PictureID != wantPic {
				errf("packet %d: picture ID %d after %d (new picture %v)", i, f.PictureID, pf.PictureID, newPicture)
			}
			wantTL0 := pf.TL0PICIDX
			if newPicture && f.TID == 0 {
				wantTL0 = (pf.TL0PICIDX + 1) & 0xff
			}
			if f.TL0PICIDX != wantTL0 {
				errf("packet %d: TL0PICIDX %d after %d (T%d, new picture %v)", i, f.TL0PICIDX, pf.TL0PICIDX, f.TID, newPicture)
			}
		case "AV1":
			// frame_number counts the sender's layer frames, as picture IDs do pictures.
			wantFN := pf.PictureID
			if f.StartOfFrame {
				step := int32(1)
				if pb := bodies[i-1]; pb.enc == bi.enc {
					step = int32(bi.n-pb.n)*int32(s.spatial) + int32(bi.sid-pb.sid)
				}
				wantFN = (pf.PictureID + step) & 0xffff
			}
			if f.PictureID != wantFN {
				errf("packet %d: frame_number %d after %d (start of frame %v)", i, f.PictureID, pf.PictureID, f.StartOfFrame)
			}
		}
	}
	// Pictures before the last: every layer frame of the encoding, every packet.
	per := 0
	for i := range pkts {
		per++
		if i+1 < len(pkts) && pkts[i+1].ts != pkts[i].ts {
			if per != s.spatial*svcPktsPerFrame {
				sum.incomplete++
			}
			per = 0
		}
	}
	return sum
}
