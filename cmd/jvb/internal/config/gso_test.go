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
