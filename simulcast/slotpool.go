package simulcast

import "time"

// DefaultSlotLimit is the default number of send SSRC slots per receiver and media type
// (videobridge.ssrc-limit.video and .audio).
const DefaultSlotLimit = 50

// maxRandomTries bounds how often a new SSRC is drawn before falling back to probing upwards
// from the last draw, so a poor random source cannot loop forever.
const maxRandomTries = 64

// Slot is one pair of bridge-allocated send SSRCs in a receiver's SSRC rewriting pool, bound to
// at most one source at a time. Its SSRCs stay with the slot for the pool's whole life.
type Slot struct {
	SSRC, RTX uint32
	// Source is the name of the source the slot carries, "" while the slot is free.
	Source string
	// LastUsed is when the slot was last bound or touched.
	LastUsed time.Time

	use uint64 // pool use counter at the last bind or touch: orders slots touched at one instant
}

// SlotPool is the SSRC rewriting pool of one receiver for one media type (spec media-plane §2.2
// "Mode B"): up to limit slots, each a unique primary+RTX SSRC pair; a source without a slot
// gets a free slot, a new one while under the limit, or else the least recently used one. It is
// not safe for concurrent use: the receiver's sender goroutine owns it.
type SlotPool struct {
	limit    int
	rand     func() uint32
	taken    func(uint32) bool
	uses     uint64
	slots    []*Slot // creation order
	bySource map[string]*Slot
	bySSRC   map[uint32]*Slot
}

// NewSlotPool returns an empty pool of at most limit slots (DefaultSlotLimit if limit < 1)
// drawing SSRCs from rand.
func NewSlotPool(limit int, rand func() uint32) *SlotPool {
	if limit < 1 {
		limit = DefaultSlotLimit
	}
	return &SlotPool{
		limit:    limit,
		rand:     rand,
		bySource: make(map[string]*Slot, limit),
		bySSRC:   make(map[uint32]*Slot, 2*limit),
	}
}

// SetTaken tells the pool which SSRCs it must never allocate besides its own, e.g. the
// receiver's other pool and its own SSRCs. It applies to slots created afterwards.
func (p *SlotPool) SetTaken(taken func(ssrc uint32) bool) { p.taken = taken }

// Get returns the slot of source, binding a free slot, a new slot, or the least recently used
// slot (in that order of preference) if it has none, and marks it used at now. remapped reports
// that the slot is newly bound to source: the caller must announce the mapping and restart the
// slot's stream state. evicted is the source that lost the slot, "" if none. Source names are
// never empty; Get("") returns a nil slot.
func (p *SlotPool) Get(source string, now time.Time) (s *Slot, remapped bool, evicted string) {
	if source == "" {
		return nil, false, ""
	}
	if s = p.bySource[source]; s != nil {
		p.touch(s, now)
		return s, false, ""
	}
	s = p.leastRecentlyUsed(true)
	if s == nil && len(p.slots) < p.limit {
		s = p.newSlot()
	}
	if s == nil {
		s = p.leastRecentlyUsed(false)
		evicted = s.Source
		delete(p.bySource, evicted)
	}
	s.Source = source
	p.bySource[source] = s
	p.touch(s, now)
	return s, true, evicted
}

// Lookup returns the slot bound to source without marking it used, nil if it has none.
func (p *SlotPool) Lookup(source string) *Slot { return p.bySource[source] }

// BySSRC returns the slot owning ssrc as primary or RTX SSRC, bound or free, nil if none.
// It translates a receiver's PLI/NACK back to a source.
func (p *SlotPool) BySSRC(ssrc uint32) *Slot { return p.bySSRC[ssrc] }

// Owns reports whether ssrc is one of the pool's SSRCs; it fits SetTaken of a sibling pool.
func (p *SlotPool) Owns(ssrc uint32) bool { return p.bySSRC[ssrc] != nil }

// Touch marks the slot of source used at now; it does nothing for an unmapped source.
func (p *SlotPool) Touch(source string, now time.Time) {
	if s := p.bySource[source]; s != nil {
		p.touch(s, now)
	}
}

// Remove frees the slot of a source that is gone. The slot keeps its SSRCs, and is the first
// candidate for the next source that needs one.
func (p *SlotPool) Remove(source string) {
	if s := p.bySource[source]; s != nil {
		delete(p.bySource, source)
		s.Source = ""
	}
}

// Slots returns all bound slots in creation order, to re-send every mapping.
func (p *SlotPool) Slots() []*Slot {
	out := make([]*Slot, 0, len(p.bySource))
	for _, s := range p.slots {
		if s.Source != "" {
			out = append(out, s)
		}
	}
	return out
}

// Len returns the number of slots created so far, bound or free.
func (p *SlotPool) Len() int { return len(p.slots) }

func (p *SlotPool) touch(s *Slot, now time.Time) {
	p.uses++
	s.use = p.uses
	s.LastUsed = now
}

// leastRecentlyUsed returns the free (free=true) or bound slot used longest ago, nil if none.
// Ties in LastUsed go to the one touched first.
func (p *SlotPool) leastRecentlyUsed(free bool) *Slot {
	var lru *Slot
	for _, s := range p.slots {
		if (s.Source == "") != free {
			continue
		}
		if lru == nil || s.LastUsed.Before(lru.LastUsed) || (s.LastUsed.Equal(lru.LastUsed) && s.use < lru.use) {
			lru = s
		}
	}
	return lru
}

func (p *SlotPool) newSlot() *Slot {
	s := new(Slot)
	s.SSRC = p.newSSRC()
	p.bySSRC[s.SSRC] = s
	s.RTX = p.newSSRC()
	p.bySSRC[s.RTX] = s
	p.slots = append(p.slots, s)
	return s
}

// newSSRC draws an SSRC that is not 0, not the pool's and not taken.
func (p *SlotPool) newSSRC() uint32 {
	var c uint32
	for try := 0; ; try++ {
		if try < maxRandomTries {
			c = p.rand()
		} else {
			c++
		}
		if c != 0 && p.bySSRC[c] == nil && (p.taken == nil || !p.taken(c)) {
			return c
		}
	}
}
