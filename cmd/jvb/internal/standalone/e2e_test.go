package standalone

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// checkDecoding returns nil once every browser decodes video and audio from each of the other
// participants and the pion peer saw VP8 key frames and Opus from every browser, with the data
// channel open and ServerHello shown.
func checkDecoding(browsers []*browser, ids []string, p *pionPeer, pionID string) func() error {
	return func() error {
		all := append(append([]string(nil), ids...), pionID)
		for i, b := range browsers {
			s, err := b.stats()
			if err != nil {
				return err
			}
			if s.DCState != "open" || !s.ServerHello {
				return fmt.Errorf("browser %s: data channel %q, ServerHello %v", ids[i], s.DCState, s.ServerHello)
			}
			for _, other := range all {
				if other == ids[i] {
					continue
				}
				frames, _, samples, apkts := s.fromOwner(other)
				if frames < 20 || apkts < 20 || samples == 0 {
					return fmt.Errorf("browser %s from %s: %d video frames decoded, %d audio packets, %d samples",
						ids[i], other, frames, apkts, samples)
				}
			}
		}
		got, err := p.snapshot()
		if err != nil {
			return err
		}
		for _, id := range ids {
			r := got[id]
			if r.KeyFrames == 0 || r.VideoPackets < 50 || r.AudioPackets < 50 {
				return fmt.Errorf("pion from %s: %+v", id, r)
			}
		}
		return nil
	}
}

