package config

import "testing"

// UDP segmentation offload is on by default and JVB_UDP_GSO=false turns it off.
func TestUDPGSOEnv(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{}, true},
		{map[string]string{"JVB_UDP_GSO": "false"}, false},
		{map[string]string{"JVB_UDP_GSO": "true"}, true},
	} {
		cfg, err := Load(nil, envOf(tc.env))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.UDPGSO != tc.want {
			t.Errorf("env %v: UDPGSO %v, want %v", tc.env, cfg.UDPGSO, tc.want)
		}
	}
}

// Readers send inline by default and JVB_SEND_INLINE=false hands every send to the receivers'
// goroutines.
func TestSendInlineEnv(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{}, true},
		{map[string]string{"JVB_SEND_INLINE": "false"}, false},
		{map[string]string{"JVB_SEND_INLINE": "true"}, true},
	} {
		cfg, err := Load(nil, envOf(tc.env))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.SendInline != tc.want {
			t.Errorf("env %v: SendInline %v, want %v", tc.env, cfg.SendInline, tc.want)
		}
	}
}
