//go:build soak

package main

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gojvb/xmppcomp/prosodytest"
)

// TestSoak holds the bridge-level soak scenarios of issue 14 that need prosody; built only with
// -tags soak (not in CI). With prosody installed (scripts/test.sh runs it in a private network
// namespace):
//
//	scripts/test.sh -tags soak -run TestSoak/prosody-restart -timeout 30m -v ./cmd/jvb/
func TestSoak(t *testing.T) {
	t.Run("prosody-restart", soakProsodyRestart)
}

// prosody is killed (SIGKILL) and started again SOAK_RESTARTS times (default 10) under a bridge
// holding a conference: each time the bridge is back in the brewery within 5 s of prosody's
// return, with its conference.
func soakProsodyRestart(t *testing.T) {
	restarts := 10
	if n, err := strconv.Atoi(os.Getenv("SOAK_RESTARTS")); err == nil && n > 0 {
		restarts = n
	}
	srv := prosodytest.Start(t, prosodytest.Options{})
	focus := prosodytest.DialFocus(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	if err := focus.JoinBrewery(ctx, "focus"); err != nil {
		t.Fatal(err)
	}
	const nick = "jvb-soak"
	occupant := prosodytest.Brewery + "/" + nick
	b := startBridge(t, xmppEnv(srv, nick, prosodytest.JVBPassword), nil) // default intervals
	awaitPresence(t, focus, occupant, func(_ string, st map[string]string) bool { return st["healthy"] == "true" })
	if res, err := focus.IQ(ctx, occupant, "set", shutdownAllocXML("m-keep", "ep1", true)); err != nil || res.Type != "result" {
		t.Fatalf("allocate: %v %s", err, res.Raw)
	}
	joins := func() int { return strings.Count(b.logs.String(), `msg="joined brewery"`) }
	connected := func() float64 { return metricValue(t, b.metrics(t), "jitsi_jvb_muc_clients_connected") }

	var took []time.Duration
	for i := range restarts {
		srv.Stop() // SIGKILL
		eventually(t, 5*time.Second, "disconnect", func() bool { return connected() == 0 })
		srv.Restart()
		back := time.Now()
		focus = prosodytest.DialFocus(t, srv)
		if err := focus.JoinBrewery(ctx, "focus"); err != nil {
			t.Fatal(err)
		}
		d := eventually(t, 15*time.Second, "re-join", func() bool { return joins() == i+2 }).Sub(back)
		took = append(took, d)
		if d > 5*time.Second {
			t.Errorf("restart %d: back in the brewery %v after prosody, want within 5 s", i+1, d)
		}
		res, err := focus.IQ(ctx, occupant, "set", `<conference-modify xmlns='jitsi:colibri2' meeting-id='m-keep'/>`)
		if err != nil || res.Type != "result" {
			t.Fatalf("restart %d: the conference is gone: %v %s", i+1, err, res.Raw)
		}
	}
	sorted := slices.Clone(took)
	slices.Sort(sorted)
	t.Logf("%d prosody restarts: back in the brewery after min %v, median %v, max %v (each: %v)", restarts,
		sorted[0].Round(time.Millisecond), sorted[len(sorted)/2].Round(time.Millisecond), sorted[len(sorted)-1].Round(time.Millisecond), took)
}
