package standalone

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"gojvb/sfu/transport"
)

// payloadType is one codec the focus offers; the same list goes to the bridge in the endpoint's
// <media> elements, so the bridge and the browser agree on payload type numbers.
type payloadType struct {
	Kind      string // "audio" or "video"
	ID        uint8
	Name      string
	ClockRate uint32
	Channels  int
	Params    [][2]string // fmtp name/value pairs, in order
	Feedback  [][2]string // rtcp-fb type/subtype (subtype may be empty)
}

// headerExt is one RTP header extension the focus offers.
type headerExt struct {
	Kind string
	ID   int
	URI  string
}

// The codec set is a subset of jicofo's defaults: Opus, VP8 with RTX. No mid/rid header
// extension is offered, so the browser demultiplexes the bridge's streams by SSRC as
// lib-jitsi-meet's sessions do.
var (
	offeredPayloadTypes = []payloadType{
		{Kind: "audio", ID: 111, Name: "opus", ClockRate: 48000, Channels: 2,
			Params:   [][2]string{{"minptime", "10"}, {"useinbandfec", "1"}},
			Feedback: [][2]string{{"transport-cc", ""}}},
		{Kind: "video", ID: 100, Name: "VP8", ClockRate: 90000,
			Feedback: [][2]string{{"goog-remb", ""}, {"transport-cc", ""}, {"ccm", "fir"}, {"nack", ""}, {"nack", "pli"}}},
		{Kind: "video", ID: 96, Name: "rtx", ClockRate: 90000,
			Params: [][2]string{{"apt", "100"}}},
	}
	offeredHeaderExts = []headerExt{
		{Kind: "audio", ID: 1, URI: "urn:ietf:params:rtp-hdrext:ssrc-audio-level"},
		{Kind: "audio", ID: 5, URI: "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"},
		{Kind: "video", ID: 3, URI: "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"},
		{Kind: "video", ID: 5, URI: "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"},
	}
)

// ssrcGroup is an a=ssrc-group line: SIM (simulcast layers, lowest first) or FID (primary, RTX).
type ssrcGroup struct {
	Semantics string
	SSRCs     []uint32
}

// mediaSource is one participant's audio or video source as COLIBRI2 <media-source> carries it.
type mediaSource struct {
	Kind   string // "audio" or "video"
	Name   string // "<endpoint>-a0" / "<endpoint>-v0", or "jvb-a0"/"jvb-v0" for the bridge
	Owner  string // endpoint id, "jvb" for the bridge's feedback sources
	SSRCs  []uint32
	Groups []ssrcGroup
}

func (s mediaSource) equal(o mediaSource) bool {
	return s.Kind == o.Kind && s.Name == o.Name && s.Owner == o.Owner && slices.Equal(s.SSRCs, o.SSRCs) &&
		slices.EqualFunc(s.Groups, o.Groups, func(a, b ssrcGroup) bool {
			return a.Semantics == b.Semantics && slices.Equal(a.SSRCs, b.SSRCs)
		})
}

// primary returns what a receiver is told about a source, like jicofo with strip-simulcast:
// the first simulcast SSRC (or the only one) and its RTX SSRC (0 if none).
func (s mediaSource) primary() (ssrc, rtx uint32) {
	if len(s.SSRCs) == 0 {
		return 0, 0
	}
	ssrc = s.SSRCs[0]
	secondary := map[uint32]bool{}
	for _, g := range s.Groups {
		switch {
		case g.Semantics == "SIM" && len(g.SSRCs) > 0:
			ssrc = g.SSRCs[0]
		case g.Semantics == "FID" && len(g.SSRCs) == 2:
			secondary[g.SSRCs[1]] = true
		}
	}
	if secondary[ssrc] {
		for _, x := range s.SSRCs {
			if !secondary[x] {
				ssrc = x
				break
			}
		}
	}
	for _, g := range s.Groups {
		if g.Semantics == "FID" && len(g.SSRCs) == 2 && g.SSRCs[0] == ssrc {
			rtx = g.SSRCs[1]
		}
	}
	return ssrc, rtx
}

