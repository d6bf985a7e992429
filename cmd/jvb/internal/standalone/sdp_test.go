package standalone

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"

	"gojvb/colibri"
	"gojvb/sfu/transport"
)

func testBridgeTransport() transport.Description {
	return transport.Description{
		Ufrag: "bridgeufrag", Pwd: "bridgepwdbridgepwdbridgepwd",
		Fingerprints: []transport.Fingerprint{{Hash: "sha-256", Value: "AB:CD:EF", Setup: "actpass"}},
		Candidates: []transport.Candidate{{Foundation: "1", Component: 1, Protocol: "udp", Priority: 2130706431,
			IP: "127.0.0.1", Port: 10000, Type: "host"}},
		RTCPMux: true,
	}
}

var simVideo = mediaSource{Kind: "video", Name: "ep1-v0", Owner: "ep1", SSRCs: []uint32{11, 12, 13, 21, 22, 23},
	Groups: []ssrcGroup{{"FID", []uint32{11, 21}}, {"FID", []uint32{12, 22}}, {"FID", []uint32{13, 23}},
		{"SIM", []uint32{11, 12, 13}}}}

// sections splits an SDP into its m-sections (index 0 is the session part).
func sections(s string) []string { return strings.Split(s, "\r\nm=") }

func TestOfferLooksLikeJicofosSessionInitiate(t *testing.T) {
	audio := mediaSource{Kind: "audio", Name: "ep1-a0", Owner: "ep1", SSRCs: []uint32{5}}
	o := offer{SessionID: 42, Version: 3, Bridge: testBridgeTransport(), SCTPPort: 5000,
		Feedback: []mediaSource{{Kind: "audio", Name: "jvb-a0", Owner: "jvb", SSRCs: []uint32{1001}},
			{Kind: "video", Name: "jvb-v0", Owner: "jvb", SSRCs: []uint32{1002}}},
		Slots: []slot{
			{Mid: "3", Kind: "audio", Owner: "ep1", Name: "ep1-a0", Source: &audio},
			{Mid: "4", Kind: "video", Owner: "ep1", Name: "ep1-v0", Source: &simVideo},
			{Mid: "5", Kind: "video", Owner: "gone", Name: "gone-v0"},
		}}
	text := o.sdp()

	// An independent parser accepts it.
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(text); err != nil {
		t.Fatalf("pion/sdp rejects the offer: %v\n%s", err, text)
	}
	if len(parsed.MediaDescriptions) != 6 {
		t.Fatalf("%d m-lines, want 6 (audio, video, data, 3 slots)", len(parsed.MediaDescriptions))
	}
	if g, _ := parsed.Attribute("group"); g != "BUNDLE 0 1 2 3 4 5" {
		t.Errorf("group = %q", g)
	}
	if parsed.Origin.SessionVersion != 3 || parsed.Origin.SessionID != 42 {
		t.Errorf("origin = %+v", parsed.Origin)
	}
	wantDir := []string{"sendrecv", "sendrecv", "", "sendonly", "sendonly", "inactive"}
	for i, md := range parsed.MediaDescriptions {
		for _, attr := range []string{"ice-ufrag:bridgeufrag", "ice-pwd:bridgepwdbridgepwdbridgepwd",
			"fingerprint:sha-256 AB:CD:EF", "setup:actpass", "mid:" + fmt.Sprint(i),
			"candidate:1 1 udp 2130706431 127.0.0.1 10000 typ host generation 0"} {
			k, v, _ := strings.Cut(attr, ":")
			if got, ok := md.Attribute(k); !ok || got != v {
				t.Errorf("m-line %d: a=%s is %q, want %q", i, k, got, v)
			}
		}
		if wantDir[i] != "" {
			if _, ok := md.Attribute(wantDir[i]); !ok {
				t.Errorf("m-line %d: no a=%s", i, wantDir[i])
			}
			if _, ok := md.Attribute("rtcp-mux"); !ok {
				t.Errorf("m-line %d: no a=rtcp-mux", i)
			}
		}
	}
	data := parsed.MediaDescriptions[2]
	if p, _ := data.Attribute("sctp-port"); data.MediaName.Media != "application" || p != "5000" {
		t.Errorf("data m-line %v sctp-port %q", data.MediaName, p)
	}
	secs := sections(text)
	if !strings.Contains(secs[1], "a=ssrc:1001 msid:mixedmslabel mixedlabelaudio0") ||
		!strings.Contains(secs[2], "a=ssrc:1002 msid:mixedmslabel mixedlabelvideo0") {
		t.Errorf("feedback sources missing from the participant's own m-lines:\n%s", text)
	}
	// Like jicofo with strip-simulcast: receivers see the first SIM SSRC and its RTX only.
	video := secs[5]
	if !strings.Contains(video, "a=ssrc-group:FID 11 21\r\n") || !strings.Contains(video, "a=msid:ep1 ep1-v0") {
		t.Errorf("video slot lacks primary FID group or msid:\n%s", video)
	}
	for _, hidden := range []string{"ssrc:12 ", "ssrc:13 ", "ssrc:22 ", "SIM"} {
		if strings.Contains(video, hidden) {
			t.Errorf("video slot exposes %q:\n%s", hidden, video)
		}
	}
	if strings.Contains(secs[6], "a=ssrc") || strings.Contains(secs[6], "a=msid") {
		t.Errorf("inactive slot still names a source:\n%s", secs[6])
	}
	// The mid/rid header extensions are never offered: the browser must demux by SSRC.
	if strings.Contains(text, "sdes:mid") || strings.Contains(text, "rtp-stream-id") {
		t.Error("offer negotiates mid/rid header extensions")
	}
}

