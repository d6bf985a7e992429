package health

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func addrs(s ...string) func() ([]netip.Addr, error) {
	return func() ([]netip.Addr, error) {
		var out []netip.Addr
		for _, a := range s {
			out = append(out, netip.MustParseAddr(a))
		}
		return out, nil
	}
}

func TestUDPBound(t *testing.T) {
	if err := UDPBound(func() netip.AddrPort { return netip.AddrPort{} }).Run(); err == nil {
		t.Fatal("unbound port passed")
	}
	if err := UDPBound(func() netip.AddrPort { return netip.MustParseAddrPort("127.0.0.1:10000") }).Run(); err != nil {
		t.Fatal(err)
	}
}

func TestValidAddress(t *testing.T) {
	cases := []struct {
		name      string
		adv       []netip.Addr
		host      func() ([]netip.Addr, error)
		public    bool
		wantError string
	}{
		{"loopback only", nil, addrs("127.0.0.1", "::1", "fe80::1"), false, "no usable address"},
		{"private host", nil, addrs("127.0.0.1", "10.1.2.3"), false, ""},
		{"private host, public required", nil, addrs("10.1.2.3"), true, "no public address among 10.1.2.3"},
		{"advertised public", []netip.Addr{netip.MustParseAddr("203.0.113.9")}, addrs("10.1.2.3"), true, ""},
		{"advertised only", []netip.Addr{netip.MustParseAddr("192.168.1.2")}, addrs("127.0.0.1"), false, ""},
		{"listing fails", nil, func() ([]netip.Addr, error) { return nil, errors.New("boom") }, false, "boom"},
	}
	for _, c := range cases {
		err := ValidAddress(c.adv, c.host, c.public).Run()
		if c.wantError == "" && err != nil || c.wantError != "" && (err == nil || !strings.Contains(err.Error(), c.wantError)) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.wantError)
		}
	}
}

func TestXMPPFailsOnlyWhenNoneConnected(t *testing.T) {
	for _, c := range []struct {
		conf, conn int
		fail       bool
	}{{0, 0, false}, {2, 0, true}, {2, 1, false}, {1, 1, false}} {
		err := XMPP(func() (int, int) { return c.conf, c.conn }, func() []string { return nil }).Run()
		if (err != nil) != c.fail {
			t.Errorf("configured %d connected %d: %v", c.conf, c.conn, err)
		}
	}
	refused := "XMPP server refused the password for jvb@auth.meet.jitsi: check JVB_AUTH_PASSWORD"
	err := XMPP(func() (int, int) { return 1, 0 }, func() []string { return []string{refused} }).Run()
	if err == nil || !strings.Contains(err.Error(), refused) {
		t.Fatalf("login problem not named: %v", err)
	}
}

func TestXMPPNicknameConflictIsSoft(t *testing.T) {
	var conflicts []string
	c := NewChecker(time.Hour, slog.New(slog.DiscardHandler), XMPPNickname(func() []string { return conflicts }))
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
	conflicts = []string{`nickname "jvb1" in jvbbrewery@internal-muc.meet.jitsi is already used by jvb@auth.meet.jitsi/x: make JVB_MUC_NICKNAME unique per bridge`}
	if err := c.Check(); err != nil {
		t.Fatalf("cached result ignored: %v", err)
	}
	c.Invalidate()
	err := c.Check()
	var f *Failure
	if !errors.As(err, &f) || !f.Soft() || !strings.Contains(err.Error(), `"jvb1"`) {
		t.Fatalf("after Invalidate, want a soft failure naming the nick: %v", err)
	}
}

func TestCheckerCachesAndClassifies(t *testing.T) {
	runs := 0
	udpOK, xmppOK := true, true
	var logs bytes.Buffer
	c := NewChecker(time.Second, slog.New(slog.NewTextHandler(&logs, nil)),
		Check{Name: "xmpp", Soft: true, Run: func() error {
			runs++
			if !xmppOK {
				return errors.New("down")
			}
			return nil
		}},
		Check{Name: "udp", Run: func() error {
			if !udpOK {
				return errors.New("unbound")
			}
			return nil
		}},
	)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	if !c.Healthy() || !c.Healthy() || runs != 1 {
		t.Fatalf("healthy=%v runs=%d (cache)", c.Healthy(), runs)
	}
	xmppOK = false
	if !c.Healthy() {
		t.Fatal("cache ignored")
	}
	now = now.Add(time.Second)
	err := c.Check()
	var f *Failure
	if !errors.As(err, &f) || !f.Soft() || f.Check != "xmpp" {
		t.Fatalf("soft failure expected: %v", err)
	}
	udpOK = false
	now = now.Add(time.Second)
	err = c.Check()
	if !errors.As(err, &f) || f.Soft() || f.Check != "udp" || !strings.Contains(err.Error(), "xmpp: down") {
		t.Fatalf("hard failure first, soft kept: %v", err)
	}
	now = now.Add(time.Second)
	c.Check() // same failure: no new log line
	udpOK, xmppOK = true, true
	now = now.Add(time.Second)
	if !c.Healthy() {
		t.Fatal("did not recover")
	}
	if n := strings.Count(logs.String(), "unhealthy"); n != 2 || strings.Count(logs.String(), "healthy again") != 1 {
		t.Fatalf("logs only on changes, got:\n%s", logs.String())
	}
}

func TestInterfaceAddrsListsLoopback(t *testing.T) {
	list, err := InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if a.IsLoopback() {
			return
		}
	}
	t.Fatalf("no loopback among %v", list)
}

func TestForwardingFailsWhenAGoroutineIsStuck(t *testing.T) {
	stuck := errors.New("sfu: transport: UDP reader 1 of 2 silent for 6s (limit 5s)")
	var alive error
	c := NewChecker(0, slog.New(slog.DiscardHandler), UDPBound(func() netip.AddrPort { return netip.MustParseAddrPort("127.0.0.1:10000") }),
		Forwarding(func() error { return alive }))
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
	alive = stuck
	err := c.Check()
	var f *Failure
	if !errors.As(err, &f) || f.Check != "forwarding" || f.Soft() || !errors.Is(err, stuck) {
		t.Fatalf("Check with a stuck reader = %v, want a hard forwarding failure wrapping it", err)
	}
	alive = nil
	if err := c.Check(); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}
