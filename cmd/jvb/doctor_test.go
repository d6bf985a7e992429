package main

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"gojvb/cmd/jvb/internal/config"
	"gojvb/xmppcomp/prosodytest"
)

// testDoctorDeps sees the host as having only loopback and a private address, whatever the
// test machine has, and waits briefly for datagrams that will not come.
func testDoctorDeps(env map[string]string) doctorDeps {
	src := systemAddrSources()
	src.hostAddrs = func() ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.1.2.3")}, nil
	}
	return doctorDeps{env: envOf(env), src: src, now: time.Now, xmppTimeout: 10 * time.Second, probeWait: 200 * time.Millisecond}
}

// freeUDPPort returns a port nothing listens on now.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// closedTCPAddr is a loopback address where no HTTP server listens.
func closedTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestDoctorWorkingSetup: with prosody's right password, a public advertised address and a
// free port, every check passes, the doctor really joined the brewery (jicofo's stand-in sees
// its occupant, announced as shutting down, then leaving), and the exit code is 0.
func TestDoctorWorkingSetup(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	focus := prosodytest.DialFocus(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := focus.JoinBrewery(ctx, "focus"); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"XMPP_SERVER": srv.Addr(), "JVB_AUTH_PASSWORD": prosodytest.JVBPassword, "JVB_MUC_NICKNAME": "jvb-1",
		"JVB_ADVERTISE_IPS": "203.0.113.7", "JVB_PORT": strconv.Itoa(freeUDPPort(t)),
	}
	var out bytes.Buffer
	code := runDoctor(ctx, []string{"--http", closedTCPAddr(t)}, testDoctorDeps(env), &out)
	t.Log(out.String())
	if code != exitOK {
		t.Fatalf("exit %d for a working setup:\n%s", code, out.String())
	}
	for _, want := range []string{
		"[ OK ] xmpp: shard0 (" + srv.Addr() + ", jvb@auth.meet.jitsi): logged in and joined jvbbrewery@internal-muc.meet.jitsi (as jvb-1-doctor), then left",
		"[ OK ] udp port: UDP port " + env["JVB_PORT"] + " can be bound",
		"[ OK ] addresses: at least one announced address looks public",
		"203.0.113.7:" + env["JVB_PORT"] + " (advertised, looks public)",
		"[ OK ] clock:", "[INFO] tcp fallback: ICE-TCP is off",
		"Port ", "(env)  [videobridge.ice.udp.port, JVB_PORT, --port]",
		"XMPP[shard0].Password              = (set)                    (env)",
		"Result: a meeting through this bridge should work.",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out.String(), prosodytest.JVBPassword) {
		t.Fatal("the password is shown")
	}
	// The doctor's occupant came and went, never looking like a bridge jicofo could use.
	occupant := prosodytest.Brewery + "/jvb-1-doctor"
	var joined, left bool
	deadline := time.After(5 * time.Second)
	for !left {
		select {
		case p := <-focus.Presences():
			if p.From != occupant {
				continue
			}
			if p.Type == "unavailable" {
				left = true
				continue
			}
			joined = true
			if st, ok := p.Stats(); ok && (st["graceful_shutdown"] != "true" || st["healthy"] != "false") {
				t.Fatalf("the doctor's presence could attract conferences: %v", st)
			}
		case <-deadline:
			t.Fatalf("doctor occupant joined=%v left=%v", joined, left)
		}
	}
	if !joined {
		t.Fatal("the doctor left without joining")
	}
}

