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

func TestUDPBound(t *testing.T) {
	if err := UDPBound(func() netip.AddrPort { return netip.AddrPort{} }).Run(); err == nil {
		t.Fatal("unbound port passed")
	}
	if err := UDPBound(func() netip.AddrPort { return netip.MustParseAddrPort("127.0.0.1:10000") }).Run(); err != nil {
		t.Fatal(err)
	}
}

// TestValidAddress goes through every combination of require-valid-address, the kind of host
// address and the kind of advertised address, against JvbHealthChecker's rule: off never fails;
// on passes when a host or advertised address is not site-local, link-local or loopback.
func TestValidAddress(t *testing.T) {
	kinds := []struct {
		name  string
		addrs []string
		valid bool // JVB's isValid holds for one of them
	}{
		{"none", nil, false},
		{"loopback", []string{"127.0.0.1", "::1"}, false},
		{"link-local", []string{"169.254.3.4", "fe80::1"}, false},
		{"site-local", []string{"10.1.2.3", "172.20.0.5", "192.168.1.2", "fec0::5"}, false},
		{"unspecified/multicast", []string{"0.0.0.0", "224.0.0.1", "::"}, false},
		{"public v4", []string{"10.1.2.3", "203.0.113.9"}, true},
		{"public v6", []string{"fe80::1", "2001:db8::7"}, true},
		{"ULA (valid in Java)", []string{"fd00::1"}, true},
		{"CGNAT (valid in Java)", []string{"100.64.0.1"}, true},
		{"v4-mapped public", []string{"::ffff:198.51.100.1"}, true},
		{"v4-mapped private", []string{"::ffff:10.0.0.1"}, false},
	}
	parse := func(ss []string) []netip.Addr {
		var out []netip.Addr
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out
	}
	for _, require := range []bool{false, true} {
		for _, host := range kinds {
			for _, adv := range kinds {
				hostAddrs := parse(host.addrs)
				err := ValidAddress(func() []netip.Addr { return parse(adv.addrs) },
					func() ([]netip.Addr, error) { return hostAddrs, nil }, require).Run()
				wantFail := require && !host.valid && !adv.valid
				if (err != nil) != wantFail {
					t.Errorf("require=%v host=%s advertised=%s: err = %v, want failure %v", require, host.name, adv.name, err, wantFail)
				}
				if err != nil && !strings.Contains(err.Error(), "JVB_ADVERTISE_IPS") {
					t.Errorf("failure does not say what to set: %v", err)
				}
			}
		}
	}
	// Listing the host's addresses fails: only matters when the check is on and no advertised
	// address is valid.
	boom := func() ([]netip.Addr, error) { return nil, errors.New("boom") }
	none := func() []netip.Addr { return nil }
	public := func() []netip.Addr { return []netip.Addr{netip.MustParseAddr("203.0.113.9")} }
	if err := ValidAddress(none, boom, false).Run(); err != nil {
		t.Errorf("require off: %v", err)
	}
	if err := ValidAddress(public, boom, true).Run(); err != nil {
		t.Errorf("advertised public: %v", err)
	}
	if err := ValidAddress(none, boom, true).Run(); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("listing failure hidden: %v", err)
	}
	// The advertised list is read on every run (STUN may find an address later).
	var found []netip.Addr
	c := ValidAddress(func() []netip.Addr { return found }, func() ([]netip.Addr, error) { return nil, nil }, true)
	if c.Run() == nil {
		t.Fatal("passes with nothing")
	}
	found = []netip.Addr{netip.MustParseAddr("198.51.100.4")}
	if err := c.Run(); err != nil {
		t.Fatalf("address found later ignored: %v", err)
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
