package speech

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// room drives an Activity step by step: every known endpoint sends a packet every 20 ms
// (background noise unless it is the one talking) and the room ticks every 20 ms.
type room struct {
	t   *testing.T
	a   *Activity
	rng *rand.Rand
	now time.Time
	ids []string
}

func newRoom(t *testing.T, cfg Config, ids ...string) *room {
	return &room{t: t, a: New(cfg), rng: rand.New(rand.NewPCG(1, 2)), now: epoch, ids: ids}
}

// run plays d of audio where talker (if any) talks and everybody else sends noise, and returns
// the changes reported.
func (r *room) run(talker string, d time.Duration) []Change {
	var out []Change
	for end := r.now.Add(d); r.now.Before(end); r.now = r.now.Add(packetInterval) {
		for _, id := range r.ids {
			what := noise
			if id == talker {
				what = talking
			}
			r.a.Level(id, levelFor(r.rng, what), r.now)
		}
		if c, ok := r.a.Tick(r.now); ok {
			out = append(out, c)
		}
	}
	return out
}

// takeFloor has id talk until it is dominant (at most 3 s) and returns the change.
func (r *room) takeFloor(id string) Change {
	r.t.Helper()
	for range 150 {
		for _, c := range r.run(id, packetInterval) {
			if c.Dominant == id {
				r.run("", time.Second) // everybody quiet again, so the next one can take over
				return c
			}
		}
	}
	r.t.Fatalf("%s did not take the floor in 3 s (dominant %q)", id, r.a.Dominant())
	return Change{}
}

func TestScoreTableMatchesTheLikelihoods(t *testing.T) {
	tab := newScoreTable()
	// Worked by hand: ln C(n,v) + n ln(1/2) - ln λ + λ v, clamped to 1e-10.
	want := map[string]struct{ got, want float64 }{
		"immediate 0":  {tab.immediate[0], math.Log(1e-10)},
		"immediate 3":  {tab.immediate[3], math.Log(1e-10)}, // ln 286 - 13 ln 2 - ln .78 + 2.34 < 0
		"immediate 8":  {tab.immediate[8], math.Log(math.Log(1287) - 13*math.Ln2 - math.Log(0.78) + 0.78*8)},
		"immediate 12": {tab.immediate[12], math.Log(math.Log(13) - 13*math.Ln2 - math.Log(0.78) + 0.78*12)},
		"medium 0":     {tab.medium[0], math.Log(1e-10)},
		"medium 5":     {tab.medium[5], math.Log(-5*math.Ln2 - math.Log(24) + 120)},
		"long 0":       {tab.long[0], math.Log(1e-10)},
		"long 1":       {tab.long[1], math.Log(math.Log(10) - 10*math.Ln2 - math.Log(47) + 47)},
		"long 10":      {tab.long[10], math.Log(-10*math.Ln2 - math.Log(47) + 470)},
	}
	for name, v := range want {
		if math.Abs(v.got-v.want) > 1e-9 {
			t.Errorf("%s: log score %v, want %v", name, v.got, v.want)
		}
	}
	if got := binomial(13, 6); got != 1716 {
		t.Errorf("binomial(13,6) = %v, want 1716", got)
	}
	if got := binomial(5, 6); got != 0 {
		t.Errorf("binomial(5,6) = %v, want 0", got)
	}
}

func TestLevelIsInvertedAndClamped(t *testing.T) {
	a := New(DefaultConfig())
	for _, tc := range []struct {
		rfc  uint8
		want uint8
	}{{0, 127}, {30, 97}, {127, 0}, {128, 0}, {255, 0}} {
		id := fmt.Sprint("ep", tc.rfc)
		a.Level(id, tc.rfc, epoch)
		s := a.speakers[id]
		if got := s.levels[s.head]; got != tc.want {
			t.Errorf("rfc6464 level %d stored as %d, want %d", tc.rfc, got, tc.want)
		}
	}
}

func TestMinLevelFollowsTheNoiseFloor(t *testing.T) {
	var s speaker
	s.trackMinLevel(0)
	if s.minLevel != 0 {
		t.Fatalf("silence set the floor to %d", s.minLevel)
	}
	s.trackMinLevel(50)
	for range minLevelWindow - 2 {
		s.trackMinLevel(70)
	}
	s.trackMinLevel(60)
	if s.minLevel != 50 {
		t.Fatalf("floor %d after %d higher levels, want still 50", s.minLevel, minLevelWindow-1)
	}
	s.trackMinLevel(80) // completes the window, whose minimum is 60
	if want := uint8(math.Sqrt(50 * 60)); s.minLevel != want {
		t.Fatalf("floor %d after a full window, want %d (geometric mean)", s.minLevel, want)
	}
	s.trackMinLevel(20)
	if s.minLevel != 20 {
		t.Fatalf("a lower level left the floor at %d, want 20", s.minLevel)
	}
}

