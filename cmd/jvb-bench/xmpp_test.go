package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"gojvb/bench"
	"gojvb/xmppcomp/prosodytest"
)

// TestShortRunOverXMPP runs 1 conference x 3 participants allocated the way jicofo does it:
// jvb-bench starts prosody and the bridge (REST COLIBRI2 off, so every allocation must go over
// XMPP), logs in as focus, finds the bridge in the brewery and sends pipelined IQs. Needs
// prosody: skipped without it, failed with CI=true.
func TestShortRunOverXMPP(t *testing.T) {
	prosodytest.Require(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	bin := buildBridge(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"--xmpp", "--bridge-bin", bin, "--json",
		"--conferences", "1", "--participants", "3", "--duration", "2s", "--warmup", "1s",
		"--ramp-up", "300ms", "--keyframe-interval", "1s"}, &stdout, &stderr)
	t.Logf("stderr:\n%s", stderr.String())
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	var m map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &m); err != nil {
		t.Fatalf("--json output is not a JSON object: %v\n%s", err, stdout.String())
	}
	for _, k := range append(jsonKeys[:len(jsonKeys):len(jsonKeys)], "bridge.xmpp_occupant") {
		if strings.HasPrefix(k, "baseline") {
			continue // no --baseline here
		}
		if v, ok := lookupKey(m, k); !ok || v == nil {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if v, ok := lookupKey(m, "rest_comparison"); !ok || v != nil {
		t.Errorf("rest_comparison = %v (present %v), want null without --xmpp-compare-rest", v, ok)
	}
	var res bench.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.Scenario.SignallingProtocol != "colibri2-xmpp" {
		t.Errorf("signalling %q, want colibri2-xmpp", res.Scenario.SignallingProtocol)
	}
	if want := "jvbbrewery@internal-muc.meet.jitsi/jvb-bench-" + strconv.Itoa(os.Getpid()); res.Bridge.XMPPOccupant != want {
		t.Errorf("allocated at %q, want the started bridge %q", res.Bridge.XMPPOccupant, want)
	}
	if res.Joined != 3 {
		t.Fatalf("joined %d of 3: %v", res.Joined, res.Notes)
	}
	if res.AllocateMs.P50 <= 0 || res.AllocateMs.Max < res.AllocateMs.P50 || res.JoinMs.P50 < res.AllocateMs.P50 {
		t.Errorf("allocation %+v and join %+v times inconsistent", res.AllocateMs, res.JoinMs)
	}
	r := res.Result
	t.Logf("join p50 %.1f ms (allocation IQ round trip p50 %.1f ms), %.0f pps, loss %.4f",
		res.JoinMs.P50, res.AllocateMs.P50, r.ForwardedPacketsPerS, r.LossFraction)
	for _, rr := range r.Receivers {
		if rr.AudioPackets == 0 || rr.VideoPackets == 0 {
			t.Errorf("receiver %s got %d audio and %d video packets, want both", rr.Endpoint, rr.AudioPackets, rr.VideoPackets)
		}
	}
	if res.BridgeChannelsOpen != 3 {
		t.Errorf("bridge channels open %d, want 3 (SCTP negotiated over XMPP)", res.BridgeChannelsOpen)
	}
}

// TestXMPPLoginAndNickErrorsAreClear targets a running prosody with --xmpp-server: a wrong
// focus password, and a focus nick another account holds in the brewery, fail the run with
// errors that say so; the default nick next to a jicofo-like "focus" occupant works.
func TestXMPPLoginAndNickErrorsAreClear(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	bin := buildBridge(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, who := range []struct{ user, pass, nick string }{
		{prosodytest.FocusUser, prosodytest.FocusPassword, "focus"}, // like jicofo
		{prosodytest.JVBUser, prosodytest.JVBPassword, "squatter"},
	} {
		f, err := prosodytest.Dial(srv.Addr(), who.user, who.pass)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.JoinBrewery(ctx, who.nick); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		args []string
		code int
		want string // in stderr (code 1) or stdout (code 0)
	}{
		{[]string{"--xmpp-focus-password", "wrong"}, 1, "log in as focus@auth.meet.jitsi"},
		{[]string{"--xmpp-focus-nick", "squatter"}, 1, `nick "squatter" is taken in jvbbrewery@internal-muc.meet.jitsi by another account`},
		{[]string{"--participants", "2", "--warmup", "0s", "--bridge-channel=false"}, 0, "allocation (colibri2-xmpp)"},
	} {
		var stdout, stderr bytes.Buffer
		args := append([]string{"--xmpp", "--xmpp-server", srv.Addr(), "--bridge-bin", bin, "--duration", "1s"}, c.args...)
		code := run(ctx, args, &stdout, &stderr)
		out := stderr.String()
		if c.code == 0 {
			out = stdout.String()
		}
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("%v: exit %d, want %d with %q; stdout:\n%s\nstderr:\n%s", c.args, code, c.code, c.want, stdout.String(), stderr.String())
		}
		if c.code == 0 && !strings.Contains(stdout.String(), "2/2") {
			t.Errorf("%v: not both endpoints joined next to the jicofo-like occupant:\n%s", c.args, stdout.String())
		}
	}
}
