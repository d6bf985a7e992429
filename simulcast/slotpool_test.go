package simulcast

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func seededRand(seed uint64) func() uint32 {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return r.Uint32
}

func TestSlotPoolReusesLeastRecentlyUsed(t *testing.T) {
	p := NewSlotPool(3, seededRand(1))
	for i, src := range []string{"a-v0", "b-v0", "c-v0"} {
		s, remapped, evicted := p.Get(src, t0.Add(time.Duration(i)*time.Second))
		if !remapped || evicted != "" || s.Source != src {
			t.Fatalf("Get(%s) = %+v, %v, %q; want new slot", src, s, remapped, evicted)
		}
	}
	// a is used again, so b is now the least recently used.
	sa, remapped, _ := p.Get("a-v0", t0.Add(10*time.Second))
	if remapped {
		t.Fatal("Get of a mapped source reported remapped")
	}
	sb := p.Lookup("b-v0")
	sd, remapped, evicted := p.Get("d-v0", t0.Add(11*time.Second))
	if !remapped || evicted != "b-v0" || sd != sb {
		t.Fatalf("Get(d) = slot %p remapped %v evicted %q; want b's slot %p, evicted b", sd, remapped, evicted, sb)
	}
	if p.Lookup("b-v0") != nil || p.Lookup("d-v0") != sd || sd.Source != "d-v0" {
		t.Fatal("b still mapped or d not mapped after eviction")
	}
	if p.Len() != 3 {
		t.Fatalf("pool grew to %d slots beyond its limit 3", p.Len())
	}
	// Touch moves c ahead of a: next eviction takes a.
	p.Touch("c-v0", t0.Add(12*time.Second))
	p.Touch("nobody", t0.Add(13*time.Second))
	if _, _, evicted := p.Get("e-v0", t0.Add(14*time.Second)); evicted != "a-v0" {
		t.Fatalf("evicted %q, want a-v0 (c was touched later)", evicted)
	}
	if p.Lookup("e-v0") != sa {
		t.Fatal("e did not get a's slot")
	}
}

func TestSlotPoolLookupDoesNotRefresh(t *testing.T) {
	p := NewSlotPool(2, seededRand(2))
	p.Get("a", t0)
	p.Get("b", t0.Add(time.Second))
	p.Lookup("a")
	if _, _, evicted := p.Get("c", t0.Add(2*time.Second)); evicted != "a" {
		t.Fatalf("evicted %q, want a: Lookup must not count as use", evicted)
	}
}

func TestSlotPoolTiesAtOneInstantGoToFirstTouched(t *testing.T) {
	p := NewSlotPool(2, seededRand(3))
	p.Get("a", t0)
	p.Get("b", t0)
	p.Touch("a", t0)
	if _, _, evicted := p.Get("c", t0); evicted != "b" {
		t.Fatalf("evicted %q, want b (a was touched after b at the same instant)", evicted)
	}
}

func TestSlotPoolRemoveFreesSlotForReuse(t *testing.T) {
	p := NewSlotPool(3, seededRand(4))
	sa, _, _ := p.Get("a", t0)
	p.Get("b", t0.Add(time.Second))
	ssrc, rtx := sa.SSRC, sa.RTX
	p.Remove("a")
	p.Remove("never-mapped")
	if p.Lookup("a") != nil || sa.Source != "" {
		t.Fatal("a still mapped after Remove")
	}
	if got := p.BySSRC(ssrc); got != sa {
		t.Fatal("a free slot must keep its SSRCs")
	}
	// The freed slot is preferred over creating a new one and over evicting.
	sc, remapped, evicted := p.Get("c", t0.Add(2*time.Second))
	if sc != sa || !remapped || evicted != "" || sc.SSRC != ssrc || sc.RTX != rtx {
		t.Fatalf("Get(c) = %+v remapped %v evicted %q; want a's old slot, nobody evicted", sc, remapped, evicted)
	}
	if p.Len() != 2 {
		t.Fatalf("Len = %d, want 2", p.Len())
	}
	if got := len(p.Slots()); got != 2 {
		t.Fatalf("Slots() has %d entries, want 2", got)
	}
}

