package transport

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"sync/atomic"
)

// lookup is a hash table read without locks by the socket readers and changed in place, one
// slot at a time, by writers that hold the Mux's regMu: adding or removing a key costs O(1)
// (amortised over the occasional rebuild), never a copy of the whole table, so that a flood
// of new addresses cannot make every datagram on the port wait behind quadratic copying.
//
// Open addressing with linear probing over atomic slot pointers. An entry is immutable once
// published; a removed key's slot holds the tombstone, which readers step over. The table is
// rebuilt (into a new slot array published atomically) when live entries and tombstones
// together pass 3/4 of the slots, or live entries fall under 1/8 of them, so every probe meets an empty slot and ends. A reader that
// still holds the old array sees the table as it was a moment before: the same as reading
// slightly earlier.
type lookup[K comparable, V any] struct {
	hash func(K) uint64
	cur  atomic.Pointer[lookupSlots[K, V]]
	dead *lookupEntry[K, V] // the tombstone

	// Writer state, guarded by the caller's lock.
	live, used int // live entries; live entries plus tombstones
}

type lookupEntry[K comparable, V any] struct {
	key K
	val V
}

type lookupSlots[K comparable, V any] struct {
	s    []atomic.Pointer[lookupEntry[K, V]]
	mask uint64
}

const lookupMinSlots = 16

func newLookup[K comparable, V any](hash func(K) uint64) *lookup[K, V] {
	l := &lookup[K, V]{hash: hash, dead: &lookupEntry[K, V]{}}
	l.cur.Store(newLookupSlots[K, V](lookupMinSlots))
	return l
}

func newLookupSlots[K comparable, V any](n int) *lookupSlots[K, V] {
	return &lookupSlots[K, V]{s: make([]atomic.Pointer[lookupEntry[K, V]], n), mask: uint64(n - 1)}
}

// get returns k's value; safe to call concurrently with one writer. It does not allocate.
func (l *lookup[K, V]) get(k K) (V, bool) {
	s := l.cur.Load()
	for i, n := l.hash(k)&s.mask, 0; n < len(s.s); i, n = (i+1)&s.mask, n+1 {
		e := s.s[i].Load()
		if e == nil {
			break
		}
		if e != l.dead && e.key == k {
			return e.val, true
		}
	}
	var zero V
	return zero, false
}

// len is the number of live entries (writer lock held).
func (l *lookup[K, V]) len() int { return l.live }

// put sets k to v (writer lock held).
func (l *lookup[K, V]) put(k K, v V) {
	e := &lookupEntry[K, V]{key: k, val: v}
	s := l.cur.Load()
	free := -1
	for i, n := l.hash(k)&s.mask, 0; n < len(s.s); i, n = (i+1)&s.mask, n+1 {
		old := s.s[i].Load()
		if old == nil {
			if free < 0 {
				free = int(i)
			}
			break
		}
		if old == l.dead {
			if free < 0 {
				free = int(i)
			}
			continue
		}
		if old.key == k {
			s.s[i].Store(e)
			return
		}
	}
	if s.s[free].Load() == nil {
		if (l.used+1)*4 > len(s.s)*3 {
			l.rebuild(l.live + 1)
			l.insertFresh(e)
			return
		}
		l.used++
	}
	s.s[free].Store(e)
	l.live++
}

// remove deletes k (writer lock held); false if it was not there.
func (l *lookup[K, V]) remove(k K) bool {
	s := l.cur.Load()
	for i, n := l.hash(k)&s.mask, 0; n < len(s.s); i, n = (i+1)&s.mask, n+1 {
		e := s.s[i].Load()
		if e == nil {
			return false
		}
		if e != l.dead && e.key == k {
			s.s[i].Store(l.dead)
			l.live--
			if len(s.s) > lookupMinSlots && l.live*8 < len(s.s) {
				l.rebuild(l.live) // give back the memory of a table that emptied
			}
			return true
		}
	}
	return false
}

// rebuild publishes a fresh slot array sized for want live entries, without tombstones.
func (l *lookup[K, V]) rebuild(want int) {
	n := lookupMinSlots
	for n < want*2 {
		n *= 2
	}
	old := l.cur.Load()
	next := newLookupSlots[K, V](n)
	l.live, l.used = 0, 0
	for i := range old.s {
		if e := old.s[i].Load(); e != nil && e != l.dead {
			l.place(next, e)
		}
	}
	l.cur.Store(next) // published once filled
}

// insertFresh adds e, known to be absent, after a rebuild.
func (l *lookup[K, V]) insertFresh(e *lookupEntry[K, V]) { l.place(l.cur.Load(), e) }

func (l *lookup[K, V]) place(s *lookupSlots[K, V], e *lookupEntry[K, V]) {
	i := l.hash(e.key) & s.mask
	for s.s[i].Load() != nil {
		i = (i + 1) & s.mask
	}
	s.s[i].Store(e)
	l.live++
	l.used++
}

var lookupSeed = maphash.MakeSeed()

// addrSeed keys hashAddrPort, so that nobody outside can choose addresses that collide.
var addrSeed = [2]uint64{maphash.Comparable(lookupSeed, 1), maphash.Comparable(lookupSeed, 2)}

// hashAddrPort is a seeded multiply-xorshift mix of the address and port: a few nanoseconds,
// it runs for every datagram.
func hashAddrPort(a netip.AddrPort) uint64 {
	ip := a.Addr().As16()
	hi := binary.LittleEndian.Uint64(ip[:8]) ^ addrSeed[0]
	lo := binary.LittleEndian.Uint64(ip[8:]) ^ addrSeed[1] ^ uint64(a.Port())<<48
	h := hi*0x9E3779B97F4A7C15 ^ lo*0xC2B2AE3D27D4EB4F
	h ^= h >> 29
	h *= 0xBF58476D1CE4E5B9
	return h ^ h>>32
}

func hashString(s string) uint64 { return maphash.String(lookupSeed, s) }
