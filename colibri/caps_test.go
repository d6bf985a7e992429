package colibri

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Each bridge-wide cap refuses the create that would pass it with resource-constraint (type
// wait, no colibri2 reason: jicofo places the participants elsewhere), the conference's own cap
// with bad-request (jicofo fails that invite only, and keeps the conference here); each counts
// the refusal and lets creates through again once there is room.
func TestCapsRefuseCreatesWithResourceConstraint(t *testing.T) {
	h, _ := newTestHandler(t, func(c *Config) {
		c.Caps = Caps{MaxConferences: 2, MaxEndpoints: 3, MaxEndpointsPerConference: 2}
	})
	ok(t, do(t, h, allocate("m1", "a", true, "")))
	ok(t, do(t, h, allocate("m1", "b", false, "")))
	wantErr(t, do(t, h, allocate("m1", "c", false, "")), CondBadRequest, ReasonNone, "max-endpoints-per-conference 2")
	ok(t, do(t, h, allocate("m2", "c", true, "")))
	r := do(t, h, allocate("m2", "d", false, ""))
	wantErr(t, r, CondResourceConstraint, ReasonNone, "max-endpoints 3")
	if !strings.Contains(string(r.raw), "type='wait'") && !strings.Contains(string(r.raw), `type="wait"`) {
		t.Errorf("error type is not wait: %s", r.raw)
	}
	wantErr(t, do(t, h, allocate("m3", "e", true, "")), CondResourceConstraint, ReasonNone, "max-conferences 2")
	if got, want := h.CapRefusals(), (CapRefusals{Conferences: 1, Endpoints: 1, EndpointsPerConference: 1}); got != want {
		t.Fatalf("CapRefusals = %+v, want %+v", got, want)
	}

	// The last endpoint of m2 leaves: m2 expires, and both a conference and an endpoint fit.
	ok(t, do(t, h, expireEPs("m2", "c")))
	ok(t, do(t, h, allocate("m3", "e", true, "")))

	// REST answers a cap refusal with 503 and the same text.
	srv := httptest.NewServer(h.RESTHandler())
	defer srv.Close()
	code, body := restDo(t, srv, "POST", "/colibri/v2/conferences", strings.Replace(restCreate, "beccf2ed", "m9", 1))
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "max-conferences") {
		t.Fatalf("REST create over the cap: %d %s, want 503 naming max-conferences", code, body)
	}
}

func TestNegativeCapMeansUnlimited(t *testing.T) {
	h, _ := newTestHandler(t, func(c *Config) { c.Caps = Caps{MaxConferences: -1, MaxEndpointsPerConference: -1} })
	for i := range 5 {
		ok(t, do(t, h, allocate("m", string(rune('a'+i)), i == 0, "")))
	}
}
