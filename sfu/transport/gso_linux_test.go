package transport

import (
	"bytes"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// gsoBatch is what the GSO tests commit: a video frame's packets (equal sizes, a shorter last
// one), a short frame, an audio packet between, another frame cut by the batch's end.
var gsoBatch = []int{1000, 1000, 1000, 1000, 1000, 300, 1000, 1000, 80, 1000, 1000, 1000}

// gsoMessages is how many messages gsoBatch takes with offload: a run ends after a shorter
// datagram, so [5×1000 300] [2×1000 80] [3×1000].
const gsoMessages = 3

// commitSizes commits one datagram per size, each filled with its index so that the sink can
// tell them apart, and returns what it committed.
func commitSizes(w *BatchWriter, sizes []int) [][]byte {
	var out [][]byte
	for i, n := range sizes {
		b := w.Buffer()[:n]
		for j := range b {
			b[j] = byte(i)
		}
		b[0] = 0x80 // RTP version 2, like media
		w.Commit(b)
		out = append(out, bytes.Clone(b))
	}
	return out
}

// receiveExactly reads want's datagrams from c and fails unless each arrived on its own, in
// order, byte for byte.
func receiveExactly(t *testing.T, c *net.UDPConn, want [][]byte) {
	t.Helper()
	buf := make([]byte, 70000)
	for i, w := range want {
		if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d of %d: %v", i+1, len(want), err)
		}
		if !bytes.Equal(buf[:n], w) {
			t.Fatalf("datagram %d: got %d bytes starting %x, want %d bytes starting %x", i+1, n, buf[:min(n, 4)], len(w), w[:4])
		}
	}
}

func gsoFixture(t *testing.T, cfg Config) (*demuxFixture, *BatchWriter, *sendBatch, *net.UDPConn) {
	t.Helper()
	f := newDemuxFixtureWith(t, cfg)
	if f.m.api != fastSockets {
		t.Fatalf("socket path %s, want the sendmmsg one", f.m.api.name)
	}
	addr, c := sink(t)
	f.t.remoteAddr.Store(&addr)
	w := f.t.NewBatchWriter()
	return f, w, w.send.(*sendBatch), c
}

func sum(sizes []int) (n uint64) {
	for _, s := range sizes {
		n += uint64(s)
	}
	return n
}

// A frame's equal-sized packets leave in one message and arrive as the separate datagrams they
// were, in order; every one is counted as sent.
func TestGSORunsArriveAsSeparateDatagrams(t *testing.T) {
	f, w, sb, c := gsoFixture(t, Config{})
	if f.m.socks[0].gsoOff.Load() {
		t.Skip("the kernel has no UDP_SEGMENT")
	}
	want := commitSizes(w, gsoBatch)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	receiveExactly(t, c, want)
	if sb.messages != gsoMessages {
		t.Errorf("%d datagrams went out in %d messages, want %d", len(gsoBatch), sb.messages, gsoMessages)
	}
	if st := w.Stats(); st.Packets != uint64(len(gsoBatch)) || st.Bytes != sum(gsoBatch) || st.Dropped != 0 {
		t.Errorf("writer stats %+v, want %d packets %d bytes", st, len(gsoBatch), sum(gsoBatch))
	}
	if ms := f.m.Stats(); ms.PacketsSent != uint64(len(gsoBatch)) || ms.BytesSent != sum(gsoBatch) {
		t.Errorf("socket counted %d packets %d bytes", ms.PacketsSent, ms.BytesSent)
	}
}

// Config.NoGSO sends one message per datagram.
func TestNoGSOSendsOneMessagePerDatagram(t *testing.T) {
	_, w, sb, c := gsoFixture(t, Config{NoGSO: true})
	want := commitSizes(w, gsoBatch)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	receiveExactly(t, c, want)
	if sb.messages != uint64(len(gsoBatch)) {
		t.Errorf("%d messages, want one per datagram (%d)", sb.messages, len(gsoBatch))
	}
}

// A kernel that refuses offload (EIO: no checksum offload on the device; EINVAL: a segment over
// the path MTU) costs nothing: the refused run and the rest of the batch go out one datagram per
// message, and the socket sends that way from then on.
func TestGSORefusedFallsBackToSendmmsg(t *testing.T) {
	for _, errno := range []syscall.Errno{unix.EIO, unix.EINVAL} {
		t.Run(errno.Error(), func(t *testing.T) {
			f, w, sb, c := gsoFixture(t, Config{})
			refused := 0
			sb.gsoOff.Store(false) // also where the kernel has no UDP_SEGMENT: it is refused below
			sb.sendmmsg = func(fd uintptr, hdrs []unix.Mmsghdr) (int, syscall.Errno) {
				for i := range hdrs {
					if hdrs[i].Hdr.Controllen != 0 {
						refused++
						if i == 0 {
							return 0, errno
						}
						hdrs = hdrs[:i] // what comes before the refused message goes out
						break
					}
				}
				return sysSendmmsg(fd, hdrs)
			}
			for round := range 2 {
				want := commitSizes(w, gsoBatch)
				if err := w.Flush(); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				receiveExactly(t, c, want)
			}
			if refused != 1 {
				t.Errorf("the kernel was asked for offload %d times, want once", refused)
			}
			if !f.m.socks[0].gsoOff.Load() {
				t.Error("the socket still sends with offload after the refusal")
			}
			if want := uint64(2 * len(gsoBatch)); sb.messages != want {
				t.Errorf("%d messages, want one per datagram (%d)", sb.messages, want)
			}
			if st := w.Stats(); st.Packets != uint64(2*len(gsoBatch)) || st.Bytes != 2*sum(gsoBatch) || st.Dropped != 0 {
				t.Errorf("writer stats %+v, want every datagram sent", st)
			}
		})
	}
}

// Datagrams over the run limits, or too large for offload, are sent on their own and still
// counted one by one; a run is never longer than the kernel allows.
func TestGSORunLimits(t *testing.T) {
	_, w, sb, c := gsoFixture(t, Config{})
	sb.gsoOff.Store(false)
	sizes := []int{1500, 1500, 1452, 1452, 0, 1452}
	w.Commit(w.Buffer()) // empty datagram: a message of its own
	want := [][]byte{{}}
	want = append(want, commitSizes(w, sizes[:4])...)
	w.Commit(w.Buffer())
	want = append(want, []byte{})
	want = append(want, commitSizes(w, sizes[5:])...)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	receiveExactly(t, c, want)
	// [0] [1500] [1500] [1452 1452] [0] [1452] when the kernel offloads, one each without.
	if f := w.sock.gsoOff.Load(); !f && sb.messages != 6 || f && sb.messages != 7 {
		t.Errorf("%d messages (offload off: %v)", sb.messages, f)
	}
	// A run stops at maxGSOSegments datagrams.
	off := new(atomic.Bool)
	big, err := newSendBatch(w.sock.conn, maxGSOSegments+3, off)
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 100)
	big.n = maxGSOSegments + 3
	for i := range big.n {
		big.set(i, payload)
	}
	big.group(0)
	if big.msgs != 2 || big.count[0] != maxGSOSegments || big.count[1] != 3 {
		t.Errorf("%d datagrams grouped into %d messages of %v, want %d and 3", big.n, big.msgs, big.count[:big.msgs], maxGSOSegments)
	}
}