func TestPrimaryOfASource(t *testing.T) {
	for _, tc := range []struct {
		name      string
		src       mediaSource
		ssrc, rtx uint32
	}{
		{"simulcast", simVideo, 11, 21},
		{"single with rtx listed first", mediaSource{SSRCs: []uint32{9, 8}, Groups: []ssrcGroup{{"FID", []uint32{8, 9}}}}, 8, 9},
		{"audio", mediaSource{SSRCs: []uint32{7}}, 7, 0},
		{"empty", mediaSource{}, 0, 0},
	} {
		if s, r := tc.src.primary(); s != tc.ssrc || r != tc.rtx {
			t.Errorf("%s: primary = %d/%d, want %d/%d", tc.name, s, r, tc.ssrc, tc.rtx)
		}
	}
}

// chromeAnswer is trimmed from a real Chromium 156 answer to the focus's offer, after the page's
// simulcast munging.
const chromeAnswer = "v=0\r\no=- 6596902077208871429 4 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"a=group:BUNDLE 0 1 2 3\r\na=msid-semantic: WMS s1\r\n" +
	"m=audio 46519 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 127.0.0.1\r\n" +
	"a=candidate:2767219461 1 udp 2122194687 127.0.0.1 46519 typ host generation 0 network-id 3 network-cost 50\r\n" +
	"a=candidate:2313797598 1 udp 2122267903 ::1 40597 typ host generation 0 network-id 4 network-cost 50\r\n" +
	"a=candidate:3661597085 1 tcp 1518214911 127.0.0.1 9 typ host tcptype active generation 0 network-id 3\r\n" +
	"a=ice-ufrag:/pTv\r\na=ice-pwd:4lilxoFN4Kf3/fzHLpKdkBTZ\r\na=ice-options:trickle\r\n" +
	"a=fingerprint:sha-256 21:1b:4c:0d\r\na=setup:active\r\na=mid:0\r\na=sendrecv\r\n" +
	"a=msid:s1 t1\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=ssrc:297347788 cname:d2wR\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 100 96\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:/pTv\r\na=ice-pwd:4lilxoFN4Kf3/fzHLpKdkBTZ\r\n" +
	"a=fingerprint:sha-256 21:1b:4c:0d\r\na=setup:active\r\na=mid:1\r\na=sendrecv\r\na=msid:s1 t2\r\n" +
	"a=ssrc-group:FID 1027674372 3411124289\r\na=ssrc-group:FID 2411483641 1593263577\r\n" +
	"a=ssrc-group:FID 1750331360 3044652131\r\na=ssrc-group:SIM 1027674372 2411483641 1750331360\r\n" +
	"a=ssrc:1027674372 cname:d2wR\r\na=ssrc:2411483641 cname:d2wR\r\na=ssrc:1750331360 cname:d2wR\r\n" +
	"a=ssrc:3411124289 cname:d2wR\r\na=ssrc:1593263577 cname:d2wR\r\na=ssrc:3044652131 cname:d2wR\r\n" +
	"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:2\r\na=sctp-port:5000\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 100 96\r\na=mid:3\r\na=recvonly\r\na=ssrc:99 cname:x\r\n"

