package bench

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"go.uber.org/goleak"
)

func TestSeqTrackerCountsLossReorderAndWrap(t *testing.T) {
	var s seqTracker
	for _, q := range []uint16{65533, 65534, 65535, 1, 0, 2, 2, 5} { // 3,4 lost; 0 late; 2 dup
		s.add(q)
	}
	if got, want := s.expected(), uint64(9); got != want { // 65533..5 across the wrap
		t.Fatalf("expected = %d, want %d", got, want)
	}
	if s.received != 7 || s.lost() != 2 || s.reordered != 1 || s.dup != 1 {
		t.Fatalf("received %d lost %d reordered %d dup %d, want 7 2 1 1", s.received, s.lost(), s.reordered, s.dup)
	}
}

func TestLatencyHistQuantilesWithinFivePercent(t *testing.T) {
	var h latencyHist
	for i := 1; i <= 10000; i++ {
		h.add(int64(i) * 1000) // 1 µs .. 10 ms
	}
	for _, c := range []struct{ q, want float64 }{{0.5, 5e6}, {0.99, 9.9e6}, {0.01, 1e5}} {
		got := h.quantile(c.q)
		if got < c.want*0.95 || got > c.want*1.05 {
			t.Errorf("quantile(%v) = %.0f, want %.0f ±5%%", c.q, got, c.want)
		}
	}
	if h.quantile(1) != 1e7 {
		t.Errorf("quantile(1) = %v, want the max 1e7", h.quantile(1))
	}
}

func TestVP8SimulcastPacketsAreValid(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	v := newVideoLayer(1234, defaultLayers[1], rng)
	buf := make([]byte, 1600)
	var frames, keyHeaders int
	var lastPID uint16
	for f := 0; f < 8; f++ {
		var pkts [][]byte
		v.nextFrame(buf, time.Now(), f == 0, func(p []byte) { pkts = append(pkts, bytes.Clone(p)) })
		if len(pkts) == 0 {
			t.Fatal("frame produced no packets")
		}
		for i, p := range pkts {
			var pkt rtp.Packet
			if err := pkt.Unmarshal(p); err != nil {
				t.Fatalf("frame %d packet %d: %v", f, i, err)
			}
			if pkt.Marker != (i == len(pkts)-1) {
				t.Fatalf("frame %d packet %d: marker %v", f, i, pkt.Marker)
			}
			var vp8 codecs.VP8Packet
			payload, err := vp8.Unmarshal(pkt.Payload)
			if err != nil {
				t.Fatalf("frame %d packet %d: VP8 descriptor: %v", f, i, err)
			}
			if (vp8.S == 1) != (i == 0) || vp8.I != 1 || vp8.L != 1 || vp8.T != 1 {
				t.Fatalf("frame %d packet %d: descriptor S=%d I=%d L=%d T=%d", f, i, vp8.S, vp8.I, vp8.L, vp8.T)
			}
			if want := uint8(temporalID(uint64(f))); f > 0 && vp8.TID != want {
				t.Fatalf("frame %d: TID %d, want %d", f, vp8.TID, want)
			}
			if i == 0 && f > 0 && vp8.PictureID != (lastPID+1)&0x7fff {
				t.Fatalf("frame %d: picture id %d after %d", f, vp8.PictureID, lastPID)
			}
			lastPID = vp8.PictureID
			if i == 0 && payload[0]&1 == 0 { // keyframe: start code and 640x360
				keyHeaders++
				if !bytes.Equal(payload[3:6], []byte{0x9d, 0x01, 0x2a}) || payload[6] != 0x80 || payload[7] != 2 || payload[8] != 0x68 || payload[9] != 1 {
					t.Fatalf("keyframe header % x", payload[:10])
				}
			}
			if _, h, ok := readStamp(pkt.Payload); !ok || h != defaultLayers[1].Height {
				t.Fatalf("frame %d packet %d: no send stamp", f, i)
			}
		}
		frames++
	}
	if keyHeaders != 1 {
		t.Fatalf("%d keyframe headers in %d frames, want 1", keyHeaders, frames)
	}
}

func TestBaselineRelayForwardsEveryPacket(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	sc := DefaultScenario()
	sc.Duration, sc.Warmup = 1500*time.Millisecond, 300*time.Millisecond
	r, err := runBaselinePhase(context.Background(), Options{Scenario: sc}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("relay: %.0f pps forwarded, loss %.4f, %.2f us/pkt, latency p50 %.3f ms p99 %.3f ms",
		r.ForwardedPacketsPerS, r.LossFraction, r.CPUMicrosPerForwardedPacket, r.Latency.P50, r.Latency.P99)
	// 3 senders x (50 audio + 3 layers x 30 fps x >=1 packet) pps, each to 2 receivers.
	if r.ForwardedPacketsPerS < 3*2*(50+90)*0.8 {
		t.Fatalf("forwarded %.0f pps, want >= %.0f", r.ForwardedPacketsPerS, 3*2*(50+90)*0.8)
	}
	if r.LossFraction > 0.001 {
		t.Fatalf("loss %.4f on loopback through the relay", r.LossFraction)
	}
	if r.CPUSeconds <= 0 || r.CPUMicrosPerForwardedPacket <= 0 {
		t.Fatalf("relay CPU %.6fs, %.3f us/pkt: not measured", r.CPUSeconds, r.CPUMicrosPerForwardedPacket)
	}
	if r.Latency.P50 <= 0 || r.Latency.P50 > 50 {
		t.Fatalf("latency p50 %.3f ms", r.Latency.P50)
	}
	for _, rr := range r.Receivers {
		if rr.AudioPackets == 0 || rr.VideoPackets == 0 || rr.Streams != 2*4 {
			t.Fatalf("receiver %s: audio %d video %d streams %d, want audio, video and 8 streams", rr.Endpoint, rr.AudioPackets, rr.VideoPackets, rr.Streams)
		}
	}
}

func TestTransportWideSequenceIsSharedAcrossStreams(t *testing.T) {
	var next uint32 = 100
	e := newSimEndpoint("tcc", true, true, func() uint32 { next++; return next }, rand.New(rand.NewPCG(3, 4)))
	e.enableTCC()
	buf := make([]byte, 1600)
	var seqs []uint16
	check := func(p []byte) {
		var pkt rtp.Packet
		if err := pkt.Unmarshal(p); err != nil {
			t.Fatal(err)
		}
		ext := pkt.GetExtension(extTCC)
		if len(ext) != 2 {
			t.Fatalf("packet of SSRC %d has no transport-cc extension", pkt.SSRC)
		}
		seqs = append(seqs, uint16(ext[0])<<8|uint16(ext[1]))
	}
	now := time.Now()
	for i := 0; i < 3; i++ {
		check(e.audio.next(buf, now))
		for _, l := range e.video {
			l.nextFrame(buf, now, i == 0, func(p []byte) { check(bytes.Clone(p)) })
		}
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("transport-wide seq %d follows %d (packet %d)", seqs[i], seqs[i-1], i)
		}
	}
}
