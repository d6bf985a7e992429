package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// loadDeadline is how long one input may take through the loader in the fuzz targets: far
// more than any input needs, so a loop that does not end fails the input instead of hanging.
const loadDeadline = 2 * time.Second

// loadWithin runs Load on data as a jvb.conf and fails t if it does not return in time.
func loadWithin(t *testing.T, p string, data []byte) (*Config, error) {
	t.Helper()
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	type result struct {
		cfg *Config
		err error
	}
	done := make(chan result, 1)
	go func() {
		cfg, err := Load([]string{"--config", p}, envOf(map[string]string{"FROM_ENV": "e"}))
		done <- result{cfg, err}
	}()
	select {
	case r := <-done:
		return r.cfg, r.err
	case <-time.After(loadDeadline):
		t.Fatalf("Load did not return within %v on %q", loadDeadline, data)
		return nil, nil
	}
}

// FuzzLoadFile feeds arbitrary jvb.conf text through the whole loader: it may reject the file
// but must return within loadDeadline, never panic, and never return neither.
func FuzzLoadFile(f *testing.F) {
	f.Add([]byte(sampleConf))
	f.Add([]byte("include \"x.conf\"\nvideobridge.ice.udp.port = 1\n"))
	f.Add([]byte("a = ${b}\n"))
	f.Add([]byte("videobridge.ice = 5\nvideobridge.ice.udp.port = 3\n"))
	f.Add([]byte("videobridge.cc { jvb-last-n = 2, thumbnail-max-height-px = 180px, onstage-preferred-framerate = 29.97 }\nvideobridge.ssrc-limit.video = 0\n"))
	f.Add([]byte("a = ${?FROM_ENV}\nb = ${a} x ${a}\n"))
	for _, s := range hangingInputs {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := loadWithin(t, filepath.Join(dir, "jvb.conf"), data)
		if (err == nil) == (cfg == nil) {
			t.Fatalf("Load returned config %v and error %v", cfg != nil, err)
		}
	})
}

// FuzzParseHOCON: the parser returns within loadDeadline on any text, and what it accepts
// holds only resolved values.
func FuzzParseHOCON(f *testing.F) {
	f.Add(sampleConf)
	f.Add("a { b = [1, {c = ${a.d}}], d = 2 }\ne += 3\n")
	for _, s := range hangingInputs {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		type result struct {
			root hObject
			err  error
		}
		done := make(chan result, 1)
		go func() {
			root, err := parseHOCON(text, envOf(nil))
			done <- result{root, err}
		}()
		var r result
		select {
		case r = <-done:
		case <-time.After(loadDeadline):
			t.Fatalf("parseHOCON did not return within %v on %q", loadDeadline, text)
		}
		if r.err != nil {
			return
		}
		var check func(v hValue)
		check = func(v hValue) {
			switch x := v.(type) {
			case hObject:
				for _, e := range x {
					check(e)
				}
			case hArray:
				for _, e := range x {
					check(e)
				}
			case hString, hBool, hNull:
			default:
				t.Fatalf("unresolved %T in the result of %q", v, text)
			}
		}
		check(r.root)
	})
}

// hangingInputs made the HOCON library this parser replaced spin forever at 100 % CPU.
var hangingInputs = []string{
	"a = \"x\\\nb = ${c \"zz",
	"/* \" */ a = ${b \"zz",
	"b = ${b\n",
	"a = [\",t=0,r=3,e=\"\"},",
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
			if a.IP.IsValid() == (a.Host != "") || (a.Host != "" && !validHost(a.Host)) || a.Port < 0 || a.Port > 65535 {
				t.Fatalf("%q -> invalid %v", s, a)
			}
		}
	})
}

