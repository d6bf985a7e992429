package transport

import (
	"errors"
	"testing"

	"github.com/pion/ice/v4"
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

// SDP is also what the ICE agent is given: pion reads every kind of candidate the bridge takes,
// with or without a related address, and a candidate without a type as host.
func TestCandidateSDPIsReadByPion(t *testing.T) {
	for _, c := range []Candidate{
		{Foundation: "1", Priority: 2130706431, IP: "192.0.2.1", Port: 5000},
		{Foundation: "2", Component: 1, Protocol: "UDP", Priority: 1694498815, IP: "203.0.113.7", Port: 5001, Type: "srflx"},
		{Foundation: "3", Component: 1, Protocol: "udp", Priority: 1694498815, IP: "203.0.113.8", Port: 5002, Type: "srflx", RelAddr: "10.0.0.1", RelPort: 5002},
		{Foundation: "4", Component: 1, Protocol: "udp", Priority: 16777215, IP: "2001:db8::1", Port: 5003, Type: "relay", Generation: 1},
	} {
		pc, err := ice.UnmarshalCandidate(c.SDP())
		if err != nil {
			t.Fatalf("%s: %v", c.SDP(), err)
		}
		wantType := c.Type
		if wantType == "" {
			wantType = "host"
		}
		if pc.Address() != c.IP || pc.Port() != c.Port || pc.Priority() != c.Priority || pc.Type().String() != wantType ||
			pc.Foundation() != c.Foundation {
			t.Fatalf("%s read by pion as %s", c.SDP(), pc)
		}
	}
}