// TestDoctorNamesEachProblem: a wrong password, a UDP port another program holds and only
// private addresses: each is named, and the exit code says a meeting would not work.
func TestDoctorNamesEachProblem(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	busy, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := strconv.Itoa(busy.LocalAddr().(*net.UDPAddr).Port)
	env := map[string]string{
		"XMPP_SERVER": srv.Addr(), "JVB_AUTH_PASSWORD": "wrong", "JVB_MUC_NICKNAME": "jvb-2",
		"JVB_ADVERTISE_IPS": "10.0.0.7", "JVB_PORT": port,
	}
	var out bytes.Buffer
	code := runDoctor(context.Background(), []string{"--http", closedTCPAddr(t)}, testDoctorDeps(env), &out)
	t.Log(out.String())
	if code != exitFailed {
		t.Fatalf("exit %d, want %d", code, exitFailed)
	}
	for _, want := range []string{
		"[FAIL] xmpp: shard0 (" + srv.Addr() + ", jvb@auth.meet.jitsi): XMPP server refused the password for jvb@auth.meet.jitsi: check JVB_AUTH_PASSWORD",
		"[FAIL] udp port: UDP port " + port + " is in use by another program",
		"[FAIL] addresses: only private addresses would be announced",
		"10.0.0.7:" + port + " (advertised, private",
		"Result: a meeting would NOT work: 3 problem(s): udp port, addresses, xmpp.",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// TestDoctorBadConfiguration: a configuration the bridge would refuse is the first and only
// finding, with exit code 2 like the bridge's.
func TestDoctorBadConfiguration(t *testing.T) {
	var out bytes.Buffer
	code := runDoctor(context.Background(), nil, testDoctorDeps(map[string]string{"JVB_PORT": "x"}), &out)
	if code != exitConfig || !strings.Contains(out.String(), `[FAIL] configuration: the bridge would refuse to start: config: env JVB_PORT = "x"`) {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
}

func TestClockAndTCPFallbackFindings(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	if f := checkClock(now, now.Add(-time.Second), time.Second); f.v != pass {
		t.Fatalf("sane clock: %+v", f)
	}
	if f := checkClock(time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), now, 0); f.v != warn || !strings.Contains(f.text, "cannot be right") {
		t.Fatalf("clock in 2001: %+v", f)
	}
	if f := checkClock(now, now.Add(-time.Minute), time.Second); f.v != warn || !strings.Contains(f.text, "stepped") {
		t.Fatalf("a jump: %+v", f)
	}
	if f := checkTCPFallback(envOf(nil)); f.v != info || !strings.Contains(f.text, "ICE-TCP is off") {
		t.Fatalf("default: %+v", f)
	}
	f := checkTCPFallback(envOf(map[string]string{"JVB_TCP_HARVESTER_DISABLED": "false", "JVB_TCP_PORT": "443"}))
	if !strings.Contains(f.text, "requested") || !strings.Contains(f.text, "TCP port 443") {
		t.Fatalf("configured: %+v", f)
	}
}

func TestLooksPublic(t *testing.T) {
	for a, want := range map[string]bool{
		"203.0.113.7": true, "2001:db8::1": true, "8.8.8.8": true,
		"10.0.0.7": false, "192.168.1.1": false, "172.16.0.1": false, "127.0.0.1": false,
		"fd00::2": false, "100.64.0.1": false, "169.254.1.1": false, "fe80::1": false, "0.0.0.0": false,
	} {
		if got := looksPublic(netip.MustParseAddr(a)); got != want {
			t.Errorf("looksPublic(%s) = %v", a, got)
		}
	}
}

// TestDoctorFindsTheRunningBridge: run beside a bridge (as `docker compose exec jvb jvb
// doctor` does), the media port is taken by that bridge, which answers /about/health: not a
// problem, and the checks that need the port say they were skipped.
func TestDoctorFindsTheRunningBridge(t *testing.T) {
	env := map[string]string{"JVB_ADVERTISE_IPS": "203.0.113.7"}
	b := startBridge(t, env, nil)
	port := strconv.Itoa(int(b.sfu.LocalAddr().Port()))
	env["JVB_PORT"] = port
	var out bytes.Buffer
	code := runDoctor(context.Background(), []string{"--http", strings.TrimPrefix(b.base, "http://")}, testDoctorDeps(env), &out)
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	for _, want := range []string{
		"[ OK ] udp port: UDP port " + port + " is held by the bridge running here, which says it is healthy",
		"[INFO] reachability: skipped: the media port is held by the running bridge",
		"[WARN] xmpp: XMPP disabled",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestDoctorUnreachableXMPP: nothing listens where XMPP_SERVER points: named, and no wait
// for the whole timeout.
func TestDoctorUnreachableXMPP(t *testing.T) {
	addr := closedTCPAddr(t)
	env := map[string]string{"XMPP_SERVER": addr, "JVB_AUTH_PASSWORD": "pw", "JVB_ADVERTISE_IPS": "203.0.113.7",
		"JVB_PORT": strconv.Itoa(freeUDPPort(t))}
	var out bytes.Buffer
	start := time.Now()
	code := runDoctor(context.Background(), []string{"--http", closedTCPAddr(t)}, testDoctorDeps(env), &out)
	if code != exitFailed || !strings.Contains(out.String(), "[FAIL] xmpp: shard0 ("+addr+", jvb@auth.meet.jitsi): XMPP server unreachable") {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("took %v: the doctor waited for its timeout instead of the first failure", d)
	}
}

// TestReachabilityFromTheMediaPort: the STUN server sees the media port unchanged (a pass),
// and a datagram to an address of this host comes back to the media port.
func TestReachabilityFromTheMediaPort(t *testing.T) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	port := conn.LocalAddr().(*net.UDPAddr).Port
	server := stunServer(t, netip.MustParseAddr("203.0.113.9"))
	cfg := &config.Config{STUNServers: []string{server}}
	fs := checkReachability(context.Background(), cfg, &addrState{}, conn, port, time.Second)
	if len(fs) != 1 || fs[0].v != pass || !strings.Contains(fs[0].text, "sees 203.0.113.9:"+strconv.Itoa(port)+": the port is kept") {
		t.Fatalf("findings %+v", fs)
	}
	if !probeSelf(conn, netip.MustParseAddrPort(conn.LocalAddr().String()), time.Second) {
		t.Fatal("a datagram to the media port's own address did not arrive")
	}
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if probeSelf(conn, netip.MustParseAddrPort(other.LocalAddr().String()), 100*time.Millisecond) {
		t.Fatal("a datagram to another socket counted as reaching the media port")
	}
}
