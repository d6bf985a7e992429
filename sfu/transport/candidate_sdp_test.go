package transport

import (
	"errors"
	"testing"
)

func TestCandidateSDPRoundTrip(t *testing.T) {
	in := Candidate{Foundation: "1", Component: 1, Protocol: "udp", Priority: 2130706431, IP: "203.0.113.7",
		Port: 10000, Type: "srflx", RelAddr: "10.0.0.2", RelPort: 10000, Generation: 0}
	out, err := ParseCandidate("a=" + in.SDP())
	if err != nil || out != in {
		t.Fatalf("round trip: %+v, %v; want %+v", out, err, in)
	}
	for _, bad := range []string{"", "candidate:1 1 udp", "candidate:1 3 udp 1 1.2.3.4 5 typ host",
		"candidate:1 1 udp 1 1.2.3.4 70000 typ host", "candidate:1 1 udp x 1.2.3.4 5 typ host",
		"candidate:1 1 udp 1 1.2.3.4 5 type host"} {
		if _, err := ParseCandidate(bad); !errors.Is(err, ErrBadCandidate) {
			t.Errorf("ParseCandidate(%q) = %v, want ErrBadCandidate", bad, err)
		}
	}
}
