package sfu

import (
	"encoding/binary"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/srtp/v3"
)

// This file is the bridge's own RTCP toward a media sender, the receiving half of RTCP
// termination: receiver reports for every SSRC the endpoint sends (loss, jitter, LSR/DLSR for its
// round-trip time) and transport-cc feedback for every packet carrying a transport-wide sequence
// number, so the sender's congestion control can ramp up. The receive side records under the
// endpoint's recvMu (the only lock it takes, its own); the endpoint's sender goroutine reports
// on its ticker.

const (
	// tccInterval is how often transport-cc feedback goes to a sender (JVB sends every 100 ms, or
	// 20 ms after a frame's last packet).
	tccInterval = int64(100 * time.Millisecond)
	// rrInterval is how often receiver reports go to a sender (JVB's RtcpRrGenerator).
	rrInterval = int64(500 * time.Millisecond)
	// maxReportBlocks is how many report blocks fit one RR (a 5-bit count).
	maxReportBlocks = 31
	// extTransportCC is the transport-wide sequence number extension.
	extTransportCC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
)

// senderFeedback is an endpoint's receive-side RTCP state, guarded by its recvMu.
type senderFeedback struct {
	tcc             *twcc.Recorder // nil until a packet with a transport-wide sequence number arrives
	lastTCC, lastRR int64
}

// recordTCC notes one packet's transport-wide sequence number. e.recvMu is held.
func (e *Endpoint) recordTCC(ssrc uint32, ext []byte, now int64) {
	if len(ext) < 2 {
		return
	}
	if e.fb.tcc == nil {
		e.fb.tcc = twcc.NewRecorder(e.conf.feedbackVideo)
	}
	e.fb.tcc.Record(ssrc, binary.BigEndian.Uint16(ext), now/1000)
}

// recordSenderReport notes a sender report's NTP time for the LSR/DLSR of later reports.
func (e *Endpoint) recordSenderReport(src *source, sr []byte, now int64) {
	e.recvMu.Lock()
	src.rx.SenderReport(binary.BigEndian.Uint64(sr[8:16]), now)
	e.recvMu.Unlock()
}

// sendFeedback runs on the sender goroutine's ticker: transport-cc feedback every tccInterval,
// receiver reports every rrInterval, encrypted and written like forwarded packets.
func (e *Endpoint) sendFeedback(now int64) {
	ctx := e.sendCtx.Load()
	if ctx == nil {
		return
	}
	var pkts []rtcp.Packet
	sm := e.conf.sources.Load()
	e.recvMu.Lock()
	if e.fb.tcc != nil && now-e.fb.lastTCC >= tccInterval {
		e.fb.lastTCC = now
		pkts = e.fb.tcc.BuildFeedbackPacket()
	}
	if now-e.fb.lastRR >= rrInterval {
		e.fb.lastRR = now
		pkts = append(pkts, e.receiverReports(sm, now)...)
	}
	e.recvMu.Unlock()
	e.writeRTCP(ctx, pkts)
}

// writeRTCP marshals, protects and writes the bridge's own RTCP packets to e, one datagram each.
func (e *Endpoint) writeRTCP(ctx *srtp.Context, pkts []rtcp.Packet) {
	n := 0
	for _, p := range pkts {
		b, err := p.Marshal()
		if err != nil || len(b)+srtpOverhead > maxPacket {
			e.tx.failed.Add(1)
			continue
		}
		out := append(e.writer.Buffer(), b...)
		if out, err = ctx.EncryptRTCP(out, out, &e.sendRTCP); err != nil {
			e.tx.failed.Add(1)
			continue
		}
		e.writer.Commit(out) // the writer counts it as sent or dropped
		n++
	}
	if n > 0 {
		if err := e.writer.Flush(); err != nil { // each datagram dropped is counted there
			e.log.Debug("flush of RTCP failed", "err", err)
		}
	}
}

// receiverReports builds RRs (sender SSRC = the conference's feedback video SSRC) with one
// block per SSRC of e's that has received packets. e.recvMu is held.
func (e *Endpoint) receiverReports(sm *sourceMap, now int64) []rtcp.Packet {
	var out []rtcp.Packet
	rr := &rtcp.ReceiverReport{SSRC: e.conf.feedbackVideo}
	for _, t := range sm.tracks {
		if t.owner.via() != e {
			continue
		}
		for _, s := range t.sources {
			b, ok := s.rx.Report(now)
			if !ok {
				continue
			}
			rr.Reports = append(rr.Reports, rtcp.ReceptionReport{
				SSRC: s.ssrc, FractionLost: b.FractionLost, TotalLost: b.TotalLost,
				LastSequenceNumber: b.ExtendedHighestSeq, Jitter: b.Jitter,
				LastSenderReport: b.LastSR, Delay: b.DelaySinceLastSR,
			})
			if len(rr.Reports) == maxReportBlocks {
				out = append(out, rr)
				rr = &rtcp.ReceiverReport{SSRC: e.conf.feedbackVideo}
			}
		}
	}
	if len(rr.Reports) > 0 {
		out = append(out, rr)
	}
	return out
}
