// Package transporttest builds and parses the SDP a WebRTC client (pion, Chromium) needs to talk
// to a bridge transport: it turns the bridge's transport.Description into an SDP offer (the way
// jicofo does for a participant) and reads the client's answer back into a Description. It is
// for tests, tools and benchmarks only; production code must never import it.
package transporttest

import (
	"errors"
	"fmt"
	"strings"

	"gojvb/sfu/transport"
)

// Payload types and header extension ids used in the offers built here.
const (
	OpusPT = 111
	VP8PT  = 100
	RTXPT  = 96

	ExtAudioLevel = 1 // urn:ietf:params:rtp-hdrext:ssrc-audio-level
	ExtTWCC       = 3 // transport-wide-cc-extensions-01
)

// OfferOptions chooses the media sections of an offer.
type OfferOptions struct {
	Audio  bool // m=audio with opus/48000/2 (PT 111)
	Video  bool // m=video with VP8/90000 (PT 100) and rtx (PT 96)
	NoData bool // omit m=application (SCTP data channel)

	// SSRCs the bridge will send on each section (a=ssrc lines with cname "jvb" and an msid
	// per SSRC). Leave empty to let the client accept undeclared SSRCs.
	AudioSSRCs, VideoSSRCs []uint32
}

// OfferSDP returns an SDP offer carrying the bridge's ICE/DTLS parameters (BUNDLE, rtcp-mux,
// setup:actpass), suitable for a client's SetRemoteDescription. Its mids are "audio", "video"
// and "data" (in that order, for the sections present).
func OfferSDP(desc transport.Description, opts OfferOptions) string {
	var mids []string
	if opts.Audio {
		mids = append(mids, "audio")
	}
	if opts.Video {
		mids = append(mids, "video")
	}
	if !opts.NoData {
		mids = append(mids, "data")
	}
	var b strings.Builder
	b.WriteString("v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")
	fmt.Fprintf(&b, "a=group:BUNDLE %s\r\n", strings.Join(mids, " "))
	b.WriteString("a=msid-semantic: WMS *\r\n")
	for _, mid := range mids {
		switch mid {
		case "audio":
			fmt.Fprintf(&b, "m=audio 9 UDP/TLS/RTP/SAVPF %d\r\n", OpusPT)
		case "video":
			fmt.Fprintf(&b, "m=video 9 UDP/TLS/RTP/SAVPF %d %d\r\n", VP8PT, RTXPT)
		case "data":
			b.WriteString("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n")
		}
		b.WriteString("c=IN IP4 0.0.0.0\r\n")
		writeTransport(&b, desc)
		fmt.Fprintf(&b, "a=mid:%s\r\n", mid)
		switch mid {
		case "audio":
			b.WriteString("a=sendrecv\r\na=rtcp-mux\r\n")
			fmt.Fprintf(&b, "a=extmap:%d urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n", ExtAudioLevel)
			fmt.Fprintf(&b, "a=extmap:%d http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n", ExtTWCC)
			fmt.Fprintf(&b, "a=rtpmap:%d opus/48000/2\r\n", OpusPT)
			fmt.Fprintf(&b, "a=fmtp:%d minptime=10;useinbandfec=1\r\n", OpusPT)
			fmt.Fprintf(&b, "a=rtcp-fb:%d transport-cc\r\n", OpusPT)
			writeSSRCs(&b, "audio", opts.AudioSSRCs)
		case "video":
			b.WriteString("a=sendrecv\r\na=rtcp-mux\r\n")
			fmt.Fprintf(&b, "a=extmap:%d http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n", ExtTWCC)
			fmt.Fprintf(&b, "a=rtpmap:%d VP8/90000\r\n", VP8PT)
			for _, fb := range []string{"goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"} {
				fmt.Fprintf(&b, "a=rtcp-fb:%d %s\r\n", VP8PT, fb)
			}
			fmt.Fprintf(&b, "a=rtpmap:%d rtx/90000\r\na=fmtp:%d apt=%d\r\n", RTXPT, RTXPT, VP8PT)
			writeSSRCs(&b, "video", opts.VideoSSRCs)
		case "data":
			b.WriteString("a=sctp-port:5000\r\na=max-message-size:262144\r\n")
		}
	}
	return b.String()
}

