package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// healthScript is copied into the image as /usr/local/bin/healthcheck.sh.
const healthScript = "../../scripts/healthcheck.sh"

func TestDockerfileInstallsHealthcheckScript(t *testing.T) {
	df := readRepoFile(t, "../../Dockerfile")
	if !strings.Contains(df, "COPY --chmod=0755 scripts/healthcheck.sh /usr/local/bin/healthcheck.sh") {
		t.Error("Dockerfile does not install scripts/healthcheck.sh as /usr/local/bin/healthcheck.sh")
	}
	// distroless has no shell: the image must bring the script's interpreter and wget.
	for _, want := range []string{"/out/bin/sh", "/out/bin/wget", "COPY --from=tools /out/bin/ /bin/"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	script := readRepoFile(t, healthScript)
	if !strings.HasPrefix(script, "#!/bin/sh\n") || !strings.Contains(script, "http://127.0.0.1:8080/about/health") {
		t.Errorf("script must be /bin/sh and ask JVB's health URL by default:\n%s", script)
	}
	if fi, err := os.Stat(healthScript); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("script not executable: %v %v", fi, err)
	}
}

// runHealthScript runs the script with only the named tools on PATH; it returns the exit code
// and the output.
func runHealthScript(t *testing.T, sh string, tools []string, url string) (int, string) {
	t.Helper()
	bin := t.TempDir()
	for _, tool := range tools {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("no %s: %v", tool, err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(sh, healthScript, url)
	cmd.Env = []string{"PATH=" + bin}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatalf("running the script: %v", err)
	}
	return 0, string(out)
}

// TestHealthcheckScriptAgainstBridge runs scripts/healthcheck.sh (with curl, then with only
// wget, as in the image's busybox) against a running bridge, a dead port and a server that
// answers 500: exit 0 only for the healthy bridge.
func TestHealthcheckScriptAgainstBridge(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	b := startBridge(t, restEnv, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/about/health"
	ln.Close()
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "udp: the media UDP port is not bound", http.StatusInternalServerError)
	}))
	defer sick.Close()

	for _, tool := range []string{"curl", "wget"} {
		t.Run(tool, func(t *testing.T) {
			if code, out := runHealthScript(t, sh, []string{tool}, b.base+"/about/health"); code != 0 {
				t.Fatalf("healthy bridge: exit %d %q", code, out)
			}
			if code, out := runHealthScript(t, sh, []string{tool}, dead); code == 0 {
				t.Fatalf("dead port: exit 0 %q", out)
			}
			code, out := runHealthScript(t, sh, []string{tool}, sick.URL+"/about/health")
			if code == 0 {
				t.Fatalf("500: exit 0 %q", out)
			}
			if tool == "curl" && !strings.Contains(out, "not bound") {
				t.Fatalf("curl --fail-with-body should print the reason: %q", out)
			}
		})
	}
}
