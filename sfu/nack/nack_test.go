package nack

import (
	"slices"
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

func TestGapIsAskedAtOnceThenEveryIntervalUpToMaxTries(t *testing.T) {
	var r Requester
	now := int64(1e12)
	for _, s := range []uint16{10, 11, 14} {
		if !r.Received(s, now) {
			t.Fatalf("%d not new", s)
		}
	}
	if got := r.Due(now, nil); !slices.Equal(got, []uint16{12, 13}) {
		t.Fatalf("due %v, want [12 13]", got)
	}
	if got := r.Due(now+100*ms, nil); len(got) != 0 {
		t.Errorf("asked again after 100 ms: %v", got)
	}
	if got := r.Due(now+150*ms, nil); !slices.Equal(got, []uint16{12, 13}) {
		t.Errorf("after 150 ms due %v, want [12 13]", got)
	}
	if !r.Received(12, now+160*ms) || r.Received(12, now+161*ms) {
		t.Error("the retransmission is new once, then a duplicate")
	}
	asked := 4 // both at once, both again after 150 ms
	for i := int64(2); i < 20; i++ {
		asked += len(r.Due(now+i*150*ms, nil))
	}
	if asked != 2+MaxTries { // 12 twice, 13 MaxTries times
		t.Errorf("asked %d times in all, want %d", asked, 2+MaxTries)
	}
	if r.Missing() != 0 {
		t.Errorf("still waiting for %d", r.Missing())
	}
}

func TestDuplicatesAndJumps(t *testing.T) {
	var r Requester
	for s := uint16(65530); s != 5; s++ {
		r.Received(s, 0)
	}
	if r.Received(65533, 0) || r.Received(4, 0) {
		t.Error("duplicate across the wrap counted as new")
	}
	if !r.Received(3000, 0) || len(r.Due(0, nil)) != 0 {
		t.Error("a jump must restart the stream without asking for the gap")
	}
	if !r.Received(3001, 0) {
		t.Error("packet after the jump")
	}
}

func TestMissingIsBounded(t *testing.T) {
	var r Requester
	for s := uint16(0); s < 60000; s += 90 {
		r.Received(s, 0)
	}
	if r.Missing() > maxMissing {
		t.Errorf("%d missing tracked, bound %d", r.Missing(), maxMissing)
	}
}

func FuzzRequester(f *testing.F) {
	f.Add([]byte{1, 2, 3, 200, 5, 6})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var r Requester
		seq := uint16(0)
		now := int64(0)
		for i := 0; i+1 < len(ops); i += 2 {
			seq += uint16(int8(ops[i]))
			now += int64(ops[i+1]) * ms
			r.Received(seq, now)
			due := r.Due(now, nil)
			if r.Missing() > maxMissing || len(due) > maxMissing {
				t.Fatalf("unbounded: %d missing, %d due", r.Missing(), len(due))
			}
		}
	})
}
