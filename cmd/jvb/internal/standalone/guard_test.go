package standalone

import (
	"net/http"
	"strings"
	"testing"
)

// The API answers only for IP literals, localhost and configured names (no DNS rebinding),
// takes JSON bodies only, refuses cross-origin state changes, and opens a bounded number of
// rooms.
func TestAPIRefusesForgedAndExcessRequests(t *testing.T) {
	st := startStack(t, Config{MaxRooms: 2, AllowedHosts: []string{"meet.example"}})
	post := func(host, ctype, origin, body string) (int, string) {
		req, err := http.NewRequest("POST", st.http.URL+"/api/join", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 512)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		return resp.StatusCode, b.String()
	}
	for _, tc := range []struct {
		name, host, ctype, origin string
		want                      int
	}{
		{"rebound name", "evil.example:8080", "application/json", "", http.StatusMisdirectedRequest},
		{"text/plain body", "", "text/plain", "", http.StatusUnsupportedMediaType},
		{"no content type", "", "", "", http.StatusUnsupportedMediaType},
		{"cross-origin page", "", "application/json", "http://evil.example", http.StatusForbidden},
	} {
		if got, body := post(tc.host, tc.ctype, tc.origin, `{"room":"r0"}`); got != tc.want {
			t.Errorf("%s: HTTP %d %s, want %d", tc.name, got, body, tc.want)
		}
	}
	if n := len(st.bridge.Conferences()); n != 0 {
		t.Fatalf("refused requests created %d conferences", n)
	}
	for i, host := range []string{"localhost", "meet.example:443"} {
		if got, body := post(host, "application/json", "", `{"room":"r`+string(rune('1'+i))+`"}`); got != http.StatusOK {
			t.Fatalf("join via %s: HTTP %d %s", host, got, body)
		}
	}
	if got, body := post("", "application/json", "", `{"room":"r3"}`); got != http.StatusServiceUnavailable || !strings.Contains(body, "too many rooms") {
		t.Fatalf("third room: HTTP %d %s, want 503 too many rooms", got, body)
	}
	if n := len(st.bridge.Conferences()); n != 2 {
		t.Fatalf("%d conferences on the bridge, want 2 (MaxRooms)", n)
	}
}
