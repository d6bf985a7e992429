package bwe

import (
	"slices"
	"strings"
)

// VideoType is a source's signalled video type (SourceVideoType / colibri2 videoType).
type VideoType uint8

// Video types. VideoNone (legacy) and VideoDisabled are the disabled ones: such sources are
// ordered last and never forwarded.
const (
	VideoCamera VideoType = iota
	VideoDesktop
	VideoDesktopHighFPS
	VideoNone
	VideoDisabled
)

// ParseVideoType reads a video type name case-insensitively ("camera", "desktop",
// "desktop_high_fps", "none", "disabled"); anything else is a camera.
func ParseVideoType(s string) VideoType {
	switch strings.ToLower(s) {
	case "desktop":
		return VideoDesktop
	case "desktop_high_fps":
		return VideoDesktopHighFPS
	case "none":
		return VideoNone
	case "disabled":
		return VideoDisabled
	default:
		return VideoCamera
	}
}

// String is the lower-case wire name.
func (t VideoType) String() string {
	switch t {
	case VideoCamera:
		return "camera"
	case VideoDesktop:
		return "desktop"
	case VideoDesktopHighFPS:
		return "desktop_high_fps"
	case VideoNone:
		return "none"
	case VideoDisabled:
		return "disabled"
	default:
		return "unknown"
	}
}

// Enabled reports whether sources of this type can be forwarded at all.
func (t VideoType) Enabled() bool { return t != VideoNone && t != VideoDisabled }

// Source is one video source as the allocator sees it.
type Source struct {
	Name  string    // source name, e.g. "abcd1234-v0"
	Owner string    // endpoint id of the sender
	Type  VideoType // signalled video type; disabled types are never forwarded
	// Heights is the frame height of each encoding (simulcast stream), lowest first; nil or empty
	// when no layers are known yet.
	Heights []int
}

// Prioritize returns the sources in the order the allocator serves them:
//
//  1. endpoints in speakerOrder (dominant speaker first; the caller leaves the receiver out),
//     with endpoints that have video (any source whose type is not VideoNone, as in JVB)
//     moved ahead of those without, each flattened to its sources in the order given;
//  2. then enabled sources that are on stage or selected, in selection order
//     (s.OnStage followed by the s.Selected entries not on stage) are moved to the front,
//     other enabled sources follow, and all disabled sources come last, selected or not.
//
// Sources whose Owner is not in speakerOrder are left out (that is how the receiver's own
// sources are excluded); of several sources with the same Name only the first counts.
// The result is a new slice; sources is not modified.
func Prioritize(speakerOrder []string, sources []Source, s Settings) []Source {
	rank := make(map[string]int, len(speakerOrder))
	for _, ep := range speakerOrder {
		if _, dup := rank[ep]; !dup {
			rank[ep] = len(rank)
		}
	}
	// Keep the sources that take part, and learn per endpoint whether it has video and how many
	// sources it has.
	type keptSource struct{ index, rank int } // into sources, into speakerOrder
	kept := make([]keptSource, 0, len(sources))
	names := make(map[string]struct{}, len(sources))
	hasVideo := make([]bool, len(rank))
	count := make([]int, len(rank))
	for i := range sources {
		r, ok := rank[sources[i].Owner]
		if !ok {
			continue
		}
		if _, dup := names[sources[i].Name]; dup {
			continue
		}
		names[sources[i].Name] = struct{}{}
		kept = append(kept, keptSource{i, r})
		count[r]++
		if sources[i].Type != VideoNone {
			hasVideo[r] = true
		}
	}
	// Endpoint order: speech order, those with video first. start[r] is where endpoint r's
	// sources begin in the flattened list.
	start := make([]int, len(rank))
	pos := 0
	for _, video := range []bool{true, false} {
		for r := range count {
			if hasVideo[r] == video {
				start[r] = pos
				pos += count[r]
			}
		}
	}
	flat := make([]Source, len(kept))
	for _, k := range kept {
		flat[start[k.rank]] = sources[k.index]
		start[k.rank]++
	}

	// Selection: on-stage first, then selected sources not on stage.
	selIndex := make(map[string]int, len(s.OnStage)+len(s.Selected))
	for _, list := range [][]string{s.OnStage, s.Selected} {
		for _, name := range list {
			if _, dup := selIndex[name]; !dup {
				selIndex[name] = len(selIndex)
			}
		}
	}
	out := make([]Source, 0, len(flat))
	for _, src := range flat {
		if _, sel := selIndex[src.Name]; sel && src.Type.Enabled() {
			out = append(out, src)
		}
	}
	slices.SortStableFunc(out, func(a, b Source) int { return selIndex[a.Name] - selIndex[b.Name] })
	for _, src := range flat {
		if _, sel := selIndex[src.Name]; !sel && src.Type.Enabled() {
			out = append(out, src)
		}
	}
	for _, src := range flat {
		if !src.Type.Enabled() {
			out = append(out, src)
		}
	}
	return out
}

// EffectiveLastN is the number of sources the receiver may get: the minimum of its own LastN,
// videobridge.cc.jvb-last-n and videobridge.ssrc-limit.video, where a negative value means no
// limit. It returns -1 when none of them limits.
func EffectiveLastN(cfg Config, s Settings) int {
	n := -1
	for _, v := range []int{s.LastN, cfg.JVBLastN, cfg.SSRCLimitVideo} {
		if v >= 0 && (n < 0 || v < n) {
			n = v
		}
	}
	return n
}
