package speech

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// FuzzActivity plays a sequence of operations, three bytes each: an operation and endpoint
// (low 3 bits: one of 8 endpoints; high 3 bits: 0-5 level, 6 remove, 7 tick), an RFC 6464
// level (all 256 values, so out-of-range ones too) and a signed time step of 5 ms units (so
// time may go backwards). The first byte picks the configuration. Whatever the sequence, the
// Activity must not panic, Dominant() must be a known endpoint or "", Order() must list each
// known endpoint exactly once, and every reported Change must agree with the state.
func FuzzActivity(f *testing.F) {
	f.Add([]byte{0x00, 0x00, 40, 4, 0xe0, 0, 60})
	f.Add([]byte{0x13, 0x01, 30, 4, 0x02, 35, 4, 0xe0, 0, 60, 0xc1, 0, 0, 0xe0, 0, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		cfg := DefaultConfig()
		cfg.SilenceDetection = data[0]&1 != 0
		cfg.RecentSpeakers = int(data[0]>>1) % 4
		cfg.SilenceTimeout = time.Duration(1+data[0]>>3) * 100 * time.Millisecond
		a := New(cfg)
		known := map[string]bool{}
		now := epoch
		check := func(op string, c Change, ok bool) {
			t.Helper()
			if d := a.Dominant(); d != "" && !known[d] {
				t.Fatalf("%s: Dominant() = %q, not a known endpoint", op, d)
			}
			order := a.Order()
			if len(order) != len(known) {
				t.Fatalf("%s: Order() = %v, known %v", op, order, known)
			}
			for i, id := range order {
				if !known[id] || slices.Contains(order[i+1:], id) {
					t.Fatalf("%s: Order() = %v: %q unknown or repeated", op, order, id)
				}
			}
			if !ok {
				return
			}
			if c.Dominant != a.Dominant() || c.Silence != a.Silence() {
				t.Fatalf("%s: change %+v, state dominant %q silence %v", op, c, a.Dominant(), a.Silence())
			}
			if c.Silence && !cfg.SilenceDetection {
				t.Fatalf("%s: silence reported with silence detection off", op)
			}
			limit := cfg.RecentSpeakers
			if c.Dominant == "" {
				limit++
			}
			if len(c.Previous) > limit || slices.Contains(c.Previous, c.Dominant) {
				t.Fatalf("%s: previous %v with dominant %q, limit %d", op, c.Previous, c.Dominant, limit)
			}
			for i, id := range c.Previous {
				if !known[id] || slices.Contains(c.Previous[i+1:], id) {
					t.Fatalf("%s: previous %v: %q unknown or repeated", op, c.Previous, id)
				}
			}
		}
		for ops := data[1:]; len(ops) >= 3; ops = ops[3:] {
			id := fmt.Sprint("e", ops[0]&7)
			now = now.Add(time.Duration(int8(ops[2])) * 5 * time.Millisecond)
			switch ops[0] >> 5 {
			case 6:
				c, ok := a.Remove(id, now)
				delete(known, id)
				check("remove "+id, c, ok)
			case 7:
				c, ok := a.Tick(now)
				check("tick", c, ok)
			default:
				a.Level(id, ops[1], now)
				known[id] = true
				check("level "+id, Change{}, false)
			}
		}
	})
}
