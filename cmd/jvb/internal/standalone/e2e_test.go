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

// originalSSRCs returns the SSRCs endpoint id signalled to the bridge.
func (st *stack) originalSSRCs(id string) map[uint32]bool {
	out := map[uint32]bool{}
	for _, c := range st.bridge.Conferences() {
		if e := c.Endpoint(id); e != nil {
			for _, ms := range e.Sources() {
				for _, s := range ms.Sources {
					out[s.SSRC] = true
				}
			}
		}
	}
	return out
}

// checkRewritten returns nil once every browser (all with SSRC rewriting) gets each other
// participant's video and audio only on SSRCs that a VideoSourcesMap/AudioSourcesMap announced
// for that participant, none of them the participant's own, with video frames decoded and
// audio energy received on them, and the bridge channel showing the forwarded sources.
func checkRewritten(st *stack, browsers []*browser, ids, others []string) func() error {
	return func() error {
		for i, b := range browsers {
			s, err := b.stats()
			if err != nil {
				return err
			}
			if !s.SSRCRewriting || s.Received["VideoSourcesMap"] == 0 || s.Received["AudioSourcesMap"] == 0 {
				return fmt.Errorf("browser %s: rewriting %v, received %v", ids[i], s.SSRCRewriting, s.Received)
			}
			for _, other := range append(slices.Clone(ids), others...) {
				if other == ids[i] {
					continue
				}
				frames, energy, unmapped := s.fromMapped(other)
				if len(unmapped) > 0 || frames < 20 || energy <= 0 {
					return fmt.Errorf("browser %s from %s: %d frames decoded and audio energy %g on mapped SSRCs, "+
						"inbound SSRCs %v not from a source map", ids[i], other, frames, energy, unmapped)
				}
				own := st.originalSSRCs(other)
				for _, m := range s.Mapped {
					if m.Owner == other && (own[m.SSRC] || own[m.RTX]) {
						return fmt.Errorf("browser %s: %s mapped to %s's own SSRC %d/%d", ids[i], m.Source, other, m.SSRC, m.RTX)
					}
				}
				if !slices.Contains(s.Forwarded, other+"-v0") {
					return fmt.Errorf("browser %s shows forwarded sources %v, want %s-v0 among them", ids[i], s.Forwarded, other)
				}
			}
		}
		return nil
	}
}

// sentOnOpen checks that the page sent the tile-view ReceiverVideoConstraints by itself when its
// bridge channel opened (nothing is forwarded to it before that).
func sentOnOpen(t *testing.T, b *browser, id string) {
	t.Helper()
	sent, err := eval[[]string](b, `jvbState.messages.filter(m => m.startsWith('→') && m.includes('"ReceiverVideoConstraints"'))`)
	if err != nil || len(sent) == 0 || !strings.Contains(sent[0], `"lastN":-1`) ||
		!strings.Contains(sent[0], `"defaultConstraints":{"maxHeight":180}`) {
		t.Errorf("browser %s sent %q (%v), want ReceiverVideoConstraints with lastN -1 and maxHeight 180 first", id, sent, err)
	}
}