func TestParseAnswerTakesTransportAndSimulcastSources(t *testing.T) {
	a, err := parseAnswer(chromeAnswer, []string{"candidate:9 1 udp 1 192.0.2.2 5000 typ host", "",
		"candidate:x.local", "candidate:9 2 udp 1 192.0.2.2 5001 typ host"}, "ep9")
	if err != nil {
		t.Fatal(err)
	}
	tr := a.Transport
	if tr.Ufrag != "/pTv" || tr.Pwd != "4lilxoFN4Kf3/fzHLpKdkBTZ" || !tr.RTCPMux {
		t.Errorf("transport = %+v", tr)
	}
	if len(tr.Fingerprints) != 1 || tr.Fingerprints[0] != (transport.Fingerprint{Hash: "sha-256", Value: "21:1B:4C:0D", Setup: "active"}) {
		t.Errorf("fingerprints = %+v", tr.Fingerprints)
	}
	var ips []string
	for _, c := range tr.Candidates {
		ips = append(ips, c.IP)
	}
	if !slices.Equal(ips, []string{"127.0.0.1", "::1", "192.0.2.2"}) || a.Dropped != 3 {
		t.Errorf("candidates %v (dropped %d), want UDP RTP ones only, tcp, RTCP and the malformed one dropped", ips, a.Dropped)
	}
	if c := tr.Candidates[0]; c.Priority != 2122194687 || c.Port != 46519 || c.Network != 3 || c.Type != "host" {
		t.Errorf("first candidate = %+v", c)
	}
	if len(a.Sources) != 2 {
		t.Fatalf("sources = %+v, want own audio and video only (the recvonly m-line's SSRC is not ours)", a.Sources)
	}
	au, vi := a.Sources[0], a.Sources[1]
	if au.Name != "ep9-a0" || au.Kind != "audio" || !slices.Equal(au.SSRCs, []uint32{297347788}) {
		t.Errorf("audio = %+v", au)
	}
	if vi.Name != "ep9-v0" || len(vi.SSRCs) != 6 || len(vi.Groups) != 4 || vi.Groups[3].Semantics != "SIM" {
		t.Errorf("video = %+v", vi)
	}
	if s, r := vi.primary(); s != 1027674372 || r != 3411124289 {
		t.Errorf("video primary %d/%d", s, r)
	}
}