// TestBrowsersAndPionMeetThroughTheBridge puts two headless Chromiums (one sending SSRC
// simulcast, one a single stream) and a pion client in one room through the standalone focus
// and the in-process bridge: everyone decodes everyone's video and audio, the data channel
// carries ServerHello; when one browser leaves, its endpoint is expired on the bridge and the
// others stop receiving it.
func TestBrowsersAndPionMeetThroughTheBridge(t *testing.T) {
	exe := chromiumPath(t)
	st := startStack(t, Config{})
	a := startBrowser(t, exe, st.http.URL+"/")
	b := startBrowser(t, exe, st.http.URL+"/")
	const room = "e2e"
	idA := a.join(room, true)  // SSRC simulcast, SIM-munged like lib-jitsi-meet
	idB := b.join(room, false) // a single stream
	p := newPionPeer(t, st.http.URL)
	p.echoFrom = idA // A stays to the end: pion's own video must not depend on B
	if err := p.join(room); err != nil {
		t.Fatalf("pion join: %v", err)
	}
	browsers, ids := []*browser{a, b}, []string{idA, idB}
	waitFor(t, 30*time.Second, "everyone decodes everyone", checkDecoding(browsers, ids, p, p.ep))

	// The bridge got A's camera as SSRC simulcast (SIM group of 3, one FID per layer) and B's as
	// a single stream with RTX.
	for id, want := range map[string][]string{idA: {"FID", "FID", "FID", "SIM"}, idB: {"FID"}} {
		var got []string
		for _, ms := range st.bridge.Conferences()[0].Endpoint(id).Sources() {
			if ms.Name == id+"-v0" {
				for _, g := range ms.Groups {
					got = append(got, g.Semantics)
				}
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("bridge has video groups %v for %s, want %v", got, id, want)
		}
	}

	// Decoding keeps going: a later sample must show more frames and audio samples from each
	// sender (polled, since a loaded machine may decode nothing for a while).
	before, err := a.stats()
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "browser A keeps decoding B and pion", func() error {
		after, err := a.stats()
		if err != nil {
			return err
		}
		for _, other := range []string{idB, p.ep} {
			f0, _, s0, _ := before.fromOwner(other)
			f1, _, s1, _ := after.fromOwner(other)
			if f1 <= f0 || s1 <= s0 {
				return fmt.Errorf("browser A from %s: frames %d -> %d, audio samples %d -> %d: not growing", other, f0, f1, s0, s1)
			}
		}
		return nil
	})
	// The constraint controls reach the bridge over the data channel.
	dcBefore := st.bridge.Stats().DataChannelMessagesReceived
	if err := chromedp.Do(a.ctx,
		chromedp.SetValue(chromedp.ID("stage"), p.ep+"-v0"),
		chromedp.SetValue(chromedp.ID("height"), "720"),
		chromedp.Click(chromedp.ID("sendConstraints"))); err != nil {
		t.Fatalf("click send constraints: %v", err)
	}
	waitFor(t, 5*time.Second, "ReceiverVideoConstraints reaches the bridge", func() error {
		if n := st.bridge.Stats().DataChannelMessagesReceived; n <= dcBefore {
			return fmt.Errorf("bridge data channel messages received %d -> %d", dcBefore, n)
		}
		return nil
	})
	sent, err := eval[[]string](a, `jvbState.messages.filter(m => m.includes('"ReceiverVideoConstraints"'))`)
	// Changing a control sends at once; the button sends the current choice again.
	if err != nil || len(sent) == 0 || !strings.Contains(sent[len(sent)-1], `"onStageSources":["`+p.ep+`-v0"]`) ||
		!strings.Contains(sent[len(sent)-1], `"constraints":{"`+p.ep+`-v0":{"maxHeight":720}}`) {
		t.Errorf("page sent %q (%v), want ReceiverVideoConstraints with %s-v0 on stage at 720 last", sent, err, p.ep)
	}

	if path := os.Getenv("JVB_STANDALONE_SCREENSHOT"); path != "" {
		png, err := chromedp.Run(a.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// B leaves: the bridge expires its endpoint, A's and pion's offers drop it, media stops.
	if _, err := eval[any](b, `jvbLeave()`); err != nil {
		t.Fatalf("leave: %v", err)
	}
	waitFor(t, 10*time.Second, "bridge expires B", func() error {
		if eps := st.endpoints(); eps[idB] || !eps[idA] || !eps[p.ep] {
			return fmt.Errorf("bridge endpoints %v", eps)
		}
		return nil
	})
	waitFor(t, 10*time.Second, "A removes B's tile", func() error {
		s, err := a.stats()
		if err != nil {
			return err
		}
		for _, tile := range s.Tiles {
			if tile == idB {
				return fmt.Errorf("tiles %v", s.Tiles)
			}
		}
		return nil
	})
	// Media from B stops: packets still in flight may arrive late on a loaded machine, but a
	// bridge that kept forwarding B (which sends until it leaves) would never go quiet for 1.5 s.
	type fromB struct {
		videoBytes, audioPackets int
		pion                     received
	}
	s0, err := a.stats()
	if err != nil {
		t.Fatal(err)
	}
	quietFor(t, 20*time.Second, 1500*time.Millisecond, "A and pion stop receiving B after it left", func() (fromB, error) {
		s, err := a.stats()
		if err != nil {
			return fromB{}, err
		}
		g, err := p.snapshot()
		if err != nil {
			return fromB{}, err
		}
		_, vb, _, ap := s.fromOwner(idB)
		return fromB{vb, ap, g[idB]}, nil
	})
	// A still gets pion's media.
	waitFor(t, 15*time.Second, "A keeps decoding pion after B left", func() error {
		s1, err := a.stats()
		if err != nil {
			return err
		}
		f0, _, _, _ := s0.fromOwner(p.ep)
		f1, _, _, _ := s1.fromOwner(p.ep)
		if f1 <= f0 {
			return fmt.Errorf("A stopped decoding pion after B left: frames %d -> %d", f0, f1)
		}
		return nil
	})

	// B comes back from the same page: a new endpoint that everyone decodes again.
	idB2 := b.join(room, true)
	if idB2 == idB {
		t.Fatalf("rejoin reused endpoint id %s", idB)
	}
	waitFor(t, 30*time.Second, "everyone decodes the rejoined B", checkDecoding(browsers, []string{idA, idB2}, p, p.ep))
}

// TestClosedBrowserIsCleanedUp: a browser that goes away without pressing Leave (here its
// target is closed, which does not deliver the pagehide beacon) is removed from the bridge and
// from the others' offers once its long-poll stops for the participant timeout.
func TestClosedBrowserIsCleanedUp(t *testing.T) {
	exe := chromiumPath(t)
	st := startStack(t, Config{ParticipantTimeout: 3 * time.Second, PollTimeout: time.Second})
	p := newPionPeer(t, st.http.URL)
	if err := p.join("closed"); err != nil {
		t.Fatal(err)
	}
	b := startBrowser(t, exe, st.http.URL+"/")
	id := b.join("closed", true)
	waitFor(t, 20*time.Second, "pion receives the browser", func() error {
		got, err := p.snapshot()
		if err != nil {
			return err
		}
		if r := got[id]; r.KeyFrames == 0 || r.AudioPackets < 20 {
			return fmt.Errorf("pion from %s: %+v", id, r)
		}
		return nil
	})
	if err := chromedp.Cancel(b.ctx); err != nil {
		t.Fatalf("close browser: %v", err)
	}
	waitFor(t, 10*time.Second, "bridge expires the closed browser", func() error {
		if eps := st.endpoints(); eps[id] || !eps[p.ep] {
			return fmt.Errorf("bridge endpoints %v", eps)
		}
		return nil
	})
	waitFor(t, 5*time.Second, "pion re-offered without it", func() error {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, m := range p.mids {
			if m.owner == id {
				return fmt.Errorf("pion's offer still has %s", id)
			}
		}
		return nil
	})
}
