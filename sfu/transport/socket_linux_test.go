package transport

import (
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

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
