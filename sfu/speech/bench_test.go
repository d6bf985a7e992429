package speech

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkLevel100Endpoints is the per-packet cost: one audio level from one of 100
// endpoints, each sending every 20 ms.
func BenchmarkLevel100Endpoints(b *testing.B) {
	a := New(DefaultConfig())
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = fmt.Sprint("endpoint-", i)
		a.Level(ids[i], 127, epoch)
	}
	now := epoch
	step := packetInterval / time.Duration(len(ids))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now = now.Add(step)
		a.Level(ids[i], uint8(30+i%40), now)
		if i++; i == len(ids) {
			i = 0
		}
	}
}

// BenchmarkDecision100Endpoints is one decision over 100 endpoints with full histories.
func BenchmarkDecision100Endpoints(b *testing.B) {
	a := New(DefaultConfig())
	ids := make([]string, 100)
	now := epoch
	for i := range ids {
		ids[i] = fmt.Sprint("endpoint-", i)
	}
	for range historyLen {
		now = now.Add(packetInterval)
		for i, id := range ids {
			a.Level(id, uint8(30+i%40), now)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(a.cfg.DecisionInterval)
		a.Tick(now)
	}
}
