package sfu

import (
	"encoding/binary"
	"time"

	"gojvb/bwe"
	"gojvb/sfu/channel"
)

// This file drives a receiver's bandwidth estimate (bwe.Estimator) from its own goroutine: each
// video packet sent with the receiver's transport-wide sequence number, the receiver's
// transport-cc feedback (or REMB), loss from its receiver reports and the RTT; on the ticker it
// updates the estimate, re-runs the allocation when the estimate moved enough (or 5 s passed),
// and tells the client its estimated downlink (ConnectionStats).

const (
	rtpfbTCC   = 15
	psfbREMB   = 15
	statsEvery = int64(10 * time.Second) // videobridge.connection-stats.interval
)

// estimator returns the receiver's estimator, creating it on first use.
func (rs *receiverState) estimator() *bwe.Estimator {
	if rs.est == nil {
		rs.est = bwe.NewEstimator(bwe.DefaultEstimatorConfig())
	}
	return rs.est
}

// sentTCC records a video packet the receiver got with transport-wide sequence number seq.
func (rs *receiverState) sentTCC(seq uint16, size int, now int64) {
	if rs.est != nil || rs.feedbackSeen {
		rs.estimator().OnPacketSent(seq, size, now, -1)
	}
}

// transportFeedback takes one transport-cc feedback packet from the receiver.
func (rs *receiverState) transportFeedback(pkt []byte, now int64) {
	if !rs.feedbackSeen {
		rs.feedbackSeen = true // from now on, sent packets are recorded
		return
	}
	rs.estimator().OnTransportFeedback(pkt, now)
	rs.trusted = true
}

// remb takes a REMB (receiver estimated maximum bitrate) from a receiver without transport-cc.
func (rs *receiverState) remb(pkt []byte, now int64) {
	if len(pkt) < 20 || string(pkt[12:16]) != "REMB" {
		return
	}
	exp := pkt[17] >> 2
	mantissa := uint64(pkt[17]&3)<<16 | uint64(binary.BigEndian.Uint16(pkt[18:20]))
	if exp > 46 {
		return
	}
	rs.estimator().OnREMB(mantissa<<exp, now)
	rs.trusted = true
}

// updateEstimate runs on the ticker: the estimate, a re-allocation if it calls for one, and the
// periodic ConnectionStats.
func (e *Endpoint) updateEstimate(now int64) {
	rs := &e.rs
	if rs.est == nil {
		return
	}
	if rtt := rs.rtt.publishedRTT(); rtt > 0 {
		rs.est.OnRTT(rtt, now)
	}
	target, _ := rs.est.Process(now)
	if !rs.trusted {
		return
	}
	// JVB trusts the estimate for allocation only when the receiver negotiated RTX (the way
	// the bridge can probe it); otherwise its budget stays unlimited.
	if rs.allocator != nil && e.rxFormat.Load().hasRTX() && rs.allocator.ShouldRun(target, now) {
		rs.estimate = target
		e.reselect(now)
	}
	if e.rxFormat.Load().hasRTX() {
		rs.pacer.SetEstimate(target, now)
	}
	// Probe for the allocation's next step up (with room for the hysteresis margin), not its
	// ideal: a probe far above a link that cannot carry the next layer anyway only overflows
	// a shallow bottleneck's queue, taking media with it.
	rs.probeDesired = 0
	if next := rs.lastAlloc.NextBps; e.rxFormat.Load().hasRTX() && next > rs.lastAlloc.TargetBps {
		rs.probeDesired = uint64(probeHeadroom * float64(next))
		e.probe(rs.probeDesired, now)
	}
	if now-rs.lastStats >= statsEvery {
		rs.lastStats = now
		e.sendMessage(&channel.ConnectionStats{EstimatedDownlinkBandwidth: int64(target)})
	}
}

const (
	// probePadding is the padding carried by one probe packet (the most RTP padding can be).
	probePadding = 255
	// maxProbePackets bounds one call's probe packets (a cluster hands them out every
	// probeTick, a few at a time).
	maxProbePackets = 40
)

// probe sends what the estimator asks for to discover bandwidth up to desired: padding-only RTP
// packets on the conference's own video SSRC (the receiver knows it as jvb-v0), with the
// receiver's transport-wide sequence numbers, so its feedback measures the link. While a cluster
// runs, the sender loop comes back every probeTick for its next bytes (pace.go), so a cluster
// goes out spread over its duration rather than as one burst.
func (e *Endpoint) probe(desired uint64, now int64) {
	rs := &e.rs
	bytes, cluster := rs.est.WantProbe(desired, now)
	if rs.est.Probing() {
		rs.wakeAt(now + probeTick)
	}
	to := e.rxFormat.Load()
	ctx := e.sendCtx.Load()
	if bytes <= 0 || ctx == nil || to.tccID == 0 || to.tccID > 14 {
		return
	}
	pt := to.probePT
	if pt == 0 {
		return
	}
	if rs.probeSeq == 0 {
		rs.probeSeq = uint16(randomSSRC())
		rs.probeTS = randomSSRC()
	}
	rs.probeTS += 3000
	sent := 0
	for bytes > 0 && sent < maxProbePackets {
		out := e.writer.Buffer()
		rs.probeSeq++
		rs.tccSeq++
		out = append(out, 0xb0, pt, byte(rs.probeSeq>>8), byte(rs.probeSeq), // V=2 P X
			byte(rs.probeTS>>24), byte(rs.probeTS>>16), byte(rs.probeTS>>8), byte(rs.probeTS))
		out = binary.BigEndian.AppendUint32(out, e.conf.feedbackVideo)
		out = append(out, 0xbe, 0xde, 0, 1, to.tccID<<4|1, byte(rs.tccSeq>>8), byte(rs.tccSeq), 0)
		for range probePadding - 1 {
			out = append(out, 0)
		}
		out = append(out, probePadding)
		rs.est.OnPacketSent(rs.tccSeq, len(out), now, cluster)
		var err error
		if out, err = ctx.EncryptRTP(out, out, &e.sendRTP); err != nil {
			e.tx.failed.Add(1)
			break
		}
		e.writer.Commit(out)
		e.tx.probes.Add(1)
		bytes -= len(out)
		sent++
	}
	if sent > 0 {
		if err := e.writer.Flush(); err != nil {
			e.tx.failed.Add(1)
		}
	}
}
