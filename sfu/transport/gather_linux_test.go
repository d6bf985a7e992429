package transport

import (
	"net/netip"
	"testing"
	"time"
)

// Writers flushed through a reader's batch send nothing until the batch ends; then every
// receiver gets exactly its own datagrams, in order, and each writer counts its own as sent.
// A frame for one receiver followed by one for another stays two runs (GSO never joins
// datagrams to different addresses).
func TestGatheredSendReachesEachReceiverWhenTheBatchEnds(t *testing.T) {
	f, w1, _, c1 := gsoFixture(t, Config{})
	tr2, err := f.m.NewTransport(Options{ICEControlling: true}, &nopHandler{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr2.Close() })
	addr2, c2 := sink(t)
	tr2.remoteAddr.Store(&addr2)
	w2 := tr2.NewBatchWriter()

	var b Batch
	b.gather = newReaderSend(f.m, f.s)
	if b.gather == nil {
		t.Fatal("no gathered send on the Linux socket path")
	}
	b.Start(time.Now().UnixNano())
	sizes1, sizes2 := []int{1000, 1000, 1000, 400}, []int{1000, 1000, 80}
	want1 := commitSizes(w1, sizes1)
	if err := w1.FlushTo(&b); err != nil {
		t.Fatal(err)
	}
	want2 := commitSizes(w2, sizes2)
	if err := w2.FlushTo(&b); err != nil {
		t.Fatal(err)
	}
	if st := w1.Stats(); st.Packets != 0 || st.Dropped != 0 {
		t.Fatalf("before the batch ended: writer 1 counted %+v, want nothing yet", st)
	}
	if err := c1.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Read(make([]byte, 2000)); err == nil {
		t.Fatal("a datagram arrived before the batch ended")
	}
	b.Finish()
	receiveExactly(t, c1, want1)
	receiveExactly(t, c2, want2)
	if st := w1.Stats(); st.Packets != uint64(len(sizes1)) || st.Bytes != sum(sizes1) || st.Dropped != 0 {
		t.Errorf("writer 1 counted %+v, want %d datagrams, %d bytes", st, len(sizes1), sum(sizes1))
	}
	if st := w2.Stats(); st.Packets != uint64(len(sizes2)) || st.Bytes != sum(sizes2) || st.Dropped != 0 {
		t.Errorf("writer 2 counted %+v, want %d datagrams, %d bytes", st, len(sizes2), sum(sizes2))
	}
	sb := b.gather.send.(*sendBatch)
	if !f.s.gsoOff.Load() && sb.msgs != 2 {
		t.Errorf("%d messages for two receivers' runs, want 2", sb.msgs)
	}
	if b.gather.n != 0 || b.gather.bufs[0] != nil || w1.bufs[0] != nil || w2.bufs[0] != nil {
		t.Errorf("gather kept %d datagrams (buffer %p) after the batch; writers hold %p, %p", b.gather.n,
			b.gather.bufs[0], w1.bufs[0], w2.bufs[0])
	}
}

// More than a gather's worth of datagrams goes out as it fills; a writer on another port (a
// relay's own socket) and a writer without a selected pair do not join the reader's send.
func TestGatheredSendFillsAndKeepsToItsPort(t *testing.T) {
	f, w1, _, c1 := gsoFixture(t, Config{})
	var b Batch
	b.gather = newReaderSend(f.m, f.s)
	b.Start(time.Now().UnixNano())
	var want [][]byte
	for range gatherSize/writeBatchSize + 2 {
		want = append(want, commitSizes(w1, []int{200, 200, 200})...)
		if err := w1.FlushTo(&b); err != nil {
			t.Fatal(err)
		}
	}
	b.Finish()
	receiveExactly(t, c1, want)
	if st := w1.Stats(); st.Packets != uint64(len(want)) || st.Dropped != 0 {
		t.Errorf("counted %+v, want %d sent", st, len(want))
	}

	_, wo, _, co := gsoFixture(t, Config{})
	sent := commitSizes(wo, []int{300})
	if err := wo.FlushTo(&b); err != nil { // b reads f's port, not other's
		t.Fatal(err)
	}
	if b.gather.n != 0 {
		t.Fatal("a writer of another port joined the reader's send")
	}
	receiveExactly(t, co, sent)

	none := f.t
	none.remoteAddr.Store((*netip.AddrPort)(nil))
	w := none.NewBatchWriter()
	commitSizes(w, []int{100})
	if err := w.FlushTo(&b); err != ErrNoRemote {
		t.Errorf("FlushTo without a selected pair: %v, want ErrNoRemote", err)
	}
	if st := w.Stats(); st.Dropped != 1 {
		t.Errorf("counted %+v, want the datagram dropped", st)
	}
}

// A gathered send allocates nothing: building, handing over, sending and counting.
func TestGatheredSendDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	f, w, _, _ := gsoFixture(t, Config{})
	var b Batch
	b.gather = newReaderSend(f.m, f.s)
	round := func() {
		b.Start(time.Now().UnixNano())
		for range 3 {
			w.Commit(append(w.Buffer(), rtpPacket...))
		}
		if err := w.FlushTo(&b); err != nil {
			t.Fatal(err)
		}
		b.Finish()
	}
	round()
	if allocs := testing.AllocsPerRun(200, round); allocs != 0 {
		t.Errorf("%.1f allocations per gathered batch, want 0", allocs)
	}
}

// unlockProbe records what its writer had counted as sent when it was unlocked.
type unlockProbe struct {
	w        *BatchWriter
	unlocked bool
	sent     uint64
}

func (p *unlockProbe) Unlock() { p.unlocked, p.sent = true, p.w.Stats().Packets }

// A lock handed to the batch (UnlockAfterSend) is released only once the datagrams gathered
// during the batch's end are sent: whoever takes the writer next sends after them.
func TestHandedOverLockIsReleasedAfterTheGatheredSend(t *testing.T) {
	f, w, _, c := gsoFixture(t, Config{})
	var b Batch
	b.gather = newReaderSend(f.m, f.s)
	b.Start(time.Now().UnixNano())
	want := commitSizes(w, []int{500, 500, 120})
	if err := w.FlushTo(&b); err != nil {
		t.Fatal(err)
	}
	p := &unlockProbe{w: w}
	b.UnlockAfterSend(p)
	if p.unlocked {
		t.Fatal("unlocked before the batch ended")
	}
	b.Finish()
	if !p.unlocked || p.sent != uint64(len(want)) {
		t.Fatalf("unlocked %v with %d datagrams sent, want unlocked after all %d", p.unlocked, p.sent, len(want))
	}
	receiveExactly(t, c, want)
	p.unlocked = false
	b.Start(time.Now().UnixNano())
	b.Finish()
	if p.unlocked {
		t.Error("a lock was released again by the next batch")
	}
}
