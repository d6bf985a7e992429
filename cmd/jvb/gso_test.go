package main

import (
	"log/slog"
	"testing"

	"gojvb/cmd/jvb/internal/config"
)

// JVB_UDP_GSO reaches the transport: off there only when the operator turned it off.
func TestTransportConfigCarriesGSO(t *testing.T) {
	for _, on := range []bool{true, false} {
		if tc := transportConfig(&config.Config{UDPGSO: on}, slog.New(slog.DiscardHandler)); tc.NoGSO == on {
			t.Errorf("UDPGSO %v: transport NoGSO %v", on, tc.NoGSO)
		}
	}
}
