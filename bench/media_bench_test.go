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

// BenchmarkCheapReceiveSRTP is the cheap receive path per SRTP packet: header accounting for
// every packet, transport-cc recording, and one packet in 64 decrypted (what a meeting100
// receiver does for each of the ~800 packets/s it gets).
func BenchmarkCheapReceiveSRTP(b *testing.B) {
	enc, dec := srtpPair(b)
	e := newSimEndpoint("r", false, false, func() uint32 { return 99 }, nil)
	e.enableTCC()
	e.recv.startMeasuring()
	c := newCheapReceiver(e, dec, 64)
	v := newVideoLayer(42, defaultLayers[0], rand.New(rand.NewPCG(1, 2)))
	var tcc uint16
	v.tcc.seq = &tcc
	buf := make([]byte, 1600)
	var pkts [][]byte
	for len(pkts) < 4096 {
		v.nextFrame(buf, time.Now(), false, func(p []byte) {
			out, err := enc.EncryptRTP(nil, p, nil)
			if err != nil {
				b.Fatal(err)
			}
			pkts = append(pkts, out)
		})
	}
	now := time.Now()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		c.onDatagram(pkts[i%len(pkts)], nil, now)
		i++
		if i%len(pkts) == 0 { // the replayed packets look like a restart; keep the tracker fresh
			e.recv.startMeasuring()
		}
	}
}
