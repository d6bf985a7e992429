package standalone

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"gojvb/colibri"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func httpDo(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

func joinRaw(t *testing.T, st *stack, room string) joinResponse {
	t.Helper()
	status, raw := httpDo(t, http.MethodPost, st.http.URL+"/api/join", fmt.Sprintf(`{"room":%q}`, room))
	if status != http.StatusOK {
		t.Fatalf("join %s: HTTP %d %s", room, status, raw)
	}
	var jr joinResponse
	if err := json.Unmarshal(raw, &jr); err != nil {
		t.Fatal(err)
	}
	return jr
}

func TestJoinAllocatesEndpointAndOffersItsTransport(t *testing.T) {
	st := startStack(t, Config{})
	jr := joinRaw(t, st, "Room_1")
	if jr.Room != "room_1" || jr.EndpointID == "" || len(jr.Token) < 32 || jr.Offer.Version != 1 {
		t.Fatalf("join response %+v", jr)
	}
	confs := st.bridge.Conferences()
	if len(confs) != 1 || confs[0].Name() != "room_1@"+DefaultMUCDomain {
		t.Fatalf("bridge conferences %v", confs)
	}
	ep := confs[0].Endpoint(jr.EndpointID)
	if ep == nil {
		t.Fatalf("bridge has no endpoint %s", jr.EndpointID)
	}
	local := ep.LocalTransport()
	fa, fv := confs[0].FeedbackSSRCs()
	for _, want := range []string{"a=ice-ufrag:" + local.Ufrag + "\r\n", "a=ice-pwd:" + local.Pwd + "\r\n",
		"a=fingerprint:sha-256 " + local.Fingerprints[0].Value + "\r\n", "a=setup:actpass\r\n",
		"a=" + local.Candidates[0].SDP() + "\r\n",
		fmt.Sprintf("a=ssrc:%d msid:mixedmslabel mixedlabelaudio0", fa),
		fmt.Sprintf("a=ssrc:%d msid:mixedmslabel mixedlabelvideo0", fv), "a=sctp-port:5000"} {
		if !strings.Contains(jr.Offer.SDP, want) {
			t.Errorf("offer lacks %q", want)
		}
	}
	if !ep.Config().SCTP || !ep.Config().ICEControlling {
		t.Errorf("endpoint config %+v: want SCTP and ICE controlling like jicofo asks", ep.Config())
	}
}

// TestParticipantsAreReofferedOnJoinAndLeave uses two pion clients: each learns the other's
// sources through a new offer, the bridge gets their sources, and leaving is cleaned up.
func TestParticipantsAreReofferedOnJoinAndLeave(t *testing.T) {
	st := startStack(t, Config{})
	p1 := newPionPeer(t, st.http.URL)
	if err := p1.join("r"); err != nil {
		t.Fatal(err)
	}
	p2 := newPionPeer(t, st.http.URL)
	if err := p2.join("r"); err != nil {
		t.Fatal(err)
	}
	owners := func(p *pionPeer) map[string]int {
		p.mu.Lock()
		defer p.mu.Unlock()
		out := map[string]int{}
		for _, m := range p.mids {
			if m.owner != "" && m.owner != "mixedmslabel" {
				out[m.owner]++
			}
		}
		return out
	}
	if o := owners(p2); o[p1.ep] != 2 {
		t.Errorf("p2's first offer has sources %v, want p1's audio and video", o)
	}
	waitFor(t, 5*time.Second, "p1 re-offered with p2's sources", func() error {
		if o := owners(p1); o[p2.ep] != 2 {
			return fmt.Errorf("p1 offer owners %v", o)
		}
		return nil
	})
	conf := st.bridge.Conferences()[0]
	for _, p := range []*pionPeer{p1, p2} {
		srcs := conf.Endpoint(p.ep).Sources()
		if len(srcs) != 2 || srcs[0].Name != p.ep+"-a0" || srcs[1].Name != p.ep+"-v0" || len(srcs[1].Sources) != 2 {
			t.Errorf("bridge sources of %s: %+v, want audio + video with RTX", p.ep, srcs)
		}
	}

	if err := p2.leave(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "p1 re-offered without p2", func() error {
		if o := owners(p1); o[p2.ep] != 0 {
			return fmt.Errorf("p1 offer owners %v", o)
		}
		return nil
	})
	if eps := st.endpoints(); len(eps) != 1 || !eps[p1.ep] {
		t.Errorf("bridge endpoints after p2 left: %v", eps)
	}
	if err := p1.leave(); err != nil {
		t.Fatal(err)
	}
	if n := len(st.bridge.Conferences()); n != 0 {
		t.Errorf("%d conferences left on the bridge after everyone left", n)
	}
}

func TestBadRequestsGetClearErrors(t *testing.T) {
	st := startStack(t, Config{})
	jr := joinRaw(t, st, "r")
	auth := fmt.Sprintf(`"endpointId":%q,"token":%q`, jr.EndpointID, jr.Token)
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"malformed json", "POST", "/api/join", `{"room":`, 400, "request body"},
		{"unknown field", "POST", "/api/join", `{"room":"a","x":1}`, 400, "unknown field"},
		{"two values", "POST", "/api/join", `{"room":"a"}{}`, 400, "more than one"},
		{"bad room", "POST", "/api/join", `{"room":"a b/../c"}`, 400, "room name"},
		{"empty room", "POST", "/api/join", `{"room":""}`, 400, "room name"},
		{"huge body", "POST", "/api/join", `{"room":"` + strings.Repeat("a", maxRequestBody) + `"}`, 400, "request body"},
		{"wrong token", "POST", "/api/answer", fmt.Sprintf(`{"endpointId":%q,"token":"x","sdp":"v=0"}`, jr.EndpointID), 404, "unknown participant"},
		{"garbage sdp", "POST", "/api/answer", `{` + auth + `,"version":1,"sdp":"hello"}`, 400, "not SDP"},
		{"answer without dtls", "POST", "/api/answer", `{` + auth + `,"version":1,"sdp":"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\n"}`, 400, "fingerprint"},
		{"poll bad after", "GET", "/api/offer?endpoint=" + jr.EndpointID + "&token=" + jr.Token + "&after=x", "", 400, "after"},
		{"poll unknown", "GET", "/api/offer?endpoint=nobody&token=x", "", 404, "unknown participant"},
		{"leave unknown", "POST", "/api/leave", `{"endpointId":"nobody","token":"x"}`, 404, "unknown participant"},
		{"wrong method", "GET", "/api/join", "", 404, "no such API call"},
		{"post to page", "POST", "/", "", 405, ""},
	} {
		status, raw := httpDo(t, tc.method, st.http.URL+tc.path, tc.body)
		if status != tc.status || !strings.Contains(string(raw), tc.want) {
			t.Errorf("%s: HTTP %d %s, want %d mentioning %q", tc.name, status, raw, tc.status, tc.want)
		}
	}
	// None of it disturbed the participant: its offer is still served at once.
	status, raw := httpDo(t, "GET", st.http.URL+"/api/offer?endpoint="+jr.EndpointID+"&token="+jr.Token+"&after=0", "")
	if status != http.StatusOK || !bytes.Contains(raw, []byte(`"version":1`)) {
		t.Errorf("offer after bad requests: HTTP %d %s", status, raw)
	}
}

