package xmppcomp_test

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"gojvb/xmppcomp"
	"gojvb/xmppcomp/prosodytest"
)

// rejoinBound is how soon after prosody is back the bridge must be in the brewery again.
const rejoinBound = 2 * time.Second

func TestProsodyKilledBridgeRejoinsWithin2s(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	b := startBridge(t, srv, func(c *xmppcomp.Config) { c.PresenceInterval = time.Hour })
	b.awaitStatus(t, 10*time.Second, "join", joinedOne)

	srv.Stop() // SIGKILL
	b.awaitStatus(t, 5*time.Second, "disconnect", func(st xmppcomp.Status) bool { return st.MUCClientsConnected == 0 })
	srv.Restart()
	back := time.Now()
	took := b.awaitStatus(t, 10*time.Second, "re-join", joinedOne).Sub(back)
	t.Logf("re-joined %v after prosody was back (SIGKILL, restart)", took.Round(time.Millisecond))
	if took > rejoinBound {
		t.Fatalf("re-joined %v after prosody was back, want within %v", took, rejoinBound)
	}

	// What jicofo sees: the bridge's presence says it is joined, and it answers health checks.
	f := joinedFocus(t, srv)
	p := nextBridgePresence(t, f, 3*time.Second, hasStats)
	if v, _ := p.stat("mucs_joined"); v != "1" {
		t.Fatalf("first presence after re-join built from a stale state: %+v", p)
	}
	if n := b.staleStats.Load(); n != 0 {
		t.Fatalf("%d presences built while Status showed no room joined", n)
	}
	res, err := f.IQ(ctxT(t, 5*time.Second), occupant, "get", "<healthcheck xmlns='http://jitsi.org/protocol/healthcheck'/>")
	if err != nil || res.Type != "result" {
		t.Fatalf("health after restart: %v %+v", err, res)
	}
	if st := b.Status(); st.Disconnects != 1 {
		t.Fatalf("status after restart %+v", st)
	}
}

// A stopped prosody keeps its sockets open and accepts connections: only the bridge's own
// liveness check notices it. With the default settings and the 5 s stats presence, no ping is
// sent while prosody works, the freeze is noticed within 15 s, and the bridge is back within 2 s
// of SIGCONT.
func TestProsodyFrozenNoticedWithin15sAndRejoined(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	logs := newLogSeen(testLogger(t).Handler())
	b := startBridge(t, srv, func(c *xmppcomp.Config) {
		c.PresenceInterval = 5 * time.Second // the default: steady state
		c.PingInterval, c.PingTimeout = 0, 0 // defaults
		c.Logger = slog.New(logs)
	})
	joined := b.awaitStatus(t, 10*time.Second, "join", joinedOne)

	// Steady state for longer than the ping interval: prosody's echo of each stats presence
	// keeps the connection alive without a single ping.
	const pinging = "xmpp server silent, pinging"
	steady := time.NewTimer(9*time.Second - time.Since(joined))
	<-steady.C
	if n := logs.count(pinging); n != 0 {
		t.Fatalf("%d pings in steady state", n)
	}

	if err := srv.Freeze(); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	noticed := b.awaitStatus(t, 20*time.Second, "disconnect", func(st xmppcomp.Status) bool {
		return st.MUCClientsConnected == 0
	}).Sub(frozen)
	t.Logf("frozen prosody noticed after %v", noticed.Round(time.Millisecond))
	if noticed > 15*time.Second {
		t.Fatalf("frozen prosody noticed after %v, want within 15 s", noticed)
	}
	if n := logs.count(pinging); n != 1 {
		t.Fatalf("%d pings before giving up, want 1", n)
	}

	if err := srv.Thaw(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	took := b.awaitStatus(t, 10*time.Second, "re-join", joinedOne).Sub(back)
	t.Logf("re-joined %v after SIGCONT", took.Round(time.Millisecond))
	if took > rejoinBound {
		t.Fatalf("re-joined %v after SIGCONT, want within %v", took, rejoinBound)
	}
	if n := b.staleStats.Load(); n != 0 {
		t.Fatalf("%d presences built while Status showed no room joined", n)
	}
}

// Two bridges configured with the same account and nickname: prosody merges the second into
// the first one's occupant instead of refusing it. The second must say so and stay out; the
// first keeps the brewery (jicofo's IQs reach it).
func TestSecondBridgeWithSameNicknameStepsAside(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	firstLogs := newLogSeen(testLogger(t).Handler())
	first := startBridge(t, srv, func(c *xmppcomp.Config) {
		c.Version = "first"
		c.Logger = slog.New(firstLogs)
	})
	first.awaitStatus(t, 10*time.Second, "first bridge joined", joinedOne)
	f := joinedFocus(t, srv)

	secondLogs := newLogSeen(testLogger(t).Handler())
	second := startBridge(t, srv, func(c *xmppcomp.Config) {
		c.Version = "second"
		c.Logger = slog.New(secondLogs)
	})
	second.awaitStatus(t, 10*time.Second, "conflict reported", func(st xmppcomp.Status) bool {
		return len(st.Connections[0].NicknameConflicts) > 0
	})
	got := second.Status()
	if got.MUCClientsConnected != 1 || got.MUCsJoined != 0 {
		t.Fatalf("second bridge %+v", got)
	}
	if c := got.Connections[0].NicknameConflicts[0]; !strings.Contains(c, `"`+nick+`"`) || !strings.Contains(c, "JVB_MUC_NICKNAME") ||
		!strings.Contains(c, first.Status().Connections[0].JID) {
		t.Fatalf("conflict does not name the nickname, the fix and the other session: %q", c)
	}
	const inUse = "brewery nickname already used by another XMPP session: make JVB_MUC_NICKNAME unique per bridge"
	if n := secondLogs.count(inUse); n != 1 {
		t.Fatalf("second bridge logged the conflict %d times", n)
	}
	const shared = "another XMPP session joined the brewery under this bridge's nickname: make JVB_MUC_NICKNAME unique per bridge"
	waitFor(t, 5*time.Second, "the first bridge's warning", func() bool { return firstLogs.count(shared) == 1 })

	// The first bridge is untouched: joined, no conflict, and it is the one jicofo reaches.
	if st := first.Status(); !joinedOne(st) || len(st.Connections[0].NicknameConflicts) != 0 || st.Disconnects != 0 {
		t.Fatalf("first bridge %+v", st)
	}
	res, err := f.IQ(ctxT(t, 5*time.Second), occupant, "get", "<query xmlns='jabber:iq:version'/>")
	if err != nil || !strings.Contains(res.Raw, ">first</version>") {
		t.Fatalf("version IQ to %s: %v %s", occupant, err, res.Raw)
	}
	// The first bridge's presence still goes out (a newer counter than any before).
	nextBridgePresence(t, f, 3*time.Second, hasStats)
	if n := second.staleStats.Load() + first.staleStats.Load(); n != 0 {
		t.Fatalf("%d stale presences", n)
	}
}

// saslWatch is a TCP proxy in front of prosody that notes, per connection, whether the client
// sent SASL <auth> before STARTTLS, i.e. the password in plaintext.
type saslWatch struct {
	ln    net.Listener
	conns chan bool // one value per finished connection: auth sent in plaintext
	wg    sync.WaitGroup
}

func startSASLWatch(t *testing.T, target string) *saslWatch {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &saslWatch{ln: ln, conns: make(chan bool, 1024)}
	w.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			w.wg.Go(func() { w.relay(c, target) })
		}
	})
	t.Cleanup(func() { ln.Close(); w.wg.Wait() })
	return w
}

