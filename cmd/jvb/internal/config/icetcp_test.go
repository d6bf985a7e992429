package config

import (
	"errors"
	"testing"
)

// ICE-TCP is off unless asked for; the image's variables and jvb.conf's videobridge.ice.tcp.*
// turn it on with their own port defaults, and custom-jvb.conf wins over the environment.
func TestICETCPSettings(t *testing.T) {
	dir := t.TempDir()
	custom := writeFile(t, dir, "custom-jvb.conf", "videobridge.ice.tcp.mapped-port = 8443\n")
	withInclude := writeFile(t, dir, "jvb-incl.conf", "videobridge.ice.tcp.port = 4000\ninclude \""+custom+"\"\n")
	fileOn := writeFile(t, dir, "jvb-on.conf", "videobridge.ice.tcp { enabled = true, ssltcp = true }\n")
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want ICETCP
	}{
		{"default off", nil, nil, ICETCP{}},
		{"harvester disabled", nil, map[string]string{"JVB_TCP_HARVESTER_DISABLED": "true", "JVB_TCP_PORT": "4443"}, ICETCP{}},
		{"empty variables as compose passes them", nil, map[string]string{"JVB_TCP_HARVESTER_DISABLED": "", "JVB_TCP_PORT": "", "JVB_TCP_MAPPED_PORT": ""}, ICETCP{}},
		{"env on: the image's 4443", nil, map[string]string{"JVB_TCP_HARVESTER_DISABLED": "false"}, ICETCP{Enabled: true, Port: 4443}},
		{"env port and mapped port", nil, map[string]string{"JVB_TCP_HARVESTER_DISABLED": "0", "JVB_TCP_PORT": "443", "JVB_TCP_MAPPED_PORT": "8443"},
			ICETCP{Enabled: true, Port: 443, MappedPort: 8443}},
		{"file on: JVB's 443 then 4443 (port 0)", []string{"--config", fileOn}, nil, ICETCP{Enabled: true}},
		{"file port kept when env turns it on", []string{"--config", withInclude}, map[string]string{"JVB_TCP_HARVESTER_DISABLED": "false", "JVB_TCP_MAPPED_PORT": "9000"},
			ICETCP{Enabled: true, Port: 4000, MappedPort: 8443}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(tc.args, envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.ICETCP != tc.want {
				t.Errorf("ICETCP = %+v, want %+v", cfg.ICETCP, tc.want)
			}
		})
	}
	for _, env := range []map[string]string{
		{"JVB_TCP_HARVESTER_DISABLED": "maybe"},
		{"JVB_TCP_HARVESTER_DISABLED": "false", "JVB_TCP_PORT": "70000"},
		{"JVB_TCP_HARVESTER_DISABLED": "false", "JVB_TCP_MAPPED_PORT": "x"},
	} {
		var e *Error
		if _, err := Load(nil, envOf(env)); !errors.As(err, &e) {
			t.Errorf("%v: error %v, want a config error naming the variable", env, err)
		}
	}
}