func TestSilentParticipantIsExpiredButPollingOneStays(t *testing.T) {
	st := startStack(t, Config{ParticipantTimeout: 800 * time.Millisecond, PollTimeout: 200 * time.Millisecond})
	p := newPionPeer(t, st.http.URL)
	if err := p.join("r"); err != nil {
		t.Fatal(err)
	}
	silent := joinRaw(t, st, "r")
	waitFor(t, 5*time.Second, "silent participant expired", func() error {
		if eps := st.endpoints(); eps[silent.EndpointID] || !eps[p.ep] {
			return fmt.Errorf("bridge endpoints %v", eps)
		}
		return nil
	})
	status, _ := httpDo(t, "GET", st.http.URL+"/api/offer?endpoint="+silent.EndpointID+"&token="+silent.Token, "")
	if status != http.StatusNotFound {
		t.Errorf("poll of an expired participant: HTTP %d, want 404", status)
	}
	time.Sleep(time.Second)
	if eps := st.endpoints(); !eps[p.ep] {
		t.Errorf("the polling participant was expired too: %v", eps)
	}
}

func TestCloseEndsPollsAndExpiresConferences(t *testing.T) {
	st := startStack(t, Config{})
	jr := joinRaw(t, st, "r")
	done := make(chan int, 1)
	go func() {
		resp, err := http.Get(st.http.URL + "/api/offer?endpoint=" + jr.EndpointID + "&token=" + jr.Token + "&after=1")
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	// Close only once the poll is waiting in the focus: a poll that arrived after Close would be
	// refused anyway, and would not show that Close ends the ones in progress.
	p, err := st.focus.f.participant(jr.EndpointID, jr.Token)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the long-poll waiting in the focus", func() error {
		p.room.mu.Lock()
		defer p.room.mu.Unlock()
		if p.polling == 0 {
			return errors.New("no poll in progress")
		}
		return nil
	})
	if err := st.focus.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case status := <-done:
		if status != http.StatusServiceUnavailable && status != http.StatusGone {
			t.Errorf("long-poll ended with HTTP %d at Close, want 503 or 410", status)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("long-poll still open after Close")
	}
	if n := len(st.bridge.Conferences()); n != 0 {
		t.Errorf("%d conferences left on the bridge after Close", n)
	}
	if status, raw := httpDo(t, "POST", st.http.URL+"/api/join", `{"room":"r"}`); status != http.StatusServiceUnavailable {
		t.Errorf("join after Close: HTTP %d %s, want 503", status, raw)
	}
}