// TestBrowsersAndPionMeetThroughTheBridge puts two headless Chromiums with SSRC rewriting (one
// sending SSRC simulcast, one a single stream) and a pion client without it in one room through
// the standalone focus and the in-process bridge: everyone decodes everyone's video and audio,
// the browsers only on SSRCs announced in source maps; the data channel carries ServerHello and
// ForwardedSources; when one browser leaves, its endpoint is expired on the bridge and the
// others stop receiving it.
func TestBrowsersAndPionMeetThroughTheBridge(t *testing.T) {
	exe := chromiumPath(t)
	st := startStack(t, Config{})
	a := startBrowser(t, exe, st.http.URL+"/")
	b := startBrowser(t, exe, st.http.URL+"/")
	const room = "e2e"
	idA := a.join(room, true, true)  // SSRC simulcast, SIM-munged like lib-jitsi-meet
	idB := b.join(room, false, true) // a single stream
	p := newPionPeer(t, st.http.URL)
	p.echoFrom = idA // A stays to the end: pion's own video must not depend on B
	if err := p.join(room); err != nil {
		t.Fatalf("pion join: %v", err)
	}
	browsers, ids := []*browser{a, b}, []string{idA, idB}
	waitFor(t, 30*time.Second, "everyone decodes everyone", checkDecoding(browsers, ids, p, p.ep))
	waitFor(t, 15*time.Second, "browsers get everyone on rewritten SSRCs", checkRewritten(st, browsers, ids, []string{p.ep}))
	for id, want := range map[string]bool{idA: true, idB: true, p.ep: false} {
		if got := st.bridge.Conferences()[0].Endpoint(id).Config().SSRCRewriting; got != want {
			t.Errorf("bridge endpoint %s has SSRC rewriting %v, want %v", id, got, want)
		}
	}
	sentOnOpen(t, a, idA)
	sentOnOpen(t, b, idB)

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

	// Decoding keeps going: a later sample must show more frames and audio from each sender on
	// the mapped SSRCs (polled, since a loaded machine may decode nothing for a while).
	for i, br := range browsers {
		before, err := br.stats()
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 15*time.Second, "browser "+ids[i]+" keeps decoding the others", func() error {
			after, err := br.stats()
			if err != nil {
				return err
			}
			for _, other := range []string{idA, idB, p.ep} {
				if other == ids[i] {
					continue
				}
				f0, e0, _ := before.fromMapped(other)
				f1, e1, _ := after.fromMapped(other)
				_, _, s0, _ := before.fromOwner(other)
				_, _, s1, _ := after.fromOwner(other)
				if f1 <= f0 || e1 <= e0 || s1 <= s0 {
					return fmt.Errorf("from %s on mapped SSRCs: frames %d -> %d, audio energy %g -> %g, samples %d -> %d: not growing",
						other, f0, f1, e0, e1, s0, s1)
				}
			}
			return nil
		})
	}
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
	idB2 := b.join(room, true, true)
	if idB2 == idB {
		t.Fatalf("rejoin reused endpoint id %s", idB)
	}
	waitFor(t, 30*time.Second, "everyone decodes the rejoined B", checkDecoding(browsers, []string{idA, idB2}, p, p.ep))
	waitFor(t, 15*time.Second, "the rejoined B on rewritten SSRCs", checkRewritten(st, browsers, []string{idA, idB2}, []string{p.ep}))

	// A known SSRC mapped to another source is relabelled in place, as lib-jitsi-meet does: no
	// new m-line, the stream keeps decoding under its new owner. (The message is injected on A's
	// channel, so this comes last.)
	s, err := a.stats()
	if err != nil {
		t.Fatal(err)
	}
	var ssrc uint32
	for _, m := range s.Mapped {
		if m.Kind == "video" && m.Owner == idB2 {
			ssrc = m.SSRC
		}
	}
	transceivers := `jvbState.pc.getTransceivers().length`
	n0, err := eval[int](a, transceivers)
	if err != nil || ssrc == 0 {
		t.Fatalf("A: %d transceivers (%v), B's video on SSRC %d", n0, err, ssrc)
	}
	relabel := fmt.Sprintf(`{"colibriClass":"VideoSourcesMap","mappedSources":[{"source":"%s-v1","owner":"%s","ssrc":%d,"rtx":1,"videoType":"CAMERA"}]}`,
		p.ep, p.ep, ssrc)
	if _, err := eval[any](a, fmt.Sprintf(`jvbState.dc.onmessage({data: %q})`, relabel)); err != nil {
		t.Fatal(err)
	}
	before, err := a.stats()
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "A shows B's old SSRC under its new owner", func() error {
		s, err := a.stats()
		if err != nil {
			return err
		}
		n, err := eval[int](a, transceivers)
		if err != nil || n != n0 {
			return fmt.Errorf("%d transceivers after the relabel, %d before (%v)", n, n0, err)
		}
		frames := func(s pageStats) int {
			for _, in := range s.Inbound {
				if in.SSRC == ssrc && in.Owner == p.ep && in.Source == p.ep+"-v1" {
					return in.FramesDecoded
				}
			}
			return -1
		}
		if f0, f1 := frames(before), frames(s); f1 <= f0 || f0 < 0 {
			return fmt.Errorf("SSRC %d labelled %s-v1: frames %d -> %d", ssrc, p.ep, f0, f1)
		}
		return nil
	})
}

// TestBrowsersWithOriginalSSRCs: two Chromiums that join with ?ssrc-rewriting=0 learn each
// other's sources from the focus's offers and get them on the senders' own primary SSRCs; no
// source map is sent, and the bridge endpoints have no SSRC rewriting.
func TestBrowsersWithOriginalSSRCs(t *testing.T) {
	exe := chromiumPath(t)
	st := startStack(t, Config{})
	a := startBrowser(t, exe, st.http.URL+"/?ssrc-rewriting=0")
	b := startBrowser(t, exe, st.http.URL+"/?ssrc-rewriting=0")
	// The query string unticks the page's switch; join the way a user does, with the form.
	if err := chromedp.Do(a.ctx, chromedp.SetValue(chromedp.ID("room"), "plain"), chromedp.Click(chromedp.ID("joinBtn"))); err != nil {
		t.Fatalf("join with the form: %v", err)
	}
	var idA string
	waitFor(t, 15*time.Second, "A joined from the form", func() error {
		s, err := a.stats()
		if err != nil {
			return err
		}
		if s.EndpointID == "" || s.SSRCRewriting {
			return fmt.Errorf("A: endpoint %q, rewriting %v", s.EndpointID, s.SSRCRewriting)
		}
		idA = s.EndpointID
		return nil
	})
	idB := b.join("plain", true, false)
	ids := []string{idA, idB}
	waitFor(t, 30*time.Second, "both decode each other on the original SSRCs", func() error {
		for i, br := range []*browser{a, b} {
			other := ids[1-i]
			s, err := br.stats()
			if err != nil {
				return err
			}
			if len(s.Mapped) != 0 || s.Received["VideoSourcesMap"] != 0 || s.Received["AudioSourcesMap"] != 0 {
				return fmt.Errorf("browser %s got source maps: %v %+v", ids[i], s.Received, s.Mapped)
			}
			own := st.originalSSRCs(other)
			for _, in := range s.Inbound {
				if in.Owner == other && !own[in.SSRC] {
					return fmt.Errorf("browser %s gets %s's %s on SSRC %d, not one of its own %v", ids[i], other, in.Kind, in.SSRC, own)
				}
			}
			frames, _, samples, apkts := s.fromOwner(other)
			if frames < 20 || apkts < 20 || samples == 0 {
				return fmt.Errorf("browser %s from %s: %d video frames decoded, %d audio packets, %d samples", ids[i], other, frames, apkts, samples)
			}
		}
		return nil
	})
	for i, br := range []*browser{a, b} {
		if st.bridge.Conferences()[0].Endpoint(ids[i]).Config().SSRCRewriting {
			t.Errorf("bridge endpoint %s has SSRC rewriting, the page asked for none", ids[i])
		}
		sentOnOpen(t, br, ids[i])
	}
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
	id := b.join("closed", true, true)
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
