package bench

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// BenchmarkPacketizeVP8Frame720p is the load generator's cost to build one 1.5 Mbit/s frame.
func BenchmarkPacketizeVP8Frame720p(b *testing.B) {
	v := newVideoLayer(1, defaultLayers[2], rand.New(rand.NewPCG(1, 2)))
	buf := make([]byte, 1600)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		v.nextFrame(buf, now, false, func([]byte) {})
	}
}

// BenchmarkReceiveRTP is a simulated receiver's bookkeeping per packet (seq, loss, latency).
func BenchmarkReceiveRTP(b *testing.B) {
	e := newSimEndpoint("r", false, false, nil, nil)
	e.recv.startMeasuring()
	payload := make([]byte, 1000)
	putStamp(payload[len(payload)-stampLen:], time.Now(), 180, 1)
	hdr := rtp.Header{SSRC: 7, PayloadType: ptVP8}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		hdr.SequenceNumber++
		e.handleRTP(now, &hdr, payload, 1040)
	}
}
