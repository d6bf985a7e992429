package bwe

import (
	"maps"
	"math"
	"slices"
)

// Unlimited is the MaxHeight and MaxFrameRate value that means "no limit".
const Unlimited = -1

// Constraints is one VideoConstraints value: MaxHeight in pixels and MaxFrameRate in frames per
// second, where -1 means unlimited and 0 means "forward nothing". The zero value is therefore
// disabled: use HeightOnly to build a height limit with an unlimited frame rate.
type Constraints struct {
	MaxHeight    int
	MaxFrameRate float64
}

// HeightOnly is a constraint on height alone (frame rate unlimited), which is what a
// VideoConstraints JSON object without "maxFrameRate" means.
func HeightOnly(maxHeight int) Constraints {
	return Constraints{MaxHeight: maxHeight, MaxFrameRate: Unlimited}.normalized()
}

// Disabled reports whether c forwards nothing: a zero height or a zero frame rate. A frame rate
// limit above zero is otherwise not applied (as in JVB, no layer is filtered by frame rate).
func (c Constraints) Disabled() bool { return c.MaxHeight == 0 || c.MaxFrameRate == 0 }

// normalized maps every negative (or NaN) limit to Unlimited, so hostile values such as -5 behave
// like -1 and equality comparisons are well defined.
func (c Constraints) normalized() Constraints {
	if c.MaxHeight < 0 {
		c.MaxHeight = Unlimited
	}
	if c.MaxFrameRate < 0 || math.IsNaN(c.MaxFrameRate) {
		c.MaxFrameRate = Unlimited
	}
	return c
}

// nothing is the effective constraint of a source that must not be forwarded.
var nothing = Constraints{MaxHeight: 0, MaxFrameRate: Unlimited}

// Config holds the videobridge.cc (and ssrc-limit) settings allocation depends on.
type Config struct {
	InitialLastN              int     // videobridge.cc.initial-last-n
	JVBLastN                  int     // videobridge.cc.jvb-last-n
	SSRCLimitVideo            int     // videobridge.ssrc-limit.video: caps LastN even without SSRC rewriting
	DefaultMaxHeight          int     // videobridge.cc.default-max-height-px: default after the first message
	InitialMaxHeight          int     // videobridge.cc.initial-max-height-px: default before any message
	OnstagePreferredHeight    int     // videobridge.cc.onstage-preferred-height-px (for the bandwidth loop)
	OnstagePreferredFramerate float64 // videobridge.cc.onstage-preferred-framerate (for the bandwidth loop)
}

// DefaultConfig is JVB's reference.conf.
func DefaultConfig() Config {
	return Config{
		InitialLastN:              -1,
		JVBLastN:                  -1,
		SSRCLimitVideo:            50,
		DefaultMaxHeight:          180,
		InitialMaxHeight:          0,
		OnstagePreferredHeight:    360,
		OnstagePreferredFramerate: 30,
	}
}

// Settings is one receiver's accumulated ReceiverVideoConstraints state. Build it with
// NewSettings; change it only through Apply and SetLastN so the first-message rule holds.
// Apply replaces slices and maps rather than editing them, so a copy of a Settings value is a
// stable snapshot that may be handed to another goroutine.
type Settings struct {
	LastN     int      // -1 = unlimited
	Selected  []string // selectedSources, in selection order
	OnStage   []string // onStageSources, in order
	Default   Constraints
	PerSource map[string]Constraints // constraints by source name; nil = none

	gotFirst bool // a ReceiverVideoConstraints message has been applied
}

// NewSettings is a receiver's state before its first ReceiverVideoConstraints: LastN from the
// config (or from COLIBRI2 initial-last-n when that is not -1) and the initial max height, which
// is 0 by default so nothing is forwarded until the client says what it wants.
func NewSettings(cfg Config, initialLastN int) Settings {
	s := Settings{
		LastN:   normLastN(cfg.InitialLastN),
		Default: HeightOnly(cfg.InitialMaxHeight),
	}
	if initialLastN >= 0 {
		s.LastN = initialLastN
	}
	return s
}

// Update mirrors one ReceiverVideoConstraints message. A nil pointer or map, or a false Has flag,
// means the field was absent and leaves the state unchanged; a present empty list or map
// replaces the previous one.
type Update struct {
	LastN       *int
	Selected    []string
	OnStage     []string
	HasSelected bool
	HasOnStage  bool
	Default     *Constraints
	PerSource   map[string]Constraints // nil = absent
}

// Apply merges u into s and reports whether anything changed. The first message that carries
// no defaultConstraints sets the default to cfg.DefaultMaxHeight; later ones keep it. Negative
// values are read as unlimited. s keeps copies of u's slices and map.
func (s *Settings) Apply(cfg Config, u Update) (changed bool) {
	if u.LastN != nil {
		if n := normLastN(*u.LastN); n != s.LastN {
			s.LastN, changed = n, true
		}
	}
	if u.HasSelected && !slices.Equal(s.Selected, u.Selected) {
		s.Selected, changed = slices.Clone(u.Selected), true
	}
	if u.HasOnStage && !slices.Equal(s.OnStage, u.OnStage) {
		s.OnStage, changed = slices.Clone(u.OnStage), true
	}
	def, hasDef := s.Default, false
	switch {
	case u.Default != nil:
		def, hasDef = u.Default.normalized(), true
	case !s.gotFirst:
		def, hasDef = HeightOnly(cfg.DefaultMaxHeight), true
	}
	if hasDef && def != s.Default {
		s.Default, changed = def, true
	}
	if u.PerSource != nil {
		per := make(map[string]Constraints, len(u.PerSource))
		for name, c := range u.PerSource {
			per[name] = c.normalized()
		}
		if !maps.Equal(s.PerSource, per) {
			changed = true
		}
		s.PerSource = per
	}
	s.gotFirst = true
	return changed
}

// SetLastN sets LastN outside a ReceiverVideoConstraints message (COLIBRI2 initial-last-n, the
// legacy LastNChangedEvent) and reports whether it changed.
func (s *Settings) SetLastN(n int) bool {
	n = normLastN(n)
	if n == s.LastN {
		return false
	}
	s.LastN = n
	return true
}

// ConstraintsFor is the receiver's constraint for a source: its own entry, else the default.
func (s Settings) ConstraintsFor(source string) Constraints {
	if c, ok := s.PerSource[source]; ok {
		return c.normalized()
	}
	return s.Default.normalized()
}

func normLastN(n int) int {
	if n < 0 {
		return -1
	}
	return n
}
