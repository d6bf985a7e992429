package transport

import (
	"io"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// tcpMediaPair is a bound ICE-TCP connection selected for the fixture's transport: the client
// end, and a BatchWriter that frames onto the bridge end.
func tcpMediaPair(tb testing.TB) (*tcpFixture, *net.TCPConn, *BatchWriter) {
	tb.Helper()
	f := newTCPFixture(tb, TCPConfig{})
	c := f.dial(tb)
	if _, err := c.Write(framed(bindingRequest(tb, fixtureUfrag+":remote", fixturePwd))); err != nil {
		tb.Fatal(err)
	}
	remote := netip.MustParseAddrPort(c.LocalAddr().String())
	deadline := time.Now().Add(5 * time.Second)
	for f.t.tcp.conn(remote) == nil {
		if time.Now().After(deadline) {
			tb.Fatal("connection not bound")
		}
		time.Sleep(time.Millisecond)
	}
	f.t.tcp.selectPair(remote, true)
	return f, c, f.t.NewBatchWriter()
}

// media1200 is a 1200-byte RTP packet.
var media1200 = append(append([]byte(nil), rtpPacket[:12]...), make([]byte, 1188)...)

// spinUntil waits, without allocating, until get() reaches want; false after 5 s.
func spinUntil(want int64, get func() int64) bool {
	deadline := time.Now().Add(5 * time.Second)
	for get() < want {
		if time.Now().After(deadline) {
			return false
		}
		runtime.Gosched()
	}
	return true
}

// The ICE-TCP media path allocates nothing per packet once set up: 16 datagrams framed onto
// the connection by a BatchWriter, and 16 frames read, parsed and handed to the Handler.
func TestTCPMediaPathDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	f, c, w := tcpMediaPair(t)
	go io.Copy(io.Discard, c) //nolint:errcheck // ends when the fixture closes c
	chunk := framed(repeat(media1200, 16)...)
	var sent int64
	allocs := testing.AllocsPerRun(50, func() {
		for range 16 {
			w.Commit(append(w.Buffer(), media1200...))
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(chunk); err != nil {
			t.Fatal(err)
		}
		sent += 16
		if !spinUntil(sent, f.h.srtp.Load) {
			t.Fatalf("handler got %d of %d", f.h.srtp.Load(), sent)
		}
	})
	if allocs >= 1 {
		t.Errorf("%.1f allocations per 16 packets each way, want 0", allocs)
	}
	if st := w.Stats(); st.Packets == 0 || st.Dropped != 0 {
		t.Errorf("writer stats %+v", st)
	}
}

func repeat(b []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// BenchmarkTCPSend1200 frames 1200-byte datagrams onto a loopback ICE-TCP connection through a
// BatchWriter (batches of 16, one write each); the client end discards. Writes never wait, so
// batches that find the send buffer full are dropped (dropped/op); ns/sent is the time per
// datagram that went out.
func BenchmarkTCPSend1200(b *testing.B) {
	_, c, w := tcpMediaPair(b)
	go io.Copy(io.Discard, c) //nolint:errcheck // ends when the fixture closes c
	b.ReportAllocs()
	b.SetBytes(int64(len(media1200)))
	b.ResetTimer()
	for range b.N {
		w.Commit(append(w.Buffer(), media1200...))
	}
	_ = w.Flush()
	b.StopTimer()
	st := w.Stats()
	b.ReportMetric(float64(st.Dropped)/float64(b.N), "dropped/op")
	if st.Packets > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(st.Packets), "ns/sent")
	}
}

// BenchmarkTCPReceive1200 reads 1200-byte RTP frames from a loopback ICE-TCP connection (the
// client writes 16 per write) through the connection's reader into the Handler.
func BenchmarkTCPReceive1200(b *testing.B) {
	f, c, _ := tcpMediaPair(b)
	chunk := framed(repeat(media1200, 16)...)
	b.ReportAllocs()
	b.SetBytes(int64(len(media1200)))
	b.ResetTimer()
	base := f.h.srtp.Load()
	for i := 0; i < b.N; i += 16 {
		if _, err := c.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	want := base + int64((b.N+15)/16*16)
	if !spinUntil(want, f.h.srtp.Load) {
		b.Fatalf("handler got %d of %d", f.h.srtp.Load()-base, want-base)
	}
}
