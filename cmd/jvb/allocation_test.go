package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gojvb/bwe"
	"gojvb/cmd/jvb/internal/config"
)

// TestAllocationDefaultsAgree: with nothing configured the media core gets exactly
// bwe.DefaultConfig, so the two copies of JVB's reference.conf cannot drift apart.
func TestAllocationDefaultsAgree(t *testing.T) {
	if got, want := allocationConfig(config.DefaultAllocation()), bwe.DefaultConfig(); got != want {
		t.Fatalf("config defaults map to %+v, bwe.DefaultConfig is %+v", got, want)
	}
	if got, want := allocatorConfig(config.DefaultAllocation()), bwe.DefaultAllocatorConfig(); got != want {
		t.Fatalf("config defaults map to %+v, bwe.DefaultAllocatorConfig is %+v", got, want)
	}
}

func TestAllocatorConfigMapsEveryKey(t *testing.T) {
	a := config.DefaultAllocation()
	a.BWEChangeThreshold, a.MaxTimeBetweenCalculations, a.AllowOversendOnstage = 0.3, time.Second, false
	a.MaxOversendBitrate, a.TrustBWE = 123, false
	got := allocatorConfig(a)
	want := bwe.DefaultAllocatorConfig()
	want.BWEChangeThreshold, want.MaxTimeBetweenCalculations, want.AllowOversendOnstage = 0.3, time.Second, false
	want.MaxOversendBitrate, want.DistrustBWE = 123, true
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestAllocationConfigMapsEveryField(t *testing.T) {
	got := allocationConfig(config.Allocation{InitialLastN: 1, JVBLastN: 2, DefaultMaxHeight: 3, InitialMaxHeight: 4,
		OnstagePreferredHeight: 5, OnstagePreferredFramerate: 6.5, SSRCLimitVideo: 7, SSRCLimitAudio: 8})
	want := bwe.Config{InitialLastN: 1, JVBLastN: 2, DefaultMaxHeight: 3, InitialMaxHeight: 4,
		OnstagePreferredHeight: 5, OnstagePreferredFramerate: 6.5, SSRCLimitVideo: 7}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// TestBadAllocationRefusesToStart: a bad videobridge.cc value is a configuration error (exit 2)
// that names the key, and a good one lets the bridge start.
func TestBadAllocationRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("videobridge.cc.jvb-last-n = -3\nvideobridge.ssrc-limit.video = 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := run([]string{"--config", bad}, envOf(nil), &out); code != exitConfig {
		t.Fatalf("exit code %d, want %d: %s", code, exitConfig, out.String())
	}
	for _, want := range []string{"videobridge.cc.jvb-last-n", `"-3"`, "videobridge.ssrc-limit.video", "1 to 1000"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output %q lacks %q", out.String(), want)
		}
	}

	good := filepath.Join(dir, "good.conf")
	if err := os.WriteFile(good, []byte("videobridge.cc { jvb-last-n = 3, onstage-preferred-framerate = 15 }\nvideobridge.ssrc-limit { video = 3, audio = 3 }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startBridge(t, restEnv, func(c *config.Config) {
		var err error
		c.Allocation, err = loadAllocation(good)
		if err != nil {
			t.Fatal(err)
		}
	})
	if code, _ := b.do(t, "GET", "/about/health", ""); code != 200 {
		t.Fatalf("health with a custom allocation: %d", code)
	}
}

func loadAllocation(path string) (config.Allocation, error) {
	cfg, err := config.Load([]string{"--config", path}, envOf(nil))
	if err != nil {
		return config.Allocation{}, err
	}
	return cfg.Allocation, nil
}
