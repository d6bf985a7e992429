package config

import (
	"strings"
	"testing"
	"time"
)

func TestAllocationDefaultsAreReferenceConf(t *testing.T) {
	want := Allocation{InitialLastN: -1, JVBLastN: -1, DefaultMaxHeight: 180, InitialMaxHeight: 0,
		OnstagePreferredHeight: 360, OnstagePreferredFramerate: 30, SSRCLimitVideo: 50, SSRCLimitAudio: 50,
		BWEChangeThreshold: 0.15, MaxTimeBetweenCalculations: 5 * time.Second, AllowOversendOnstage: true,
		MaxOversendBitrate: 500_000, TrustBWE: true}
	cfg, err := Load(nil, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Allocation != want {
		t.Fatalf("no configuration: %+v, want %+v", cfg.Allocation, want)
	}
	// A file that sets none of the keys keeps them too.
	cfg, err = Load([]string{"--config", writeFile(t, t.TempDir(), "jvb.conf", "videobridge.ice.udp.port = 10001\n")}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Allocation != want {
		t.Fatalf("file without cc keys: %+v, want %+v", cfg.Allocation, want)
	}
}

func TestAllocationFromFile(t *testing.T) {
	def := DefaultAllocation()
	with := func(change func(*Allocation)) Allocation {
		a := def
		change(&a)
		return a
	}
	for _, c := range []struct {
		name, file string
		want       Allocation
	}{
		{"nested block", `
videobridge {
  cc {
    initial-last-n = 4
    jvb-last-n = 20
    default-max-height-px = 360
    initial-max-height-px = 180
    onstage-preferred-height-px = 720
    onstage-preferred-framerate = 15
  }
  ssrc-limit { video = 10, audio = 5 }
}
`, with(func(a *Allocation) {
			a.InitialLastN, a.JVBLastN, a.DefaultMaxHeight, a.InitialMaxHeight = 4, 20, 360, 180
			a.OnstagePreferredHeight, a.OnstagePreferredFramerate, a.SSRCLimitVideo, a.SSRCLimitAudio = 720, 15, 10, 5
		})},
		{"dotted keys and unlimited", "videobridge.cc.jvb-last-n = -1\nvideobridge.cc.default-max-height-px = -1\n",
			with(func(a *Allocation) { a.DefaultMaxHeight = -1 })},
		{"zero last-n", "videobridge.cc.initial-last-n = 0\n", with(func(a *Allocation) { a.InitialLastN = 0 })},
		{"quoted numbers", "videobridge.cc.jvb-last-n = \"3\"\nvideobridge.cc.onstage-preferred-framerate = \"7.5\"\n",
			with(func(a *Allocation) { a.JVBLastN, a.OnstagePreferredFramerate = 3, 7.5 })},
		{"fractional framerate", "videobridge.cc.onstage-preferred-framerate = 29.97\n",
			with(func(a *Allocation) { a.OnstagePreferredFramerate = 29.97 })},
		{"legacy thumbnail height sets both defaults", "videobridge.cc.thumbnail-max-height-px = 270\n",
			with(func(a *Allocation) { a.DefaultMaxHeight, a.InitialMaxHeight = 270, 270 })},
		{"legacy name wins over the new ones, as in JVB",
			"videobridge.cc { thumbnail-max-height-px = 90, default-max-height-px = 360, initial-max-height-px = 180 }\n",
			with(func(a *Allocation) { a.DefaultMaxHeight, a.InitialMaxHeight = 90, 90 })},
		{"null leaves the default", "videobridge.cc.jvb-last-n = null\n", def},
		{"allocator keys", "videobridge.cc { trust-bwe = false, bwe-change-threshold = 0.3, max-time-between-calculations = 2 seconds\n" +
			"allow-oversend-onstage = false, max-oversend-bitrate = 1.5 Mbps }\n",
			with(func(a *Allocation) {
				a.TrustBWE, a.BWEChangeThreshold, a.MaxTimeBetweenCalculations = false, 0.3, 2*time.Second
				a.AllowOversendOnstage, a.MaxOversendBitrate = false, 1_500_000
			})},
		{"legacy allocator keys", "videobridge.cc { bwe-change-threshold-pct = 20, enable-onstage-video-suspend = true }\n",
			with(func(a *Allocation) { a.BWEChangeThreshold, a.AllowOversendOnstage = 0.2, false })},
		{"new allocator keys win over legacy ones", "videobridge.cc { bwe-change-threshold-pct = 20, bwe-change-threshold = 0.1 }\n",
			with(func(a *Allocation) { a.BWEChangeThreshold = 0.1 })},
		{"bitrate units", "videobridge.cc.max-oversend-bitrate = 300kbps\n", with(func(a *Allocation) { a.MaxOversendBitrate = 300_000 })},
		{"padding-period is ignored", "videobridge.cc.padding-period = 15ms\n", def},
		{"limits at their bounds", "videobridge.ssrc-limit { video = 1, audio = 1000 }\n",
			with(func(a *Allocation) { a.SSRCLimitVideo, a.SSRCLimitAudio = 1, 1000 })},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Load([]string{"--config", writeFile(t, t.TempDir(), "jvb.conf", c.file)}, envOf(nil))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Allocation != c.want {
				t.Fatalf("got  %+v\nwant %+v", cfg.Allocation, c.want)
			}
		})
	}
}

