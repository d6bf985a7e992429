package transport_test

import (
	"testing"

	. "gojvb/sfu/transport"
)

// A flood of remote candidates, in one description or trickled, stops at MaxRemoteCandidates.
func TestRemoteCandidatesAreCapped(t *testing.T) {
	m := listenLoopback(t)
	tr, err := m.NewTransport(Options{ICEControlling: true}, newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	flood := func(from, n int) []Candidate {
		var cs []Candidate
		for i := from; i < from+n; i++ {
			cs = append(cs, Candidate{Foundation: "f", Component: 1, Protocol: "udp", Priority: 1,
				IP: "127.0.0.1", Port: 20000 + i, Type: "host"})
		}
		return cs
	}
	if err := tr.SetRemoteDescription(Description{Candidates: flood(0, MaxRemoteCandidates-1)}); err != nil {
		t.Fatalf("below the cap: %v", err)
	}
	if err := tr.SetRemoteDescription(Description{Candidates: flood(100, 5000)}); err == nil {
		t.Fatal("5000 trickled candidates accepted without an error")
	}
	// The cap holds over the transport's lifetime: one more trickled candidate is refused too.
	if err := tr.SetRemoteDescription(Description{Candidates: flood(9000, 1)}); err == nil {
		t.Fatal("candidate past the cap accepted")
	}
}
