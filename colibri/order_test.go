package colibri

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// blockMeeting makes the first bridge lookup for meetingID wait until release is closed.
func blockMeeting(fb *fakeBridge, meetingID string) (entered <-chan struct{}, release chan struct{}) {
	in := make(chan struct{})
	release = make(chan struct{})
	var once sync.Once
	fb.onCall = func(m string) {
		if m != meetingID {
			return
		}
		once.Do(func() {
			close(in)
			<-release
		})
	}
	return in, release
}

func TestPipelinedRequestsKeepOrderWhileOtherMeetingsProceed(t *testing.T) {
	h, fb := newTestHandler(t, nil)
	entered, release := blockMeeting(fb, "slow")

	var mu sync.Mutex
	var replies []string
	sendTagged := func(tag, payload string) <-chan iqResult {
		out := make(chan iqResult, 1)
		h.HandleIQ(context.Background(), []byte(payload), func(result, errElem []byte) {
			// Recorded in the reply callback itself: the order replies were produced in.
			mu.Lock()
			replies = append(replies, tag)
			mu.Unlock()
			r := iqResult{raw: result}
			if errElem != nil {
				r.raw = errElem
				r.err, _ = ParseStanzaError(errElem)
			}
			out <- r
		})
		return out
	}

	// jicofo pipelines: conference create, second endpoint, then the first endpoint's
	// session-accept and a trickle, all before any reply.
	slow := []<-chan iqResult{
		sendTagged("slow-1", allocate("slow", "a", true, "")),
		sendTagged("slow-2", allocate("slow", "b", false, "")),
		sendTagged("slow-3", sessionAccept("slow", "a")),
		sendTagged("slow-4", trickle("slow", "a", 41000)),
		sendTagged("slow-5", expireEPs("slow", "b")),
	}
	<-entered
	// The slow meeting's worker is stuck in the bridge; another meeting is served meanwhile.
	ok(t, wait(t, sendTagged("fast-1", allocate("fast", "x", true, ""))))
	ok(t, wait(t, sendTagged("fast-2", sessionAccept("fast", "x"))))
	mu.Lock()
	got := slices.Clone(replies)
	mu.Unlock()
	if !slices.Equal(got, []string{"fast-1", "fast-2"}) {
		t.Fatalf("replies while slow meeting blocked: %v", got)
	}
	close(release)
	for i, ch := range slow {
		if r := wait(t, ch); r.err != nil {
			t.Fatalf("slow request %d failed: %s", i+1, r.raw)
		}
	}
	var slowOps []string
	for _, op := range fb.ops() {
		if strings.HasPrefix(op, "slow: ") {
			slowOps = append(slowOps, strings.TrimPrefix(op, "slow: "))
		}
	}
	want := []string{
		"create conference",
		"create a", "sources a (0)",
		"create b", "sources b (0)",
		"transport a (1 candidates)", "sources a (2)",
		"transport a (1 candidates)",
		"expire b",
	}
	if !slices.Equal(slowOps, want) {
		t.Fatalf("slow meeting applied\n%q\nwant\n%q", slowOps, want)
	}
	mu.Lock()
	defer mu.Unlock()
	var slowReplies []string
	for _, r := range replies {
		if strings.HasPrefix(r, "slow") {
			slowReplies = append(slowReplies, r)
		}
	}
	if !slices.Equal(slowReplies, []string{"slow-1", "slow-2", "slow-3", "slow-4", "slow-5"}) {
		t.Fatalf("slow replies out of order: %v", slowReplies)
	}
}

