package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Allocation is what decides which video each receiver gets: the videobridge.cc.* receiver
// defaults and the per-receiver SSRC limits of videobridge.ssrc-limit.*. Defaults are JVB's
// reference.conf; cmd/jvb hands them to the media core unchanged.
type Allocation struct {
	InitialLastN              int     // videobridge.cc.initial-last-n: a receiver's LastN until it sends one; -1 = no limit
	JVBLastN                  int     // videobridge.cc.jvb-last-n: bridge-wide cap on every receiver's LastN; -1 = no limit
	DefaultMaxHeight          int     // videobridge.cc.default-max-height-px: default constraint once a receiver sent constraints
	InitialMaxHeight          int     // videobridge.cc.initial-max-height-px: default constraint before that (0: nothing)
	OnstagePreferredHeight    int     // videobridge.cc.onstage-preferred-height-px
	OnstagePreferredFramerate float64 // videobridge.cc.onstage-preferred-framerate
	SSRCLimitVideo            int     // videobridge.ssrc-limit.video: video slots per receiver; also caps LastN
	SSRCLimitAudio            int     // videobridge.ssrc-limit.audio: audio slots per rewriting receiver

	// The bandwidth allocator's own keys (videobridge.cc.*).
	BWEChangeThreshold         float64       // bwe-change-threshold (legacy bwe-change-threshold-pct, in percent)
	MaxTimeBetweenCalculations time.Duration // max-time-between-calculations
	AllowOversendOnstage       bool          // allow-oversend-onstage (legacy enable-onstage-video-suspend, inverted)
	MaxOversendBitrate         uint64        // max-oversend-bitrate, bps
	TrustBWE                   bool          // trust-bwe: false allocates as if the estimate were unknown
}

// Bounds of the allocation settings. JVB takes any integer; these reject typos (a height of
// 36000, a limit of 5e6 slots that the bridge would allocate tables for) with a clear error.
const (
	maxLastN     = 100000 // video sources
	maxHeightPx  = 10000  // pixels; 8K video is 4320 high
	maxFramerate = 1000   // frames per second
	maxSSRCSlots = 1000   // SSRC pairs per receiver (JVB: 50)
	// maxCalcInterval bounds max-time-between-calculations: layer bitrates change without
	// events, so an allocation older than this is stale.
	maxCalcInterval = time.Hour
	maxBitrate      = 100e9 // bps
)

// DefaultAllocation is JVB's reference.conf.
func DefaultAllocation() Allocation {
	return Allocation{
		InitialLastN:              -1,
		JVBLastN:                  -1,
		DefaultMaxHeight:          180,
		InitialMaxHeight:          0,
		OnstagePreferredHeight:    360,
		OnstagePreferredFramerate: 30,
		SSRCLimitVideo:            50,
		SSRCLimitAudio:            50,

		BWEChangeThreshold:         0.15,
		MaxTimeBetweenCalculations: 5 * time.Second,
		AllowOversendOnstage:       true,
		MaxOversendBitrate:         500_000,
		TrustBWE:                   true,
	}
}