// Own m-lines of every offer: the participant's sendrecv audio and video and the data channel.
const (
	midAudio      = "0"
	midVideo      = "1"
	midData       = "2"
	firstSlotMid  = 3
	maxSlots      = 200 // remote m-lines per participant before the focus refuses to grow the offer
	maxSSRCsInSrc = 16
)

// slot is one recvonly m-line of a participant's offer. A slot whose source left stays in the
// offer as inactive (m-lines are never removed in a session), with Source nil.
type slot struct {
	Mid    string
	Kind   string
	Owner  string
	Name   string
	Source *mediaSource
}

// offer is everything a participant's SDP offer is built from.
type offer struct {
	SessionID uint64
	Version   int
	Bridge    transport.Description
	SCTPPort  int
	Feedback  []mediaSource // the bridge's jvb-a0 / jvb-v0
	Slots     []slot
}

// sdp renders the offer. Every m-line carries the bridge's ICE/DTLS attributes and candidates,
// as jicofo copies the transport into every Jingle content.
func (o *offer) sdp() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\r\n", a...) }
	w("v=0")
	w("o=- %d %d IN IP4 0.0.0.0", o.SessionID, o.Version)
	w("s=-")
	w("t=0 0")
	mids := []string{midAudio, midVideo, midData}
	for _, s := range o.Slots {
		mids = append(mids, s.Mid)
	}
	w("a=group:BUNDLE %s", strings.Join(mids, " "))
	w("a=msid-semantic: WMS *")

	feedback := func(kind string) *mediaSource {
		for i := range o.Feedback {
			if o.Feedback[i].Kind == kind {
				return &o.Feedback[i]
			}
		}
		return nil
	}
	o.rtpSection(&b, "audio", midAudio, "sendrecv", feedback("audio"), "mixedmslabel", "mixedlabelaudio0")
	o.rtpSection(&b, "video", midVideo, "sendrecv", feedback("video"), "mixedmslabel", "mixedlabelvideo0")
	w("m=application 9 UDP/DTLS/SCTP webrtc-datachannel")
	w("c=IN IP4 0.0.0.0")
	o.transportAttrs(&b, midData)
	w("a=sctp-port:%d", o.SCTPPort)
	w("a=max-message-size:262144")
	for _, s := range o.Slots {
		if s.Source == nil {
			o.rtpSection(&b, s.Kind, s.Mid, "inactive", nil, "", "")
			continue
		}
		o.rtpSection(&b, s.Kind, s.Mid, "sendonly", s.Source, s.Owner, s.Name)
	}
	return b.String()
}

func (o *offer) transportAttrs(b *strings.Builder, mid string) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format+"\r\n", a...) }
	w("a=ice-ufrag:%s", o.Bridge.Ufrag)
	w("a=ice-pwd:%s", o.Bridge.Pwd)
	for _, fp := range o.Bridge.Fingerprints {
		w("a=fingerprint:%s %s", fp.Hash, fp.Value)
	}
	// The browser must answer "active": the bridge offers actpass like jicofo's offers do.
	w("a=setup:actpass")
	w("a=mid:%s", mid)
	for _, c := range o.Bridge.Candidates {
		w("a=%s", c.SDP())
	}
}

