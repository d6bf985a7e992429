package sfu

import (
	"time"

	"gojvb/bwe"
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

// layerRates measures one encoding's bitrate per temporal layer; written by the owner's socket
// reader under its recvMu, read by receivers under the same lock.
type layerRates struct {
	meters  [temporalLayers]*bwe.RateMeter
	layered bool // temporal layer ids were seen
}

func newLayerRates() *layerRates {
	r := &layerRates{}
	for i := range r.meters {
		r.meters[i] = bwe.NewRateMeter(rateWindow, rateBucket)
	}
	return r
}

// add counts one packet of temporal layer tid (-1 unknown) at now. e.recvMu is held.
func (r *layerRates) add(tid int8, size int, now int64) {
	i := 0
	if tid >= 0 {
		r.layered = true
		i = min(int(tid), temporalLayers-1)
	}
	r.meters[i].Add(now, size)
}

// layeredSources builds the allocator's view of the conference's video for receiver e.
func (e *Endpoint) layeredSources(sm *sourceMap, now int64) ([]bwe.LayeredSource, map[string]*track) {
	byName := make(map[string]*track)
	var out []bwe.LayeredSource
	for _, t := range sm.tracks {
		if t.owner == e || t.media != MediaVideo {
			continue
		}
		byName[t.name] = t
		ls := bwe.LayeredSource{Source: bwe.Source{Name: t.name, Owner: t.owner.id, Type: t.vtype()}}
		t.owner.recvMu.Lock()
		for i, s := range t.encodings {
			h := int(s.height.Load())
			ls.Heights = append(ls.Heights, h)
			r := s.rates
			if r == nil {
				continue
			}
			if !r.layered {
				ls.Layers = append(ls.Layers, bwe.Layer{Encoding: i, Temporal: -1, Spatial: -1, Height: h,
					FrameRate: 30, Bitrate: r.meters[0].Rate(now)})
				continue
			}
			var cum uint64
			fps := 7.5
			for tid := range temporalLayers {
				cum += r.meters[tid].Rate(now)
				ls.Layers = append(ls.Layers, bwe.Layer{Encoding: i, Temporal: tid, Spatial: -1, Height: h,
					FrameRate: fps, Bitrate: cum})
				fps *= 2
			}
		}
		t.owner.recvMu.Unlock()
		out = append(out, ls)
	}
	return out, byName
}
