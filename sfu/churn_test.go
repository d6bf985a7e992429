package sfu

import (
	"fmt"
	"runtime"
	"testing"
	"weak"
)

// Endpoints joining, sending and leaving around long-lived receivers (one with SSRC rewriting,
// as jicofo asks by default, one without) leave nothing of theirs reachable once the receivers'
// retransmission histories have moved on: no projection, rewriting stream, keyframe pacing or
// other per-source state keeps a departed endpoint alive. The soak (TestSoak/join-leave) does
// this with real clients; this is its in-process check of the receivers' own state.
func TestChurnLeavesNoDepartedEndpointReachable(t *testing.T) {
	const cycles = 300
	tb, c := jvbBridge(t, nil)
	rw := joinMeet(t, c, "rw", true)
	plain := joinMeet(t, c, "plain", false)
	keep := joinMeet(t, c, "keep", false)
	const keepVideo = 50000
	if err := keep.ep.SetSources([]MediaSource{videoSource("keep-v0", keepVideo)}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*client{rw, plain} {
		endpointHandler{r.ep}.HandleDataChannelMessage([]byte(`{"colibriClass":"ReceiverVideoConstraints","defaultConstraints":{"maxHeight":720}}`), true)
	}
	flush := func() {
		tb.writer("rw").take()
		tb.writer("plain").take()
		tb.transport("rw").take()
		tb.transport("plain").take()
		tb.writer("keep").take()
		tb.transport("keep").take()
	}
	var gone []weak.Pointer[Endpoint]
	for i := range cycles {
		id := fmt.Sprintf("s%d", i)
		s := joinMeet(t, c, id, false)
		a, v := uint32(1000+2*i), uint32(100000+2*i)
		if err := s.ep.SetSources([]MediaSource{audioSource(id+"-a0", a), videoSource(id+"-v0", v)}); err != nil {
			t.Fatal(err)
		}
		settle(rw, plain, keep, s)
		for seq := uint16(1); seq <= 3; seq++ {
			s.ep.receiveOne(s.protect(t, s.opus(a, seq, 30)), false)
			s.ep.receiveOne(s.protect(t, s.vp8(v, seq, uint32(seq)*3000, seq == 1)), false)
		}
		settle(rw, plain, keep)
		rw.ep.keyframeRequested(v, int64(i+1)*1e9) // as its client would, on a new source
		plain.ep.keyframeRequested(v, int64(i+1)*1e9)
		s.ep.Expire()
		settle(rw, plain, keep)
		flush()
		gone = append(gone, weak.Make(s.ep))
	}
	sent0 := plain.ep.Stats().PacketsSent
	// The long-lived sender's video pushes every departed sender's packets out of the
	// receivers' histories (historyMax each).
	for seq := uint16(1); seq <= historyMax+10; seq++ {
		keep.ep.receiveOne(keep.protect(t, keep.vp8(keepVideo, seq, uint32(seq)*3000, seq == 1)), false)
		if seq%32 == 0 {
			settle(rw, plain, keep)
			flush()
		}
	}
	settle(rw, plain, keep)
	flush()
	if n := plain.ep.Stats().PacketsSent - sent0; n < historyMax {
		t.Fatalf("plain got %d of the long-lived sender's packets, want >= %d", n, historyMax)
	}
	runtime.GC()
	runtime.GC() // and the packet pool's victim cache
	alive := 0
	for _, w := range gone {
		if w.Value() != nil {
			alive++
		}
	}
	if alive != 0 {
		t.Errorf("%d of %d departed endpoints still reachable", alive, cycles)
	}
	for _, r := range []*client{rw, plain} {
		rs := &r.ep.rs
		if len(rs.projections) > 1 || len(rs.keyframePace.bySource) > 1 {
			t.Errorf("%s keeps %d projections and %d paced sources, want only the long-lived sender's", r.ep.id, len(rs.projections), len(rs.keyframePace.bySource))
		}
	}
}
