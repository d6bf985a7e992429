package bwe

import "testing"

// A probe that saturated the link found its capacity even when its result reached 0.7 of its
// rate (it asked for the allocation's next layer, just above a capped link): probing again at
// once would overflow a shallow tail-drop queue cluster after cluster, dropping media with the
// padding, so the next probe waits the retry interval.
func TestProberWaitsAfterASaturatedProbe(t *testing.T) {
	const ms = int64(1_000_000)
	var p gccProber
	p.init()
	var st EstimatorStats
	const target, desired = 336_000.0, 500_000.0
	if n, id := p.want(desired, target, 20e6, 0, true, &st); n <= 0 || id < 0 {
		t.Fatalf("no probe started: %d bytes, cluster %d", n, id)
	}
	c := p.slots[p.active]
	if c.rate != desired {
		t.Fatalf("probe at %.0f bps, want the desired %.0f", c.rate, desired)
	}
	// 1200-byte packets at the probe's 500 kbit/s (19.2 ms apart) arrive 24 ms apart (400
	// kbit/s): the link saturated at 400 kbit/s; 0.95 × 400 is 0.76 of the probe's rate.
	var sent []gccPacketResult
	for i := int64(0); c.bytesSent < c.goal; i++ {
		at := i * 192 * ms / 10
		if p.sent(c.id, 1200) < 0 {
			t.Fatalf("packet %d not counted in the cluster", i)
		}
		c = p.slots[p.active]
		sent = append(sent, gccPacketResult{sendTime: at, arrival: 40*ms + i*24*ms, size: 1200, cluster: c.id})
	}
	p.expire(c.duration + ms)
	if p.active >= 0 {
		t.Fatal("the cluster did not end")
	}
	for i := range sent {
		p.onResult(&sent[i])
	}
	now := 800 * ms
	r, sat := p.conclude(now, target, &st)
	if !sat || r < 370_000 || r > 390_000 {
		t.Fatalf("result %.0f bps saturated %v, want ~380k saturated", r, sat)
	}
	if p.nextAllowed < now+gccProbeRetry {
		t.Errorf("next probe allowed %d ms after a saturated one, want %d ms", (p.nextAllowed-now)/ms, gccProbeRetry/ms)
	}
	if n, _ := p.want(desired, r, 20e6, now+100*ms, true, &st); n != 0 {
		t.Errorf("a probe started 100 ms after a saturated one")
	}
}