func TestPageIsServed(t *testing.T) {
	st := startStack(t, Config{})
	for path, want := range map[string]string{"/": "<title>", "/app.js": "createDataChannel('JVB data channel'",
		"/style.css": ".tile"} {
		status, raw := httpDo(t, "GET", st.http.URL+path, "")
		if status != http.StatusOK || !strings.Contains(string(raw), want) {
			t.Errorf("GET %s: HTTP %d, body lacks %q", path, status, want)
		}
	}
}

// recorder passes requests to the real COLIBRI2 handler and keeps their XML.
type recorder struct {
	next Modifier
	mu   sync.Mutex
	xml  []string
}

func (r *recorder) Modify(ctx context.Context, req *colibri.ConferenceModify) (*colibri.ConferenceModified, error) {
	b, err := req.Marshal()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.xml = append(r.xml, string(b))
	r.mu.Unlock()
	return r.next.Modify(ctx, req)
}

func (r *recorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.xml...)
}

// TestRequestsAreShapedLikeJicofos checks the conference-modify elements the focus sends for a
// join, an answer and a leave (control-plane §3 steps 2, 3 and 7/8).
func TestRequestsAreShapedLikeJicofos(t *testing.T) {
	rec := &recorder{}
	st := startStackWith(t, Config{}, func(m Modifier) Modifier { rec.next = m; return rec })
	p := newPionPeer(t, st.http.URL)
	if err := p.join("shape"); err != nil {
		t.Fatal(err)
	}
	if err := p.leave(); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want create, update, expire:\n%s", len(reqs), strings.Join(reqs, "\n"))
	}
	mustHave := [][]string{
		{`create="true"`, `name="shape@conference.standalone"`, `<endpoint id="` + p.ep + `" create="true" stats-id="` + p.ep + `"`,
			`<media type="audio">`, `name="opus"`, `<media type="video">`, `name="VP8"`, `name="rtx"`,
			`ice-controlling="true"`, `<sctp></sctp>`, `<capability name="source-names">`, `<sources></sources>`},
		{`<endpoint id="` + p.ep + `"`, `ufrag=`, `setup="active"`, `<candidate component="1"`, `<media-source type="audio" id="` + p.ep + `-a0"`,
			`<media-source type="video" id="` + p.ep + `-v0"`, `semantics="FID"`},
		{`expire="true"`},
	}
	for i, wants := range mustHave {
		for _, w := range wants {
			if !strings.Contains(reqs[i], w) {
				t.Errorf("request %d lacks %s:\n%s", i, w, reqs[i])
			}
		}
	}
	if strings.Contains(reqs[0], "ssrc-rewriting") {
		t.Errorf("a client that did not ask for SSRC rewriting got it:\n%s", reqs[0])
	}
	if strings.Contains(reqs[1], "create=") || strings.Contains(reqs[1], "<media ") {
		t.Errorf("update repeats create or media:\n%s", reqs[1])
	}
	if strings.Contains(reqs[2], "<endpoint") {
		t.Errorf("last one out should expire the conference, not the endpoint:\n%s", reqs[2])
	}
}