func TestIdleSpeakerGetsAZeroEvery40ms(t *testing.T) {
	s := speaker{last: epoch}
	s.level(100, epoch)
	for _, tc := range []struct {
		after time.Duration
		zeros int
	}{{40 * time.Millisecond, 0}, {41 * time.Millisecond, 1}, {80 * time.Millisecond, 1}, {200 * time.Millisecond, 4}, {time.Hour, historyLen + 1}} {
		s.fillIdle(epoch.Add(tc.after))
		if s.idleFills != tc.zeros {
			t.Errorf("after %v: %d zero levels, want %d", tc.after, s.idleFills, tc.zeros)
		}
	}
	if slices.Max(s.levels[:]) != 0 {
		t.Errorf("an hour of quiet left levels %v", s.levels)
	}
}

func TestDecisionsAreDecisionIntervalApart(t *testing.T) {
	a := New(DefaultConfig())
	if _, ok := a.Tick(epoch); ok {
		t.Fatal("a change with no endpoints")
	}
	a.Level("a", 40, epoch.Add(time.Millisecond))
	if _, ok := a.Tick(epoch.Add(299 * time.Millisecond)); ok {
		t.Fatal("decided 299 ms after the previous decision")
	}
	c, ok := a.Tick(epoch.Add(300 * time.Millisecond))
	if !ok || c.Dominant != "a" {
		t.Fatalf("Tick at 300 ms = %+v, %v; want a dominant", c, ok)
	}
}

func TestRecentSpeakersOrderAndCap(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RecentSpeakers = 3
	r := newRoom(t, cfg, "a", "b", "c", "d", "e", "f")
	for i, id := range []string{"a", "b", "c", "d", "e"} {
		c := r.takeFloor(id)
		wantPrev := []string{"d", "c", "b", "a"}[4-i:]
		wantPrev = wantPrev[:min(len(wantPrev), 3)]
		if c.Dominant != id || !slices.Equal(c.Previous, wantPrev) || c.Silence {
			t.Fatalf("%s taking the floor: %+v, want previous %v", id, c, wantPrev)
		}
	}
	// b again: it moves to the front; f, never dominant, stays last.
	if c := r.takeFloor("b"); !slices.Equal(c.Previous, []string{"e", "d", "c"}) {
		t.Errorf("b again: previous %v, want [e d c]", c.Previous)
	}
	if got, want := r.a.Order(), []string{"b", "e", "d", "c", "a", "f"}; !slices.Equal(got, want) {
		t.Errorf("Order() = %v, want %v", got, want)
	}
	if r.a.Dominant() != "b" {
		t.Errorf("Dominant() = %q, want b", r.a.Dominant())
	}
}

func TestOrderListsNeverDominantInFirstHeardOrder(t *testing.T) {
	a := New(DefaultConfig())
	for i, id := range []string{"z", "x", "y", "x"} {
		a.Level(id, 127, epoch.Add(time.Duration(i)*time.Millisecond))
	}
	if got := a.Order(); !slices.Equal(got, []string{"z", "x", "y"}) {
		t.Fatalf("Order() = %v, want [z x y]", got)
	}
	got := a.Order()
	got[0] = "mutated"
	if a.Order()[0] != "z" {
		t.Error("Order() shares its slice with the Activity")
	}
}