func TestBadAllocationValues(t *testing.T) {
	for _, c := range []struct {
		name, file string
		wants      []string // substrings of the error: key, value, expectation
	}{
		{"last-n below -1", "videobridge.cc.initial-last-n = -2\n", []string{"videobridge.cc.initial-last-n", `"-2"`, "-1 (no limit)"}},
		{"last-n not a number", "videobridge.cc.jvb-last-n = many\n", []string{"videobridge.cc.jvb-last-n", `"many"`, "number of video sources"}},
		{"last-n fraction", "videobridge.cc.jvb-last-n = 2.5\n", []string{"videobridge.cc.jvb-last-n", "2.5", "number of video sources"}},
		{"last-n huge", "videobridge.cc.jvb-last-n = 100001\n", []string{"videobridge.cc.jvb-last-n", "100001", "0 to 100000"}},
		{"height with unit", "videobridge.cc.default-max-height-px = 180px\n", []string{"videobridge.cc.default-max-height-px", "180px", "height in pixels"}},
		{"height with spaced unit", "videobridge.cc.default-max-height-px = 180 px\n", []string{"videobridge.cc.default-max-height-px", `"180 px"`, "height in pixels"}},
		{"height half quoted", "videobridge.cc.default-max-height-px = \"180\"px\n", []string{"videobridge.cc.default-max-height-px", `"180px"`, "height in pixels"}},
		{"height too big", "videobridge.cc.initial-max-height-px = 36000\n", []string{"videobridge.cc.initial-max-height-px", "36000", "0 to 10000"}},
		{"legacy height", "videobridge.cc.thumbnail-max-height-px = -5\n", []string{"videobridge.cc.thumbnail-max-height-px", "-5", "height in pixels"}},
		{"onstage height negative", "videobridge.cc.onstage-preferred-height-px = -1\n", []string{"videobridge.cc.onstage-preferred-height-px", "-1", "0 to 10000"}},
		{"framerate zero", "videobridge.cc.onstage-preferred-framerate = 0\n", []string{"videobridge.cc.onstage-preferred-framerate", `"0"`, "above 0"}},
		{"framerate NaN", "videobridge.cc.onstage-preferred-framerate = NaN\n", []string{"videobridge.cc.onstage-preferred-framerate", "NaN", "frame rate"}},
		{"framerate infinite", "videobridge.cc.onstage-preferred-framerate = \"+Inf\"\n", []string{"videobridge.cc.onstage-preferred-framerate", "Inf", "at most 1000"}},
		{"framerate is object", "videobridge.cc.onstage-preferred-framerate { a = 1 }\n", []string{"videobridge.cc.onstage-preferred-framerate", "frame rate"}},
		{"video limit zero", "videobridge.ssrc-limit.video = 0\n", []string{"videobridge.ssrc-limit.video", `"0"`, "1 to 1000"}},
		{"audio limit huge", "videobridge.ssrc-limit.audio = 5000000\n", []string{"videobridge.ssrc-limit.audio", "5000000", "SSRCs per receiver"}},
		{"threshold negative", "videobridge.cc.bwe-change-threshold = -0.1\n", []string{"videobridge.cc.bwe-change-threshold", "-0.1", "fraction"}},
		{"threshold NaN", "videobridge.cc.bwe-change-threshold = NaN\n", []string{"videobridge.cc.bwe-change-threshold", "NaN", "fraction"}},
		{"calculation interval zero", "videobridge.cc.max-time-between-calculations = 0 s\n", []string{"max-time-between-calculations", "above 0"}},
		{"calculation interval not a duration", "videobridge.cc.max-time-between-calculations = often\n", []string{"max-time-between-calculations", "often", "duration"}},
		{"bitrate unit unknown", "videobridge.cc.max-oversend-bitrate = 5 furlongs\n", []string{"max-oversend-bitrate", "furlongs", "500 kbps"}},
		{"bitrate huge", "videobridge.cc.max-oversend-bitrate = 1000 Gbps\n", []string{"max-oversend-bitrate", "1000 Gbps", "at most 100 Gbps"}},
		{"trust-bwe not a boolean", "videobridge.cc.trust-bwe = maybe\n", []string{"videobridge.cc.trust-bwe", "maybe", "boolean"}},
		{"limit block not object", "videobridge.ssrc-limit = 5\n", nil}, // ignored like any unknown shape: no keys below it
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Load([]string{"--config", writeFile(t, t.TempDir(), "jvb.conf", c.file)}, envOf(nil))
			if c.wants == nil {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if cfg.Allocation != DefaultAllocation() {
					t.Fatalf("allocation changed: %+v", cfg.Allocation)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", cfg.Allocation)
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestBadAllocationValuesAreAllReported(t *testing.T) {
	file := "videobridge.cc { jvb-last-n = x, default-max-height-px = y }\nvideobridge.ssrc-limit.audio = 0\n"
	_, err := Load([]string{"--config", writeFile(t, t.TempDir(), "jvb.conf", file)}, envOf(nil))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, k := range []string{"jvb-last-n", "default-max-height-px", "ssrc-limit.audio"} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("%s not reported in %v", k, err)
		}
	}
}
