package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Presets are the named meetings of --preset: the scenarios operators care about, with every
// feature of the bridge in use.
var presets = map[string]func() Scenario{
	// meeting100: 100 endpoints in one conference; 25 of them have camera and microphone on
	// (3-encoding VP8 simulcast and opus), the rest are muted. Everyone is in tile view with
	// lastN 25 and 180p thumbnails; a few receivers have the first sender on stage at 720p. The
	// dominant speaker changes every few seconds (audio levels: the speaker loud, the others'
	// microphones open but silent). transport-cc feedback and NACKs from every receiver.
	"meeting100": func() Scenario {
		s := DefaultScenario()
		s.Conferences, s.Participants, s.Senders, s.AudioSenders = 1, 100, 25, 25
		s.LastN, s.MaxHeight = 25, 180
		s.OnStageReceivers, s.OnStageHeight = 5, 720
		s.SpeakerInterval = 3 * time.Second
		s.NACK = true
		s.MirrorRelay = true
		s.RampUp, s.Warmup = 10*time.Second, 4*time.Second
		return s
	},
	// lecture: one speaker (camera and microphone) on stage at 720p for 300 receivers.
	"lecture": func() Scenario {
		s := DefaultScenario()
		s.Conferences, s.Participants, s.Senders, s.AudioSenders = 1, 301, 1, 1
		s.LastN, s.MaxHeight = 25, 180
		s.OnStageReceivers, s.OnStageHeight = -1, 720
		s.NACK = true
		s.MirrorRelay = true
		s.RampUp, s.Warmup = 20*time.Second, 4*time.Second
		return s
	},
}

// PresetNames lists the presets, sorted.
func PresetNames() []string {
	var n []string
	for k := range presets {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}

// Preset returns the named scenario.
func Preset(name string) (Scenario, error) {
	f, ok := presets[name]
	if !ok {
		return Scenario{}, fmt.Errorf("unknown preset %q (have %s)", name, strings.Join(PresetNames(), ", "))
	}
	s := f()
	s.Name = name
	return s, nil
}

// audioSenders is how many endpoints per conference send audio: the first ones.
func (s Scenario) audioSenders() int {
	if s.AudioSenders <= 0 {
		return s.senders()
	}
	return min(s.AudioSenders, s.Participants)
}

// isOnStage says whether participant pi (0-based) watches the first sender on stage: the last
// OnStageReceivers receive-only participants (all of them for -1).
func (s Scenario) isOnStage(pi int) bool {
	if s.OnStageReceivers == 0 || pi < max(s.senders(), s.audioSenders()) {
		return false
	}
	if s.OnStageReceivers < 0 {
		return true
	}
	return pi >= s.Participants-s.OnStageReceivers
}

// speakerAt is the index (among a conference's audio senders) of the dominant speaker at now:
// the speaker changes every interval, round robin, from start. -1 when nobody is scripted to
// speak (interval <= 0 or no audio sender): then every sender speaks at random levels.
func speakerAt(start, now time.Time, interval time.Duration, audioSenders int) int {
	if interval <= 0 || audioSenders <= 0 {
		return -1
	}
	d := now.Sub(start)
	if d < 0 {
		d = 0
	}
	return int(d/interval) % audioSenders
}

// speakerSchedule is the shared clock of a conference's speaker changes; each audio sender
// asks it whether it is the one speaking now.
type speakerSchedule struct {
	start    time.Time
	interval time.Duration
	senders  int
}

func (s *speakerSchedule) speaking(index int) func(time.Time) bool {
	return func(now time.Time) bool { return speakerAt(s.start, now, s.interval, s.senders) == index }
}

// constraints is the ReceiverVideoConstraints one endpoint sends when its bridge channel opens.
type constraints struct {
	lastN, maxHeight int
	onStage          string // source name on stage, "" = tile view only
	onStageHeight    int
}