func TestParseAnswerRejectsBadInput(t *testing.T) {
	base := chromeAnswer
	for _, tc := range []struct{ name, sdp, want string }{
		{"empty", "", "not SDP"},
		{"json", `{"sdp":1}`, "not SDP"},
		{"no ufrag", strings.ReplaceAll(base, "a=ice-ufrag:/pTv\r\n", ""), "ice-ufrag"},
		{"no fingerprint", strings.ReplaceAll(base, "a=fingerprint:sha-256 21:1b:4c:0d\r\n", ""), "fingerprint"},
		{"actpass answer", strings.ReplaceAll(base, "a=setup:active", "a=setup:actpass"), "setup"},
		{"ssrc not a number", strings.Replace(base, "a=ssrc:297347788", "a=ssrc:abc", 1), "bad SSRC"},
		{"ssrc zero", strings.Replace(base, "a=ssrc:297347788", "a=ssrc:0", 1), "bad SSRC"},
		{"ssrc too big", strings.Replace(base, "a=ssrc:297347788", "a=ssrc:4294967296", 1), "bad SSRC"},
		{"group names unknown ssrc", strings.Replace(base, "a=ssrc-group:SIM 1027674372", "a=ssrc-group:SIM 77", 1), "no a=ssrc line"},
		{"group without ssrcs", strings.Replace(base, "a=ssrc-group:SIM 1027674372 2411483641 1750331360", "a=ssrc-group:SIM", 1), "malformed ssrc-group"},
		{"empty m-line", base + "m=\r\n", "not SDP"},
		{"session line after media", base + "t=0 0\r\n", "not SDP"},
		{"too many ssrcs", base + "m=video 9 UDP/TLS/RTP/SAVPF 100\r\na=mid:1\r\n" + strings.Repeat("a=ssrc:1 x\r\n", 1) + manySSRCs(maxSSRCsInSrc+1), "more than"},
		{"too large", base + strings.Repeat("a=x\r\n", maxAnswerSize/5), "bytes"},
	} {
		_, err := parseAnswer(tc.sdp, nil, "ep")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
}

func manySSRCs(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "a=ssrc:%d cname:x\r\n", i+100)
	}
	return b.String()
}

func TestAnswerCandidatesAreCapped(t *testing.T) {
	var many []string
	for i := range 100 {
		many = append(many, fmt.Sprintf("candidate:%d 1 udp 1 127.0.0.1 %d typ host", i, 1000+i))
	}
	a, err := parseAnswer(chromeAnswer, many, "ep")
	if err != nil || len(a.Transport.Candidates) != maxCandidates || a.Dropped != 1+100+2-maxCandidates {
		t.Errorf("kept %d candidates, dropped %d (%v); want %d kept", len(a.Transport.Candidates), a.Dropped, err, maxCandidates)
	}
}

func TestCandidateRoundTrip(t *testing.T) {
	in := transport.Candidate{Foundation: "f1", Component: 1, Protocol: "udp", Priority: 12345, IP: "198.51.100.7",
		Port: 4444, Type: "srflx", RelAddr: "10.0.0.2", RelPort: 5555, Generation: 1}
	out, err := transport.ParseCandidate("a=" + in.SDP())
	if err != nil || out != in {
		t.Fatalf("round trip: %+v, %v; want %+v", out, err, in)
	}
	for _, bad := range []string{"", "candidate:", "candidate:1 1 udp 1 1.2.3.4 99999 typ host",
		"candidate:1 3 udp 1 1.2.3.4 9 typ host", "candidate:1 1 udp -1 1.2.3.4 9 typ host",
		"candidate:1 1 udp 1 1.2.3.4 9 type host"} {
		if _, err := transport.ParseCandidate(bad); err == nil {
			t.Errorf("transport.ParseCandidate(%q) accepted", bad)
		}
	}
}

