package config

import (
	"fmt"
	"math"
	"strconv"
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
}

// Bounds of the allocation settings. JVB takes any integer; these reject typos (a height of
// 36000, a limit of 5e6 slots that the bridge would allocate tables for) with a clear error.
const (
	maxLastN     = 100000 // video sources
	maxHeightPx  = 10000  // pixels; 8K video is 4320 high
	maxFramerate = 1000   // frames per second
	maxSSRCSlots = 1000   // SSRC pairs per receiver (JVB: 50)
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
	slots := fmt.Sprintf("a number of SSRCs per receiver from 1 to %d", maxSSRCSlots)
	f.integerWant(limit+"video", &a.SSRCLimitVideo, 1, maxSSRCSlots, slots)
	f.integerWant(limit+"audio", &a.SSRCLimitAudio, 1, maxSSRCSlots, slots)
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
