package stunmap

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server is a STUN server on loopback that answers binding requests with a fixed mapped
// address (the "public" side of a NAT), after ignoring the first drop requests.
type server struct {
	conn  *net.UDPConn
	seen  atomic.Int32
	drop  int32
	reply netip.Addr
	done  chan struct{}
}

func newServer(t *testing.T, reply netip.Addr, drop int32) *server {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{conn: conn, drop: drop, reply: reply, done: make(chan struct{})}
	go s.serve()
	t.Cleanup(func() { conn.Close(); <-s.done })
	return s
}

func (s *server) addr() string { return s.conn.LocalAddr().String() }

func (s *server) serve() {
	defer close(s.done)
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		var req stun.Message
		if stun.Decode(buf[:n], &req) != nil || req.Type != stun.BindingRequest {
			continue
		}
		if s.seen.Add(1) <= s.drop {
			continue
		}
		// A stray answer to another transaction first: it must be ignored.
		stray := stun.MustBuild(stun.TransactionID, stun.BindingSuccess,
			&stun.XORMappedAddress{IP: net.IPv4(198, 51, 100, 66), Port: 1})
		_, _ = s.conn.WriteToUDP(stray.Raw, from)
		res := stun.MustBuild(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
			&stun.XORMappedAddress{IP: s.reply.AsSlice(), Port: from.Port + 1000}, stun.Fingerprint)
		_, _ = s.conn.WriteToUDP(res.Raw, from)
	}
}

func TestDiscoverMappedAddress(t *testing.T) {
	public := netip.MustParseAddr("203.0.113.50")
	s := newServer(t, public, 1) // the first request is lost: retransmission must cover it
	// One server that never answers (a closed port) besides the working one.
	dead, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.LocalAddr().String()
	dead.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := Discover(ctx, []string{deadAddr, s.addr()})
	if err != nil {
		t.Fatal(err)
	}
	if got != public {
		t.Fatalf("mapped address %v, want %v", got, public)
	}
	if n := s.seen.Load(); n < 2 {
		t.Fatalf("server saw %d requests: the lost one was not retransmitted", n)
	}
}

func TestDiscoverFailsWithoutAnswer(t *testing.T) {
	s := newServer(t, netip.MustParseAddr("203.0.113.50"), 1<<30) // never answers
	ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Discover(ctx, []string{s.addr(), "stun.invalid:3478"})
	if err == nil || !strings.Contains(err.Error(), s.addr()) {
		t.Fatalf("want an error naming the silent server: %v", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("Discover outlived its context: %v", time.Since(start))
	}
	if _, err := Discover(context.Background(), nil); err == nil {
		t.Fatal("no servers accepted")
	}
}

func TestMappedIgnoresOtherMessages(t *testing.T) {
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	for _, b := range [][]byte{nil, []byte("garbage"), req.Raw,
		stun.MustBuild(stun.TransactionID, stun.BindingSuccess, &stun.XORMappedAddress{IP: net.IPv4(1, 2, 3, 4)}).Raw} {
		if a, ok := mapped(b, req.TransactionID); ok {
			t.Errorf("%x accepted as %v", b, a)
		}
	}
	ok := stun.MustBuild(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
		&stun.MappedAddress{IP: net.IPv4(192, 0, 2, 9), Port: 9})
	if a, good := mapped(ok.Raw, req.TransactionID); !good || a != netip.MustParseAddrPort("192.0.2.9:9") {
		t.Fatalf("MAPPED-ADDRESS answer: %v %v", a, good)
	}
}

// TestMapFromReportsThePort: asked from a given socket, the answer keeps the mapped port (the
// test server maps port p to p+1000, as a NAT that does not keep ports would).
func TestMapFromReportsThePort(t *testing.T) {
	public := netip.MustParseAddr("203.0.113.50")
	s := newServer(t, public, 0)
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := MapFrom(ctx, conn, s.addr())
	if err != nil {
		t.Fatal(err)
	}
	if want := netip.AddrPortFrom(public, uint16(conn.LocalAddr().(*net.UDPAddr).Port+1000)); got != want {
		t.Fatalf("mapped %v, want %v", got, want)
	}
}
