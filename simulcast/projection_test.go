package simulcast

import (
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

// feed runs pkts through p at 33 ms intervals from t0 and returns what was forwarded.
type out struct {
	seq uint16
	ts  uint32
}

func TestProjectionStartsOnKeyframeAndSwitchesEncodingsWithoutGaps(t *testing.T) {
	p := NewProjection(true, 90000)
	s := &Stream{SSRC: 1}
	p.SetStream(s)
	p.SetTarget(0)
	now := int64(1e12)
	var got []out
	accept := func(pkt Packet) bool {
		now += 33 * ms
		seq, ts, ok := p.Accept(pkt, now)
		if ok {
			got = append(got, out{seq, ts})
		}
		return ok
	}
	// Nothing before a keyframe of the target encoding.
	if accept(Packet{Encoding: 0, Seq: 100, TS: 9000}) {
		t.Fatal("interframe forwarded before the first keyframe")
	}
	if !p.NeedsKeyframe() {
		t.Error("NeedsKeyframe false while waiting to start")
	}
	if !accept(Packet{Encoding: 0, Seq: 101, TS: 12000, Keyframe: true, StartOfFrame: true}) {
		t.Fatal("keyframe not forwarded")
	}
	accept(Packet{Encoding: 0, Seq: 102, TS: 15000})
	accept(Packet{Encoding: 1, Seq: 5000, TS: 777000, Keyframe: true, StartOfFrame: true}) // not the target
	// Switch up: keep the low encoding until the high one's keyframe.
	p.SetTarget(1)
	accept(Packet{Encoding: 1, Seq: 5001, TS: 780000})                                     // dropped: no keyframe
	accept(Packet{Encoding: 0, Seq: 103, TS: 18000})                                       // still forwarded
	accept(Packet{Encoding: 1, Seq: 5002, TS: 783000, Keyframe: true, StartOfFrame: true}) // switch
	accept(Packet{Encoding: 0, Seq: 104, TS: 21000})                                       // old encoding: dropped
	accept(Packet{Encoding: 1, Seq: 5003, TS: 786000})
	want := []uint16{101, 102, 103, 104, 105}
	if len(got) != len(want) {
		t.Fatalf("forwarded %v, want seqs %v", got, want)
	}
	for i, o := range got {
		if o.seq != want[i] {
			t.Errorf("packet %d seq %d, want %d", i, o.seq, want[i])
		}
		if i > 0 && int32(o.ts-got[i-1].ts) <= 0 && i != 4 {
			t.Errorf("packet %d timestamp %d does not advance from %d", i, o.ts, got[i-1].ts)
		}
	}
	// The switch advances the timestamp by the wall time since the last packet (66 ms -> 5940).
	if d := got[3].ts - got[2].ts; d < 3000 || d > 9000 {
		t.Errorf("timestamp step across the switch %d, want about 66 ms of 90 kHz", d)
	}
	if got[4].ts-got[3].ts != 3000 {
		t.Errorf("within the new encoding the timestamp step is %d, want the sender's 3000", got[4].ts-got[3].ts)
	}
	if p.Current() != 1 || p.NeedsKeyframe() {
		t.Errorf("current %d, needs keyframe %v", p.Current(), p.NeedsKeyframe())
	}
}

// Padding-only packets (a sender's probe on its media SSRC) are never forwarded, never start
// or switch an encoding, and leave no gap in the output's sequence numbers.
func TestProjectionDropsPaddingWithoutAGap(t *testing.T) {
	p := NewProjection(true, 90000)
	p.SetStream(&Stream{SSRC: 1})
	p.SetTarget(0)
	now := int64(1e12)
	accept := func(pkt Packet) (uint16, bool) {
		now += 10 * ms
		seq, _, ok := p.Accept(pkt, now)
		return seq, ok
	}
	if _, ok := accept(Packet{Encoding: 0, Seq: 9, TS: 3000, Padding: true}); ok {
		t.Fatal("padding forwarded before the first keyframe")
	}
	first, ok := accept(Packet{Encoding: 0, Seq: 10, TS: 3000, Keyframe: true, StartOfFrame: true, Marker: true})
	if !ok {
		t.Fatal("keyframe not forwarded")
	}
	p.SetTarget(1)
	for seq := uint16(11); seq <= 13; seq++ {
		if _, ok := accept(Packet{Encoding: 0, Seq: seq, TS: 3000, Padding: true}); ok {
			t.Fatalf("padding %d forwarded", seq)
		}
	}
	// Padding of the target encoding is no switch point.
	if _, ok := accept(Packet{Encoding: 1, Seq: 500, TS: 6000, Padding: true}); ok || p.Current() != 0 {
		t.Fatalf("padding of the target encoding forwarded (%v) or switched to it (current %d)", ok, p.Current())
	}
	next, ok := accept(Packet{Encoding: 0, Seq: 14, TS: 6000, StartOfFrame: true, Marker: true})
	if !ok || next != first+1 {
		t.Errorf("frame after the padding: seq %d (forwarded %v), want %d: no gap", next, ok, first+1)
	}
}

func TestProjectionStopsAtOnceAndResumesOnKeyframe(t *testing.T) {
	p := NewProjection(true, 90000)
	p.SetStream(&Stream{SSRC: 1})
	p.SetTarget(0)
	now := int64(1e12)
	if _, _, ok := p.Accept(Packet{Seq: 1, TS: 1, Keyframe: true, StartOfFrame: true}, now); !ok {
		t.Fatal("keyframe dropped")
	}
	p.SetTarget(-1)
	if _, _, ok := p.Accept(Packet{Seq: 2, TS: 3001}, now+ms); ok {
		t.Error("forwarded after SetTarget(-1)")
	}
	p.SetTarget(0)
	if _, _, ok := p.Accept(Packet{Seq: 3, TS: 6001}, now+2*ms); ok {
		t.Error("resumed without a keyframe")
	}
	seq, _, ok := p.Accept(Packet{Seq: 10, TS: 30001, Keyframe: true, StartOfFrame: true}, now+3*ms)
	if !ok || seq != 2 {
		t.Errorf("resumed with seq %d (ok %v), want 2: no gap for what was not forwarded", seq, ok)
	}
}

func TestProjectionContinuesASharedStreamAcrossSources(t *testing.T) {
	// Two audio sources take turns on one slot stream (SSRC rewriting).
	slot := &Stream{SSRC: 42}
	a, b := NewProjection(false, 48000), NewProjection(false, 48000)
	a.SetTarget(0)
	b.SetTarget(0)
	now := int64(1e12)
	a.SetStream(slot)
	for i := uint16(0); i < 3; i++ {
		seq, ts, ok := a.Accept(Packet{Seq: 1000 + i, TS: 48000 + 960*uint32(i)}, now+int64(i)*20*ms)
		if !ok || seq != 1000+i || ts != 48000+960*uint32(i) {
			t.Fatalf("a packet %d: %d %d %v (a fresh stream keeps the first source's numbers)", i, seq, ts, ok)
		}
	}
	a.SetStream(nil)
	b.SetStream(slot)
	seq, ts, ok := b.Accept(Packet{Seq: 7, TS: 5}, now+1000*ms)
	if !ok || seq != 1003 {
		t.Fatalf("b continues the slot with seq %d (ok %v), want 1003", seq, ok)
	}
	if d := ts - (48000 + 960*2); d < 48000*9/10 || d > 48000*11/10 {
		t.Errorf("b's first timestamp is %d after a's last, want about 1 s of 48 kHz", d)
	}
	if _, _, ok := a.Accept(Packet{Seq: 1003, TS: 50880}, now+1020*ms); ok {
		t.Error("a still forwarded after losing the slot")
	}
}

func TestProjectionSenderReportFollowsTheForwardedEncoding(t *testing.T) {
	p := NewProjection(true, 90000)
	p.SetStream(&Stream{SSRC: 1})
	p.SetTarget(1)
	if _, ok := p.SenderReport(1, 100); ok {
		t.Error("SR passed before anything was forwarded")
	}
	p.Accept(Packet{Encoding: 1, Seq: 1, TS: 1000, Keyframe: true, StartOfFrame: true}, 1)
	if ts, ok := p.SenderReport(1, 1000); !ok || ts != 1000 {
		t.Errorf("SR of the forwarded encoding: %d %v", ts, ok)
	}
	if _, ok := p.SenderReport(0, 1000); ok {
		t.Error("SR of another encoding passed")
	}
}

func TestProjectionAcceptDoesNotAllocate(t *testing.T) {
	p := NewProjection(true, 90000)
	p.SetStream(&Stream{SSRC: 1})
	p.SetTarget(0)
	var seq uint16
	allocs := testing.AllocsPerRun(1000, func() {
		seq++
		p.Accept(Packet{Seq: seq, TS: uint32(seq) * 3000, Keyframe: true, StartOfFrame: true}, int64(seq))
	})
	if allocs != 0 {
		t.Errorf("Accept allocates %v per packet", allocs)
	}
}
