package transporttest

import (
	"strings"
	"testing"

	"github.com/pion/sdp/v3"

	"gojvb/sfu/transport"
)

var bridge = transport.Description{
	Ufrag: "abcd1234",
	Pwd:   "0123456789abcdefghijklmnop",
	Candidates: []transport.Candidate{
		{Foundation: "1", Component: 1, Protocol: "udp", Priority: 2130706431, IP: "127.0.0.1", Port: 10000, Type: "host"},
		{Foundation: "2", Component: 1, Protocol: "udp", Priority: 1694498815, IP: "198.51.100.1", Port: 10000, Type: "srflx", RelAddr: "10.0.0.1", RelPort: 10000},
	},
	Fingerprints: []transport.Fingerprint{{Hash: "sha-256", Value: strings.Repeat("AB:", 31) + "CD", Setup: "actpass"}},
	RTCPMux:      true,
}

func TestOfferSDPParsesAndRoundTrips(t *testing.T) {
	offer := OfferSDP(bridge, OfferOptions{Audio: true, Video: true, AudioSSRCs: []uint32{11}, VideoSSRCs: []uint32{22}})
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(offer); err != nil {
		t.Fatalf("offer is not valid SDP: %v\n%s", err, offer)
	}
	if got := len(parsed.MediaDescriptions); got != 3 {
		t.Fatalf("%d media sections, want audio, video, data", got)
	}
	if bundle, _ := parsed.Attribute("group"); bundle != "BUNDLE audio video data" {
		t.Fatalf("group = %q", bundle)
	}
	d, err := DescriptionFromSDP(offer)
	if err != nil {
		t.Fatal(err)
	}
	if d.Ufrag != bridge.Ufrag || d.Pwd != bridge.Pwd || !d.RTCPMux {
		t.Fatalf("round trip lost ICE parameters: %+v", d)
	}
	if len(d.Fingerprints) != 1 || d.Fingerprints[0] != bridge.Fingerprints[0] {
		t.Fatalf("fingerprints %+v", d.Fingerprints)
	}
	if len(d.Candidates) != 2 || d.Candidates[0] != bridge.Candidates[0] || d.Candidates[1] != bridge.Candidates[1] {
		t.Fatalf("candidates %+v, want %+v (deduplicated across sections)", d.Candidates, bridge.Candidates)
	}
	if !strings.Contains(offer, "a=ssrc:22 cname:jvb") || !strings.Contains(offer, "a=sctp-port:5000") {
		t.Fatal("offer misses the video SSRC or the SCTP port")
	}
}

func TestDescriptionFromSDPErrors(t *testing.T) {
	if _, err := DescriptionFromSDP("v=0\r\na=ice-pwd:x\r\n"); err == nil {
		t.Fatal("SDP without ufrag accepted")
	}
	if _, err := DescriptionFromSDP("a=ice-ufrag:u\r\na=ice-pwd:p\r\na=candidate:1 1 udp\r\n"); err == nil {
		t.Fatal("short candidate accepted")
	}
	if _, err := ParseCandidate("candidate:1 1 udp prio 1.2.3.4 5 typ host"); err == nil {
		t.Fatal("non-numeric priority accepted")
	}
}
