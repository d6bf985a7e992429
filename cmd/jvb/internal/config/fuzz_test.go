package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadFile feeds arbitrary jvb.conf text through the whole loader: it may reject the file
// but must never panic (the HOCON library panics on some input; readHOCON recovers).
func FuzzLoadFile(f *testing.F) {
	f.Add([]byte(sampleConf))
	f.Add([]byte("include \"x.conf\"\nvideobridge.ice.udp.port = 1\n"))
	f.Add([]byte("a = ${b}\n"))
	f.Add([]byte("videobridge.ice = 5\nvideobridge.ice.udp.port = 3\n"))
	f.Add([]byte("videobridge.cc { jvb-last-n = 2, thumbnail-max-height-px = 180px, onstage-preferred-framerate = 29.97 }\nvideobridge.ssrc-limit.video = 0\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "jvb.conf")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load([]string{"--config", p}, envOf(nil))
		if err == nil && cfg == nil {
			t.Fatal("nil config without error")
		}
	})
}

// FuzzAdvertised checks that JVB_ADVERTISE_IPS parsing either fails or yields valid addresses.
func FuzzAdvertised(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "1.2.3.4#5", "::1#65535,10.0.0.1", "[::1]#1", "#", ",,", "1.2.3.4#99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addrs, ok := parseAdvertised(s)
		if !ok {
			return
		}
		for _, a := range addrs {
			if !a.IP.IsValid() || a.Port < 0 || a.Port > 65535 {
				t.Fatalf("%q -> invalid %v", s, a)
			}
		}
	})
}

func TestPrecheckCatchesWhatTheLibraryLoopsOn(t *testing.T) {
	for _, bad := range []string{
		"a = [\",t=0,r=3,e=\"\"},", "a = ${b\n", "a = \"open\n", "a = \"\"\"never closed\n",
		"a { b = [1, 2 }", "a = ]", "a { ", "a = [ {", "}", "a= ${b\"}\n", "a = ${}",
	} {
		if precheck(bad) == nil {
			t.Errorf("precheck(%q) accepted", bad)
		}
	}
	for _, good := range []string{
		sampleConf, "a = \"x}y\" # } ]\n// ]\nb = [1, {c = 2}]\n", "a = \"\"\"multi\n}\nline\"\"\"\n",
		"a = \"esc \\\" }\"\n", "b = ${a}\nc = ${?d}\n", "u = \"http://x/{a}\"\n",
	} {
		if err := precheck(good); err != nil {
			t.Errorf("precheck(%q): %v", good, err)
		}
	}
}
