package sfu

import (
	"encoding/binary"
	"slices"
	"time"

	"gojvb/bwe"
)

// remoteSpeakerRTT is the round-trip time assumed for a speaker behind a relay (JVB's: the
// bridge does not know the remote endpoint's).
const remoteSpeakerRTT = 100 * time.Millisecond

// preemptKeyframe runs when the dominant speaker changes (JVB's pre-emptive keyframe request):
// in a conference of more than two endpoints where another local endpoint has a camera on
// stage, the receivers are about to switch their large video to the new speaker, so the bridge
// asks the speaker for a keyframe now instead of when each projection finds it needs one. The
// request is delayed by the slowest receiver's round-trip time less the speaker's own (plus
// 10 ms), so that the keyframe does not arrive before the receivers' new constraints. Without a
// camera on anyone's stage the request is suppressed (and counted).
func (c *Conference) preemptKeyframe(dominant string) {
	eps := *c.members.Load()
	if dominant == "" || len(eps) <= 2 {
		return
	}
	i := slices.IndexFunc(eps, func(e *Endpoint) bool { return e.id == dominant })
	if i < 0 {
		return
	}
	speaker := eps[i]
	sm := c.sources.Load()
	staged := false
	var slowest time.Duration
	for _, e := range eps {
		if e == speaker || e.kind != kindLocal {
			continue
		}
		slowest = max(slowest, time.Duration(e.rs.rtt.publishedRTT()))
		staged = staged || c.cameraOnStage(e, sm)
	}
	if !staged {
		c.bridge.counters.preemptiveSuppressed.Add(1)
		return
	}
	c.bridge.counters.preemptiveSent.Add(1)
	own := remoteSpeakerRTT
	if speaker.kind == kindLocal {
		own = time.Duration(speaker.rs.rtt.publishedRTT())
	}
	var src *source
	for _, t := range sm.tracks {
		if t.owner == speaker && t.media == MediaVideo && t.vtype() == bwe.VideoCamera && len(t.encodings) > 0 {
			src = t.encodings[0] // JVB names the primary (lowest) SSRC
			break
		}
	}
	if src == nil {
		return
	}
	delay := slowest - own + 10*time.Millisecond
	c.log.Debug("pre-emptive keyframe request", "endpoint", dominant, "delay", delay)
	time.AfterFunc(max(delay, 0), func() {
		if c.Expired() || speaker.Expired() {
			return
		}
		// Bypasses the per-source interval, but holds back receivers' requests within it.
		src.lastKeyframeRequest.Store(time.Now().UnixNano())
		c.queuePLI(src)
	})
}

// cameraOnStage reports whether receiver e has a camera source on its stage.
func (c *Conference) cameraOnStage(e *Endpoint, sm *sourceMap) bool {
	e.ctlMu.Lock()
	onStage := slices.Clone(e.settings.OnStage)
	e.ctlMu.Unlock()
	for _, name := range onStage {
		for _, t := range sm.tracks {
			if t.name == name && t.media == MediaVideo && t.vtype() == bwe.VideoCamera {
				return true
			}
		}
	}
	return false
}

// queuePLI queues a PLI for src (sender SSRC: the conference's feedback video SSRC) to the
// endpoint whose transport carries it (the relay's link for a remote source). It reports
// whether the owner had keys and room in its queue.
func (c *Conference) queuePLI(src *source) (queued, notSecure bool) {
	owner := src.owner.via()
	if !owner.secure.Load() {
		return false, true
	}
	pli := getPacket()
	pli.rtcp = true
	h := pli.buf[:12]
	h[0], h[1] = 0x80|fmtPLI, rtcpPSFB
	binary.BigEndian.PutUint16(h[2:4], 2)
	binary.BigEndian.PutUint32(h[4:8], c.feedbackVideo)
	binary.BigEndian.PutUint32(h[8:12], src.ssrc)
	pli.n = 12
	if !owner.queue.push(pli) {
		pli.release()
		return false, false
	}
	owner.wakeSender()
	return true, false
}
