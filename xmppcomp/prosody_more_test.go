package xmppcomp_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"gojvb/xmppcomp"
	"gojvb/xmppcomp/prosodytest"
)

func TestPlaintextLoginWhenSecurityDisabled(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{PlaintextAllowed: true})
	b := startBridge(t, srv, func(c *xmppcomp.Config) {
		c.Servers[0].SecurityMode = xmppcomp.SecurityDisabled
	})
	b.waitJoined(t, 5*time.Second)
}

func TestIfPossibleUsesTLSWhenOffered(t *testing.T) {
	// TLS required by the server: ifpossible must negotiate STARTTLS.
	srv := prosodytest.Start(t, prosodytest.Options{})
	b := startBridge(t, srv, func(c *xmppcomp.Config) {
		c.Servers[0].SecurityMode = xmppcomp.SecurityIfPossible
	})
	b.waitJoined(t, 5*time.Second)
}

func TestSecurityDisabledCannotLogInWhereTLSIsRequired(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	b := startBridge(t, srv, func(c *xmppcomp.Config) {
		c.Servers[0].SecurityMode = xmppcomp.SecurityDisabled
		c.MinBackoff, c.MaxBackoff = 50*time.Millisecond, 100*time.Millisecond
	})
	time.Sleep(500 * time.Millisecond)
	if st := b.Status(); st.MUCClientsConnected != 0 || st.Disconnects != 0 {
		t.Fatalf("status %+v", st)
	}
}

func TestTwoServersReportedSeparately(t *testing.T) {
	srv1 := prosodytest.Start(t, prosodytest.Options{})
	srv2 := prosodytest.Start(t, prosodytest.Options{})
	b := startBridge(t, srv1, func(c *xmppcomp.Config) {
		s2 := serverConfig(srv2)
		s2.ID = "shard1"
		c.Servers = append(c.Servers, s2)
	})
	waitFor(t, 5*time.Second, "both shards joined", func() bool {
		st := b.Status()
		return st.MUCClientsConnected == 2 && st.MUCsJoined == 2
	})
	srv2.Stop()
	waitFor(t, 5*time.Second, "shard1 reported down", func() bool {
		st := b.Status()
		return st.MUCClientsConfigured == 2 && st.MUCClientsConnected == 1 && st.MUCsJoined == 1 &&
			st.Connections[0].Connected && !st.Connections[1].Connected && st.Disconnects == 1
	})
}

func TestNicknameTakenThenFreedJoinsLater(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	f := prosodytest.DialFocus(t, srv)
	ctx := ctxT(t, time.Minute)
	if err := f.JoinBrewery(ctx, nick); err != nil { // squat the bridge's nickname
		t.Fatal(err)
	}
	logs := newLogSeen(testLogger(t).Handler())
	b := startBridge(t, srv, func(c *xmppcomp.Config) { c.Logger = slog.New(logs) })
	// Wait for the refused join itself rather than sleeping: on a loaded machine the login alone
	// can take longer than any fixed pause.
	const taken = "brewery nickname taken by another occupant: make JVB_MUC_NICKNAME unique per bridge"
	waitFor(t, 20*time.Second, "the bridge's join refused", func() bool { return logs.count(taken) > 0 })
	if st := b.Status(); st.MUCClientsConnected != 1 || st.MUCsJoined != 0 || len(st.Connections[0].NicknameConflicts) != 1 ||
		!strings.Contains(st.Connections[0].NicknameConflicts[0], `"jvb1"`) {
		t.Fatalf("joined despite the nickname conflict, or conflict not reported: %+v", st)
	}
	if err := f.Send(ctx, "<presence xmlns='jabber:client' type='unavailable' to='"+occupant+"'/>"); err != nil {
		t.Fatal(err)
	}
	b.waitJoined(t, 10*time.Second) // rejoin attempts every 5 s
	if c := b.Status().Connections[0].NicknameConflicts; len(c) != 0 {
		t.Fatalf("conflict still reported after joining: %q", c)
	}
	if n := logs.count(taken); n != 1 {
		t.Fatalf("conflict logged %d times, want once (not on every retry)", n)
	}
}

// With no presence going out, the server is pinged after PingInterval of silence; its answers
// keep the connection up.
func TestSilentServerPingedAndAnswered(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	logs := newLogSeen(testLogger(t).Handler())
	b := startBridge(t, srv, func(c *xmppcomp.Config) {
		c.PresenceInterval = time.Hour
		c.PingInterval, c.PingTimeout = 100*time.Millisecond, 500*time.Millisecond
		c.Logger = slog.New(logs)
	})
	b.waitJoined(t, 5*time.Second)
	waitFor(t, 10*time.Second, "5 pings", func() bool { return logs.count("xmpp server silent, pinging") >= 5 })
	if st := b.Status(); st.Disconnects != 0 || st.MUCsJoined != 1 {
		t.Fatalf("status %+v", st)
	}
}