// TransportAttrs returns the media-level SDP attribute lines (CRLF-terminated) carrying desc:
// ice-ufrag, ice-pwd, fingerprints, setup:actpass, candidates and end-of-candidates. It is for
// callers that lay out their own media sections.
func TransportAttrs(desc transport.Description) string {
	var b strings.Builder
	writeTransport(&b, desc)
	return b.String()
}

func writeTransport(b *strings.Builder, desc transport.Description) {
	fmt.Fprintf(b, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n", desc.Ufrag, desc.Pwd)
	for _, fp := range desc.Fingerprints {
		fmt.Fprintf(b, "a=fingerprint:%s %s\r\n", fp.Hash, fp.Value)
	}
	b.WriteString("a=setup:actpass\r\n")
	for _, c := range desc.Candidates {
		fmt.Fprintf(b, "a=%s\r\n", CandidateLine(c))
	}
	b.WriteString("a=end-of-candidates\r\n")
}

func writeSSRCs(b *strings.Builder, kind string, ssrcs []uint32) {
	for i, ssrc := range ssrcs {
		fmt.Fprintf(b, "a=ssrc:%d cname:jvb\r\n", ssrc)
		fmt.Fprintf(b, "a=ssrc:%d msid:jvb-%s-%d jvb-%s-%d-track\r\n", ssrc, kind, i, kind, i)
	}
}

// DescriptionFromSDP reads the ICE/DTLS parameters of an SDP (typically a client's answer):
// the first ufrag, pwd and setup found (session or media level), every fingerprint and
// candidate (deduplicated) and whether rtcp-mux is present.
func DescriptionFromSDP(sdp string) (transport.Description, error) {
	var d transport.Description
	var setup string
	seen := map[string]bool{}
	for _, line := range strings.Split(sdp, "\n") {
		line = strings.TrimRight(line, "\r")
		attr, ok := strings.CutPrefix(line, "a=")
		if !ok {
			continue
		}
		name, value, _ := strings.Cut(attr, ":")
		switch name {
		case "ice-ufrag":
			if d.Ufrag == "" {
				d.Ufrag = value
			}
		case "ice-pwd":
			if d.Pwd == "" {
				d.Pwd = value
			}
		case "setup":
			if setup == "" {
				setup = value
			}
		case "rtcp-mux":
			d.RTCPMux = true
		case "fingerprint":
			hash, fp, ok := strings.Cut(value, " ")
			if !ok {
				return d, fmt.Errorf("transporttest: bad fingerprint %q", value)
			}
			key := strings.ToLower(hash) + " " + strings.ToUpper(fp)
			if !seen[key] {
				seen[key] = true
				d.Fingerprints = append(d.Fingerprints, transport.Fingerprint{Hash: strings.ToLower(hash), Value: strings.ToUpper(fp)})
			}
		case "candidate":
			c, err := ParseCandidate(attr)
			if err != nil {
				return d, err
			}
			key := CandidateLine(c)
			if !seen[key] {
				seen[key] = true
				d.Candidates = append(d.Candidates, c)
			}
		}
	}
	for i := range d.Fingerprints {
		d.Fingerprints[i].Setup = setup
	}
	if d.Ufrag == "" || d.Pwd == "" {
		return d, errors.New("transporttest: SDP has no ice-ufrag/ice-pwd")
	}
	return d, nil
}

// CandidateLine renders c as an SDP candidate attribute value (transport.Candidate.SDP).
func CandidateLine(c transport.Candidate) string { return c.SDP() }

// ParseCandidate parses an SDP candidate attribute value (transport.ParseCandidate).
func ParseCandidate(s string) (transport.Candidate, error) { return transport.ParseCandidate(s) }
