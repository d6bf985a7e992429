package prosodytest

import (
	"context"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Launch and DialWith are the non-test core that jvb-bench uses: a launched prosody accepts
// focus, serves the brewery MUC, refuses a wrong password, and is gone after Stop.
func TestLaunchDialJoinStop(t *testing.T) {
	Require(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := Launch(ctx, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if _, err := DialWith(ctx, DialConfig{Addr: p.Addr(), User: FocusUser, Password: "wrong"}); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	f, err := DialWith(ctx, DialConfig{Addr: p.Addr(), Domain: Domain, User: FocusUser, Password: FocusPassword})
	if err != nil {
		t.Fatalf("%v\n%s", err, p.Logs())
	}
	if got := f.JID().Bare().String(); got != FocusUser+"@"+Domain {
		t.Errorf("bound %s", got)
	}
	if err := f.JoinRoom(ctx, Brewery, "focus"); err != nil {
		t.Fatalf("%v\n%s", err, p.Logs())
	}
	f.Close()
	addr := p.Addr()
	p.Stop()
	p.Stop() // idempotent
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("prosody still listening on %s after Stop", addr)
	}
}

// A connection that got prosody's chosen port as its source port before prosody bound it (the
// port is only reserved while freeTCPPort holds it) leaves prosody without a listener: Launch
// notices from prosody's log and starts it again on another port.
func TestLaunchRetriesWhenThePortIsTaken(t *testing.T) {
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken, err := freeTCPPort()
	if err != nil {
		t.Fatal(err)
	}
	c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: taken}}).DialContext(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var picked []int
	pickPort = func() (int, error) {
		port, err := taken, error(nil)
		if len(picked) > 0 {
			port, err = freeTCPPort()
		}
		picked = append(picked, port)
		return port, err
	}
	defer func() { pickPort = freeTCPPort }()

	p, err := Launch(ctx, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if len(picked) != 2 || p.Port == taken {
		t.Fatalf("ports tried %v, listening on %d with %d taken", picked, p.Port, taken)
	}
	f, err := DialWith(ctx, DialConfig{Addr: p.Addr(), User: FocusUser, Password: FocusPassword})
	if err != nil {
		t.Fatalf("%v\n%s", err, p.Logs())
	}
	f.Close()
}

// A frozen prosody keeps its listener (the kernel completes the handshake) but answers nothing
// until it is thawed; then it answers what was sent meanwhile.
func TestFreezeAndThaw(t *testing.T) {
	srv := Start(t, Options{})
	if err := srv.Freeze(); err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", srv.Addr(), 5*time.Second)
	if err != nil {
		t.Fatalf("frozen prosody refused the connection: %v", err)
	}
	defer c.Close()
	header := "<?xml version='1.0'?><stream:stream to='" + Domain +
		"' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
	if _, err := c.Write([]byte(header)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := c.Read(buf); n != 0 || !isTimeout(err) {
		t.Fatalf("frozen prosody answered: %d bytes, %v", n, err)
	}
	if err := srv.Thaw(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(buf); n != 1 || err != nil {
		t.Fatalf("thawed prosody did not answer: %d bytes, %v", n, err)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