// FuzzParseAnswer: whatever a page posts, parsing never panics, and what it accepts is
// consistent (credentials present, every group member is one of the source's SSRCs).
func FuzzParseAnswer(f *testing.F) {
	f.Add(chromeAnswer, "candidate:1 1 udp 1 127.0.0.1 9 typ host")
	f.Fuzz(func(t *testing.T, s, cand string) {
		a, err := parseAnswer(s, []string{cand}, "ep")
		if err != nil {
			return
		}
		if a.Transport.Ufrag == "" || a.Transport.Pwd == "" || len(a.Transport.Fingerprints) != 1 {
			t.Fatalf("accepted without credentials: %+v", a.Transport)
		}
		for _, src := range a.Sources {
			if !strings.HasPrefix(src.Name, "ep-") || len(src.SSRCs) == 0 || len(src.SSRCs) > maxSSRCsInSrc {
				t.Fatalf("bad source %+v", src)
			}
			for _, g := range src.Groups {
				for _, x := range g.SSRCs {
					if !slices.Contains(src.SSRCs, x) {
						t.Fatalf("group %v names %d outside %v", g, x, src.SSRCs)
					}
				}
			}
		}
		if len(a.Transport.Candidates) > maxCandidates {
			t.Fatalf("%d candidates kept", len(a.Transport.Candidates))
		}
		for _, c := range a.Transport.Candidates {
			if c.Protocol != "udp" || c.Component != 1 || c.Port < 1 || c.Port > 65535 {
				t.Fatalf("bad candidate %+v", c)
			}
		}
	})
}

// TestTransportCCIsNegotiatedWithBrowserAndBridge: every audio and video m-line the browser is
// offered maps the transport-wide sequence number extension and lists transport-cc feedback on
// Opus and VP8, and the COLIBRI2 <media> the bridge gets carries the same extension id, so the
// bridge reads the numbers the browser writes and answers them with transport-cc feedback.
func TestTransportCCIsNegotiatedWithBrowserAndBridge(t *testing.T) {
	const uri = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
	audio := mediaSource{Kind: "audio", Name: "ep1-a0", Owner: "ep1", SSRCs: []uint32{5}}
	o := offer{SessionID: 1, Version: 1, Bridge: testBridgeTransport(), SCTPPort: 5000,
		Slots: []slot{{Mid: "3", Kind: "audio", Owner: "ep1", Name: "ep1-a0", Source: &audio},
			{Mid: "4", Kind: "video", Owner: "ep1", Name: "ep1-v0", Source: &simVideo}}}
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(o.sdp()); err != nil {
		t.Fatalf("pion/sdp rejects the offer: %v", err)
	}
	offered := map[string]string{} // kind -> extension id
	for i, md := range parsed.MediaDescriptions {
		kind := md.MediaName.Media
		if kind != "audio" && kind != "video" {
			continue
		}
		id := ""
		for _, a := range md.Attributes {
			if v, ok := strings.CutSuffix(a.Value, " "+uri); ok && a.Key == "extmap" {
				id = v
			}
		}
		if id == "" || (offered[kind] != "" && offered[kind] != id) {
			t.Errorf("m-line %d (%s) maps transport-cc as %q, other %s m-lines as %q", i, kind, id, kind, offered[kind])
		}
		offered[kind] = id
		pt := map[string]string{"audio": "111", "video": "100"}[kind]
		if !slices.ContainsFunc(md.Attributes, func(a sdp.Attribute) bool {
			return a.Key == "rtcp-fb" && a.Value == pt+" transport-cc"
		}) {
			t.Errorf("m-line %d (%s) lacks a=rtcp-fb:%s transport-cc", i, kind, pt)
		}
	}
	media := colibriMedia()
	if len(media) != 2 {
		t.Fatalf("%d <media> for the bridge, want audio and video", len(media))
	}
	for _, m := range media {
		id := ""
		for _, x := range m.HeaderExtensions {
			if x.URI == uri {
				id = fmt.Sprint(x.ID)
			}
		}
		if id == "" || id != offered[m.Type] {
			t.Errorf("bridge's %s <media> maps transport-cc as %q, the browser's offer as %q", m.Type, id, offered[m.Type])
		}
		for _, pt := range m.PayloadTypes {
			if pt.Name == "rtx" {
				continue
			}
			if !slices.ContainsFunc(pt.RTCPFeedback, func(fb colibri.RTCPFb) bool { return fb.Type == "transport-cc" }) {
				t.Errorf("bridge's %s payload type %d (%s) lacks transport-cc feedback", m.Type, pt.ID, pt.Name)
			}
		}
	}
}
