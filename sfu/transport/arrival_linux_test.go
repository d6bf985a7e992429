package transport

import (
	"net"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Datagrams that queue in the socket while the reader is busy come back in one recvmmsg batch,
// yet each keeps its own arrival time: the kernel's, taken during its send on loopback, spaced
// as they were sent, not the batch's single clock read.
func TestPacketTimesKeepSendSpacingWithinABatch(t *testing.T) {
	f := newArrivalFixture(t, Config{})
	if f.m.api != fastSockets {
		t.Fatalf("socket path %s, want the recvmmsg one", f.m.api.name)
	}
	// The kernel switches receive timestamping on system-wide a moment after the first socket
	// asks (deferred work); until then it stamps a datagram when it is read. Probe until one
	// sent while the reader is held (so read after it was sent) is stamped within its send.
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.hold(t)
		before, after := f.send(t, markProbe)
		f.release()
		a := f.next(t)
		if a.at >= before && a.at <= after {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no datagram stamped on arrival within 5s: last packet time %d, sent in [%d, %d], batch time %d", a.at, before, after, a.now)
		}
	}

	f.hold(t)
	const n, spacing = 3, 10 * time.Millisecond
	var sent [n][2]int64
	for i := range n {
		if i > 0 {
			time.Sleep(spacing) // the spacing under test, not a wait for an event
		}
		sent[i][0], sent[i][1] = f.send(t, markMeasure)
	}
	f.release()
	var got [n]arrival
	for i := range got {
		got[i] = f.next(t)
	}
	for i, a := range got {
		if a.mark != markMeasure {
			t.Fatalf("datagram %d has mark %d, want %d", i, a.mark, markMeasure)
		}
		if a.now != got[0].now {
			t.Fatalf("datagram %d came in a batch read at %d, datagram 0 in one at %d: want one batch", i, a.now, got[0].now)
		}
		if a.at < sent[i][0] || a.at > sent[i][1] {
			t.Errorf("datagram %d: packet time %d outside its send [%d, %d]", i, a.at, sent[i][0], sent[i][1])
		}
		if i > 0 {
			if d := time.Duration(a.at - got[i-1].at); d < spacing {
				t.Errorf("datagram %d arrived %v after the one before, want at least the %v it was sent after", i, d, spacing)
			}
		}
		t.Logf("datagram %d: packet time %v after its send began, %v before the batch's time",
			i, time.Duration(a.at-sent[i][0]), time.Duration(a.now-a.at))
	}
}

// putCmsg writes a control message header for datalen bytes of data at off in b and returns
// its data and the offset of the next message.
func putCmsg(b []byte, off int, level, typ int32, datalen int) ([]byte, int) {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[off]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(datalen))
	start := off + unix.CmsgLen(0)
	return b[start : start+datalen], off + unix.CmsgSpace(datalen)
}

func putTimespec(data []byte, ts unix.Timespec) {
	copy(data, unsafe.Slice((*byte)(unsafe.Pointer(&ts)), sizeofTimespec))
}

// arrivalTime finds the timestamp among other control messages and returns 0, without a panic or
// an endless loop, for whatever else a control buffer holds.
func TestArrivalTimeParsesControlMessages(t *testing.T) {
	ts := unix.Timespec{Sec: 1_700_000_000, Nsec: 123_456_789}
	want := ts.Nano()
	for _, tc := range []struct {
		name  string
		build func(b []byte) int // fills b, returns the control length the kernel would report
		want  int64
	}{
		{"empty", func([]byte) int { return 0 }, 0},
		{"timestamp", func(b []byte) int {
			d, n := putCmsg(b, 0, unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, sizeofTimespec)
			putTimespec(d, ts)
			return n
		}, want},
		{"after another message", func(b []byte) int {
			d, n := putCmsg(b, 0, unix.IPPROTO_IP, unix.IP_TOS, 1)
			d[0] = 0xb8
			d, n = putCmsg(b, n, unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, sizeofTimespec)
			putTimespec(d, ts)
			return n
		}, want},
		{"other message only", func(b []byte) int {
			_, n := putCmsg(b, 0, unix.IPPROTO_IP, unix.IP_TOS, 1)
			return n
		}, 0},
		{"timestamp type at another level", func(b []byte) int {
			d, n := putCmsg(b, 0, unix.IPPROTO_IP, unix.SCM_TIMESTAMPNS, sizeofTimespec)
			putTimespec(d, ts)
			return n
		}, 0},
		{"short timestamp", func(b []byte) int {
			_, n := putCmsg(b, 0, unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, 4)
			return n
		}, 0},
		{"zero timestamp", func(b []byte) int {
			_, n := putCmsg(b, 0, unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, sizeofTimespec)
			return n
		}, 0},
		{"length zero", func(b []byte) int {
			putCmsg(b, 0, unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, sizeofTimespec)
			(*unix.Cmsghdr)(unsafe.Pointer(&b[0])).SetLen(0)
			return unix.CmsgSpace(sizeofTimespec)
		}, 0},
		{"length past the buffer", func(b []byte) int {
			d, n := putCmsg(b, 0, unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, sizeofTimespec)
			putTimespec(d, ts)
			return n - 1
		}, 0},
		{"header only", func(b []byte) int { return unix.SizeofCmsghdr - 1 }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			words := make([]uint64, 16)
			b := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), 8*len(words))
			n := tc.build(b)
			if got := arrivalTime(b[:n]); got != tc.want {
				t.Fatalf("arrivalTime = %d, want %d", got, tc.want)
			}
			if allocs := testing.AllocsPerRun(100, func() { arrivalTime(b[:n]) }); allocs != 0 {
				t.Fatalf("arrivalTime allocates %.0f times", allocs)
			}
		})
	}
}

// BenchmarkRecvBatchTimestamped is the Linux reader's receive path per datagram: recvmmsg of
// full batches from loopback (the client's sends are included) and each datagram's arrival
// time parsed from its control message.
func BenchmarkRecvBatchTimestamped(b *testing.B) {
	c, _, err := listenUDP("udp4", "127.0.0.1:0", 1<<20)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r, err := newRecvBatch(c, readBatchSize, bufSize)
	if err != nil {
		b.Fatal(err)
	}
	client, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	to := c.LocalAddr().(*net.UDPAddr).AddrPort()
	var datagrams, stamped int
	b.ReportAllocs()
	b.SetBytes(int64(readBatchSize * len(rtpPacket)))
	for b.Loop() {
		for range readBatchSize {
			if _, err := client.WriteToUDPAddrPort(rtpPacket, to); err != nil {
				b.Fatal(err)
			}
		}
		for got := 0; got < readBatchSize; {
			n, err := r.read(time.Now())
			if err != nil {
				b.Fatal(err)
			}
			for i := range n {
				if _, _, at := r.datagram(i); at != 0 {
					stamped++
				}
			}
			got += n
			datagrams += n
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(datagrams), "ns/datagram")
	b.ReportMetric(float64(stamped)/float64(datagrams), "stamped/datagram")
}
