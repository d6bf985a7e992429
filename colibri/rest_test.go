package colibri

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func restDo(t *testing.T, srv *httptest.Server, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestRESTConferenceLifecycle(t *testing.T) {
	h, fb := newTestHandler(t, nil)
	srv := httptest.NewServer(h.RESTHandler())
	defer srv.Close()

	code, body := restDo(t, srv, "POST", "/colibri/v2/conferences", restCreate)
	if code != http.StatusOK {
		t.Fatalf("create: %d %s", code, body)
	}
	resp, err := ParseConferenceModifiedJSON([]byte(body))
	if err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	a, v := fb.conf("beccf2ed").FeedbackSSRCs()
	if resp.Endpoints[0].ID != "79f0273d" || resp.Endpoints[0].Transport.ICEUDP.Ufrag != "uf-79f0273d" ||
		resp.Endpoints[0].Transport.SCTP.Port != 5000 || resp.Sources.MediaSources[0].Sources[0].SSRC != a ||
		resp.Sources.MediaSources[1].Sources[0].SSRC != v {
		t.Fatalf("create response %s", body)
	}
	for _, frag := range []string{`"xmlns":"urn:xmpp:jingle:transports:ice-udp:1"`, `"port":"10000"`, `"rtcp-mux":true`} {
		if !strings.Contains(body, frag) {
			t.Errorf("response lacks %s: %s", frag, body)
		}
	}
	ep := fb.conf("beccf2ed").ep("79f0273d")
	if ep.cfg.InitialLastN != 3 || len(ep.sources) != 1 || !ep.muteA || ep.muteV {
		t.Fatalf("endpoint state %+v sources %v", ep.cfg, ep.sources)
	}

	// Same error semantics as XMPP.
	code, body = restDo(t, srv, "POST", "/colibri/v2/conferences/", restCreate)
	if code != http.StatusBadRequest || !strings.Contains(body, "already exists") {
		t.Fatalf("second create: %d %s", code, body)
	}
	code, body = restDo(t, srv, "PATCH", "/colibri/v2/conferences/unknown", `{"endpoints":[{"id":"x","expire":true}]}`)
	if code != http.StatusNotFound {
		t.Fatalf("unknown meeting: %d %s", code, body)
	}
	// A POST for an unknown meeting is an error answer like any other: 400, as in JVB.
	code, body = restDo(t, srv, "POST", "/colibri/v2/conferences", `{"meeting-id":"unknown","endpoints":[{"id":"x","expire":true}]}`)
	if code != http.StatusBadRequest || !strings.Contains(body, "Conference not found") {
		t.Fatalf("POST for an unknown meeting: %d %s", code, body)
	}
	code, body = restDo(t, srv, "PATCH", "/colibri/v2/conferences/beccf2ed", `{"endpoints":[{"id":"ghost","transport":{}}]}`)
	if code != http.StatusBadRequest || !strings.Contains(body, "Unknown endpoint ghost") {
		t.Fatalf("unknown endpoint: %d %s", code, body)
	}
	code, body = restDo(t, srv, "PATCH", "/colibri/v2/conferences/beccf2ed", `{"endpoints": [`)
	if code != http.StatusBadRequest || !strings.Contains(body, "malformed") {
		t.Fatalf("malformed: %d %s", code, body)
	}
	code, _ = restDo(t, srv, "PATCH", "/colibri/v2/conferences/beccf2ed", `{"meeting-id":"other","expire":true}`)
	if code != http.StatusBadRequest {
		t.Fatalf("mismatched meeting-id: %d", code)
	}
	for _, p := range []string{"/colibri/v2/conferences", "/colibri/v2/conferences/beccf2ed", "/colibri/v2/conferences/beccf2ed/dominant-speaker-identification"} {
		if code, _ := restDo(t, srv, "GET", p, ""); code != http.StatusNotImplemented {
			t.Fatalf("GET %s: %d", p, code)
		}
	}

	// PATCH with the meeting in the URL: expire the conference.
	code, body = restDo(t, srv, "PATCH", "/colibri/v2/conferences/beccf2ed", `{"expire":true}`)
	if code != http.StatusOK || fb.conf("beccf2ed") != nil {
		t.Fatalf("expire: %d %s", code, body)
	}
}

func TestRESTBodyLimit(t *testing.T) {
	h, _ := newTestHandler(t, func(c *Config) { c.Limits.MaxRequestBytes = 1024 })
	srv := httptest.NewServer(h.RESTHandler())
	defer srv.Close()
	code, _ := restDo(t, srv, "POST", "/colibri/v2/conferences", `{"meeting-id":"`+strings.Repeat("a", 4096)+`"}`)
	if code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d", code)
	}
}

// A body a web page could send without the browser asking first (text/plain, a form) is
// refused before it reaches the handler.
func TestRESTTakesJSONOnly(t *testing.T) {
	h, fb := newTestHandler(t, nil)
	srv := httptest.NewServer(h.RESTHandler())
	defer srv.Close()
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", ""} {
		req, err := http.NewRequest("POST", srv.URL+"/colibri/v2/conferences", strings.NewReader(restCreate))
		if err != nil {
			t.Fatal(err)
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("Content-Type %q: %d, want 415", ct, resp.StatusCode)
		}
	}
	if n := len(fb.Conferences()); n != 0 {
		t.Fatalf("refused requests created %d conferences", n)
	}
}
