package bwe

// Probing: a cluster is a paced run at a rate above the estimate; every packet sent while it
// is active (media and the probe bytes WantProbe asks for) belongs to it. Its result is
// min(send rate, receive rate), or 0.95 × the receive rate when the receive rate is under 0.9 ×
// the send rate (the link saturated) (libwebrtc ProbeBitrateEstimator: send rate excludes the
// last packet's size, receive rate the first's; both intervals within 1 s; at least 80 % of the
// minimum packets and bytes received; a receive rate over twice the send rate is invalid).
//
// Unlike libwebrtc's clusters (15 ms, 5 packets), a cluster carries at least 20 KB (20 ms at
// high rates, up to 300 ms at low ones) and the rates come from its second half (the packets
// sent after half its duration) when that half has enough packets: a token-bucket shaper (tbf,
// policers) lets a bucket's worth of bytes through at line rate before it limits, so a short
// probe, or the first part of a long one, reads the bucket instead of the link. A 4 KB bucket
// under a probe at twice a 500 kbit/s link drains after about 8 KB of the cluster (65 ms);
// from then on the shaper delivers at its rate.
//
// The first probe is at 3 × the estimate, later ones at 2 × (the ProbeController's exponential
// probing), capped by what the caller desires and the maximum.
// A probe whose result reaches 0.7 × its rate, or 1.25 × the target it started from (it made
// progress even if a late or slow cluster read low), lets the next one start at once unless it
// saturated the link; otherwise the next waits 5 s (the ALR probing interval). A saturated
// probe found the link's capacity: the bridge probes for the allocation's next layer, often
// just above a capped link, and probing again at once would overflow a shallow tail-drop queue
// (a tbf of a few KB) cluster after cluster, dropping media along with the padding.

const (
	gccProbeDuration      = 20_000_000  // ns a cluster lasts at least
	gccProbeMaxDuration   = 300_000_000 // ns a cluster lasts at most
	gccProbeMinBytes      = 20_000      // bytes a cluster carries at least (within the max duration)
	gccProbeLateMin       = 5           // packets the second half needs to be measured alone
	gccProbeLead          = 10_000_000  // ns of bytes handed out ahead of time
	gccProbeMinPackets    = 5
	gccProbeMinPacketSize = 1000       // bytes: a cluster carries at least 5 such
	gccProbeMinBytesTime  = 15_000_000 // ns: min bytes are the rate over this
	gccProbeMinRecvRatio  = 0.8
	gccProbeMaxInterval   = 1_000_000_000
	gccProbeMaxValidRatio = 2.0
	gccProbeSaturated     = 0.9
	gccProbeUtilization   = 0.95
	gccProbeFirstScale    = 3.0
	gccProbeScale         = 2.0
	gccProbeMinScale      = 1.25 // never probe less than this above the estimate
	gccProbeFurther       = 0.7
	gccProbeProgress      = 1.25 // a result this far above the target also lets the next start at once
	gccProbeRetry         = 5_000_000_000
	gccProbeTimeout       = 1_000_000_000 // result wait after a cluster ends
	gccProbeAfterDecrease = 1_000_000_000 // no probe this soon after a delay-based decrease
	gccProbeSlots         = 4
	gccProbeFloorValidity = 2_000_000_000 // a probe result bounds decreases this long
	gccProbeMaxID         = 1 << 30
)

type gccCluster struct {
	id          int32
	rate        float64 // bps
	start, end  int64
	goal        int64 // bytes
	duration    int64 // ns: goal at rate
	sending     bool
	pending     bool // awaiting its result
	bytesSent   int64
	packetsSent int

	all      gccProbeRates // every packet of the cluster
	late     gccProbeRates // those sent in its second half
	reported int           // received or reported lost
}

// gccProbeRates accumulates the send and receive intervals of a cluster's received packets.
type gccProbeRates struct {
	firstSend, lastSend, firstRecv, lastRecv int64
	sizeLastSend, sizeFirstRecv, total       int64
	received                                 int
}

func (s *gccProbeRates) add(r *gccPacketResult) {
	bits := int64(r.size) * 8
	if s.received == 0 {
		s.firstSend, s.lastSend, s.firstRecv, s.lastRecv = r.sendTime, r.sendTime, r.arrival, r.arrival
		s.sizeLastSend, s.sizeFirstRecv = bits, bits
	} else {
		if r.sendTime < s.firstSend {
			s.firstSend = r.sendTime
		}
		if r.sendTime > s.lastSend {
			s.lastSend, s.sizeLastSend = r.sendTime, bits
		}
		if r.arrival < s.firstRecv {
			s.firstRecv, s.sizeFirstRecv = r.arrival, bits
		}
		if r.arrival > s.lastRecv {
			s.lastRecv = r.arrival
		}
	}
	s.total += bits
	s.received++
}

type gccProber struct {
	slots       [gccProbeSlots]gccCluster
	active      int // slot sending, -1 none
	nextID      int32
	probed      bool // the first probe was made
	nextAllowed int64
}

func (p *gccProber) init() { *p = gccProber{active: -1} }

func (p *gccProber) cluster(id int32) *gccCluster {
	if id < 0 {
		return nil
	}
	c := &p.slots[int(id)%gccProbeSlots]
	if c.id != id || (!c.sending && !c.pending) {
		return nil
	}
	return c
}

