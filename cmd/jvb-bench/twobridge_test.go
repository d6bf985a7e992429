package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"go.uber.org/goleak"

	"gojvb/bench"
)

// TestTwoBridgeRunCrossesTheRelay runs 2 conferences x 4 participants over two bridges linked
// by a relay for 3 s: media must cross the relay both ways, every receiver must get video from
// each sender on the other bridge, and both bridges' CPU and the per-receiver allocations must
// be in the report.
func TestTwoBridgeRunCrossesTheRelay(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	bin := buildBridge(t)
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"--bridge-bin", bin, "--bridges", "2", "--json",
		"--conferences", "2", "--participants", "4", "--duration", "3s", "--warmup", "1500ms",
		"--ramp-up", "300ms", "--keyframe-interval", "1s"}, &stdout, &stderr)
	t.Logf("stderr:\n%s", stderr.String())
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	var res bench.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout.String())
	}
	tb := res.TwoBridges
	if res.Joined != 8 || tb == nil || len(tb.Bridges) != 2 {
		t.Fatalf("joined %d of 8, two-bridge result %+v; notes %v", res.Joined, tb, res.Notes)
	}
	for _, b := range tb.Bridges {
		t.Logf("bridge %s: %d endpoints, %.3f cores, forwarded %d (%.2f us/pkt), relay sent %d received %d (%.2f us/pkt out)",
			b.RelayID, b.Endpoints, b.CPUCores, b.ForwardedPackets, b.CPUMicrosPerForwardedPacket,
			b.RelayPacketsSent, b.RelayPacketsReceived, b.CPUMicrosPerPacketOut)
		if b.Endpoints != 4 || b.PID == 0 || b.CPUSeconds <= 0 || b.CPUMicrosPerForwardedPacket <= 0 {
			t.Errorf("bridge %s: %+v, want 4 endpoints and its CPU measured", b.RelayID, b)
		}
		// Each bridge has 2 senders per conference whose audio (50 pps) and video cross once.
		if min := uint64(2 * 2 * 50 * res.Result.WindowS * 0.5); b.RelayPacketsSent < min || b.RelayPacketsReceived < min {
			t.Errorf("bridge %s: relay sent %d, received %d in %.1fs, want >= %d each way", b.RelayID,
				b.RelayPacketsSent, b.RelayPacketsReceived, res.Result.WindowS, min)
		}
	}
	// 8 receivers, each with 2 senders on the other bridge.
	if tb.RemoteSendersExpected != 16 || tb.RemoteSendersReceived != 16 || tb.ReceiversMissingRemote != 0 {
		t.Errorf("remote senders received %d/%d, %d receivers missing some", tb.RemoteSendersReceived,
			tb.RemoteSendersExpected, tb.ReceiversMissingRemote)
	}
	if a := res.Allocations; a == nil || a.Receivers != 8 || len(a.Layers) == 0 {
		t.Errorf("allocations %+v, want all 8 receivers with layers", a)
	}
}
