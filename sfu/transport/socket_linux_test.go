package transport

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// sockBuffers reads a socket's SO_RCVBUF and SO_SNDBUF (twice what was set: Linux counts its
// bookkeeping).
func sockBuffers(t *testing.T, s *socket) (rcv, snd int) {
	t.Helper()
	rc, err := s.conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var rerr, serr error
	if err := rc.Control(func(fd uintptr) {
		rcv, rerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
		snd, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
	}); err != nil {
		t.Fatal(err)
	}
	if rerr != nil || serr != nil {
		t.Fatal(rerr, serr)
	}
	return rcv, snd
}

func sysctlInt(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/core/" + name)
	if err != nil {
		t.Skip(err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Config.SocketBuffer reaches every socket on both paths. A size below the system's limits
// must read back exactly (doubled) whatever the process may do, so this fails if the buffers are
// left at the system default, with or without root.
func TestSocketBufferIsApplied(t *testing.T) {
	asked := 96 << 10
	if d := sysctlInt(t, "rmem_default"); d == 2*asked || asked > sysctlInt(t, "rmem_max") || asked > sysctlInt(t, "wmem_max") {
		t.Skipf("system buffer limits (rmem_default %d) leave no size distinguishable from the default", d)
	}
	for _, portable := range []bool{false, true} {
		m, err := Listen(Config{BindAddr: netip.MustParseAddr("127.0.0.1"), Readers: 2, SocketBuffer: asked, PortableSockets: portable, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range m.socks {
			if rcv, snd := sockBuffers(t, s); rcv != 2*asked || snd != 2*asked {
				t.Errorf("%s socket %d: SO_RCVBUF %d SO_SNDBUF %d, want %d (twice %d)", m.api.name, i, rcv, snd, 2*asked, asked)
			}
		}
		m.Close()
	}
}

// The default buffer (4 MiB) is granted beyond net.core.[rw]mem_max when the process may
// (CAP_NET_ADMIN, as in the test namespace), else up to that limit.
func TestSocketBuffersRaised(t *testing.T) {
	m, err := Listen(Config{BindAddr: netip.MustParseAddr("127.0.0.1"), Readers: 2, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rlimit, wlimit := DefaultSocketBuffer, DefaultSocketBuffer
	if os.Geteuid() != 0 {
		rlimit = min(rlimit, sysctlInt(t, "rmem_max"))
		wlimit = min(wlimit, sysctlInt(t, "wmem_max"))
	}
	for i, s := range m.socks {
		if rcv, snd := sockBuffers(t, s); rcv < 2*rlimit || snd < 2*wlimit {
			t.Errorf("socket %d: SO_RCVBUF %d SO_SNDBUF %d, want >= %d and %d", i, rcv, snd, 2*rlimit, 2*wlimit)
		}
	}
}

// The batched calls run as raw system calls, outside the scheduler's accounting, so they must
// never block whatever mode the descriptor is in: on a socket switched to blocking mode an empty
// receive returns at once (EAGAIN: wait for the poller) and a send still goes out.
func TestBatchedCallsNeverBlock(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetNonblock(int(fd), false) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	r, err := newRecvBatch(c, 4, 1500)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan bool, 1)
	go func() {
		var got bool
		_ = rc.Control(func(fd uintptr) { got = r.recv(fd) })
		done <- got
	}()
	select {
	case got := <-done:
		if got {
			t.Fatalf("recv on an empty socket reported a batch (n %d, errno %v), want EAGAIN", r.n, r.errno)
		}
	case <-time.After(5 * time.Second):
		// Unblock the stuck call so the goroutine ends before goleak looks.
		if _, err := c.WriteToUDP([]byte{1}, c.LocalAddr().(*net.UDPAddr)); err != nil {
			t.Error(err)
		}
		<-done
		t.Fatal("recvmmsg blocked on an empty socket in blocking mode")
	}

	s, err := newSendBatch(c, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.setAddr(c.LocalAddr().(*net.UDPAddr).AddrPort(), false)
	s.set(0, []byte("one"))
	s.set(1, []byte("two"))
	if sent, _, err := s.write(2); sent != 2 || err != nil {
		t.Fatalf("sent %d datagrams (err %v), want 2", sent, err)
	}
	var got bool
	if err := rc.Control(func(fd uintptr) { got = r.recv(fd) }); err != nil || !got || r.n != 2 {
		t.Fatalf("received %d datagrams (ok %v, err %v), want the 2 sent", r.n, got, err)
	}
}
