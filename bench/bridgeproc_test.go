package bench

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// startedLogs renders the bridge's "bridge started" line (the attributes cmd/jvb logs) with
// slog's text and JSON handlers, around other lines.
func startedLogs(t *testing.T, http string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, h := range map[string]func(*bytes.Buffer) slog.Handler{
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var b bytes.Buffer
		log := slog.New(h(&b))
		log.Info("UDP port bound", "component", "transport", "addr", "[::]:40001", "readers", 2)
		log.Info("bridge started", "version", "dev", "udp", "[::]:40001", "http", http,
			"advertised", "[127.0.0.1]", "colibri_rest", true, "shutdown_rest", false)
		log.Info("standalone mode: open http://127.0.0.1:9/ in two browser tabs", "http", "127.0.0.1:9")
		out[name] = b.String()
	}
	return out
}

func TestStartWatcherFindsTheAddresses(t *testing.T) {
	for _, tc := range []struct{ logged, want string }{
		{"127.0.0.1:41234", "127.0.0.1:41234"},
		{"0.0.0.0:41234", "127.0.0.1:41234"},
		{"[::]:41234", "[::1]:41234"},
	} {
		for format, logs := range startedLogs(t, tc.logged) {
			// Written in small pieces, as a pipe may deliver it.
			for _, chunk := range []int{1, 7, len(logs)} {
				w := &startWatcher{found: make(chan startedLine, 1)}
				for s := logs; s != ""; {
					n := min(chunk, len(s))
					if m, err := w.Write([]byte(s[:n])); err != nil || m != n {
						t.Fatalf("Write = %d, %v", m, err)
					}
					s = s[n:]
				}
				select {
				case sl := <-w.found:
					if sl.http != tc.want || sl.udp != "[::]:40001" {
						t.Errorf("%s, chunks of %d, http=%s logged: got %+v, want http %s udp [::]:40001",
							format, chunk, tc.logged, sl, tc.want)
					}
				default:
					t.Errorf("%s, chunks of %d: no bridge started line found in %q", format, chunk, logs)
				}
			}
		}
	}
}

func TestParseStartedLineIgnoresOtherLines(t *testing.T) {
	for _, line := range []string{
		`time=x level=INFO msg="standalone mode: open http://127.0.0.1:9/" http=127.0.0.1:9`,
		`time=x level=INFO msg="bridge started" version=dev udp=[::]:1`, // no http
		`{"msg":"bridge listening","http":"127.0.0.1:9"}`,
		strings.Repeat("x", 100),
		"",
	} {
		if sl, ok := parseStartedLine(line); ok {
			t.Errorf("parseStartedLine(%q) = %+v, want no match", line, sl)
		}
	}
}
