package bwe

import (
	"strconv"
	"strings"
)

// allocMaxSummarized is how many suspended sources the Summary details (JVB's
// MAX_SOURCES_SUMMARIZED).
const allocMaxSummarized = 3

// Summary is the line JVB logs at INFO for suspended sources, or "" when none is suspended:
//
//	Sources suspended due to insufficient bandwidth (bwe=<bps> bps, remaining=<bps> bps,
//	maxOversend=<bps> bps): name[type=… onStage=… reason=… required=E0S0T0/180p/7.5fps=<bps>
//	cheapest=<bps> ideal=<bps> oversend=<bps> available=<bps> constraints=<h>p/<fps>fps], …
//
// on one line, detailing the first three suspended sources in priority order and counting the
// rest ("and 4 more"). An unknown estimate reads "bwe=unlimited" and has no remaining. The
// reason field is ours. Its numbers change with every run, so the caller logs it at INFO only
// when SameSuspensions with the previous allocation is false (JVB logs it on every run).
func (la LayerAllocation) Summary() string {
	n := 0
	for i := range la.Sources {
		if la.Sources[i].Suspended {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("Sources suspended due to insufficient bandwidth (bwe=")
	if la.BWE == 0 {
		b.WriteString("unlimited")
	} else {
		b.WriteString(strconv.FormatUint(la.BWE, 10))
		b.WriteString(" bps, remaining=")
		b.WriteString(strconv.FormatInt(la.Remaining, 10))
	}
	b.WriteString(" bps, maxOversend=")
	b.WriteString(strconv.FormatUint(la.MaxOversend, 10))
	b.WriteString(" bps): ")
	written := 0
	for i := range la.Sources {
		sl := &la.Sources[i]
		if !sl.Suspended {
			continue
		}
		if written == allocMaxSummarized {
			b.WriteString(", and ")
			b.WriteString(strconv.Itoa(n - written))
			b.WriteString(" more")
			break
		}
		if written > 0 {
			b.WriteString(", ")
		}
		written++
		sl.writeSummary(&b)
	}
	return b.String()
}

func (sl *SourceLayers) writeSummary(b *strings.Builder) {
	b.WriteString(sl.Name)
	b.WriteString("[type=")
	b.WriteString(sl.Type.String())
	b.WriteString(" onStage=")
	b.WriteString(strconv.FormatBool(sl.OnStage))
	b.WriteString(" reason=")
	b.WriteString(sl.Reason)
	b.WriteString(" required=")
	l := sl.Required
	b.WriteString("E" + strconv.Itoa(l.Encoding) + "S" + strconv.Itoa(l.Spatial) + "T" + strconv.Itoa(l.Temporal))
	b.WriteString("/" + strconv.Itoa(l.Height) + "p/" + allocFPSString(l.FrameRate) + "fps=")
	b.WriteString(strconv.FormatUint(l.Bitrate, 10))
	b.WriteString(" cheapest=" + strconv.FormatUint(sl.CheapestBps, 10))
	b.WriteString(" ideal=" + strconv.FormatUint(sl.IdealBps, 10))
	b.WriteString(" oversend=")
	if sl.OversendBps > 0 {
		b.WriteString(strconv.FormatUint(sl.OversendBps, 10))
	} else {
		b.WriteString("none")
	}
	b.WriteString(" available=" + strconv.FormatInt(sl.Available, 10))
	b.WriteString(" constraints=" + strconv.Itoa(sl.Constraints.MaxHeight) + "p/" +
		allocFPSString(sl.Constraints.MaxFrameRate) + "fps]")
}

// allocFPSString prints a frame rate compactly ("7.5", "30"), "?" when unknown or unlimited.
func allocFPSString(f float64) string {
	if !allocKnownFPS(f) {
		return "?"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// SuspensionNews is the Summary to log after prev: when the set of suspended sources changed
// and some source is still suspended; "" otherwise (nothing new, or every source resumed).
func (la LayerAllocation) SuspensionNews(prev LayerAllocation) string {
	if la.SameSuspensions(prev) {
		return ""
	}
	return la.Summary()
}

// SameSuspensions reports whether la and prev suspend the same sources, in the same order, for
// the same reasons: when it is false, the Summary is worth logging.
func (la LayerAllocation) SameSuspensions(prev LayerAllocation) bool {
	i, j := 0, 0
	for {
		for i < len(la.Sources) && !la.Sources[i].Suspended {
			i++
		}
		for j < len(prev.Sources) && !prev.Sources[j].Suspended {
			j++
		}
		if i == len(la.Sources) || j == len(prev.Sources) {
			return i == len(la.Sources) && j == len(prev.Sources)
		}
		if la.Sources[i].Name != prev.Sources[j].Name || la.Sources[i].Reason != prev.Sources[j].Reason {
			return false
		}
		i++
		j++
	}
}
