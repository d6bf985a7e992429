package standalone

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzAPI sends arbitrary bodies and queries to the signalling API of a focus on a real
// bridge: every answer has a documented status, and every error is a JSON {"error": "..."}
// that says something.
func FuzzAPI(f *testing.F) {
	st := startStack(f, Config{MaxRooms: 4, MaxParticipants: 4})
	f.Add(uint8(0), `{"room":"fuzz"}`, "")
	f.Add(uint8(1), `{"endpointId":"x","token":"y","version":1,"sdp":"v=0"}`, "")
	f.Add(uint8(2), "", "endpoint=x&token=y&after=0")
	f.Add(uint8(3), `{"endpointId":"x","token":"y"}`, "")
	f.Add(uint8(0), `{"room":"a"}{"room":"b"}`, "")
	calls := []struct{ method, path string }{
		{"POST", "/api/join"}, {"POST", "/api/answer"}, {"GET", "/api/offer"}, {"POST", "/api/leave"}, {"GET", "/api/other"},
	}
	f.Fuzz(func(t *testing.T, call uint8, body, query string) {
		c := calls[int(call)%len(calls)]
		if c.method == "GET" {
			// A poll that is accepted waits for PollTimeout: only bad polls are sent.
			query = "after=not-a-number&" + query
		}
		req := httptest.NewRequest(c.method, c.path, strings.NewReader(body))
		req.URL.RawQuery = query
		req.Host = "127.0.0.1"
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		st.focus.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusNoContent:
			return
		case http.StatusBadRequest, http.StatusNotFound, http.StatusGone, http.StatusBadGateway,
			http.StatusServiceUnavailable, http.StatusUnsupportedMediaType, http.StatusMethodNotAllowed:
		default:
			t.Fatalf("%s %s: undocumented status %d: %s", c.method, c.path, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusMethodNotAllowed {
			return // ServeMux's own answer
		}
		var e errorResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
			t.Fatalf("%s %s: status %d with body %q, want {\"error\": \"...\"}", c.method, c.path, rec.Code, rec.Body)
		}
	})
}
