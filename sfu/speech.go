package sfu

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"gojvb/bwe"
	"gojvb/sfu/channel"
	"gojvb/sfu/speech"
)

// This file is the conference's own goroutine and the state it shares among endpoints: who
// speaks (dominant speaker from the audio levels the receive side records), the speaker order
// receivers choose sources by, and the senders' constraints aggregated over receivers.

// speechInterval is how often the conference goroutine feeds recorded audio levels to the
// speaker detector (which decides every 300 ms).
const speechInterval = 100 * time.Millisecond

// levelBuffer holds an endpoint's recent audio levels between two speechInterval ticks. The
// endpoint's socket reader appends, the conference goroutine takes; the mutex is the endpoint's
// own and is never held by two endpoints' goroutines for the packet path.
type levelBuffer struct {
	mu     sync.Mutex
	n      int
	at     [32]int64
	levels [32]uint8
}

func (l *levelBuffer) record(now int64, level uint8) {
	l.mu.Lock()
	if l.n < len(l.at) {
		l.at[l.n], l.levels[l.n] = now, level
		l.n++
	}
	l.mu.Unlock()
}

// take calls f for every recorded level and empties the buffer.
func (l *levelBuffer) take(f func(at int64, level uint8)) {
	l.mu.Lock()
	n := l.n
	at, levels := l.at, l.levels
	l.n = 0
	l.mu.Unlock()
	for i := 0; i < n; i++ {
		f(at[i], levels[i])
	}
}

// speechActivity is the conference's speaker and constraint state.
type speechActivity struct {
	mu       sync.Mutex // guards act, last, senders; may be taken while holding Conference.mu, never the reverse
	act      *speech.Activity
	last     speech.Change
	senders  *bwe.SenderConstraints
	order    atomic.Pointer[[]string] // speakers, most recent first
	changes  atomic.Uint64
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

func newSpeechActivity() *speechActivity {
	s := &speechActivity{
		act:     speech.New(speech.DefaultConfig()),
		senders: bwe.NewSenderConstraints(),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	s.order.Store(&[]string{})
	return s
}

// run is the conference goroutine; Conference.Expire stops it.
func (c *Conference) run() {
	s := c.speech
	defer close(s.done)
	t := time.NewTicker(speechInterval)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			c.detectSpeaker(now)
		case <-s.stop:
			return
		}
	}
}

func (c *Conference) stopSpeech() {
	s := c.speech
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
}

// detectSpeaker feeds the levels recorded since the last tick and announces a new dominant
// speaker to every endpoint.
func (c *Conference) detectSpeaker(now time.Time) {
	s := c.speech
	eps := *c.members.Load() // endpoints behind relays speak too: their levels came over the relay
	s.mu.Lock()
	for _, e := range eps {
		id := e.id
		e.speech.take(func(at int64, level uint8) { s.act.Level(id, level, time.Unix(0, at)) })
	}
	ch, changed := s.act.Tick(now)
	s.mu.Unlock()
	if changed {
		c.speakerChanged(ch)
	}
}

// speakerChanged publishes a new speaker order and tells every endpoint.
func (c *Conference) speakerChanged(ch speech.Change) {
	s := c.speech
	s.mu.Lock()
	s.last = ch
	order := s.act.Order()
	s.mu.Unlock()
	s.order.Store(&order)
	s.changes.Add(1)
	c.bridge.counters.dominantSpeakerChanges.Add(1)
	c.log.Debug("dominant speaker", "endpoint", ch.Dominant, "silence", ch.Silence)
	msg := dominantSpeakerMessage(ch)
	for _, e := range *c.receivers.Load() {
		if e.kind == kindLocal { // every bridge finds the speaker itself
			e.sendMessage(msg)
		}
	}
	c.kickAll()
	if !ch.Silence {
		c.preemptKeyframe(ch.Dominant)
	}
}

func dominantSpeakerMessage(ch speech.Change) *channel.DominantSpeakerEndpointChangeEvent {
	dominant, prev := ch.Dominant, ch.Previous
	if dominant == "" && len(prev) > 0 {
		// Silence: JVB names the last speaker, flagged silent.
		dominant, prev = prev[0], prev[1:]
	}
	if prev == nil {
		prev = []string{}
	}
	return &channel.DominantSpeakerEndpointChangeEvent{DominantSpeakerEndpoint: dominant, PreviousSpeakers: prev, Silence: ch.Silence}
}