func TestRemoveDominantPicksTheNextRecentSpeaker(t *testing.T) {
	r := newRoom(t, DefaultConfig(), "a", "b", "c", "d")
	r.takeFloor("a")
	r.takeFloor("b")
	r.takeFloor("c")
	r.ids = []string{"a", "b", "d"}
	c, ok := r.a.Remove("c", r.now)
	if !ok || c.Dominant != "b" || !slices.Equal(c.Previous, []string{"a"}) {
		t.Fatalf("Remove(dominant c) = %+v, %v; want b dominant, previous [a]", c, ok)
	}
	if r.a.Dominant() != "b" || !slices.Equal(r.a.Order(), []string{"b", "a", "d"}) {
		t.Fatalf("after removing c: dominant %q, order %v", r.a.Dominant(), r.a.Order())
	}
	if c, ok := r.a.Remove("a", r.now); !ok || c.Dominant != "b" || len(c.Previous) != 0 {
		t.Errorf("Remove(recent a) = %+v, %v; want b alone", c, ok)
	}
	if c, ok := r.a.Remove("d", r.now); ok {
		t.Errorf("Remove(never dominant d) reported %+v", c)
	}
	if c, ok := r.a.Remove("nobody", r.now); ok {
		t.Errorf("Remove(unknown) reported %+v", c)
	}
	if c, ok := r.a.Remove("b", r.now); !ok || c.Dominant != "" || len(c.Previous) != 0 {
		t.Errorf("Remove(last) = %+v, %v; want nobody", c, ok)
	}
	if r.a.Dominant() != "" || len(r.a.Order()) != 0 {
		t.Errorf("empty room: dominant %q, order %v", r.a.Dominant(), r.a.Order())
	}
	r.ids = nil
	if cs := r.run("", time.Second); len(cs) != 0 {
		t.Errorf("empty room reported %+v", cs)
	}
}

func TestRemovedDominantIsReplacedByTheNextSpeakerInTheDecision(t *testing.T) {
	r := newRoom(t, DefaultConfig(), "a", "b", "c")
	r.takeFloor("a")
	r.takeFloor("b")
	r.ids = []string{"a", "c"}
	if c, _ := r.a.Remove("b", r.now); c.Dominant != "a" {
		t.Fatalf("Remove(b) made %q dominant, want a", c.Dominant)
	}
	if c := r.takeFloor("c"); !slices.Equal(c.Previous, []string{"a"}) {
		t.Errorf("c taking the floor: previous %v, want [a]", c.Previous)
	}
}

func TestSilenceDetection(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SilenceDetection = true
	r := newRoom(t, cfg, "a", "b")
	if cs := r.run("", 5*time.Second); len(cs) != 0 {
		t.Fatalf("noise alone produced %+v", cs)
	}
	if !r.a.Silence() || r.a.Dominant() != "" {
		t.Fatalf("quiet room: silence %v, dominant %q", r.a.Silence(), r.a.Dominant())
	}
	if c := r.takeFloor("a"); c.Silence || c.Dominant != "a" {
		t.Fatalf("a taking the floor: %+v", c)
	}
	// takeFloor already played 1 s of quiet after a took the floor.
	stop := r.now.Add(-time.Second)
	var got []Change
	var at time.Time
	for range 300 {
		if cs := r.run("", packetInterval); len(cs) > 0 {
			got, at = cs, r.now
			break
		}
	}
	if len(got) != 1 || !got[0].Silence || got[0].Dominant != "" || !slices.Equal(got[0].Previous, []string{"a"}) {
		t.Fatalf("after a stopped: %+v, want one silence change with previous [a]", got)
	}
	// The long interval keeps speech for up to 1 s after the last word, then the timeout runs.
	quiet := at.Sub(stop)
	t.Logf("silence reported %v after the last speech", quiet)
	if quiet < cfg.SilenceTimeout || quiet > cfg.SilenceTimeout+1500*time.Millisecond {
		t.Errorf("silence reported %v after the last speech, want between 3 s and 4.5 s", quiet)
	}
	if !r.a.Silence() || r.a.Dominant() != "" {
		t.Errorf("in silence: Silence() %v, Dominant() %q", r.a.Silence(), r.a.Dominant())
	}
	// a talks again: the silence ends with a as dominant.
	if c := r.takeFloor("a"); c.Silence || c.Dominant != "a" || len(c.Previous) != 0 {
		t.Errorf("a after silence: %+v", c)
	}
}

func TestNoSilenceWhenDisabled(t *testing.T) {
	r := newRoom(t, DefaultConfig(), "a", "b")
	r.takeFloor("a")
	for _, c := range r.run("", 20*time.Second) {
		t.Errorf("quiet room with silence detection off reported %+v", c)
	}
	if r.a.Dominant() != "a" || r.a.Silence() {
		t.Errorf("dominant %q, silence %v; want a, false", r.a.Dominant(), r.a.Silence())
	}
}

