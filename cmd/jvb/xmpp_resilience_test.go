package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"gojvb/cmd/jvb/internal/config"
	"gojvb/xmppcomp/prosodytest"
)

// eventually polls cond until it holds or within has passed, and returns when it first held.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Now()
}

// xmppEnv is the jitsi/jvb environment for a bridge in srv's brewery under nick.
func xmppEnv(srv *prosodytest.Server, nick, password string) map[string]string {
	return map[string]string{
		"XMPP_SERVER":       srv.Addr(),
		"JVB_AUTH_PASSWORD": password,
		"JVB_MUC_NICKNAME":  nick,
		"JVB_ADVERTISE_IPS": "192.0.2.1",
	}
}

// statsAfterRejoin returns the stats of the first presence from occupant that carries them. With
// afterJoin it first waits for the bridge's join presence (no stats), skipping anything the
// focus received before the bridge re-joined.
func statsAfterRejoin(t *testing.T, f *prosodytest.Focus, occupant string, afterJoin bool) map[string]string {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case p := <-f.Presences():
			if p.From != occupant || p.Type != "" {
				continue
			}
			st, ok := p.Stats()
			if afterJoin {
				afterJoin = ok // the join presence carries no stats
				continue
			}
			if ok {
				return st
			}
		case <-deadline:
			t.Fatalf("no stats presence from %s after its re-join", occupant)
		}
	}
}

func drainPresences(f *prosodytest.Focus) {
	for {
		select {
		case <-f.Presences():
		default:
			return
		}
	}
}

// A prosody outage, killed or frozen, ends with the bridge back in the brewery within 2 s of
// prosody's return, its conferences still there, and the first presence jicofo gets saying
// healthy (health is re-evaluated at the join, not taken from the cache filled while
// disconnected).
func TestProsodyOutageKeepsConferencesAndFirstPresenceIsHealthy(t *testing.T) {
	for _, mode := range []string{"SIGKILL", "SIGSTOP"} {
		t.Run(mode, func(t *testing.T) {
			srv := prosodytest.Start(t, prosodytest.Options{})
			focus := prosodytest.DialFocus(t, srv)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := focus.JoinBrewery(ctx, "focus"); err != nil {
				t.Fatal(err)
			}
			const nick = "jvb-outage"
			occupant := prosodytest.Brewery + "/" + nick
			b := startBridge(t, xmppEnv(srv, nick, prosodytest.JVBPassword), func(c *config.Config) {
				c.StatsInterval = 100 * time.Millisecond // health is checked (and cached) all the time
				c.PresenceInterval = 30 * time.Second    // the join-time presence is the only one for a while
			})
			awaitPresence(t, focus, occupant, func(_ string, st map[string]string) bool { return st["healthy"] == "true" })
			if res, err := focus.IQ(ctx, occupant, "set", shutdownAllocXML("m-keep", "ep1", true)); err != nil || res.Type != "result" {
				t.Fatalf("allocate: %v %s", err, res.Raw)
			}
			joins := func() int { return strings.Count(b.logs.String(), `msg="joined brewery"`) }
			connected := func() float64 { return metricValue(t, b.metrics(t), "jitsi_jvb_muc_clients_connected") }

			var back time.Time
			switch mode {
			case "SIGKILL":
				srv.Stop()
				eventually(t, 5*time.Second, "disconnect", func() bool { return connected() == 0 })
				srv.Restart()
				back = time.Now()
				focus = prosodytest.DialFocus(t, srv)
				if err := focus.JoinBrewery(ctx, "focus"); err != nil {
					t.Fatal(err)
				}
			case "SIGSTOP":
				drainPresences(focus)
				if err := srv.Freeze(); err != nil {
					t.Fatal(err)
				}
				frozen := time.Now()
				noticed := eventually(t, 20*time.Second, "disconnect", func() bool { return connected() == 0 }).Sub(frozen)
				t.Logf("frozen prosody noticed after %v", noticed.Round(time.Millisecond))
				if noticed > 15*time.Second {
					t.Fatalf("frozen prosody noticed after %v, want within 15 s", noticed)
				}
				if err := srv.Thaw(); err != nil {
					t.Fatal(err)
				}
				back = time.Now()
			}
			took := eventually(t, 10*time.Second, "re-join", func() bool { return joins() == 2 }).Sub(back)
			t.Logf("%s: re-joined %v after prosody was back", mode, took.Round(time.Millisecond))
			if took > 2*time.Second {
				t.Fatalf("re-joined %v after prosody was back, want within 2 s", took)
			}

			st := statsAfterRejoin(t, focus, occupant, mode == "SIGSTOP")
			if st["healthy"] != "true" || st["muc_clients_connected"] != "1" || st["mucs_joined"] != "1" {
				t.Fatalf("first presence after re-join: %v", st)
			}
			// The conference allocated before the outage is still there; an unknown one is not
			// (so the answer means something).
			for meeting, want := range map[string]string{"m-keep": "result", "m-none": "error"} {
				res, err := focus.IQ(ctx, occupant, "set", `<conference-modify xmlns='jitsi:colibri2' meeting-id='`+meeting+`'/>`)
				if err != nil || res.Type != want {
					t.Fatalf("conference-modify %s after the outage: %v %s", meeting, err, res.Raw)
				}
			}
		})
	}
}