// rtpSection writes one audio or video m-line. src (with msid stream/track) is what the offerer
// "sends" on it: the bridge's feedback source on the participant's own m-lines, or a remote
// participant's source (primary SSRC and its RTX only) on a slot.
func (o *offer) rtpSection(b *strings.Builder, kind, mid, dir string, src *mediaSource, stream, track string) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format+"\r\n", a...) }
	var pts []string
	for _, pt := range offeredPayloadTypes {
		if pt.Kind == kind {
			pts = append(pts, strconv.Itoa(int(pt.ID)))
		}
	}
	w("m=%s 9 UDP/TLS/RTP/SAVPF %s", kind, strings.Join(pts, " "))
	w("c=IN IP4 0.0.0.0")
	w("a=rtcp:9 IN IP4 0.0.0.0")
	o.transportAttrs(b, mid)
	for _, e := range offeredHeaderExts {
		if e.Kind == kind {
			w("a=extmap:%d %s", e.ID, e.URI)
		}
	}
	w("a=%s", dir)
	if src != nil && dir != "inactive" {
		w("a=msid:%s %s", stream, track)
	}
	w("a=rtcp-mux")
	w("a=rtcp-rsize")
	for _, pt := range offeredPayloadTypes {
		if pt.Kind != kind {
			continue
		}
		if pt.Channels > 1 {
			w("a=rtpmap:%d %s/%d/%d", pt.ID, pt.Name, pt.ClockRate, pt.Channels)
		} else {
			w("a=rtpmap:%d %s/%d", pt.ID, pt.Name, pt.ClockRate)
		}
		for _, fb := range pt.Feedback {
			w("a=rtcp-fb:%d %s", pt.ID, strings.TrimSpace(fb[0]+" "+fb[1]))
		}
		if len(pt.Params) > 0 {
			var ps []string
			for _, p := range pt.Params {
				ps = append(ps, p[0]+"="+p[1])
			}
			w("a=fmtp:%d %s", pt.ID, strings.Join(ps, ";"))
		}
	}
	if src == nil || dir == "inactive" {
		return
	}
	ssrc, rtx := src.primary()
	if ssrc == 0 {
		return
	}
	ssrcs := []uint32{ssrc}
	if rtx != 0 && kind == "video" {
		w("a=ssrc-group:FID %d %d", ssrc, rtx)
		ssrcs = append(ssrcs, rtx)
	}
	for _, s := range ssrcs {
		w("a=ssrc:%d cname:%s", s, stream)
		w("a=ssrc:%d msid:%s %s", s, stream, track)
	}
}

// answer is what the focus takes from a browser's SDP answer.
type answer struct {
	Transport transport.Description
	Sources   []mediaSource // the participant's own audio/video sources (mids 0 and 1)
	Dropped   int           // candidates left out (not UDP, mDNS names, malformed)
}

const (
	maxAnswerSize = 128 << 10
	maxCandidates = 32 // more are dropped: a browser gathers a handful per interface
)

