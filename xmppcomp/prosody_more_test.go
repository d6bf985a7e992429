package xmppcomp_test

import (
	"log/slog"
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

// A refused login is retried, again and again: prosody refuses each attempt (the client did
// reach it and authenticate), and the bridge never counts itself connected.
func TestWrongPasswordKeepsRetrying(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	logs := newLogSeen(testLogger(t).Handler())
	b := startBridge(t, srv, func(c *xmppcomp.Config) {
		c.Servers[0].Password = "wrong"
		c.MinBackoff, c.MaxBackoff = 50*time.Millisecond, 100*time.Millisecond
		c.Logger = slog.New(logs)
	})
	// prosody's SCRAM refusal: the client reached it, negotiated TLS and offered a proof.
	const refused = "doesn't match the one we calculated"
	waitFor(t, 30*time.Second, "three logins refused by prosody", func() bool {
		return logs.countErr("xmpp connect failed, retrying", refused) >= 3
	})
	st := b.Status()
	if st.MUCClientsConnected != 0 || st.MUCsJoined != 0 || st.Disconnects != 0 {
		t.Fatalf("status with a wrong password %+v", st)
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
	waitFor(t, 20*time.Second, "the bridge's join refused", func() bool { return logs.count("cannot join brewery") > 0 })
	if st := b.Status(); st.MUCClientsConnected != 1 || st.MUCsJoined != 0 {
		t.Fatalf("joined despite the nickname conflict: %+v", st)
	}
	if err := f.Send(ctx, "<presence xmlns='jabber:client' type='unavailable' to='"+occupant+"'/>"); err != nil {
		t.Fatal(err)
	}
	b.waitJoined(t, 10*time.Second) // rejoin attempts every 5 s
}

func TestKeepAlivePingsAnswered(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	b := startBridge(t, srv, func(c *xmppcomp.Config) { c.PingInterval = 100 * time.Millisecond })
	b.waitJoined(t, 5*time.Second)
	time.Sleep(time.Second) // ~10 pings; a missing answer would drop the connection
	if st := b.Status(); st.Disconnects != 0 || st.MUCsJoined != 1 {
		t.Fatalf("status %+v", st)
	}
}
