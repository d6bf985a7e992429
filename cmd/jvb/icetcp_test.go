package main

import (
	"log/slog"
	"testing"

	"gojvb/cmd/jvb/internal/config"
	"gojvb/sfu/transport"
)

// The configured ICE-TCP settings reach the transport: JVB's 443-then-4443 when no port is
// given, a given port without fallback, the mapped port announced, nothing when off.
func TestTransportConfigICETCP(t *testing.T) {
	for _, tc := range []struct {
		in   config.ICETCP
		want transport.TCPConfig
	}{
		{config.ICETCP{}, transport.TCPConfig{}},
		{config.ICETCP{Port: 4443}, transport.TCPConfig{}},
		{config.ICETCP{Enabled: true}, transport.TCPConfig{Enabled: true, Port: 443, FallbackPort: 4443}},
		{config.ICETCP{Enabled: true, Port: 4443, MappedPort: 443}, transport.TCPConfig{Enabled: true, Port: 4443, MappedPort: 443}},
	} {
		cfg := config.Defaults()
		cfg.ICETCP = tc.in
		if got := transportConfig(cfg, slog.New(slog.DiscardHandler)).TCP; got != tc.want {
			t.Errorf("%+v: transport TCP %+v, want %+v", tc.in, got, tc.want)
		}
	}
}