// speakerOrder is the order receiver e ranks endpoints by: recent speakers first, then the
// others as they joined; e itself is left out.
func (c *Conference) speakerOrder(e *Endpoint) []string {
	spoken := *c.speech.order.Load()
	eps := *c.members.Load()
	out := make([]string, 0, len(eps))
	for _, id := range spoken {
		if id != e.id {
			out = append(out, id)
		}
	}
	for _, r := range eps {
		if r != e && !slices.Contains(spoken, r.id) {
			out = append(out, r.id)
		}
	}
	return out
}

// isRecentSpeaker reports whether id is among the recent speakers.
func (c *Conference) isRecentSpeaker(id string) bool {
	s := c.speech
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last.Dominant == id || slices.Contains(s.last.Previous, id)
}

// greet sends a newly connected endpoint the current speakers and the constraints on its own
// sources.
func (c *Conference) greet(e *Endpoint) {
	s := c.speech
	c.mu.Lock()
	tracks := slices.Clone(e.tracks)
	c.mu.Unlock()
	s.mu.Lock()
	last := s.last
	var constraints []*channel.SenderSourceConstraints
	for _, t := range tracks {
		if max, ok := s.senders.Max(t.name); ok && t.media == MediaVideo {
			constraints = append(constraints, &channel.SenderSourceConstraints{SourceName: t.name, MaxHeight: max})
		}
	}
	s.mu.Unlock()
	for _, m := range constraints {
		e.sendMessage(m)
	}
	if last.Dominant != "" || len(last.Previous) > 0 {
		e.sendMessage(dominantSpeakerMessage(last))
	}
}

// receiverConstraints records receiver r's effective constraints (source name -> max height)
// and sends SenderSourceConstraints to the owners of the sources whose maximum changed.
func (c *Conference) receiverConstraints(r *Endpoint, effective map[string]int) {
	s := c.speech
	s.mu.Lock()
	changed := s.senders.Set(r.id, effective)
	s.mu.Unlock()
	c.sendSenderConstraints(changed)
}

// receiverGone removes an expired endpoint from the conference's shared state.
func (c *Conference) receiverGone(e *Endpoint) {
	s := c.speech
	s.mu.Lock()
	changed := s.senders.RemoveReceiver(e.id)
	ch, speakerChanged := s.act.Remove(e.id, time.Now())
	s.mu.Unlock()
	c.sendSenderConstraints(changed)
	if speakerChanged {
		c.speakerChanged(ch)
	}
}

func (c *Conference) sendSenderConstraints(changed map[string]int) {
	if len(changed) == 0 {
		return
	}
	sm := c.sources.Load()
	for _, t := range sm.tracks {
		max, ok := changed[t.name]
		switch {
		case !ok || t.media != MediaVideo:
		case t.owner.kind == kindRemote: // the other bridge's receivers ask for it
			t.owner.relay.addReceiver(t.name, max)
		default:
			t.owner.sendMessage(&channel.SenderSourceConstraints{SourceName: t.name, MaxHeight: max})
		}
	}
}

// setVideoType applies an endpoint's SourceVideoTypeMessage to one of its sources, or keeps it
// until the source is signalled.
func (c *Conference) setVideoType(e *Endpoint, name, videoType string) {
	vt := bwe.ParseVideoType(videoType)
	c.mu.Lock()
	var found bool
	for _, t := range e.tracks {
		if t.name == name && t.media == MediaVideo {
			found = true
			if bwe.VideoType(t.videoType.Swap(uint32(vt))) == vt {
				c.mu.Unlock()
				return
			}
		}
	}
	if !found && len(e.videoTypes) < maxPendingVideoTypes {
		e.videoTypes[name] = videoType
	}
	c.mu.Unlock()
	if found {
		c.kickAll()
	}
}

// maxPendingVideoTypes bounds the video types kept for sources an endpoint has not signalled.
const maxPendingVideoTypes = 16

// kickAll makes every endpoint re-run its choice of sources.
func (c *Conference) kickAll() {
	for _, e := range *c.receivers.Load() {
		e.kick()
	}
}