func TestSlotPoolBySSRC(t *testing.T) {
	p := NewSlotPool(DefaultSlotLimit, seededRand(5))
	s, _, _ := p.Get("a", t0)
	if s.SSRC == s.RTX {
		t.Fatal("primary and RTX SSRC equal")
	}
	if p.BySSRC(s.SSRC) != s || p.BySSRC(s.RTX) != s {
		t.Fatal("BySSRC does not find the slot by both of its SSRCs")
	}
	if !p.Owns(s.SSRC) || !p.Owns(s.RTX) {
		t.Fatal("Owns does not know the slot's SSRCs")
	}
	if p.BySSRC(0) != nil {
		t.Fatal("BySSRC(0) found a slot")
	}
}

func TestSlotPoolSSRCsStayUniqueOverManyRemaps(t *testing.T) {
	// A random source with only 256 values forces collisions and the probing fallback.
	narrow := seededRand(6)
	audio := NewSlotPool(20, seededRand(7))
	video := NewSlotPool(50, func() uint32 { return narrow() % 256 })
	reserved := map[uint32]bool{1: true, 2: true, 3: true}
	video.SetTaken(func(ssrc uint32) bool { return reserved[ssrc] || audio.Owns(ssrc) })
	for i := range 40 {
		audio.Get(fmt.Sprintf("p%d-a0", i), t0)
	}
	now := t0
	for i := range 5000 {
		now = now.Add(time.Millisecond)
		src := fmt.Sprintf("p%d-v0", i%137)
		full := video.Len() == 50
		_, remapped, evicted := video.Get(src, now)
		if full && remapped && (evicted == "" || video.Lookup(evicted) != nil) {
			t.Fatalf("remap %d of a full pool: evicted %q, still mapped %v", i, evicted, video.Lookup(evicted) != nil)
		}
	}
	seen := map[uint32]bool{}
	all := append(video.Slots(), audio.Slots()...)
	if len(all) != 70 {
		t.Fatalf("%d bound slots, want 70", len(all))
	}
	for _, s := range all {
		for _, ssrc := range []uint32{s.SSRC, s.RTX} {
			if ssrc == 0 || seen[ssrc] || reserved[ssrc] {
				t.Fatalf("SSRC %d is zero, reserved or used twice", ssrc)
			}
			seen[ssrc] = true
		}
	}
}

func TestSlotPoolRemappedAndEvictedReporting(t *testing.T) {
	p := NewSlotPool(2, seededRand(8))
	type step struct {
		source   string
		remapped bool
		evicted  string
	}
	now := t0
	for i, st := range []step{
		{"a", true, ""}, {"a", false, ""}, {"b", true, ""}, {"a", false, ""},
		{"c", true, "b"}, {"b", true, "a"}, {"c", false, ""}, {"a", true, "b"},
	} {
		now = now.Add(time.Second)
		s, remapped, evicted := p.Get(st.source, now)
		if remapped != st.remapped || evicted != st.evicted || s.Source != st.source {
			t.Fatalf("step %d Get(%s) = remapped %v evicted %q; want %v %q", i, st.source, remapped, evicted, st.remapped, st.evicted)
		}
	}
	if got := p.Slots(); len(got) != 2 || got[0].Source == got[1].Source {
		t.Fatalf("Slots() = %v", got)
	}
}

func TestSlotPoolRefusesEmptySourceName(t *testing.T) {
	p := NewSlotPool(2, seededRand(10))
	if s, remapped, _ := p.Get("", t0); s != nil || remapped || p.Len() != 0 {
		t.Fatalf("Get(\"\") = %+v, %v with %d slots; \"\" marks a free slot and is no source", s, remapped, p.Len())
	}
}

func TestSlotPoolDefaultLimit(t *testing.T) {
	p := NewSlotPool(0, seededRand(9))
	for i := range DefaultSlotLimit + 5 {
		p.Get(fmt.Sprint(i), t0.Add(time.Duration(i)))
	}
	if p.Len() != DefaultSlotLimit {
		t.Fatalf("Len = %d, want %d", p.Len(), DefaultSlotLimit)
	}
}
