package main

import (
	"context"
	"strings"
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
// the brewery (drain announced at once), the healthcheck IQ, health and MUC metrics, and a
// graceful shutdown walking its states in presence with an endpoint allocated over the brewery:
// graceful_shutdown, new conferences refused, shutting_down, then leaving and exit 0.
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
		"XMPP_SERVER":           srv.Addr(),
		"JVB_AUTH_PASSWORD":     prosodytest.JVBPassword,
		"JVB_MUC_NICKNAME":      nick,
		"JVB_ADVERTISE_IPS":     "192.0.2.1",
		"JVB_OCTO_REGION":       "ignored-without-ENABLE_OCTO",
		"COLIBRI_REST_ENABLED":  "true", // for /colibri/shutdown below
		"SHUTDOWN_REST_ENABLED": "true",
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

	// Keep an endpoint allocated (over the brewery, like jicofo) so that SIGTERM leaves the
	// bridge in GRACEFUL_SHUTDOWN: graceful-shutdown-min-participants is 0, and 1 > 0.
	if res, err := focus.IQ(ctx, occupant, "set", shutdownAllocXML("m-shut", "ep1", true)); err != nil || res.Type != "result" {
		t.Fatalf("allocate: %v %s", err, res.Raw)
	}
	b.sig <- syscall.SIGTERM
	awaitPresence(t, focus, occupant, func(typ string, st map[string]string) bool {
		if typ == "unavailable" {
			t.Fatal("left the brewery on SIGTERM with an endpoint allocated")
		}
		return st["graceful_shutdown"] == "true" && st["shutting_down"] == "false"
	})
	if b.exited() {
		t.Fatalf("exited (%d) in graceful shutdown with an endpoint allocated", b.code)
	}
	res, err = focus.IQ(ctx, occupant, "set", shutdownAllocXML("m-new", "ep2", true))
	if err != nil || res.Type != "error" || !strings.Contains(res.Raw, "service-unavailable") ||
		!strings.Contains(res.Raw, `reason="graceful_shutdown"`) {
		t.Fatalf("conference create during graceful shutdown: %v %s", err, res.Raw)
	}

	// On to SHUTTING_DOWN with the endpoint still there (so the bridge waits
	// shutting-down-delay, 1 min): jicofo sees shutting_down=true while the bridge stays.
	// (Expiring the last endpoint in GRACEFUL_SHUTDOWN instead passes SHUTTING_DOWN and STOPPED
	// in one step, and whether that presence goes out before the unavailable one is a race.)
	if code, body := b.do(t, "POST", "/colibri/shutdown", `{"graceful-shutdown": false}`); code != 200 {
		t.Fatalf("shutdown: %d %s", code, body)
	}
	awaitPresence(t, focus, occupant, func(typ string, st map[string]string) bool {
		if typ == "unavailable" {
			t.Fatal("left the brewery before announcing shutting_down")
		}
		return st["graceful_shutdown"] == "true" && st["shutting_down"] == "true"
	})
	if b.exited() {
		t.Fatalf("exited (%d) before the delay with an endpoint allocated", b.code)
	}

	// The last endpoint leaves: the bridge stops at once, leaves the brewery and exits 0.
	res, err = focus.IQ(ctx, occupant, "set",
		`<conference-modify xmlns='jitsi:colibri2' meeting-id='m-shut'><endpoint id='ep1' expire='true'/></conference-modify>`)
	if err != nil || res.Type != "result" {
		t.Fatalf("expire: %v %s", err, res.Raw)
	}
	if code := b.waitExit(t, 20*time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	awaitPresence(t, focus, occupant, func(typ string, _ map[string]string) bool { return typ == "unavailable" })
}

// shutdownAllocXML is jicofo's COLIBRI2 allocation of one audio endpoint in meeting; create also
// creates the conference.
func shutdownAllocXML(meeting, ep string, create bool) string {
	conf := ""
	if create {
		conf = ` create='true' name='room@conference.meet.jitsi'`
	}
	return `<conference-modify xmlns='jitsi:colibri2' meeting-id='` + meeting + `'` + conf + `>` +
		`<endpoint id='` + ep + `' create='true' stats-id='` + ep + `-stats'><media type='audio'>` +
		`<payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='111' name='opus' clockrate='48000' channels='2'/></media>` +
		`<transport ice-controlling='true'/><capability name='source-names'/></endpoint></conference-modify>`
}