// parseAnswer reads the browser's answer (plus candidates gathered after it) for endpoint ep.
// pion/sdp parses it (it is hostile input: whatever a page posts); this picks what the focus
// needs. Only the participant's own m-lines carry sources; ICE/DTLS come from the session level
// or the first m-line that has them (everything is BUNDLEd).
func parseAnswer(text string, extraCandidates []string, ep string) (answer, error) {
	var a answer
	if len(text) > maxAnswerSize {
		return a, fmt.Errorf("answer is %d bytes, more than %d", len(text), maxAnswerSize)
	}
	if !strings.HasPrefix(text, "v=0") {
		return a, errors.New("answer is not SDP: it must start with v=0")
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(text); err != nil {
		return a, fmt.Errorf("answer is not SDP: %w", err)
	}
	// first returns the value of the first a=key, at session level or in any m-line.
	first := func(key string) string {
		if v, ok := sd.Attribute(key); ok {
			return v
		}
		for _, md := range sd.MediaDescriptions {
			if v, ok := md.Attribute(key); ok {
				return v
			}
		}
		return ""
	}
	a.Transport.Ufrag, a.Transport.Pwd = first("ice-ufrag"), first("ice-pwd")
	if a.Transport.Ufrag == "" || a.Transport.Pwd == "" {
		return a, errors.New("answer has no a=ice-ufrag/a=ice-pwd")
	}
	fpHash, fpValue, _ := strings.Cut(first("fingerprint"), " ")
	if fpValue == "" || fpHash == "" {
		return a, errors.New("answer has no a=fingerprint")
	}
	setup := first("setup")
	if setup != "active" && setup != "passive" {
		return a, fmt.Errorf("answer has a=setup:%q, expected active or passive (the offer is actpass)", setup)
	}
	a.Transport.Fingerprints = []transport.Fingerprint{{Hash: strings.ToLower(fpHash), Value: strings.ToUpper(fpValue), Setup: setup}}
	a.Transport.RTCPMux = true

	var candidates []string
	for _, md := range sd.MediaDescriptions {
		for _, at := range md.Attributes {
			if at.Key == "candidate" {
				candidates = append(candidates, at.Value)
			}
		}
	}
	for _, s := range append(candidates, extraCandidates...) {
		if strings.TrimSpace(s) == "" {
			continue
		}
		c, err := transport.ParseCandidate(s)
		// rtcp-mux is always on: component 2 (RTCP) candidates are of no use to the bridge.
		if err != nil || c.Protocol != "udp" || c.Component != 1 || strings.HasSuffix(c.IP, ".local") ||
			len(a.Transport.Candidates) >= maxCandidates {
			a.Dropped++
			continue
		}
		a.Transport.Candidates = append(a.Transport.Candidates, c)
	}

	for _, md := range sd.MediaDescriptions {
		mid, _ := md.Attribute("mid")
		kind, idx := "", ""
		switch {
		case mid == midAudio && md.MediaName.Media == "audio":
			kind, idx = "audio", "a0"
		case mid == midVideo && md.MediaName.Media == "video":
			kind, idx = "video", "v0"
		default:
			continue
		}
		src, err := ownSource(md, ep+"-"+idx, kind, ep)
		if err != nil {
			return a, err
		}
		if src != nil {
			a.Sources = append(a.Sources, *src)
		}
	}
	return a, nil
}

// ownSource reads the participant's source from one of its own m-lines: its SSRCs in order of
// appearance and its SIM/FID/FEC-FR groups. nil if the m-line does not send or lists no SSRC.
func ownSource(md *sdp.MediaDescription, name, kind, ep string) (*mediaSource, error) {
	dir := "sendrecv"
	for _, d := range []string{"sendrecv", "sendonly", "recvonly", "inactive"} {
		if _, ok := md.Attribute(d); ok {
			dir = d
		}
	}
	seen := map[uint32]bool{}
	var order []uint32
	var groups []ssrcGroup
	for _, at := range md.Attributes {
		switch at.Key {
		case "ssrc":
			id, _, _ := strings.Cut(at.Value, " ")
			ssrc, err := parseSSRC(id)
			if err != nil {
				return nil, err
			}
			if !seen[ssrc] {
				if len(order) >= maxSSRCsInSrc {
					return nil, fmt.Errorf("m-line %s lists more than %d SSRCs", kind, maxSSRCsInSrc)
				}
				seen[ssrc] = true
				order = append(order, ssrc)
			}
		case "ssrc-group":
			f := strings.Fields(at.Value)
			if len(f) < 2 || len(f) > maxSSRCsInSrc+1 {
				return nil, fmt.Errorf("malformed ssrc-group %q", at.Value)
			}
			g := ssrcGroup{Semantics: f[0]}
			for _, x := range f[1:] {
				ssrc, err := parseSSRC(x)
				if err != nil {
					return nil, err
				}
				g.SSRCs = append(g.SSRCs, ssrc)
			}
			groups = append(groups, g)
		}
	}
	if (dir != "sendrecv" && dir != "sendonly") || len(order) == 0 {
		return nil, nil
	}
	src := &mediaSource{Kind: kind, Name: name, Owner: ep, SSRCs: order}
	for _, g := range groups {
		if g.Semantics != "SIM" && g.Semantics != "FID" && g.Semantics != "FEC-FR" {
			continue
		}
		for _, x := range g.SSRCs {
			if !seen[x] {
				return nil, fmt.Errorf("ssrc-group %s names SSRC %d that has no a=ssrc line", g.Semantics, x)
			}
		}
		src.Groups = append(src.Groups, g)
	}
	return src, nil
}

func parseSSRC(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("bad SSRC %q: expected a non-zero 32-bit decimal", s)
	}
	return uint32(v), nil
}
