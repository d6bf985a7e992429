package sfu

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestPacketQueueDeliversEveryPacketOnceUnderConcurrentProducers(t *testing.T) {
	const producers, each = 4, 5000
	q := newPacketQueue(64)
	wake := make(chan struct{}, 1)
	var wg sync.WaitGroup
	var full [producers]int
	for i := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				p := getPacket()
				p.n = i*each + j
				for !q.push(p) {
					full[i]++
					time.Sleep(time.Microsecond)
				}
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}()
	}
	seen := make([]bool, producers*each)
	last := [producers]int{-1, -1, -1, -1}
	for got := 0; got < producers*each; {
		p := q.pop()
		if p == nil {
			select {
			case <-wake:
			case <-time.After(5 * time.Second):
				t.Fatalf("stuck after %d packets", got)
			}
			continue
		}
		if seen[p.n] {
			t.Fatalf("packet %d delivered twice", p.n)
		}
		seen[p.n] = true
		prod, idx := p.n/each, p.n%each
		if idx <= last[prod] {
			t.Fatalf("producer %d: packet %d after %d", prod, idx, last[prod])
		}
		last[prod] = idx
		p.release()
		got++
	}
	wg.Wait()
	if q.pop() != nil {
		t.Error("queue not empty at the end")
	}
}

func TestPacketQueueFullFailsWithoutBlocking(t *testing.T) {
	q := newPacketQueue(4)
	for i := range 4 {
		if !q.push(getPacket()) {
			t.Fatalf("push %d failed on a queue with room", i)
		}
	}
	if q.push(getPacket()) {
		t.Fatal("push succeeded on a full queue")
	}
	for range 4 {
		q.pop().release()
	}
	if q.pop() != nil {
		t.Fatal("pop on empty queue returned a packet")
	}
}

func TestPacketReleasedTooOftenPanics(t *testing.T) {
	p := getPacket()
	p.release()
	defer func() {
		if recover() == nil {
			t.Error("double release did not panic")
		}
	}()
	p.refs.Store(0)
	p.release()
}

func TestSenderGoroutinesForwardAndEndOnExpire(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	tb := newTestBridge(t, false, false)
	c, _ := tb.CreateConference("g", "")
	a := joinSecure(t, c, "a", gcm)
	b := joinSecure(t, c, "b", gcm)
	if err := a.ep.SetSources([]MediaSource{videoSource("a-v0", 7)}); err != nil {
		t.Fatal(err)
	}
	waitWanted(t, b.ep, 7)
	const n = 300
	var got [][]byte
	for i := 0; i < n; i++ {
		a.ep.receiveOne(a.protect(t, a.rtpPacket(7, 100, 200)), false)
		if i%50 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		got = append(got, tb.writer("b").take()...)
		time.Sleep(time.Millisecond)
	}
	if len(got) != n {
		t.Fatalf("b's sender goroutine wrote %d datagrams, want %d (drops %+v)", len(got), n, a.ep.Stats())
	}
	for _, d := range got {
		b.unprotect(t, d)
	}
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*client{a, b} {
		select {
		case <-cl.ep.Done():
		default:
			t.Errorf("%s not done after Bridge.Close", cl.ep.id)
		}
	}
}
