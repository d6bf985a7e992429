package config

import (
	"reflect"
	"testing"
)

func TestSTUNServers(t *testing.T) {
	dir := t.TempDir()
	conf := writeFile(t, dir, "jvb.conf", `ice4j.harvest.mapping.stun.addresses = ["stun1.example:443", "[2001:db8::3]:3478"]`+"\n")
	off := writeFile(t, dir, "off.conf", "ice4j.harvest.mapping.stun { addresses = [\"a.example:1\"], enabled = false }\n")
	for _, c := range []struct {
		name string
		env  map[string]string
		want []string
		bad  bool
	}{
		{"none by default (JVB's reference.conf)", nil, nil, false},
		{"env list", map[string]string{"JVB_STUN_SERVERS": "meet-jit-si-turnrelay.jitsi.net:443, stun.example"},
			[]string{"meet-jit-si-turnrelay.jitsi.net:443", "stun.example:3478"}, false},
		{"disabled", map[string]string{"JVB_STUN_SERVERS": "stun.example:443", "JVB_DISABLE_STUN": "true"}, nil, false},
		{"file", map[string]string{"JVB_CONFIG": conf}, []string{"stun1.example:443", "[2001:db8::3]:3478"}, false},
		{"env over file", map[string]string{"JVB_CONFIG": conf, "JVB_STUN_SERVERS": "e.example:1"}, []string{"e.example:1"}, false},
		{"file disabled", map[string]string{"JVB_CONFIG": off}, nil, false},
		{"bad entry", map[string]string{"JVB_STUN_SERVERS": "stun.example:99999"}, nil, true},
		{"bad host", map[string]string{"JVB_STUN_SERVERS": "not a host:3478"}, nil, true},
	} {
		cfg, err := Load(nil, envOf(c.env))
		if (err != nil) != c.bad {
			t.Errorf("%s: err = %v", c.name, err)
			continue
		}
		if err == nil && !reflect.DeepEqual(cfg.STUNServers, c.want) {
			t.Errorf("%s: servers = %q, want %q", c.name, cfg.STUNServers, c.want)
		}
	}
}
