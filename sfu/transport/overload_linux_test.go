package transport

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// overloadChild marks the copy of the test binary that runs in a private network namespace.
const overloadChild = "GOJVB_TRANSPORT_OVERLOAD_CHILD"

// A real socket with the smallest send buffer, sending to a peer behind a slow link: sendmmsg
// fills the buffer and gets EAGAIN, and every datagram the writer was given is counted once, as
// sent (in the writer's and the socket's counters alike) or dropped.
//
// Loopback hands a datagram over synchronously and frees its send buffer space at once, so no
// UDP send buffer ever fills on it: the test slows loopback down with a token bucket (tc). It
// does so in a network namespace of its own (a copy of the test binary under unshare), never
// in the one other tests use. It needs root, unshare, ip and tc; it skips without them, except
// with CI=true.
func TestTinySendBufferOverloadIsCounted(t *testing.T) {
	if os.Getenv(overloadChild) == "" {
		runInPrivateNetns(t, "TestTinySendBufferOverloadIsCounted")
		return
	}
	for _, args := range [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", "1mbit", "burst", "4kb", "latency", "500ms"},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	f := newDemuxFixtureWith(t, Config{SocketBuffer: 1}) // the kernel's minimum send buffer
	if f.m.api != fastSockets {
		t.Fatalf("socket path %s, want the sendmmsg one", f.m.api.name)
	}
	addr, sinkConn := sink(t)
	f.t.remoteAddr.Store(&addr)
	w := f.t.NewBatchWriter()
	const batches = 100
	eagain := 0
	for range batches {
		fillBatch(w, writeBatchSize)
		if err := w.Flush(); errors.Is(err, syscall.EAGAIN) {
			eagain++
		} else if err != nil {
			t.Fatalf("Flush: %v", err)
		}
	}
	st := w.Stats()
	t.Logf("%d batches of %d: %d sent, %d dropped, %d batches hit a full send buffer", batches, writeBatchSize, st.Packets, st.Dropped, eagain)
	if st.Packets+st.Dropped != batches*writeBatchSize {
		t.Fatalf("sent %d + dropped %d = %d, want the %d datagrams committed", st.Packets, st.Dropped, st.Packets+st.Dropped, batches*writeBatchSize)
	}
	if st.Dropped == 0 || eagain == 0 {
		t.Fatal("the tiny send buffer never filled: nothing was overloaded")
	}
	if ms := f.m.Stats(); ms.PacketsSent != st.Packets || ms.BytesSent != st.Bytes || st.Bytes != st.Packets*uint64(len(rtpPacket)) {
		t.Fatalf("socket counted %d packets %d bytes, writer %d packets %d bytes", ms.PacketsSent, ms.BytesSent, st.Packets, st.Bytes)
	}
	// What arrives is at most what the kernel accepted.
	got := uint64(0)
	buf := make([]byte, 2048)
	for {
		_ = sinkConn.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := sinkConn.Read(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			t.Fatal(err)
		}
		got++
	}
	if got == 0 || got > st.Packets {
		t.Fatalf("sink received %d datagrams, want 1..%d (what the kernel accepted)", got, st.Packets)
	}
}

// runInPrivateNetns runs test name in a copy of the test binary inside a new network namespace
// and fails t if it fails there.
func runInPrivateNetns(t *testing.T, name string) {
	t.Helper()
	var missing error
	if os.Geteuid() != 0 {
		missing = errors.New("not root")
	}
	for _, bin := range []string{"unshare", "ip", "tc"} {
		if _, err := exec.LookPath(bin); err != nil && missing == nil {
			missing = err
		}
	}
	if missing != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but a private network namespace with tc is not available: %v", missing)
		}
		t.Skipf("needs a private network namespace with tc: %v", missing)
	}
	cmd := exec.Command("unshare", "--net", "--", os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), overloadChild+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in a private network namespace: %v\n%s", name, err, out)
	}
	t.Logf("%s", out)
}