func TestLateLevelsAndBackwardTicksAreHarmless(t *testing.T) {
	a := New(DefaultConfig())
	a.Level("a", 40, epoch.Add(time.Second))
	a.Level("a", 40, epoch) // a second late
	a.Level("a", 40, time.Time{})
	a.Level("", 0, epoch.Add(time.Second))
	if slices.Contains(a.Order(), "") {
		t.Error("an empty id became an endpoint")
	}
	if a.LateLevels() != 2 {
		t.Errorf("LateLevels() = %d, want 2", a.LateLevels())
	}
	if c, ok := a.Tick(epoch.Add(time.Second)); !ok || c.Dominant != "a" {
		t.Fatalf("Tick = %+v, %v", c, ok)
	}
	if _, ok := a.Tick(epoch); ok {
		t.Error("a Tick back in time decided")
	}
	a.Level("b", 40, epoch) // a new endpoint may start in the past
	if _, ok := a.Tick(epoch.Add(time.Hour)); ok && a.Dominant() == "" {
		t.Error("lost the dominant speaker")
	}
}

func TestIdleEndpointsStopCompetingButStayListed(t *testing.T) {
	r := newRoom(t, DefaultConfig(), "a", "b")
	r.takeFloor("a")
	r.ids = []string{"a"}
	r.run("a", 2*time.Hour)
	if r.a.speakers["b"].competing {
		t.Error("b still competes after 2 h without a level")
	}
	if !slices.Equal(r.a.Order(), []string{"a", "b"}) {
		t.Errorf("Order() = %v, want [a b]", r.a.Order())
	}
	r.ids = []string{"a", "b"}
	r.run("", 2*time.Second)
	if c := r.takeFloor("b"); c.Dominant != "b" {
		t.Errorf("b back from idleness could not take the floor: %+v", c)
	}
}

func TestTenThousandEndpoints(t *testing.T) {
	a := New(DefaultConfig())
	ids := make([]string, 10000)
	for i := range ids {
		ids[i] = fmt.Sprintf("endpoint-%05d", i)
		a.Level(ids[i], 127, epoch)
	}
	a.Tick(epoch)
	now, rng := epoch, rand.New(rand.NewPCG(3, 4))
	for i := range 150 { // endpoint 4242: 1 s of noise then 2 s of talking; the others are muted
		now = now.Add(packetInterval)
		what := noise
		if i >= 50 {
			what = talking
		}
		a.Level(ids[4242], levelFor(rng, what), now)
		a.Tick(now)
	}
	if a.Dominant() != ids[4242] {
		t.Fatalf("Dominant() = %q, want %s", a.Dominant(), ids[4242])
	}
	order := a.Order()
	if len(order) != len(ids) || order[0] != ids[4242] {
		t.Fatalf("Order(): %d entries starting %q", len(order), order[0])
	}
	slices.Sort(order)
	if len(slices.Compact(order)) != len(ids) {
		t.Error("Order() has duplicates")
	}
}

func TestLevelDoesNotAllocate(t *testing.T) {
	a := New(DefaultConfig())
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = fmt.Sprint("ep", i)
		a.Level(ids[i], 60, epoch)
	}
	now, i := epoch, 0
	allocs := testing.AllocsPerRun(10000, func() {
		now = now.Add(200 * time.Microsecond)
		a.Level(ids[i%len(ids)], uint8(i%128), now)
		i++
	})
	if allocs != 0 {
		t.Errorf("Level allocates %v times per call", allocs)
	}
}

func TestConfigDefaults(t *testing.T) {
	a := New(Config{RecentSpeakers: -1})
	if a.cfg != DefaultConfig() {
		t.Errorf("New(zero config) uses %+v, want %+v", a.cfg, DefaultConfig())
	}
	if d := DefaultConfig(); d.DecisionInterval != 300*time.Millisecond || d.RecentSpeakers != 10 ||
		d.SilenceDetection || d.SilenceTimeout != 3*time.Second {
		t.Errorf("DefaultConfig() = %+v", d)
	}
}

func TestConstantLevelIsTakenForTheNoiseFloor(t *testing.T) {
	// As in JVB, levels within one band (10) of a speaker's minimum count as silence, so a
	// speaker whose level never varies is never heard as speech, however loud.
	a := New(DefaultConfig())
	now := epoch
	for range 100 {
		now = now.Add(packetInterval)
		a.Level("hum", 10, now)
		a.Level("quiet", 127, now)
		a.Tick(now)
	}
	if s := a.speakers["hum"]; s.long != 0 || s.immediate != 0 {
		t.Errorf("constant level scored immediate %d, long %d; want 0, 0", s.immediate, s.long)
	}
}
