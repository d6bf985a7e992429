package bwe

import (
	"encoding/binary"
	"math"
	"testing"
	"time"
)

// gccFuzzReader hands out fuzz bytes as numbers, zeros once they run out.
type gccFuzzReader struct{ b []byte }

func (r *gccFuzzReader) u8() uint8 {
	if len(r.b) == 0 {
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *gccFuzzReader) u16() uint16 { return uint16(r.u8())<<8 | uint16(r.u8()) }

func (r *gccFuzzReader) u64() uint64 {
	return uint64(r.u16())<<48 | uint64(r.u16())<<32 | uint64(r.u16())<<16 | uint64(r.u16())
}

func (r *gccFuzzReader) take(n int) []byte {
	n = min(n, len(r.b))
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// gccFuzzPacket wraps body (base sequence number onwards) in a transport-cc RTCP header, so the
// fuzzer spends its time on chunks and deltas rather than on the header checks.
func gccFuzzPacket(body []byte) []byte {
	pkt := append([]byte{0x80 | gccFmtTCC, gccRTPFB, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2}, body...)
	for len(pkt)%4 != 0 || len(pkt) < gccTCCHeaderLen {
		pkt = append(pkt, 0)
	}
	binary.BigEndian.PutUint16(pkt[2:4], uint16(len(pkt)/4-1))
	return pkt
}

// FuzzEstimatorFeedback feeds packets sent and then feedback bodies from the bytes (counts
// beyond the chunks, runs past what was sent, any deltas), plus the bytes themselves as a
// packet, with the other inputs interleaved. Layout: start sequence number (2), packets sent
// (1), mode (1), then repeated body length (1) and body. Invariant: no panic, the target stays
// within [min, max], probes ask for a bounded amount with a cluster, and the stats hold no NaN.
func FuzzEstimatorFeedback(f *testing.F) {
	got := []gccSimArrival{{ext: 5, arrival: 1e6}, {ext: 7, arrival: 3e6}, {ext: 8, arrival: 90e6}}
	raw, err := gccBuildFeedback(5, 9, got, 0, 0).Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append([]byte{0, 5, 8, 0, byte(len(raw) - 12)}, raw[12:]...))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := DefaultEstimatorConfig()
		e := NewEstimator(cfg)
		r := &gccFuzzReader{b: data}
		seq := r.u16()
		n := int(r.u8())
		mode := r.u8()
		now := gccSimEpoch
		check := func(where string) {
			tgt := e.Target()
			if tgt < cfg.MinBitrate || tgt > cfg.MaxBitrate {
				t.Fatalf("%s: target %d outside [%d, %d]", where, tgt, cfg.MinBitrate, cfg.MaxBitrate)
			}
			st := e.Stats()
			if math.IsNaN(st.LossFraction) || math.IsNaN(st.ThresholdMs) || st.LossFraction < 0 || st.LossFraction > 1 {
				t.Fatalf("%s: stats %+v", where, st)
			}
		}
		for i := range n {
			e.OnPacketSent(seq+uint16(i), 1200, now, -1)
			now += int64(time.Millisecond)
		}
		e.OnTransportFeedback(data, now)
		check("raw bytes")
		for len(r.b) > 0 {
			e.OnTransportFeedback(gccFuzzPacket(r.take(int(r.u8()))), now)
			check("feedback")
			switch mode % 4 {
			case 1:
				e.OnREMB(r.u64(), now)
			case 2:
				e.OnLoss(r.u8(), now)
				e.OnRTT(time.Duration(r.u64()), now)
			case 3:
				now += int64(r.u16()) * int64(time.Millisecond)
			}
			bytes, cluster := e.WantProbe(r.u64(), now)
			if bytes < 0 || bytes > int(cfg.MaxBitrate/8) || (bytes > 0) != (cluster >= 0) {
				t.Fatalf("probe of %d bytes, cluster %d", bytes, cluster)
			}
			for sent := 0; sent < bytes; sent += 1200 {
				e.OnPacketSent(seq+uint16(n), min(1200, bytes-sent), now, cluster)
				n++
			}
			now += 25 * int64(time.Millisecond)
			e.Process(now)
			check("process")
		}
	})
}