func TestHostileInput(t *testing.T) {
	h, fb := newTestHandler(t, nil)
	ok(t, do(t, h, allocate("m", "a", true, "")))

	many := func(n int, ep string) string {
		var b strings.Builder
		b.WriteString(`<conference-modify xmlns='jitsi:colibri2' meeting-id='m'>`)
		for i := range n {
			fmt.Fprintf(&b, ep, i)
		}
		b.WriteString(`</conference-modify>`)
		return b.String()
	}
	huge := strings.Repeat("x", 10_000)
	for _, tc := range []struct {
		name, req string
		text      string
	}{
		{"garbage", "\x00\x01<<<>>>", "malformed"},
		{"truncated", `<conference-modify xmlns='jitsi:colibri2' meeting-id='m'><endpoint id='a'>`, "malformed"},
		{"wrong namespace", `<conference-modify xmlns='jitsi:colibri' meeting-id='m'/>`, "malformed"},
		{"bad number", `<conference-modify xmlns='jitsi:colibri2' meeting-id='m'><endpoint id='a'><sources><media-source type='audio' id='x'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='99999999999'/></media-source></sources></endpoint></conference-modify>`, "malformed"},
		{"missing meeting-id", `<conference-modify xmlns='jitsi:colibri2'><endpoint id='a' expire='true'/></conference-modify>`, "meeting-id"},
		{"huge meeting-id", `<conference-modify xmlns='jitsi:colibri2' meeting-id='` + huge + `'/>`, "longer than"},
		{"huge endpoint id", `<conference-modify xmlns='jitsi:colibri2' meeting-id='m'><endpoint id='` + huge + `' expire='true'/></conference-modify>`, "longer than"},
		{"endpoint without id", `<conference-modify xmlns='jitsi:colibri2' meeting-id='m'><endpoint expire='true'/></conference-modify>`, "without id"},
		{"too many endpoints", many(5000, `<endpoint id='e%d' expire='true'/>`), "more than 1000"},
		{"deeply nested unknown children", `<conference-modify xmlns='jitsi:colibri2' meeting-id='m'><endpoint>` + strings.Repeat("<x>", 100_000) + strings.Repeat("</x>", 100_000) + `</endpoint></conference-modify>`, "without id"},
		{"oversized request", `<conference-modify xmlns='jitsi:colibri2' meeting-id='m'>` + strings.Repeat("<x/>", 300_000) + `</conference-modify>`, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, do(t, h, tc.req), CondBadRequest, ReasonNone, tc.text)
		})
	}
	// At the limit, force-mute for unknown endpoints is accepted (and ignored).
	r := ok(t, do(t, h, many(1000, `<endpoint id='e%d'><force-mute audio='true'/></endpoint>`)))
	if len(r.Endpoints) != 0 {
		t.Fatalf("unknown endpoints echoed: %d", len(r.Endpoints))
	}
	// The meeting's queue still works.
	ok(t, do(t, h, sessionAccept("m", "a")))
	if fb.conf("m").ep("a").sourceSets != 2 {
		t.Fatal("session-accept after hostile input not applied")
	}
}

func TestBridgePanicBecomesInternalServerError(t *testing.T) {
	h, fb := newTestHandler(t, nil)
	fb.onCall = func(m string) {
		if m == "boom" {
			panic("bridge bug")
		}
	}
	wantErr(t, do(t, h, trickle("boom", "a", 1)), CondInternalServerError, ReasonNone, "internal")
	// The worker survived and the meeting is usable.
	fb.onCall = nil
	ok(t, do(t, h, allocate("boom", "a", true, "")))
}

func TestQueueLimitAndClose(t *testing.T) {
	h, fb := newTestHandler(t, func(c *Config) { c.Limits.MaxQueue = 2 })
	entered, release := blockMeeting(fb, "m")
	first := send(t, h, allocate("m", "a", true, "")) // taken by the worker, blocks in the bridge
	<-entered
	queued := []<-chan iqResult{send(t, h, sessionAccept("m", "a")), send(t, h, trickle("m", "a", 1))}
	// The queue is full: refused at once, without waiting for the blocked worker.
	wantErr(t, do(t, h, trickle("m", "a", 2)), CondResourceConstraint, ReasonNone, "queued")

	closed := make(chan struct{})
	go func() {
		_ = h.Close()
		close(closed)
	}()
	// Close waits for the request in the bridge...
	select {
	case <-closed:
		t.Fatal("Close returned while a request was in the bridge")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	ok(t, wait(t, first))
	// ...and fails the queued ones instead of applying them.
	for _, ch := range queued {
		wantErr(t, wait(t, ch), CondServiceUnavailable, ReasonNone, "shutting down")
	}
	<-closed
	if n := fb.conf("m").ep("a").sourceSets; n != 1 {
		t.Fatalf("queued requests applied after Close: %d source sets", n)
	}
	wantErr(t, do(t, h, trickle("m", "a", 3)), CondServiceUnavailable, ReasonNone, "shutting down")
}
