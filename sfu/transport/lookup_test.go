package transport

import (
	"net/netip"
	"sync"
	"testing"
	"time"
)

func addrN(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), uint16(1000+i%50000))
}

// The table agrees with a plain map through inserts, overwrites, removals and rebuilds.
func TestLookupMatchesMap(t *testing.T) {
	l := newLookup[netip.AddrPort, int](hashAddrPort)
	want := map[netip.AddrPort]int{}
	for round := range 5 {
		for i := range 3000 {
			a := addrN(i)
			switch (i + round) % 3 {
			case 0:
				l.put(a, i*10+round)
				want[a] = i*10 + round
			case 1:
				if got := l.remove(a); got != (want[a] != 0 || hasKey(want, a)) {
					t.Fatalf("round %d: remove(%v) = %v", round, a, got)
				}
				delete(want, a)
			}
		}
		if l.len() != len(want) {
			t.Fatalf("round %d: len %d, map %d", round, l.len(), len(want))
		}
		for i := range 3000 {
			a := addrN(i)
			v, ok := l.get(a)
			w, wok := want[a]
			if ok != wok || v != w {
				t.Fatalf("round %d: get(%v) = %d,%v; want %d,%v", round, a, v, ok, w, wok)
			}
		}
	}
	// Removing everything and adding again does not grow the slot array without bound.
	for a := range want {
		l.remove(a)
	}
	for i := range 100000 {
		l.put(addrN(i%7), i)
		l.remove(addrN(i % 7))
	}
	if n := len(l.cur.Load().s); n > 64 {
		t.Fatalf("%d slots after churn of 7 keys", n)
	}
}

func hasKey(m map[netip.AddrPort]int, k netip.AddrPort) bool { _, ok := m[k]; return ok }

// Readers never miss a key that stays in the table while a writer adds and removes others
// (run with -race).
func TestLookupConcurrentReaders(t *testing.T) {
	l := newLookup[netip.AddrPort, int](hashAddrPort)
	var mu sync.Mutex // the writer lock (regMu in the Mux)
	stable := addrN(999999)
	mu.Lock()
	l.put(stable, 42)
	mu.Unlock()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if v, ok := l.get(stable); !ok || v != 42 {
					t.Errorf("stable key read as %d,%v during writes", v, ok)
					return
				}
			}
		}()
	}
	for i := range 20000 {
		mu.Lock()
		l.put(addrN(i), i)
		if i >= 100 {
			l.remove(addrN(i - 100))
		}
		mu.Unlock()
	}
	close(stop)
	wg.Wait()
}

func TestLookupGetDoesNotAllocate(t *testing.T) {
	l := newLookup[netip.AddrPort, int](hashAddrPort)
	for i := range 100 {
		l.put(addrN(i), i)
	}
	a := addrN(50)
	if n := testing.AllocsPerRun(1000, func() { l.get(a) }); n != 0 {
		t.Fatalf("get allocates %.1f times", n)
	}
}

// Adding the n-th address costs the same whatever n: no copy of the table per insert.
func BenchmarkLookupPut(b *testing.B) {
	l := newLookup[netip.AddrPort, int](hashAddrPort)
	i := 0
	for b.Loop() {
		l.put(addrN(i), i)
		i++
	}
}

func TestRateCellAllowsBurstThenRate(t *testing.T) {
	var c rateCell
	now := time.Unix(1000, 0).UnixNano()
	allowed := 0
	for range 1000 {
		if c.allow(now, 50, 100) {
			allowed++
		}
	}
	if allowed != 100 {
		t.Fatalf("burst: %d allowed at one instant, want 100", allowed)
	}
	// One second later: 50 more.
	now += int64(time.Second)
	allowed = 0
	for range 1000 {
		if c.allow(now, 50, 100) {
			allowed++
		}
	}
	if allowed != 50 {
		t.Fatalf("after a second: %d allowed, want 50", allowed)
	}
	// A steady 40/s is never refused.
	for i := range 400 {
		now += int64(time.Second) / 40
		if !c.allow(now, 50, 100) {
			t.Fatalf("steady 40/s refused at event %d", i)
		}
	}
}

// One source address gets its burst and no more; another address is not affected.
func TestSourceLimiterIsPerAddress(t *testing.T) {
	l := newSourceLimiter()
	now := time.Unix(1000, 0).UnixNano()
	a := netip.MustParseAddr("192.0.2.1")
	for i := range STUNSourceRequestBurst {
		if !l.allow(a, now) {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	if l.allow(a, now) {
		t.Fatal("request over the burst allowed")
	}
	if !l.allow(netip.AddrFrom16(a.As16()), now+int64(time.Second)/STUNSourceRequestRate) {
		t.Fatal("the IPv4-mapped form of the address did not share its refilled cell")
	}
	// Other addresses have their own cells (barring a 1 in 4096 hash collision each).
	refused := 0
	for i := range 10 {
		if !l.allow(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), now) {
			refused++
		}
	}
	if refused > 1 {
		t.Fatalf("%d of 10 other addresses refused", refused)
	}
}