// TestSSRCRewritingPageGetsNoRemoteSources: a client that asks for SSRC rewriting gets an
// endpoint with capability ssrc-rewriting and offers without remote m-lines (it learns sources
// from the bridge's source maps) that still follow the room's roster; a client without it in the
// same room gets the rewriting client's sources in its offer as before.
func TestSSRCRewritingPageGetsNoRemoteSources(t *testing.T) {
	rec := &recorder{}
	st := startStackWith(t, Config{}, func(m Modifier) Modifier { rec.next = m; return rec })
	rw := newPionPeer(t, st.http.URL)
	rw.rewriting = true
	if err := rw.join("rw"); err != nil {
		t.Fatal(err)
	}
	if reqs := rec.requests(); len(reqs) == 0 || !strings.Contains(reqs[0], `<capability name="ssrc-rewriting">`) ||
		!strings.Contains(reqs[0], `<capability name="source-names">`) {
		t.Fatalf("create request lacks capabilities source-names and ssrc-rewriting:\n%s", strings.Join(reqs, "\n"))
	}
	if ep := st.bridge.Conferences()[0].Endpoint(rw.ep); ep == nil || !ep.Config().SSRCRewriting {
		t.Fatalf("bridge endpoint %s without SSRC rewriting", rw.ep)
	}
	plain := newPionPeer(t, st.http.URL)
	if err := plain.join("rw"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the plain client is offered the rewriting one's sources", func() error {
		plain.mu.Lock()
		defer plain.mu.Unlock()
		n := 0
		for _, m := range plain.mids {
			if m.owner == rw.ep {
				n++
			}
		}
		if n != 2 {
			return fmt.Errorf("plain client's offer has %d sources of %s, want 2", n, rw.ep)
		}
		return nil
	})
	waitFor(t, 5*time.Second, "the rewriting client is re-offered for the roster only", func() error {
		rw.mu.Lock()
		defer rw.mu.Unlock()
		if len(rw.mids) != 3 || !slices.Equal(rw.roster, []string{plain.ep}) {
			return fmt.Errorf("offer has mids %v and participants %v, want 3 own m-lines and [%s]", rw.mids, rw.roster, plain.ep)
		}
		return nil
	})
	if err := plain.leave(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the rewriting client sees the other leave", func() error {
		rw.mu.Lock()
		defer rw.mu.Unlock()
		if len(rw.roster) != 0 || len(rw.mids) != 3 {
			return fmt.Errorf("offer has mids %v and participants %v, want 3 and none", rw.mids, rw.roster)
		}
		return nil
	})
}

