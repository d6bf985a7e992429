package bench

import (
	"cmp"
	"slices"
	"time"
)

// audioSSRCs is the set of the senders' audio SSRCs: what a stream is when none of its
// packets was decrypted in the window (its height is read from decrypted payloads).
func audioSSRCs(eps []*simEndpoint) map[uint32]bool {
	m := map[uint32]bool{}
	for _, e := range eps {
		if e.sender {
			m[e.audio.hdr.SSRC] = true
		}
	}
	return m
}

type layerKey struct {
	view   string
	height int
}

// layerTally adds up, per view and height, what the receivers got in a window.
type layerTally struct {
	receivers map[string]int
	streams   map[layerKey]int
	packets   map[layerKey]uint64
	window    time.Duration
}

func newLayerTally() *layerTally {
	return &layerTally{receivers: map[string]int{}, streams: map[layerKey]int{}, packets: map[layerKey]uint64{}}
}

// add counts e's received streams: a stream counts at the height its last decrypted packet
// carried once it brought at least minMirrorPackets (about a second of a 180p layer); packets
// count whatever their number.
func (t *layerTally) add(e *simEndpoint, audio map[uint32]bool, window time.Duration) {
	view := "tile"
	if e.onStage {
		view = "on-stage"
	}
	t.receivers[view]++
	t.window = window
	for ssrc, st := range e.recv.streamsSeen() {
		h := st.height
		if h < 0 && audio[ssrc] {
			h = 0
		}
		k := layerKey{view, h}
		t.packets[k] += st.packets
		if st.packets >= minMirrorPackets {
			t.streams[k]++
		}
	}
}

func (t *layerTally) result() []LayerCount {
	out := []LayerCount{}
	w := t.window.Seconds()
	for k, p := range t.packets {
		r := t.receivers[k.view]
		lc := LayerCount{View: k.view, Height: k.height, Receivers: r, Streams: float64(t.streams[k]) / float64(r)}
		if w > 0 {
			lc.PacketsPerS = float64(p) / w / float64(r)
		}
		out = append(out, lc)
	}
	slices.SortFunc(out, func(a, b LayerCount) int {
		return cmp.Or(cmp.Compare(b.View, a.View), cmp.Compare(a.Height, b.Height))
	})
	return out
}
