package transport_test

import (
	"net/netip"
	"testing"

	. "gojvb/sfu/transport"
)

// TestSetAdvertisedReachesOnlyNewTransports: a transport created after SetAdvertised carries
// the new srflx addresses; one created before keeps the candidates it was created with.
func TestSetAdvertisedReachesOnlyNewTransports(t *testing.T) {
	m := listenLoopbackWith(t, Config{Advertised: []AdvertisedAddr{{IP: netip.MustParseAddr("198.51.100.1")}}})
	srflx := func(tr *Transport) []string {
		var out []string
		for _, c := range tr.LocalDescription().Candidates {
			if c.Type == "srflx" {
				out = append(out, c.IP)
			}
		}
		return out
	}
	before, err := m.NewTransport(Options{ICEControlling: true}, newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	m.SetAdvertised([]AdvertisedAddr{{IP: netip.MustParseAddr("198.51.100.2")}, {IP: netip.MustParseAddr("198.51.100.3"), Port: 443}})
	after, err := m.NewTransport(Options{ICEControlling: true}, newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if got := srflx(before); len(got) != 1 || got[0] != "198.51.100.1" {
		t.Fatalf("existing transport: %v", got)
	}
	if got := srflx(after); len(got) != 2 || got[0] != "198.51.100.2" || got[1] != "198.51.100.3" {
		t.Fatalf("new transport: %v", got)
	}
	if got := m.Advertised(); len(got) != 2 || got[1].Port != 443 {
		t.Fatalf("Advertised() = %v", got)
	}
}
