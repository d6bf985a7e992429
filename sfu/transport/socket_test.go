package transport

import (
	"errors"
	"net"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"
)

func TestPortableSocketsOption(t *testing.T) {
	m, err := Listen(Config{BindAddr: netip.MustParseAddr("127.0.0.1"), Readers: 3, PortableSockets: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.api != &portableSockets || len(m.socks) != 1 {
		t.Fatalf("PortableSockets: %s path with %d sockets, want portable with 1", m.api.name, len(m.socks))
	}
	if runtime.GOOS != "linux" {
		return
	}
	fast, err := Listen(Config{BindAddr: netip.MustParseAddr("127.0.0.1"), Readers: 3, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	if fast.api != fastSockets || len(fast.socks) != 3 {
		t.Fatalf("default on Linux: %s path with %d sockets, want recvmmsg with 3", fast.api.name, len(fast.socks))
	}
}

// The portable reader hands SRTP from a validated address to the handler and drops a datagram
// larger than its buffer as garbage instead of delivering a truncated one.
func TestPortableReaderDeliversAndDropsTruncated(t *testing.T) {
	f := newDemuxFixtureWith(t, Config{PortableSockets: true})
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f.m.validate(c.LocalAddr().(*net.UDPAddr).AddrPort(), f.t)
	to := net.UDPAddrFromAddrPort(f.m.LocalAddr())
	big := make([]byte, bufSize+100)
	copy(big, rtpPacket)
	for _, b := range [][]byte{big, rtpPacket} {
		if _, err := c.WriteToUDP(b, to); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.m.Stats().PacketsReceived < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	st := f.m.Stats()
	if st.PacketsReceived != 2 || st.DroppedGarbage != 1 {
		t.Fatalf("received %d, garbage %d; want 2 received, the oversized one dropped as garbage", st.PacketsReceived, st.DroppedGarbage)
	}
	// The handler runs on the reader goroutine; the counters above are published after it.
	if f.h.srtp != 1 {
		t.Fatalf("handler got %d SRTP datagrams, want 1", f.h.srtp)
	}
}

// Every committed datagram is counted once: as sent (what the kernel accepted, in the writer's
// and the socket's counters) or as dropped, however the batch ends.
func TestBatchWriterCountsEveryDatagram(t *testing.T) {
	for _, portable := range []bool{false, true} {
		name := map[bool]string{false: "fast", true: "portable"}[portable]
		t.Run(name, func(t *testing.T) {
			f := newDemuxFixtureWith(t, Config{PortableSockets: portable})
			w := f.t.NewBatchWriter()
			want := WriteStats{}
			check := func(step string) {
				t.Helper()
				if got := w.Stats(); got != want {
					t.Fatalf("%s: writer stats %+v, want %+v", step, got, want)
				}
				if st := f.m.Stats(); st.PacketsSent != want.Packets || st.BytesSent != want.Bytes {
					t.Fatalf("%s: socket counted %d packets %d bytes sent, want %d and %d", step, st.PacketsSent, st.BytesSent, want.Packets, want.Bytes)
				}
			}

			fillBatch(w, 3)
			if err := w.Flush(); !errors.Is(err, ErrNoRemote) {
				t.Fatalf("Flush without a selected pair = %v, want ErrNoRemote", err)
			}
			want.Dropped += 3
			check("no selected pair")

			addr, _ := sink(t)
			f.t.remoteAddr.Store(&addr)
			fillBatch(w, writeBatchSize+5) // one send when the batch is full, one on Flush
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			want.Packets += writeBatchSize + 5
			want.Bytes += uint64((writeBatchSize + 5) * len(rtpPacket))
			check("full and partial batch")

			// The kernel refuses one datagram of the batch (too large for UDP): the others go
			// out and are counted, the refused one is a drop.
			fillBatch(w, 2)
			w.Commit(make([]byte, 70000))
			fillBatch(w, 2)
			if err := w.Flush(); !errors.Is(err, syscall.EMSGSIZE) {
				t.Fatalf("Flush with an oversized datagram = %v, want EMSGSIZE", err)
			}
			want.Packets += 4
			want.Bytes += uint64(4 * len(rtpPacket))
			want.Dropped++
			check("one datagram refused")

			// A send buffer that fills after 5 datagrams drops the rest of the batch (EAGAIN):
			// 5 sent, 11 dropped, not one failure.
			w.send = &fullBuffer{datagramSender: w.send, room: 5}
			fillBatch(w, writeBatchSize)
			if err := w.Flush(); !errors.Is(err, syscall.EAGAIN) {
				t.Fatalf("Flush into a full send buffer = %v, want EAGAIN", err)
			}
			want.Packets += 5
			want.Bytes += uint64(5 * len(rtpPacket))
			want.Dropped += writeBatchSize - 5
			check("send buffer full")

			f.t.Close()
			fillBatch(w, 2)
			if err := w.Flush(); !errors.Is(err, ErrClosed) {
				t.Fatalf("Flush after Close = %v, want ErrClosed", err)
			}
			want.Dropped += 2
			check("closed")
		})
	}
}

// fullBuffer stands in for a socket whose send buffer has room for a few more datagrams: it
// sends that many through the real sender and reports EAGAIN for the rest, as sendmmsg does.
type fullBuffer struct {
	datagramSender
	room int
}

func (s *fullBuffer) write(n int) (int, uint64, error) {
	sent, bytes, err := s.datagramSender.write(min(n, s.room))
	if err == nil && n > s.room {
		err = syscall.EAGAIN
	}
	s.room -= sent
	return sent, bytes, err
}
