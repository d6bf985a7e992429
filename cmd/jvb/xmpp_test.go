package main

import (
	"context"
	"syscall"
	"testing"
	"time"

	"gojvb/cmd/jvb/internal/config"
	"gojvb/xmppcomp/prosodytest"
)

// awaitPresence waits for a presence from occupant for which cond holds on its stats.
func awaitPresence(t *testing.T, f *prosodytest.Focus, occupant string, cond func(typ string, st map[string]string) bool) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case p := <-f.Presences():
			if p.From != occupant {
				continue
			}
			st, _ := p.Stats()
			if cond(p.Type, st) {
				return
			}
		case <-deadline:
			t.Fatalf("no matching presence from %s", occupant)
		}
	}
}

// TestDockerEnvJoinsProsodyBrewery configures the bridge only through the jitsi/jvb image's
// variables, points it at a real prosody, and checks what jicofo relies on: stats presence in
// the brewery (drain announced at once), the healthcheck IQ, health and MUC metrics, and the
// bridge leaving the brewery when it shuts down.
func TestDockerEnvJoinsProsodyBrewery(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	focus := prosodytest.DialFocus(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := focus.JoinBrewery(ctx, "focus"); err != nil {
		t.Fatal(err)
	}
	const nick = "jvb-test"
	occupant := prosodytest.Brewery + "/" + nick
	b := startBridge(t, map[string]string{
		"XMPP_SERVER":       srv.Addr(),
		"JVB_AUTH_PASSWORD": prosodytest.JVBPassword,
		"JVB_MUC_NICKNAME":  nick,
		"JVB_ADVERTISE_IPS": "192.0.2.1",
		"JVB_OCTO_REGION":   "ignored-without-ENABLE_OCTO",
	}, func(c *config.Config) {
		c.StatsInterval = 100 * time.Millisecond
		c.PresenceInterval = 10 * time.Second // long: the drain presence below must be pushed
	})

	awaitPresence(t, focus, occupant, func(_ string, st map[string]string) bool {
		if _, ok := st["region"]; ok {
			t.Errorf("region announced without ENABLE_OCTO: %v", st)
		}
		return st["drain"] == "false" && st["healthy"] == "true" && st["graceful_shutdown"] == "false" &&
			st["version"] == version && st["muc_clients_connected"] == "1" && st["stress_level"] != ""
	})
	if code, body := b.do(t, "GET", "/about/health", ""); code != 200 {
		t.Fatalf("health with XMPP up: %d %s", code, body)
	}
	fams := b.metrics(t)
	if metricValue(t, fams, "jitsi_jvb_muc_clients_connected") != 1 || metricValue(t, fams, "jitsi_jvb_mucs_joined") != 1 {
		t.Fatal("MUC metrics do not show the brewery joined")
	}

	if code, _ := b.do(t, "POST", "/colibri/drain/enable", ""); code != 200 {
		t.Fatalf("drain: %d", code)
	}
	awaitPresence(t, focus, occupant, func(_ string, st map[string]string) bool { return st["drain"] == "true" })

	res, err := focus.IQ(ctx, occupant, "get", "<healthcheck xmlns='http://jitsi.org/protocol/healthcheck'/>")
	if err != nil || res.Type != "result" {
		t.Fatalf("healthcheck IQ: %v %+v", err, res)
	}

	b.sig <- syscall.SIGTERM
	awaitPresence(t, focus, occupant, func(typ string, st map[string]string) bool {
		return typ == "unavailable" || st["graceful_shutdown"] == "true"
	})
	if code := b.waitExit(t, 20*time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	awaitPresence(t, focus, occupant, func(typ string, _ map[string]string) bool { return typ == "unavailable" })
}