// Two bridges configured with the same JVB_MUC_NICKNAME (a copied compose service): the second
// names the conflict at ERROR and reports it in /about/health (soft, 503); the first stays
// healthy and keeps the brewery.
func TestSecondBridgeWithSameNicknameIsUnhealthy(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	const nick = "jvb-copy"
	env := xmppEnv(srv, nick, prosodytest.JVBPassword)
	first := startBridge(t, env, nil)
	eventually(t, 10*time.Second, "first bridge joined", func() bool {
		return metricValue(t, first.metrics(t), "jitsi_jvb_mucs_joined") == 1
	})
	second := startBridge(t, env, nil)
	var body string
	// Before it has joined, the second bridge is unhealthy for another reason (no XMPP
	// connection up yet): wait for the one that names the conflict.
	eventually(t, 15*time.Second, "second bridge unhealthy because of the nickname", func() bool {
		var code int
		code, body = second.do(t, "GET", "/about/health", "")
		return code == 503 && strings.Contains(body, "JVB_MUC_NICKNAME")
	})
	if !strings.Contains(body, `"`+nick+`"`) || !strings.Contains(body, "JVB_MUC_NICKNAME") {
		t.Fatalf("health does not name the nickname and the fix: %q", body)
	}
	logs := second.logs.String()
	errors := 0
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "level=ERROR") && strings.Contains(l, "make JVB_MUC_NICKNAME unique") && strings.Contains(l, "nick="+nick) {
			errors++
		}
	}
	if errors != 1 {
		t.Fatalf("second bridge's log names the conflict at ERROR %d times, want once:\n%s", errors, logs)
	}
	if code, body := first.do(t, "GET", "/about/health", ""); code != 200 {
		t.Fatalf("first bridge unhealthy: %d %s", code, body)
	}
	if v := metricValue(t, first.metrics(t), "jitsi_jvb_mucs_joined"); v != 1 {
		t.Fatalf("first bridge left the brewery: mucs_joined %v", v)
	}
	if v := metricValue(t, second.metrics(t), "jitsi_jvb_mucs_joined"); v != 0 {
		t.Fatalf("second bridge counts the brewery joined: mucs_joined %v", v)
	}
}

// A wrong JVB_AUTH_PASSWORD is named in /about/health, not only in the log.
func TestWrongPasswordNamedInHealth(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	b := startBridge(t, xmppEnv(srv, "jvb-wrong", "wrong"), nil)
	var body string
	eventually(t, 10*time.Second, "health naming the password", func() bool {
		var code int
		code, body = b.do(t, "GET", "/about/health", "")
		return code == 503 && strings.Contains(body, "refused the password")
	})
	if !strings.Contains(body, "jvb@auth.meet.jitsi") || !strings.Contains(body, "JVB_AUTH_PASSWORD") {
		t.Fatalf("health: %q", body)
	}
}
