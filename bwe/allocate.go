package bwe

// SourceAllocation is what one receiver gets of one source.
type SourceAllocation struct {
	Name, Owner string
	Constraints Constraints // effective: after video type and LastN
	Encoding    int         // index into the source's Heights; -1 = not forwarded
}

// Allocation is what one receiver gets of the whole conference.
type Allocation struct {
	Sources   []SourceAllocation // every considered source, in priority order
	Forwarded []string           // names of the sources with Encoding >= 0, in priority order
}

// Allocate computes the receiver's effective constraints and, while there is no bandwidth
// estimation, the encoding of every source as if bandwidth were unlimited.
//
// Effective constraints walk the Prioritize order: a disabled video type gets 0; once
// EffectiveLastN sources with non-zero constraints have been counted every further source gets
// 0; any other source gets the receiver's constraint for it (its own entry, else the default).
// Constraints naming unknown sources are ignored.
//
// A source with non-zero effective constraints gets the highest encoding whose height is at most
// MaxHeight (the highest one when unlimited, the lowest when even that is taller), or encoding 0
// when its heights are not known yet.
func Allocate(cfg Config, speakerOrder []string, sources []Source, s Settings) Allocation {
	ordered := Prioritize(speakerOrder, sources, s)
	lastN := EffectiveLastN(cfg, s)
	a := Allocation{Sources: make([]SourceAllocation, len(ordered))}
	counted := 0
	for i, src := range ordered {
		c := nothing
		if src.Type.Enabled() && (lastN < 0 || counted < lastN) {
			c = s.ConstraintsFor(src.Name)
			if !c.Disabled() {
				counted++
			}
		}
		enc := -1
		if !c.Disabled() {
			enc = chooseEncoding(src.Heights, c.MaxHeight)
			a.Forwarded = append(a.Forwarded, src.Name)
		}
		a.Sources[i] = SourceAllocation{Name: src.Name, Owner: src.Owner, Constraints: c, Encoding: enc}
	}
	return a
}

// EffectiveMaxHeights is the effective MaxHeight per source name, the receiver's contribution to
// SenderConstraints.Set. Like JVB it carries the height even when a zero frame rate disables
// the source.
func (a Allocation) EffectiveMaxHeights() map[string]int {
	m := make(map[string]int, len(a.Sources))
	for _, sa := range a.Sources {
		m[sa.Name] = sa.Constraints.MaxHeight
	}
	return m
}

// chooseEncoding picks the highest-indexed encoding whose height is at most maxHeight (any
// height when maxHeight is negative), or 0 when none fits or no heights are known.
func chooseEncoding(heights []int, maxHeight int) int {
	if maxHeight < 0 {
		return max(len(heights)-1, 0)
	}
	best := 0
	for i, h := range heights {
		if h <= maxHeight {
			best = i
		}
	}
	return best
}
