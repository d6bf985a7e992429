package sfu

import (
	"testing"

	"gojvb/sfu/transport"
)

// The network-drop soak showed an endpoint whose network vanished mid-call counted as a DTLS
// failure (ICE had connected). ICE that fails after DTLS completed is an ICE failure; DTLS failed
// is a handshake that never completed over connected ICE.
func TestTransportFailureCountedByWhatFailed(t *testing.T) {
	tb := newTestBridge(t, true, false)
	c, err := tb.CreateConference("m", "room@conference")
	if err != nil {
		t.Fatal(err)
	}
	dropped := joinSecure(t, c, "dropped", gcm) // secure: keys installed
	handshake, err := c.CreateEndpoint(EndpointConfig{ID: "handshake"})
	if err != nil {
		t.Fatal(err)
	}
	never, err := c.CreateEndpoint(EndpointConfig{ID: "never"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []*Endpoint{dropped.ep, handshake} {
		endpointHandler{e}.HandleState(transport.StateConnected)
	}
	for _, e := range []*Endpoint{dropped.ep, handshake, never} {
		endpointHandler{e}.HandleState(transport.StateFailed)
	}
	st := tb.Stats()
	if st.ICEFailed != 2 || st.DTLSFailed != 1 {
		t.Errorf("ICE failed %d, DTLS failed %d; want 2 (dropped mid-call, never connected) and 1 (handshake)", st.ICEFailed, st.DTLSFailed)
	}
}
