package colibriws

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzRefusal: whatever the path and query, a request that cannot be authenticated is refused
// with 404 (not this bridge's URL) or 403 (anything else), never upgraded and never a panic.
// The one known endpoint has an empty password, which nothing matches.
func FuzzRefusal(f *testing.F) {
	f.Add("/colibri-ws/jvb1/c0ffee/ep1", "pwd=")
	f.Add("/colibri-relay-ws/jvb1/x/y", "pwd=abc&pwd=def")
	f.Add("/colibri-ws/", "")
	f.Add("/colibri-ws/jvb1//", "pwd=%zz")
	ep := newFakeEndpoint("")
	s := NewServer(Config{ServerID: "jvb1", Logger: slog.New(slog.DiscardHandler),
		Lookup: func(conf, id string) (Endpoint, bool) { return ep, conf == "c0ffee" && id == "ep1" }})
	f.Fuzz(func(t *testing.T, path, query string) {
		u := &url.URL{Path: path, RawQuery: query}
		r := httptest.NewRequest(http.MethodGet, "http://bridge/", nil)
		r.URL = u
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		rest, ours := strings.CutPrefix(path, PathPrefix)
		if !ours {
			rest, ours = strings.CutPrefix(path, RelayPathPrefix)
		}
		ids := strings.Split(rest, "/")
		want := http.StatusForbidden
		if !ours || len(ids) < 3 || ids[0] != "jvb1" {
			want = http.StatusNotFound
		}
		if w.Code != want {
			t.Fatalf("%q ? %q: %d %q, want %d", path, query, w.Code, w.Body.String(), want)
		}
	})
}