// sent records a packet; it returns the cluster it belongs to (-1 none).
func (p *gccProber) sent(cluster int32, size int) int32 {
	if cluster < 0 && p.active >= 0 {
		cluster = p.slots[p.active].id
	}
	c := p.cluster(cluster)
	if c == nil || !c.sending {
		return -1
	}
	c.bytesSent += int64(min(max(size, 0), gccMaxPacketSize))
	c.packetsSent++
	return cluster
}

// expire ends the active cluster once it has run its course, even if nobody asks for its bytes.
func (p *gccProber) expire(now int64) {
	if p.active < 0 {
		return
	}
	c := &p.slots[p.active]
	elapsed := now - c.start
	if elapsed >= c.duration && c.bytesSent >= c.goal || elapsed >= 2*c.duration || elapsed < 0 {
		c.sending = false
		c.end = now
		p.active = -1
	}
}

// want returns the probe bytes due at now, starting a cluster if worthwhile.
func (p *gccProber) want(desired, target, maxRate float64, now int64, mayStart bool, st *EstimatorStats) (int, int) {
	p.expire(now)
	if p.active >= 0 {
		c := &p.slots[p.active]
		elapsed := now - c.start
		due := int64(c.rate/8*float64(elapsed+gccProbeLead)/gccSecond) - c.bytesSent
		due = min(due, c.goal-c.bytesSent)
		if due <= 0 {
			return 0, -1
		}
		return int(due), int(c.id)
	}
	if !mayStart || desired <= target || target >= maxRate || now < p.nextAllowed {
		return 0, -1
	}
	for i := range p.slots {
		if c := &p.slots[i]; c.pending && now-c.end < gccProbeTimeout {
			return 0, -1
		}
	}
	scale := gccProbeScale
	if !p.probed {
		scale = gccProbeFirstScale
	}
	rate := min(max(desired, gccProbeMinScale*target), scale*target, maxRate)
	if rate <= target {
		return 0, -1
	}
	p.probed = true
	id := p.nextID
	p.nextID = (p.nextID + 1) % gccProbeMaxID
	slot := int(id) % gccProbeSlots
	goal := max(int64(rate/8*gccProbeDuration/gccSecond), gccProbeMinBytes, gccProbeMinPackets*gccProbeMinPacketSize)
	goal = min(goal, max(int64(rate/8*gccProbeMaxDuration/gccSecond), gccProbeMinPackets*gccProbeMinPacketSize))
	p.slots[slot] = gccCluster{
		id: id, rate: rate, start: now, sending: true, pending: true,
		goal: goal, duration: int64(float64(goal*8) / rate * gccSecond),
	}
	p.active = slot
	st.ProbesStarted++
	return p.want(desired, target, maxRate, now, false, st)
}

// onResult feeds one received packet of a cluster.
func (p *gccProber) onResult(r *gccPacketResult) {
	c := p.cluster(r.cluster)
	if c == nil || !c.pending {
		return
	}
	c.all.add(r)
	if r.sendTime-c.start >= c.duration/2 {
		c.late.add(r)
	}
	c.reported++
}

// onReported counts a packet of a cluster reported lost or received without a time.
func (p *gccProber) onReported(cluster int32) {
	if c := p.cluster(cluster); c != nil && c.pending {
		c.reported++
	}
}

// conclude evaluates clusters whose every packet has been reported (received or lost), or that
// timed out; it returns the best valid result (bps, 0 none).
func (p *gccProber) conclude(now int64, target float64, st *EstimatorStats) (best float64, saturated bool) {
	for i := range p.slots {
		c := &p.slots[i]
		if !c.pending || c.sending {
			continue
		}
		if c.reported < c.packetsSent && now-c.end < gccProbeTimeout {
			continue
		}
		c.pending = false
		r, sat := c.estimate()
		if r > 0 {
			st.ProbesSucceeded++
			if r > best {
				best, saturated = r, sat
			}
		}
		if (r >= gccProbeFurther*c.rate || r > gccProbeProgress*target) && !sat {
			p.nextAllowed = now
		} else {
			p.nextAllowed = now + gccProbeRetry
		}
	}
	return best, saturated
}

// estimate is the cluster's result (0 none) and whether the link was saturated (the receive
// rate under 0.9 × the send rate).
func (c *gccCluster) estimate() (float64, bool) {
	minPackets := gccProbeMinRecvRatio * gccProbeMinPackets
	minBits := gccProbeMinRecvRatio * c.rate * gccProbeMinBytesTime / gccSecond
	if c.all.received < 2 || float64(c.all.received) < minPackets || float64(c.all.total) < minBits {
		return 0, false
	}
	if c.late.received >= gccProbeLateMin {
		if r, sat := c.late.estimate(); r > 0 {
			return r, sat
		}
	}
	return c.all.estimate()
}

func (c *gccProbeRates) estimate() (float64, bool) {
	sendInterval := c.lastSend - c.firstSend
	recvInterval := c.lastRecv - c.firstRecv
	if sendInterval <= 0 || sendInterval > gccProbeMaxInterval || recvInterval <= 0 || recvInterval > gccProbeMaxInterval {
		return 0, false
	}
	sendRate := float64(c.total-c.sizeLastSend) * gccSecond / float64(sendInterval)
	recvRate := float64(c.total-c.sizeFirstRecv) * gccSecond / float64(recvInterval)
	if recvRate > gccProbeMaxValidRatio*sendRate {
		return 0, false
	}
	if recvRate < gccProbeSaturated*sendRate {
		return gccProbeUtilization * recvRate, true
	}
	return min(sendRate, recvRate), false
}