// TestMeetingExpiredByTheBridgeIsStartedAgain: when the bridge expires a conference on its own,
// the next join starts a new meeting and the stale participants are told they are gone (410),
// as jicofo re-invites after conference_not_found.
func TestMeetingExpiredByTheBridgeIsStartedAgain(t *testing.T) {
	st := startStack(t, Config{})
	stale := joinRaw(t, st, "r")
	st.bridge.Conferences()[0].Expire()
	fresh := joinRaw(t, st, "r")
	confs := st.bridge.Conferences()
	if len(confs) != 1 || confs[0].Endpoint(fresh.EndpointID) == nil || confs[0].Endpoint(stale.EndpointID) != nil {
		t.Fatalf("bridge conferences after re-join: %v", confs)
	}
	if strings.Contains(fresh.Offer.SDP, stale.EndpointID) {
		t.Error("the new meeting's offer still names the stale participant")
	}
	status, raw := httpDo(t, "GET", st.http.URL+"/api/offer?endpoint="+stale.EndpointID+"&token="+stale.Token+"&after=1", "")
	if status != http.StatusNotFound {
		t.Errorf("poll of the stale participant: HTTP %d %s, want 404", status, raw)
	}
}

// TestEndpointExpiredByTheBridgeGetsGone: an answer for an endpoint the bridge expired is 410
// and the participant is dropped.
func TestEndpointExpiredByTheBridgeGetsGone(t *testing.T) {
	st := startStack(t, Config{})
	keep := joinRaw(t, st, "r")
	lost := joinRaw(t, st, "r")
	st.bridge.Conferences()[0].Endpoint(lost.EndpointID).Expire()
	body, _ := json.Marshal(answerRequest{EndpointID: lost.EndpointID, Token: lost.Token, Version: 1, SDP: chromeAnswer})
	status, raw := httpDo(t, "POST", st.http.URL+"/api/answer", string(body))
	if status != http.StatusGone || !strings.Contains(string(raw), "expired on the bridge") {
		t.Errorf("answer for an expired endpoint: HTTP %d %s, want 410", status, raw)
	}
	if _, err := st.focus.f.participant(lost.EndpointID, lost.Token); err == nil {
		t.Error("focus still has the expired participant")
	}
	if _, err := st.focus.f.participant(keep.EndpointID, keep.Token); err != nil {
		t.Errorf("the other participant was dropped: %v", err)
	}
}

func TestFullRoomRefusesJoinsAndConfigIsChecked(t *testing.T) {
	st := startStack(t, Config{MaxParticipants: 2})
	joinRaw(t, st, "r")
	joinRaw(t, st, "r")
	status, raw := httpDo(t, "POST", st.http.URL+"/api/join", `{"room":"r"}`)
	if status != http.StatusServiceUnavailable || !strings.Contains(string(raw), "room is full") {
		t.Errorf("third join: HTTP %d %s, want 503 room is full", status, raw)
	}
	if eps := st.endpoints(); len(eps) != 2 {
		t.Errorf("bridge endpoints %v, want the two admitted", eps)
	}
	joinRaw(t, st, "other") // other rooms are unaffected

	for _, cfg := range []Config{{MaxParticipants: -1}, {MaxParticipants: 1000}, {ParticipantTimeout: -time.Second},
		{ParticipantTimeout: time.Second, PollTimeout: 2 * time.Second}} {
		if _, err := New(Config{Modifier: st.colib, ParticipantTimeout: cfg.ParticipantTimeout,
			PollTimeout: cfg.PollTimeout, MaxParticipants: cfg.MaxParticipants}); err == nil {
			t.Errorf("New accepted %+v", cfg)
		}
	}
	if _, err := New(Config{}); err == nil || !strings.Contains(err.Error(), "Modifier") {
		t.Errorf("New without Modifier: %v", err)
	}
}
