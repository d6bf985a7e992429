package sfu

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gojvb/sfu/transport"
)

// overloadChild marks the copy of the test binary that runs in a private network namespace.
const overloadChild = "GOJVB_SFU_OVERLOAD_CHILD"

// commitCounter counts the datagrams the send side hands to the real writer: what the pipeline
// tried to send, counted apart from what the writer reports.
type commitCounter struct {
	datagramWriter
	commits atomic.Uint64
}

func (c *commitCounter) Commit(b []byte) {
	c.commits.Add(1)
	c.datagramWriter.Commit(b)
}

// Three pion clients send media through a bridge whose socket has a small send buffer and whose
// outgoing datagrams leave through a slow link (an htb class on loopback, in a network
// namespace of this test's own): the send buffer fills, and what the bridge reports (the
// counters /metrics exports as packets_sent and dropped_packets_total{reason="send_failed"})
// adds up exactly to what its send side tried: every datagram it handed to the writer.
//
// Loopback frees a datagram's send buffer space as it hands it over, so without the slow link
// no send buffer ever fills. The test needs root, unshare, ip and tc; it skips without them,
// except with CI=true.
func TestOverloadedSocketSentPlusDroppedIsWhatWasTried(t *testing.T) {
	if os.Getenv(overloadChild) == "" {
		runInPrivateNetns(t, "TestOverloadedSocketSentPlusDroppedIsWhatWasTried")
		return
	}
	tc := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	tc("ip", "link", "set", "lo", "up")
	// 16 KiB (32 KiB granted): enough for the handshakes, little for a slow link.
	b := newBridgeOn(t, transport.Config{BindAddr: netip.MustParseAddr("127.0.0.1"), Readers: 1, SocketBuffer: 16 << 10})
	var (
		mu       sync.Mutex
		counters []*commitCounter
	)
	inner := b.newTransport
	b.newTransport = func(opts transport.Options, h transport.Handler) (endpointTransport, datagramWriter, error) {
		tr, w, err := inner(opts, h)
		if err != nil {
			return nil, nil, err
		}
		c := &commitCounter{datagramWriter: w}
		mu.Lock()
		counters = append(counters, c)
		mu.Unlock()
		return tr, c, nil
	}
	conf, err := b.CreateConference("overload", "overload@conference.example")
	if err != nil {
		t.Fatal(err)
	}
	peers := []*peer{joinPeer(t, conf, 0), joinPeer(t, conf, 1), joinPeer(t, conf, 2)}
	connectAll(t, peers)

	// Only what the bridge sends takes the slow class; its queue (1000 datagrams) outlasts the
	// socket's send buffer, so the buffer fills (EAGAIN) rather than the queue dropping.
	port := strconv.Itoa(int(b.mux.LocalAddr().Port()))
	tc("tc", "qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "20")
	tc("tc", "class", "add", "dev", "lo", "parent", "1:", "classid", "1:10", "htb", "rate", "400kbit", "burst", "8kb")
	tc("tc", "class", "add", "dev", "lo", "parent", "1:", "classid", "1:20", "htb", "rate", "10gbit")
	tc("tc", "qdisc", "add", "dev", "lo", "parent", "1:10", "handle", "10:", "pfifo", "limit", "1000")
	tc("tc", "filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1", "u32", "match", "ip", "sport", port, "0xffff", "flowid", "1:10")
	stop := sendMedia(t, peers)
	waitUntil(t, 20*time.Second, "send buffer drops", func() error {
		if s := b.Stats(); s.DroppedSendFailed < 100 {
			return fmt.Errorf("%d send drops, %d sent", s.DroppedSendFailed, s.PacketsSent)
		}
		return nil
	})
	stop()
	tc("tc", "qdisc", "del", "dev", "lo", "root")
	// Expiring the endpoints stops their sender goroutines: every count below is final.
	for _, p := range peers {
		p.ep.Expire()
	}
	var commits uint64
	mu.Lock()
	for _, c := range counters {
		commits += c.commits.Load()
	}
	mu.Unlock()
	s := b.Stats()
	t.Logf("handed to the writers %d: sent %d + send_failed %d", commits, s.PacketsSent, s.DroppedSendFailed)
	// Every packet could be protected (the clients' keys are good), so all the send side tried
	// went to the writers.
	if s.PacketsSent+s.DroppedSendFailed != commits {
		t.Fatalf("packets_sent %d + send_failed %d = %d, want the %d datagrams the send side tried",
			s.PacketsSent, s.DroppedSendFailed, s.PacketsSent+s.DroppedSendFailed, commits)
	}
	if s.Mux.PacketsSent < s.PacketsSent {
		t.Fatalf("the socket counts %d datagrams sent, fewer than the %d media packets", s.Mux.PacketsSent, s.PacketsSent)
	}
	for _, p := range peers {
		got := 0
		for _, o := range peers {
			if o != p {
				got += p.received(o.audioSSRC) + p.received(o.videoSSRC)
			}
		}
		if sent := p.ep.Stats().PacketsSent; uint64(got) > sent {
			t.Errorf("%s received %d packets, more than the %d its endpoint counts as sent", p.id, got, sent)
		}
	}
	checkIntact(t, peers)
}

// waitUntil polls cond until it returns nil, failing t with its last error after d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
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