func TestParserRejectsWhatTheLibraryLoopedOn(t *testing.T) {
	for _, bad := range append([]string{
		"a = ${b\n", "a = \"open\n", "a = \"\"\"never closed\n",
		"a { b = [1, 2 }", "a = ]", "a { ", "a = [ {", "}", "a= ${b\"}\n", "a = ${}",
	}, hangingInputs...) {
		if _, err := parseHOCON(bad, envOf(nil)); err == nil {
			t.Errorf("parseHOCON(%q) accepted", bad)
		}
	}
	for _, good := range []string{
		sampleConf, "a = \"x}y\" # } ]\n// ]\nb = [1, {c = 2}]\n", "a = \"\"\"multi\n}\nline\"\"\"\n",
		"a = \"esc \\\" }\"\n", "a = 1\nb = ${a}\nc = ${?d}\n", "u = \"http://x/{a}\"\n",
	} {
		if _, err := parseHOCON(good, envOf(nil)); err != nil {
			t.Errorf("parseHOCON(%q): %v", good, err)
		}
	}
}

// FuzzEnv gives one variable the loader reads an arbitrary value: Load either refuses with an
// error naming that variable, or returns a configuration whose values are all in range.
func FuzzEnv(f *testing.F) {
	for i, v := range []string{"10000", "0", "-1", "99999", "1.2.3.4#5", "xmpp.example:5222", "true", "nope", " ", "a,b,,c"} {
		f.Add(uint8(i*3), v)
	}
	// JVB_CONFIG names a file to read: FuzzLoadFile covers what is in it.
	keys := slices.DeleteFunc(slices.Clone(usedEnv), func(k string) bool { return k == "JVB_CONFIG" })
	f.Fuzz(func(t *testing.T, k uint8, v string) {
		key := keys[int(k)%len(keys)]
		env := map[string]string{key: v}
		if key != "JVB_AUTH_PASSWORD" {
			env["JVB_AUTH_PASSWORD"] = "pw" // so that the XMPP variables are read too
		}
		cfg, err := Load(nil, envOf(env))
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("%s=%q: error %v is not a *config.Error", key, v, err)
			}
			return
		}
		if cfg.Port < 0 || cfg.Port > 65535 {
			t.Fatalf("%s=%q: port %d", key, v, cfg.Port)
		}
		for _, a := range cfg.Advertised {
			if a.IP.IsValid() == (a.Host != "") || a.Port < 0 || a.Port > 65535 {
				t.Fatalf("%s=%q: advertised %v", key, v, a)
			}
		}
		for _, x := range cfg.XMPP {
			if x.Hostname == "" || x.Port < 1 || x.Port > 65535 || len(x.MUCJIDs) == 0 {
				t.Fatalf("%s=%q: XMPP connection %+v", key, v, x)
			}
		}
		for _, n := range []int{cfg.Limits.MaxConferences, cfg.Limits.MaxEndpoints, cfg.Limits.MaxEndpointsPerConference} {
			if n < -1 || n > maxLimit {
				t.Fatalf("%s=%q: limits %+v", key, v, cfg.Limits)
			}
		}
	})
}

// FuzzLoadFileWithInclude: a jvb.conf that includes a second file with arbitrary content (and
// may include itself or the main file) loads or is refused within loadDeadline, and what the
// included file sets never escapes the key checks (a bad value is an error, not a config).
func FuzzLoadFileWithInclude(f *testing.F) {
	f.Add([]byte("videobridge.ice.udp.port = 1\ninclude \"inc.conf\"\n"), []byte("videobridge.ice.udp.port = 2\n"))
	f.Add([]byte("include required(\"inc.conf\")\n"), []byte("include \"jvb.conf\"\n"))
	f.Add([]byte("a = 1\ninclude file(\"inc.conf\")\n"), []byte("videobridge.ice.udp.port = ${a}\n"))
	f.Add([]byte("include \"inc.conf\"\n"), []byte("include \"inc.conf\"\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, main, inc []byte) {
		if err := os.WriteFile(filepath.Join(dir, "inc.conf"), inc, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadWithin(t, filepath.Join(dir, "jvb.conf"), main)
		if (err == nil) == (cfg == nil) {
			t.Fatalf("Load returned config %v and error %v", cfg != nil, err)
		}
		if err == nil && (cfg.Port < 0 || cfg.Port > 65535) {
			t.Fatalf("port %d accepted", cfg.Port)
		}
	})
}
