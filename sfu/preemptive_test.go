package sfu

import (
	"testing"

	"github.com/pion/rtcp"

	"gojvb/sfu/speech"
)

// plisTo drains cl's send side and returns the media SSRCs of the PLIs it was sent.
func plisTo(t *testing.T, tb *testBridge, cl *client) []uint32 {
	t.Helper()
	cl.ep.drain()
	var ssrcs []uint32
	for _, p := range rtcpAt(t, tb, cl) {
		if pli, ok := p.(*rtcp.PictureLossIndication); ok {
			ssrcs = append(ssrcs, pli.MediaSSRC)
		}
	}
	return ssrcs
}

// A new dominant speaker is asked for a keyframe at once (after the receivers' RTT) when some
// other endpoint has a camera on its stage, as JVB does; with nobody's stage showing a camera
// the request is suppressed, and a two-party call never asks.
func TestNewSpeakerIsAskedForAKeyframeWhenACameraIsOnStage(t *testing.T) {
	tb, c := jvbBridge(t, nil)
	a := joinMeet(t, c, "a", false)
	b := joinMeet(t, c, "b", false)
	if err := a.ep.SetSources([]MediaSource{audioSource("a-a0", 1), videoSource("a-v0", 2)}); err != nil {
		t.Fatal(err)
	}
	if err := b.ep.SetSources([]MediaSource{audioSource("b-a0", 3), videoSource("b-v0", 4)}); err != nil {
		t.Fatal(err)
	}
	settle(a, b)
	stats := func() (sent, suppressed uint64) {
		s := tb.Stats()
		return s.PreemptiveKeyframeRequestsSent, s.PreemptiveKeyframeRequestsSuppressed
	}
	c.speakerChanged(speech.Change{Dominant: "a"})
	if sent, sup := stats(); sent != 0 || sup != 0 {
		t.Fatalf("two endpoints: %d sent, %d suppressed, want neither", sent, sup)
	}

	r := joinMeet(t, c, "r", false)
	settle(r)
	c.speakerChanged(speech.Change{Dominant: "a", Previous: []string{"b"}})
	if sent, sup := stats(); sent != 0 || sup != 1 {
		t.Fatalf("nobody's stage shows a camera: %d sent, %d suppressed, want 0 and 1", sent, sup)
	}
	if got := plisTo(t, tb, a); len(got) != 0 {
		t.Fatalf("suppressed request reached a: PLIs for %v", got)
	}

	r.say(`{"colibriClass":"ReceiverVideoConstraints","lastN":-1,"onStageSources":["b-v0"]}`)
	settle(r)
	c.speakerChanged(speech.Change{Dominant: "a", Previous: []string{"b"}})
	if sent, _ := stats(); sent != 1 {
		t.Fatalf("r has b's camera on stage: %d sent, want 1", sent)
	}
	var got []uint32
	waitFor(t, "the delayed PLI to a", func() bool {
		got = append(got, plisTo(t, tb, a)...)
		return len(got) > 0
	})
	if len(got) != 1 || got[0] != 2 {
		t.Fatalf("a got PLIs for %v, want one for its camera's primary SSRC 2", got)
	}
	// The new speaker's own stage does not count.
	r.say(`{"colibriClass":"ReceiverVideoConstraints","lastN":-1,"onStageSources":[]}`)
	settle(r)
	b.say(`{"colibriClass":"ReceiverVideoConstraints","lastN":-1,"onStageSources":["a-v0"]}`)
	settle(b)
	c.speakerChanged(speech.Change{Dominant: "b", Previous: []string{"a"}})
	if sent, sup := stats(); sent != 1 || sup != 2 {
		t.Errorf("only the new speaker stages a camera: %d sent, %d suppressed, want 1 and 2", sent, sup)
	}
}
