package sfu

import (
	"time"

	"gojvb/bwe"
	"gojvb/simulcast"
)

// This file describes the video a receiver could get as the allocator sees it: each signalled
// video track's layers (encoding x temporal layer) with their heights, frame rates and the
// bitrates measured on receive, and the receiver's estimate when it has one.

const (
	// temporalLayers is how many temporal layers an encoding is assumed to have (JVB: 3, at
	// 7.5, 15 and 30 fps).
	temporalLayers = 3
	// rateWindow and rateBucket are the layer bitrate meter's window (JVB GoogleCc2 defaults).
	rateWindow = time.Second
	rateBucket = 20 * time.Millisecond
)

// spatialLayers is how many spatial layers of an SVC stream (VP9, AV1 in one SSRC) the
// allocator tells apart; higher ones count with the top one.
const spatialLayers = 3

// layerRates measures one encoding's bitrate per spatial and temporal layer, and remembers the
// spatial layers' heights an SVC keyframe announced. The owner's socket reader writes it under
// its recvMu; receivers read it under the same lock.
type layerRates struct {
	meters  [spatialLayers][temporalLayers]*bwe.RateMeter // [sid][tid]; sid > 0 made on first use
	layered bool                                          // temporal layer ids were seen
	spatial int                                           // spatial layers of an SVC stream (0: not SVC)
	lastAt  int64                                         // the encoding's last packet (unix ns)
	heights [spatialLayers]int                            // their heights (the smaller dimension)
}

func newLayerRates() *layerRates {
	r := &layerRates{}
	for i := range r.meters[0] {
		r.meters[0][i] = bwe.NewRateMeter(rateWindow, rateBucket)
	}
	return r
}

// add counts one packet of temporal layer tid and spatial layer sid (-1 unknown) at now, and
// reports whether the encoding was inactive (nothing for a rate window) until this packet: the
// allocator only offers active layers, so receivers must choose again.
func (r *layerRates) add(tid, sid int8, size int, now int64) (resumed bool) {
	resumed = now-r.lastAt >= int64(rateWindow)
	r.lastAt = now
	t, s := 0, 0
	if tid >= 0 {
		r.layered = true
		t = min(int(tid), temporalLayers-1)
	}
	if sid > 0 {
		s = min(int(sid), spatialLayers-1)
		if r.meters[s][0] == nil {
			for i := range r.meters[s] {
				r.meters[s][i] = bwe.NewRateMeter(rateWindow, rateBucket)
			}
		}
	}
	r.meters[s][t].Add(now, size)
	return resumed
}

// learnSVC records the spatial layers a keyframe's scalability structure declares and reports
// whether they changed.
func (r *layerRates) learnSVC(f *simulcast.FrameInfo) bool {
	n := min(int(f.SpatialLayers), spatialLayers)
	if n < 2 {
		return false
	}
	changed := n != r.spatial
	r.spatial = n
	for s := range n {
		h := int(min(f.LayerWidth[s], f.LayerHeight[s]))
		changed = changed || h != r.heights[s]
		r.heights[s] = h
	}
	return changed
}

// rate is the bitrate to allocate with for spatial layer sid at temporal layer tid with
// everything it depends on: each meter's Peak (the highest 1 s rate of the last few seconds),
// so a layer whose encoder swings is not chosen at a low moment; 0 when inactive.
func (r *layerRates) rate(sid, tid int, now int64) uint64 {
	var sum uint64
	for s := 0; s <= sid; s++ {
		for t := 0; t <= tid; t++ {
			if m := r.meters[s][t]; m != nil {
				sum += m.Peak(now)
			}
		}
	}
	return sum
}

// layeredSources builds the allocator's view of the conference's video for receiver e. Both
// results are e.rs's scratch, valid until the next call (reselect uses them only meanwhile;
// the allocator keeps none of their slices).
func (e *Endpoint) layeredSources(sm *sourceMap, now int64) ([]bwe.LayeredSource, map[string]*track) {
	byName := e.rs.lsByName
	if byName == nil {
		byName = make(map[string]*track)
		e.rs.lsByName = byName
	}
	clear(byName)
	out := e.rs.lsBuf[:0]
	for _, t := range sm.tracks {
		if t.owner == e || t.media != MediaVideo {
			continue
		}
		byName[t.name] = t
		var heights []int
		var layers []bwe.Layer
		if len(out) < cap(out) { // reuse the element's slices from the last call
			old := out[:len(out)+1][len(out)]
			heights, layers = old.Heights[:0], old.Layers[:0]
		}
		ls := bwe.LayeredSource{Source: bwe.Source{Name: t.name, Owner: t.owner.id, Type: t.vtype(),
			Heights: heights}, Layers: layers}
		rx := t.owner.via() // whose socket reader writes the rates
		rx.recvMu.Lock()
		for i, s := range t.encodings {
			h := int(s.height.Load())
			ls.Heights = append(ls.Heights, h)
			r := s.rates
			if r == nil {
				continue
			}
			spatial, tids := 1, 1
			if r.spatial > 1 {
				spatial = r.spatial
			}
			if r.layered {
				tids = temporalLayers
			}
			for sid := range spatial {
				height, sidOut := h, -1
				if r.spatial > 1 {
					height, sidOut = r.heights[sid], sid
				}
				fps := 30.0
				if r.layered {
					fps = 7.5
				}
				for tid := range tids {
					tidOut := -1
					if r.layered {
						tidOut = tid
					}
					ls.Layers = append(ls.Layers, bwe.Layer{Encoding: i, Temporal: tidOut, Spatial: sidOut,
						Height: height, FrameRate: fps, Bitrate: r.rate(sid, tid, now)})
					fps *= 2
				}
			}
		}
		rx.recvMu.Unlock()
		bwe.LiftLayerRates(ls.Layers)
		out = append(out, ls)
	}
	e.rs.lsBuf = out
	return out, byName
}
