package sfu

import (
	"slices"
	"sync/atomic"

	"gojvb/bwe"
	"gojvb/sfu/nack"
	"gojvb/simulcast"
)

// A track is one signalled source of an endpoint (a colibri2 <source name="ep-v0">): audio, or
// video with its ordered encodings (the SIM group, lowest first) and each encoding's RTX SSRC (FID
// groups). Receivers choose tracks, projections choose encodings.
//
// A track's identity (pointer) is stable while its owner keeps signalling the same name, media
// type and encodings, so receivers' projections survive unrelated source changes.
type track struct {
	owner     *Endpoint
	media     MediaType
	name      string
	encodings []*source // primary SSRC of each encoding, lowest first
	sources   []*source // every SSRC of the track: encodings, RTX, others signalled with it
	videoType atomic.Uint32
}

// source is one signalled SSRC: an encoding's primary SSRC or its RTX SSRC. idx is its bit in
// receivers' wanted sets, unique within the conference while the source is signalled.
type source struct {
	ssrc  uint32
	idx   int
	track *track
	owner *Endpoint
	media MediaType
	name  string // the track's name
	enc   int    // encoding index within the track
	rtx   bool   // RTX SSRC of encoding enc (dropped on ingress until the bridge requests retransmissions)

	// height is the encoding's frame height (the smaller dimension) for the allocator: 180
	// doubling per encoding until a keyframe tells the real size.
	height atomic.Int32

	// Receive side, written by the owner's socket reader under owner.recvMu.
	silent   int                    // consecutive silence packets (audio)
	seqShift uint16                 // packets discarded so far, hidden by renumbering (audio silence)
	rx       bwe.ReceiveStats       // for the bridge's receiver reports to the owner
	nack     nack.Requester         // video: what the bridge asks the owner to retransmit
	av1      simulcast.AV1Structure // the encoding's last AV1 template structure

	lastKeyframeRequest atomic.Int64 // unix nanoseconds of the last PLI relayed to owner
}

// vtype returns the track's video type (bwe.VideoCamera until the owner says otherwise).
func (t *track) vtype() bwe.VideoType { return bwe.VideoType(t.videoType.Load()) }

// primarySSRC is the SSRC receivers without rewriting know the track by (the lowest encoding's).
func (t *track) primarySSRC() uint32 {
	if len(t.encodings) == 0 {
		return 0
	}
	return t.encodings[0].ssrc
}

// rtxOf returns the RTX SSRC of encoding enc, or 0.
func (t *track) rtxOf(enc int) uint32 {
	for _, s := range t.sources {
		if s.rtx && s.enc == enc {
			return s.ssrc
		}
	}
	return 0
}

// baseLayerHeight is JVB's assumed height of a simulcast sender's lowest encoding; each higher
// encoding doubles it (until keyframes say otherwise).
const baseLayerHeight = 180

// buildTrack turns one signalled MediaSource into a track and its sources. Encodings are the SIM
// group's SSRCs in order, or, without one, every SSRC that is not an RTX (FID secondary); FID
// groups give each encoding its RTX SSRC.
func buildTrack(owner *Endpoint, m MediaSource) (*track, []*source) {
	t := &track{owner: owner, media: m.Type, name: m.Name}
	t.videoType.Store(uint32(bwe.VideoCamera))
	for _, s := range m.Sources {
		if s.VideoType != "" {
			t.videoType.Store(uint32(bwe.ParseVideoType(s.VideoType)))
			break
		}
	}
	rtxOf := map[uint32]uint32{} // primary -> rtx
	isRTX := map[uint32]bool{}
	var sim []uint32
	for _, g := range m.Groups {
		switch g.Semantics {
		case "FID":
			if len(g.SSRCs) == 2 && g.SSRCs[0] != g.SSRCs[1] {
				rtxOf[g.SSRCs[0]] = g.SSRCs[1]
				isRTX[g.SSRCs[1]] = true
			}
		case "SIM":
			if sim == nil {
				sim = slices.Clone(g.SSRCs)
			}
		}
	}
	primaries := sim
	if primaries == nil {
		for _, s := range m.Sources {
			if !isRTX[s.SSRC] {
				primaries = append(primaries, s.SSRC)
			}
		}
		for _, g := range m.Groups {
			for _, ssrc := range g.SSRCs {
				if !isRTX[ssrc] && !slices.Contains(primaries, ssrc) {
					primaries = append(primaries, ssrc)
				}
			}
		}
	}
	var srcs []*source
	seen := map[uint32]bool{}
	h := baseLayerHeight
	for _, ssrc := range primaries {
		if seen[ssrc] || ssrc == 0 {
			continue
		}
		seen[ssrc] = true
		s := &source{ssrc: ssrc, track: t, owner: owner, media: m.Type, name: m.Name, enc: len(t.encodings)}
		s.height.Store(int32(h))
		h *= 2
		t.encodings = append(t.encodings, s)
		srcs = append(srcs, s)
		if rtx := rtxOf[ssrc]; rtx != 0 && !seen[rtx] {
			seen[rtx] = true
			srcs = append(srcs, &source{ssrc: rtx, track: t, owner: owner, media: m.Type, name: m.Name, enc: s.enc, rtx: true})
		}
	}
	// SSRCs signalled as RTX of something that is not an encoding, or listed outside any group
	// after a SIM group: owned (so no other endpoint may claim them) but never forwarded.
	for _, s := range m.Sources {
		if !seen[s.SSRC] && s.SSRC != 0 {
			seen[s.SSRC] = true
			srcs = append(srcs, &source{ssrc: s.SSRC, track: t, owner: owner, media: m.Type, name: m.Name, enc: -1, rtx: true})
		}
	}
	for _, g := range m.Groups {
		for _, ssrc := range g.SSRCs {
			if !seen[ssrc] && ssrc != 0 {
				seen[ssrc] = true
				srcs = append(srcs, &source{ssrc: ssrc, track: t, owner: owner, media: m.Type, name: m.Name, enc: -1, rtx: true})
			}
		}
	}
	rate := uint32(90000)
	if m.Type == MediaAudio {
		rate = 48000
	}
	for _, s := range srcs {
		s.rx.ClockRate = rate
	}
	t.sources = srcs
	return t, srcs
}

// sameShape reports whether a rebuilt track can keep the old one's identity: same media, name and
// SSRC layout.
func sameShape(a, b *track, as, bs []*source) bool {
	if a.media != b.media || a.name != b.name || len(as) != len(bs) {
		return false
	}
	for i := range as {
		if as[i].ssrc != bs[i].ssrc || as[i].enc != bs[i].enc || as[i].rtx != bs[i].rtx {
			return false
		}
	}
	return true
}
