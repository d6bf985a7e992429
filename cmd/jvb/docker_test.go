package main

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gojvb/cmd/jvb/internal/config"
)

// No Docker engine runs in CI: these tests check the image's entrypoint logic (environment and
// the image's jvb.conf -> configuration) and keep the Dockerfile and the compose example in
// step with the code.

func readRepoFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// composeEnv returns the variable names the compose example passes to the container.
func composeEnv(t *testing.T) []string {
	t.Helper()
	var names []string
	in := false
	for _, line := range strings.Split(readRepoFile(t, "../../docker-compose.yml"), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "environment:":
			in = true
		case in && strings.HasPrefix(trimmed, "- "):
			name, _, _ := strings.Cut(strings.TrimPrefix(trimmed, "- "), "=")
			names = append(names, name)
		case in && trimmed != "":
			in = false
		}
	}
	if len(names) < 20 {
		t.Fatalf("found only %d environment entries in docker-compose.yml", len(names))
	}
	return names
}

func TestComposeVariablesAreAllKnown(t *testing.T) {
	known := config.KnownEnv()
	for _, name := range composeEnv(t) {
		if !slices.Contains(known, name) {
			t.Errorf("docker-compose.yml passes %s, which config neither reads nor lists as ignored", name)
		}
	}
}

// TestImageEntrypointConfig loads what the container loads: the image's jvb.conf (JVB_CONFIG)
// plus docker-jitsi-meet's environment, first with every variable present but empty (an .env
// that sets nothing), then with typical values.
// imageEnv returns the Dockerfile's ENV settings, with JVB_CONFIG pointing at the repository's
// copy of the image's jvb.conf.
func imageEnv(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^ENV (\w+)=(\S+)$`).FindAllStringSubmatch(readRepoFile(t, "../../Dockerfile"), -1) {
		env[m[1]] = m[2]
	}
	if env["JVB_CONFIG"] == "" {
		t.Fatal("the Dockerfile sets no JVB_CONFIG")
	}
	env["JVB_CONFIG"] = "docker/jvb.conf"
	return env
}

func TestImageEntrypointConfig(t *testing.T) {
	env := imageEnv(t)
	for _, name := range composeEnv(t) {
		env[name] = ""
	}
	// No JVB_AUTH_PASSWORD in the image: a startup error, as in jitsi/jvb.
	_, err := config.Load(nil, envOf(env))
	if err == nil || !strings.Contains(err.Error(), "JVB_AUTH_PASSWORD") || !strings.Contains(err.Error(), "JVB_DISABLE_XMPP") {
		t.Fatalf("empty docker env must refuse to start naming JVB_AUTH_PASSWORD: %v", err)
	}
	env["JVB_DISABLE_XMPP"] = "1"
	cfg, err := config.Load(nil, envOf(env))
	if err != nil {
		t.Fatalf("empty docker env with JVB_DISABLE_XMPP: %v", err)
	}
	if cfg.HTTPAddr != "0.0.0.0:8080" || loopbackFor(cfg.HTTPAddr) != "127.0.0.1:8080" {
		t.Fatalf("image must serve 0.0.0.0:8080 and health-check 127.0.0.1:8080: %s", cfg.HTTPAddr)
	}
	if len(cfg.XMPP) != 0 || cfg.Port != 10000 || cfg.REST.Colibri {
		t.Fatalf("empty env must give defaults without XMPP: %+v", cfg)
	}
	env["JVB_DISABLE_XMPP"] = ""
	if len(cfg.STUNServers) != 0 {
		t.Fatalf("JVB_STUN_SERVERS passed empty must turn STUN off: %v", cfg.STUNServers)
	}
	// A variable the .env does not set at all is not passed by compose (`- NAME` with nothing
	// to resolve): the image's default stays.
	env["JVB_STUN_SERVERS"] = imageEnv(t)["JVB_STUN_SERVERS"]

	for k, v := range map[string]string{
		"XMPP_SERVER": "xmpp.meet.jitsi", "XMPP_AUTH_DOMAIN": "auth.meet.jitsi",
		"XMPP_INTERNAL_MUC_DOMAIN": "internal-muc.meet.jitsi", "JVB_AUTH_USER": "jvb",
		"JVB_AUTH_PASSWORD": "0123456789abcdef", "JVB_BREWERY_MUC": "jvbbrewery", "JVB_PORT": "10000",
		"JVB_ADVERTISE_IPS": "203.0.113.5", "COLIBRI_REST_ENABLED": "true", "TZ": "UTC",
		"SENTRY_DSN": `"0"`, "HOSTNAME": "c0ffee",
	} {
		env[k] = v
	}
	cfg, err = config.Load(nil, envOf(env))
	if err != nil {
		t.Fatalf("docker env: %v", err)
	}
	if len(cfg.XMPP) != 1 || cfg.XMPP[0].Hostname != "xmpp.meet.jitsi" || cfg.XMPP[0].MUCNickname != "c0ffee" ||
		cfg.XMPP[0].MUCJIDs[0] != "jvbbrewery@internal-muc.meet.jitsi" || !cfg.REST.Colibri ||
		len(cfg.Advertised) != 1 || cfg.HTTPAddr != "0.0.0.0:8080" {
		t.Fatalf("docker env not applied: %+v", cfg)
	}
	if !slices.Equal(cfg.STUNServers, []string{"meet-jit-si-turnrelay.jitsi.net:443"}) {
		t.Fatalf("the image's STUN default (as jitsi/jvb) not applied: %v", cfg.STUNServers)
	}
	if !slices.Contains(cfg.Ignored, "SENTRY_DSN") {
		t.Fatalf("SENTRY_DSN should be reported as ignored: %v", cfg.Ignored)
	}
}

func TestDockerfileMatchesTheCode(t *testing.T) {
	df := readRepoFile(t, "../../Dockerfile")
	for _, want := range []string{
		"CGO_ENABLED=0", "./cmd/jvb", "EXPOSE 10000/udp 8080", "USER nonroot",
		`CMD ["/usr/local/bin/jvb", "healthcheck"]`, `ENTRYPOINT ["/usr/local/bin/jvb"]`,
		"COPY cmd/jvb/docker/jvb.conf ",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	copied := regexp.MustCompile(`COPY cmd/jvb/docker/jvb.conf (\S+)`).FindStringSubmatch(df)
	envConf := regexp.MustCompile(`ENV JVB_CONFIG=(\S+)`).FindStringSubmatch(df)
	if copied == nil || envConf == nil || copied[1] != envConf[1] {
		t.Fatalf("JVB_CONFIG (%v) must name the copied jvb.conf (%v)", envConf, copied)
	}
}

// TestImageWithoutPasswordRefusesToStart runs the command with the image's environment and no
// JVB_AUTH_PASSWORD: exit code 2 and a message naming the variable, not standalone mode.
func TestImageWithoutPasswordRefusesToStart(t *testing.T) {
	var out bytes.Buffer
	code := run([]string{"--http", "127.0.0.1:0", "--port", "0"}, envOf(imageEnv(t)), &out)
	if code != exitConfig || !strings.Contains(out.String(), "JVB_AUTH_PASSWORD") {
		t.Fatalf("exit %d, output %q", code, out.String())
	}
	if strings.Contains(out.String(), "standalone") {
		t.Fatalf("fell back to standalone mode: %q", out.String())
	}
	// Outside the image (no JVB_REQUIRE_XMPP) the same environment starts without XMPP.
	cfg, err := config.Load(nil, envOf(map[string]string{"XMPP_SERVER": "xmpp.meet.jitsi"}))
	if err != nil || len(cfg.XMPP) != 0 {
		t.Fatalf("outside the image: %v %+v", err, cfg)
	}
}
