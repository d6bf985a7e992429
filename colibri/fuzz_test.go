package colibri

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/ and run with every `go test`.

func FuzzParseConferenceModify(f *testing.F) {
	f.Add([]byte(fullRequest))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseConferenceModify(b)
		if err != nil {
			return
		}
		out, err := m.Marshal()
		if err != nil {
			t.Fatalf("parsed request does not marshal: %v", err)
		}
		if _, err := ParseConferenceModify(out); err != nil {
			t.Fatalf("marshalled request does not re-parse: %v\n%s", err, out)
		}
		if _, err := json.Marshal(m); err != nil {
			t.Fatalf("parsed request has no JSON form: %v", err)
		}
	})
}

func FuzzParseConferenceModifyJSON(f *testing.F) {
	f.Add([]byte(restCreate))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseConferenceModifyJSON(b)
		if err != nil {
			return
		}
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("parsed request does not marshal: %v", err)
		}
		if _, err := ParseConferenceModifyJSON(out); err != nil {
			t.Fatalf("marshalled request does not re-parse: %v\n%s", err, out)
		}
		if _, err := m.Marshal(); err != nil {
			t.Fatalf("parsed request has no XML form: %v", err)
		}
	})
}

// FuzzHandleIQ feeds arbitrary payloads to a handler whose bridge already has a conference
// "m" with endpoint "a": every payload gets exactly one reply, which is well-formed.
func FuzzHandleIQ(f *testing.F) {
	f.Add([]byte(sessionAccept("m", "a")))
	f.Add([]byte(relayCreate("m", "r", true, relayEndpoint("x", " create='true'", sourcesOf("x", 1, 2)))))
	f.Add([]byte(relayUpdate("m", "r", `<endpoints><endpoint id='x' expire='true'/></endpoints>`)))
	f.Add([]byte(`<conference-modify xmlns='jitsi:colibri2' meeting-id='m'><relay id='r' expire='true'/></conference-modify>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fb := newFakeBridge()
		h, err := NewHandler(Config{Bridge: fb, Logger: slog.New(slog.DiscardHandler), Relays: true})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		c, _ := fb.CreateConference("m", "")
		if _, err := c.CreateEndpoint(EndpointConfig{ID: "a"}); err != nil {
			t.Fatal(err)
		}
		replies := make(chan [2][]byte, 2)
		h.HandleIQ(context.Background(), b, func(result, errElem []byte) { replies <- [2][]byte{result, errElem} })
		select {
		case r := <-replies:
			switch {
			case (r[0] == nil) == (r[1] == nil):
				t.Fatalf("reply with result %q and error %q", r[0], r[1])
			case r[1] != nil:
				if _, err := ParseStanzaError(r[1]); err != nil {
					t.Fatalf("unparsable error %s: %v", r[1], err)
				}
			default:
				if _, err := ParseConferenceModified(r[0]); err != nil {
					t.Fatalf("unparsable result %s: %v", r[0], err)
				}
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no reply")
		}
		select {
		case r := <-replies:
			t.Fatalf("second reply %q %q", r[0], r[1])
		default:
		}
	})
}

// FuzzREST sends arbitrary methods, paths, content types and bodies through the REST layer
// of a handler whose bridge has conference "m" with endpoint "a": every request gets one of
// the documented statuses, and a 200 carries a conference-modified that parses.
func FuzzREST(f *testing.F) {
	f.Add(uint8(0), "", true, []byte(restCreate))
	f.Add(uint8(1), "m", true, []byte(`{"endpoints":[{"id":"a","expire":true}]}`))
	f.Add(uint8(1), "nope", true, []byte(`{}`))
	f.Add(uint8(0), "", false, []byte(`{"meeting-id":"m"}`))
	f.Add(uint8(2), "m/x", true, []byte(nil))
	methods := []string{"POST", "PATCH", "GET", "DELETE", "PUT"}
	f.Fuzz(func(t *testing.T, method uint8, id string, asJSON bool, body []byte) {
		fb := newFakeBridge()
		h, err := NewHandler(Config{Bridge: fb, Logger: slog.New(slog.DiscardHandler), Caps: Caps{MaxConferences: 4, MaxEndpoints: 8}})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		c, _ := fb.CreateConference("m", "")
		if _, err := c.CreateEndpoint(EndpointConfig{ID: "a"}); err != nil {
			t.Fatal(err)
		}
		path := "/colibri/v2/conferences"
		if id != "" {
			path += "/" + url.PathEscape(id)
		}
		req := httptest.NewRequest(methods[int(method)%len(methods)], path, bytes.NewReader(body))
		if asJSON {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		h.RESTHandler().ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			if _, err := ParseConferenceModifiedJSON(rec.Body.Bytes()); err != nil {
				t.Fatalf("200 with a body that does not parse: %v\n%s", err, rec.Body)
			}
		case http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge,
			http.StatusUnsupportedMediaType, http.StatusNotImplemented, http.StatusServiceUnavailable:
			if rec.Body.Len() == 0 {
				t.Fatalf("status %d without an explanation", rec.Code)
			}
		case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			// ServeMux sends an unclean path ("x/.", "//") to its clean form.
			if rec.Header().Get("Location") == "" {
				t.Fatalf("redirect %d without Location", rec.Code)
			}
		default:
			t.Fatalf("undocumented status %d: %s", rec.Code, rec.Body)
		}
	})
}
