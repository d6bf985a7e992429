package bwe

import (
	"fmt"
	"testing"
)

// bytesReader hands out fuzz bytes, then zeros.
type bytesReader []byte

func (r *bytesReader) next() int {
	if len(*r) == 0 {
		return 0
	}
	b := (*r)[0]
	*r = (*r)[1:]
	return int(b)
}

func (r *bytesReader) pick(vals ...int) int { return vals[r.next()%len(vals)] }

var fuzzHeights = []int{-1, 0, 100, 180, 360, 720, 1080}

func (r *bytesReader) constraints() Constraints {
	fr := []float64{-1, 0, 15, 30}[r.next()%4]
	return Constraints{MaxHeight: r.pick(fuzzHeights...), MaxFrameRate: fr}
}

func (r *bytesReader) names(prefix string, mod int) []string {
	n := r.next() % 4
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, r.next()%mod)
	}
	return out
}

// fuzzConference decodes a config, a receiver's settings (through Apply), the speaker order and
// the sources from data. Endpoint e6 owns sources but is never in the speaker order.
func fuzzConference(data []byte) (Config, []string, []Source, Settings) {
	r := bytesReader(data)
	cfg := DefaultConfig()
	cfg.JVBLastN = r.next()%12 - 2
	cfg.SSRCLimitVideo = r.next()%12 - 2
	s := NewSettings(cfg, r.next()%6-2)
	for range r.next() % 3 {
		var u Update
		if r.next()%2 == 1 {
			n := r.next()%14 - 3
			u.LastN = &n
		}
		u.HasSelected = r.next()%2 == 1
		u.Selected = r.names("s", 14)
		u.HasOnStage = r.next()%2 == 1
		u.OnStage = r.names("s", 14)
		if r.next()%2 == 1 {
			c := r.constraints()
			u.Default = &c
		}
		if r.next()%2 == 1 {
			u.PerSource = make(map[string]Constraints)
			for _, name := range r.names("s", 14) {
				u.PerSource[name] = r.constraints()
			}
		}
		s.Apply(cfg, u)
	}
	speakers := r.names("e", 7)
	speakers = append(speakers, r.names("e", 6)...)
	sources := make([]Source, r.next()%13)
	for i := range sources {
		sources[i] = Source{
			Name:  fmt.Sprintf("s%d", r.next()%12),
			Owner: fmt.Sprintf("e%d", r.next()%7),
			Type:  VideoType(r.next() % 6), // 5 is not a defined type
		}
		for range r.next() % 4 {
			sources[i].Heights = append(sources[i].Heights, r.pick(fuzzHeights[1:]...))
		}
	}
	return cfg, speakers, sources, s
}

func FuzzAllocate(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 11, 1, 1, 1, 3, 1, 2, 1, 0, 1, 1, 4, 1, 1, 0, 2, 0, 1, 3, 3, 0, 1, 2, 6, 2, 5, 0, 3, 3, 4, 5})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, speakers, sources, s := fuzzConference(data)
		a := Allocate(cfg, speakers, sources, s)

		lastN := EffectiveLastN(cfg, s)
		if lastN >= 0 && len(a.Forwarded) > lastN {
			t.Fatalf("forwarded %d sources with effective lastN %d: %v", len(a.Forwarded), lastN, a.Forwarded)
		}
		inSpeakers := make(map[string]bool)
		for _, e := range speakers {
			inSpeakers[e] = true
		}
		known := make(map[string]Source) // first source of each name among the considered owners
		for _, src := range sources {
			if _, dup := known[src.Name]; !dup && inSpeakers[src.Owner] {
				known[src.Name] = src
			}
		}
		if len(a.Sources) != len(known) {
			t.Fatalf("%d source allocations for %d distinct considered sources", len(a.Sources), len(known))
		}
		forwarded := 0
		for _, sa := range a.Sources {
			src, ok := known[sa.Name]
			if !ok || src.Owner != sa.Owner {
				t.Fatalf("allocation for unknown source %q of %q", sa.Name, sa.Owner)
			}
			if sa.Encoding < -1 || sa.Encoding >= max(len(src.Heights), 1) {
				t.Fatalf("%s: encoding %d out of range for heights %v", sa.Name, sa.Encoding, src.Heights)
			}
			if (sa.Encoding >= 0) == sa.Constraints.Disabled() {
				t.Fatalf("%s: encoding %d with effective constraints %+v", sa.Name, sa.Encoding, sa.Constraints)
			}
			if !src.Type.Enabled() && sa.Encoding >= 0 {
				t.Fatalf("%s: disabled video type %v forwarded", sa.Name, src.Type)
			}
			if sa.Encoding >= 0 {
				if a.Forwarded[forwarded] != sa.Name {
					t.Fatalf("Forwarded %v is not the priority order of forwarded sources", a.Forwarded)
				}
				forwarded++
			}
		}
		if forwarded != len(a.Forwarded) {
			t.Fatalf("Forwarded lists %d names, %d sources have an encoding", len(a.Forwarded), forwarded)
		}
	})
}

// FuzzSenderConstraints replays Set/RemoveReceiver/RemoveSource operations and checks every
// source's maximum against a recomputation, and that only real changes are reported.
func FuzzSenderConstraints(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 0, 2, 1, 4, 1, 1, 2, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytesReader(data)
		c := NewSenderConstraints()
		model := map[string]map[string]int{} // receiver -> source -> height
		reported := map[string]int{}         // source -> last reported maximum
		sourceNames := []string{"s0", "s1", "s2"}
		for len(r) > 0 {
			receiver := fmt.Sprintf("r%d", r.next()%3)
			var changed map[string]int
			switch r.next() % 3 {
			case 0:
				m := map[string]int{}
				for range r.next() % 4 {
					m[sourceNames[r.next()%3]] = r.pick(-3, -1, 0, 180, 360, 720)
				}
				changed = c.Set(receiver, m)
				model[receiver] = m
			case 1:
				changed = c.RemoveReceiver(receiver)
				delete(model, receiver)
			case 2:
				src := sourceNames[r.next()%3]
				c.RemoveSource(src)
				for _, m := range model {
					delete(m, src)
				}
				delete(reported, src)
			}
			for _, src := range sourceNames {
				want, has := 0, false
				for _, m := range model {
					if h, ok := m[src]; ok {
						has = true
						if h < 0 || want < 0 {
							want = -1
						} else {
							want = max(want, h)
						}
					}
				}
				if got, ok := c.Max(src); got != want || ok != has {
					t.Fatalf("Max(%s) = %d, %v; model says %d, %v", src, got, ok, want, has)
				}
				newMax, inChanged := changed[src]
				if inChanged {
					if old, ok := reported[src]; ok && old == newMax {
						t.Fatalf("reported %s -> %d again without a change", src, newMax)
					}
					if newMax != want {
						t.Fatalf("reported %s -> %d, current max %d", src, newMax, want)
					}
					reported[src] = newMax
				} else if old, ok := reported[src]; ok && old != want {
					t.Fatalf("%s max moved %d -> %d without a report", src, old, want)
				} else if !ok && has {
					t.Fatalf("%s got its first receiver without a report", src)
				}
			}
		}
	})
}