func (w *saslWatch) relay(c net.Conn, target string) {
	defer c.Close()
	s, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer s.Close()
	var down sync.WaitGroup
	down.Go(func() { _, _ = io.Copy(c, s); c.Close() })
	var seen []byte
	plainAuth, decided := false, false
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if !decided {
				seen = append(seen, buf[:n]...)
				tls, auth := bytes.Index(seen, []byte("<starttls")), bytes.Index(seen, []byte("<auth"))
				switch {
				case tls >= 0 && (auth < 0 || tls < auth):
					decided = true // encrypted from here on
				case auth >= 0:
					decided, plainAuth = true, true
				}
			}
			if _, werr := s.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	s.Close()
	down.Wait()
	w.conns <- plainAuth
}

// A wrong password is one ERROR naming the account and the variable to fix, however often the
// bridge retries, and the password is never sent again without TLS, even where the server would
// take plaintext and the security mode may fall back to it.
func TestWrongPasswordOneErrorNoPlaintext(t *testing.T) {
	for name, mode := range map[string]xmppcomp.SecurityMode{
		"default-localhost": xmppcomp.SecurityDefault, "ifpossible": xmppcomp.SecurityIfPossible,
	} {
		t.Run(name, func(t *testing.T) {
			srv := prosodytest.Start(t, prosodytest.Options{PlaintextAllowed: true})
			watch := startSASLWatch(t, srv.Addr())
			logs := newLogSeen(testLogger(t).Handler())
			b := startBridge(t, srv, func(c *xmppcomp.Config) {
				c.Servers[0].Host = "127.0.0.1"
				c.Servers[0].Port = watch.ln.Addr().(*net.TCPAddr).Port
				c.Servers[0].SecurityMode = mode
				c.Servers[0].Password = "wrong"
				c.AuthRetry = 50 * time.Millisecond
				c.Logger = slog.New(logs)
			})
			timeout := time.After(20 * time.Second)
			for attempts := 0; attempts < 4; {
				select {
				case plain := <-watch.conns:
					if plain {
						t.Fatalf("connection %d sent the password without TLS", attempts+1)
					}
					attempts++
				case <-timeout:
					t.Fatalf("only %d login attempts", attempts)
				}
			}
			const refused = "XMPP server refused the password for jvb@auth.meet.jitsi: check JVB_AUTH_PASSWORD (PASSWORD in jvb.conf)"
			if n := logs.count(refused); n != 1 {
				t.Fatalf("password refusal logged %d times over 4 attempts, want once", n)
			}
			st := b.Status()
			if st.MUCClientsConnected != 0 || st.Disconnects != 0 || st.Connections[0].LoginProblem != refused {
				t.Fatalf("status with a wrong password %+v", st)
			}
		})
	}
}