// readAllocation reads videobridge.cc.* and videobridge.ssrc-limit.*. The legacy
// videobridge.cc.thumbnail-max-height-px, when set, wins over both default-max-height-px and
// initial-max-height-px, as in JVB's BitrateControllerConfig.
func readAllocation(f *fileReader, a *Allocation) {
	const cc, limit = "videobridge.cc.", "videobridge.ssrc-limit."
	lastN := fmt.Sprintf("-1 (no limit) or a number of video sources from 0 to %d", maxLastN)
	height := fmt.Sprintf("-1 (no limit) or a height in pixels from 0 to %d", maxHeightPx)
	f.integerWant(cc+"initial-last-n", &a.InitialLastN, -1, maxLastN, lastN)
	f.integerWant(cc+"jvb-last-n", &a.JVBLastN, -1, maxLastN, lastN)
	f.integerWant(cc+"default-max-height-px", &a.DefaultMaxHeight, -1, maxHeightPx, height)
	f.integerWant(cc+"initial-max-height-px", &a.InitialMaxHeight, -1, maxHeightPx, height)
	var legacy int
	if f.integerWant(cc+"thumbnail-max-height-px", &legacy, -1, maxHeightPx, height) {
		a.DefaultMaxHeight, a.InitialMaxHeight = legacy, legacy
	}
	f.integerWant(cc+"onstage-preferred-height-px", &a.OnstagePreferredHeight, 0, maxHeightPx,
		fmt.Sprintf("a height in pixels from 0 to %d", maxHeightPx))
	f.positive(cc+"onstage-preferred-framerate", &a.OnstagePreferredFramerate, maxFramerate,
		fmt.Sprintf("a frame rate above 0 and at most %d frames per second", maxFramerate))
	var pct int
	if f.integerWant(cc+"bwe-change-threshold-pct", &pct, 0, 1000, "a percentage from 0 to 1000") {
		a.BWEChangeThreshold = float64(pct) / 100
	}
	f.fraction(cc+"bwe-change-threshold", &a.BWEChangeThreshold, 10, "a fraction of the estimate from 0 to 10, such as 0.15")
	var d time.Duration
	if f.duration(cc+"max-time-between-calculations", &d) {
		if d <= 0 || d > maxCalcInterval {
			v, _ := f.get(cc + "max-time-between-calculations")
			f.bad(cc+"max-time-between-calculations", v, fmt.Sprintf("a duration above 0 and at most %v", maxCalcInterval))
		} else {
			a.MaxTimeBetweenCalculations = d
		}
	}
	var suspend bool
	if _, ok := f.get(cc + "enable-onstage-video-suspend"); ok {
		f.boolean(cc+"enable-onstage-video-suspend", &suspend)
		a.AllowOversendOnstage = !suspend
	}
	f.boolean(cc+"allow-oversend-onstage", &a.AllowOversendOnstage)
	f.bitrate(cc+"max-oversend-bitrate", &a.MaxOversendBitrate)
	f.boolean(cc+"trust-bwe", &a.TrustBWE)
	slots := fmt.Sprintf("a number of SSRCs per receiver from 1 to %d", maxSSRCSlots)
	f.integerWant(limit+"video", &a.SSRCLimitVideo, 1, maxSSRCSlots, slots)
	f.integerWant(limit+"audio", &a.SSRCLimitAudio, 1, maxSSRCSlots, slots)
}

// fraction reads a number in [0, hi].
func (f *fileReader) fraction(key string, dst *float64, hi float64, want string) bool {
	v, ok := f.get(key)
	if !ok {
		return false
	}
	n, err := strconv.ParseFloat(text(v), 64)
	if err != nil || math.IsNaN(n) || n < 0 || n > hi {
		f.bad(key, v, want)
		return false
	}
	*dst = n
	return true
}

// bitrate reads a bandwidth as JVB writes it: a number and a unit of bps, kbps, Mbps or Gbps
// (case-insensitive, space optional), or a bare number of bps.
func (f *fileReader) bitrate(key string, dst *uint64) bool {
	v, ok := f.get(key)
	if !ok {
		return false
	}
	bps, err := parseBitrate(text(v))
	if err != nil {
		f.bad(key, v, fmt.Sprintf("a bitrate such as 500 kbps or 2 Mbps, at most %.0f Gbps", maxBitrate/1e9))
		return false
	}
	*dst = bps
	return true
}

func parseBitrate(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	}
	mult, ok := map[string]float64{"": 1, "bps": 1, "kbps": 1e3, "mbps": 1e6, "gbps": 1e9}[unit]
	n, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || math.IsNaN(n) || n < 0 || n*mult > maxBitrate {
		return 0, fmt.Errorf("bad bitrate %q", s)
	}
	return uint64(n * mult), nil
}

// positive reads a number in (0, hi].
func (f *fileReader) positive(key string, dst *float64, hi float64, want string) bool {
	v, ok := f.get(key)
	if !ok {
		return false
	}
	n, err := strconv.ParseFloat(text(v), 64)
	if err != nil || math.IsNaN(n) || n <= 0 || n > hi {
		f.bad(key, v, want)
		return false
	}
	*dst = n
	return true
}
