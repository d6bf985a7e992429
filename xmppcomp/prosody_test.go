package xmppcomp_test

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gojvb/xmppcomp"
	"gojvb/xmppcomp/prosodytest"
)

const nick = "jvb1"

var occupant = prosodytest.Brewery + "/" + nick

// bridge is a running xmppcomp.Client under test.
type bridge struct {
	*xmppcomp.Client
	health  atomic.Pointer[error]
	counter atomic.Int64
	// staleStats counts stats built while Status showed no room joined:
	// presence must only be built from the joined state.
	staleStats atomic.Int64
	// changes receives Status after every StateChanged call.
	changes chan statusAt
	cancel  context.CancelFunc
	done    chan struct{}
}

// statusAt is a Status and when StateChanged reported it.
type statusAt struct {
	xmppcomp.Status
	at time.Time
}

// awaitStatus waits for a reported Status for which cond holds and returns when it was
// reported.
func (b *bridge) awaitStatus(t *testing.T, within time.Duration, what string, cond func(xmppcomp.Status) bool) time.Time {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case st := <-b.changes:
			if cond(st.Status) {
				return st.at
			}
		case <-timeout:
			t.Fatalf("no %s within %v; now %+v", what, within, b.Status())
		}
	}
}

func joinedOne(st xmppcomp.Status) bool { return st.MUCClientsConnected == 1 && st.MUCsJoined == 1 }

func testLogger(t *testing.T) *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("test", t.Name())
}

// logSeen is a slog.Handler that passes records on to next and remembers which messages were
// logged, so a test can wait for an event the client only reports in its log.
type logSeen struct {
	next slog.Handler
	mu   *sync.Mutex
	msgs map[string]int
}

func newLogSeen(next slog.Handler) *logSeen {
	return &logSeen{next: next, mu: &sync.Mutex{}, msgs: map[string]int{}}
}

func (l *logSeen) Enabled(context.Context, slog.Level) bool { return true }

func (l *logSeen) Handle(ctx context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs[r.Message]++
	l.mu.Unlock()
	if l.next.Enabled(ctx, r.Level) {
		return l.next.Handle(ctx, r)
	}
	return nil
}

func (l *logSeen) WithAttrs(as []slog.Attr) slog.Handler {
	return &logSeen{next: l.next.WithAttrs(as), mu: l.mu, msgs: l.msgs}
}

func (l *logSeen) WithGroup(name string) slog.Handler {
	return &logSeen{next: l.next.WithGroup(name), mu: l.mu, msgs: l.msgs}
}

func (l *logSeen) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.msgs[msg]
}

func serverConfig(srv *prosodytest.Server) xmppcomp.ServerConfig {
	return xmppcomp.ServerConfig{
		ID: "shard0", Host: srv.Host, Port: srv.Port, Domain: prosodytest.Domain,
		Username: prosodytest.JVBUser, Password: prosodytest.JVBPassword,
		MUCJIDs: []string{prosodytest.Brewery}, Nickname: nick,
		DisableCertificateVerification: true, SecurityMode: xmppcomp.SecurityRequired,
	}
}

// startBridge runs a client against srv; edit may change the config.
func startBridge(t *testing.T, srv *prosodytest.Server, edit func(*xmppcomp.Config)) *bridge {
	t.Helper()
	b := &bridge{done: make(chan struct{}), changes: make(chan statusAt, 4096)}
	cfg := xmppcomp.Config{
		Servers:          []xmppcomp.ServerConfig{serverConfig(srv)},
		Version:          "2.3.0-test",
		PresenceInterval: 200 * time.Millisecond,
		Logger:           testLogger(t),
		Stats: func() []xmppcomp.Stat {
			joined := b.Status().MUCsJoined
			if joined == 0 {
				b.staleStats.Add(1)
			}
			return []xmppcomp.Stat{
				{Name: "stress_level", Value: "0.05"},
				{Name: "drain", Value: "false"},
				{Name: "counter", Value: strconv.FormatInt(b.counter.Add(1), 10)},
				{Name: "mucs_joined", Value: strconv.Itoa(joined)},
			}
		},
		StateChanged: func() {
			select {
			case b.changes <- statusAt{Status: b.Status(), at: time.Now()}:
			default:
			}
		},
		Health: func() error {
			if e := b.health.Load(); e != nil {
				return *e
			}
			return nil
		},
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := xmppcomp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.Client = c
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	go func() {
		defer close(b.done)
		if err := c.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(b.stop)
	return b
}

func (b *bridge) stop() {
	b.cancel()
	<-b.done
}

// waitJoined waits until the client reports the brewery joined.
func (b *bridge) waitJoined(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if st := b.Status(); st.MUCsJoined == 1 && st.MUCClientsConnected == 1 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("bridge not joined after %v: %+v", within, b.Status())
}

// statsPresence is a presence of the bridge; Stats is nil when it carries none.
type statsPresence struct {
	Type  string
	Stats map[string]string
}

func (p statsPresence) stat(name string) (string, bool) {
	v, ok := p.Stats[name]
	return v, ok
}

// nextBridgePresence returns the next presence from the bridge's
// occupant JID that matches ok.
func nextBridgePresence(t *testing.T, f *prosodytest.Focus, within time.Duration, ok func(statsPresence) bool) statsPresence {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case st := <-f.Presences():
			if st.From != occupant {
				continue
			}
			stats, _ := st.Stats()
			if p := (statsPresence{Type: st.Type, Stats: stats}); ok(p) {
				return p
			}
		case <-timeout:
			t.Fatalf("no matching presence from %s within %v", occupant, within)
		}
	}
}

func hasStats(p statsPresence) bool { return p.Type == "" && p.Stats != nil }

// joinedFocus is a jicofo stand-in logged in to srv and joined to the brewery as "focus".
func joinedFocus(t *testing.T, srv *prosodytest.Server) *prosodytest.Focus {
	t.Helper()
	f := prosodytest.DialFocus(t, srv)
	if err := f.JoinBrewery(ctxT(t, 5*time.Second), "focus"); err != nil {
		t.Fatal(err)
	}
	return f
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestBridgeJoinsBreweryAndPublishesStats(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	b := startBridge(t, srv, nil)
	b.waitJoined(t, 5*time.Second)

	f := joinedFocus(t, srv)
	first := nextBridgePresence(t, f, 3*time.Second, hasStats)
	if v, ok := first.stat("stress_level"); !ok || v != "0.05" {
		t.Fatalf("stress_level = %q, %v; presence %+v", v, ok, first)
	}
	if v, _ := first.stat("drain"); v != "false" {
		t.Fatalf("drain = %q", v)
	}
	c1, _ := first.stat("counter")
	// Periodic re-send with fresh values from the Stats func.
	later := nextBridgePresence(t, f, 3*time.Second, func(p statsPresence) bool {
		c, _ := p.stat("counter")
		return hasStats(p) && c != c1
	})
	n1, _ := strconv.Atoi(c1)
	c2, _ := later.stat("counter")
	if n2, _ := strconv.Atoi(c2); n2 <= n1 {
		t.Fatalf("counter went from %s to %s", c1, c2)
	}

	st := b.Status()
	if st.MUCClientsConfigured != 1 || st.MUCClientsConnected != 1 || st.MUCsConfigured != 1 || st.MUCsJoined != 1 {
		t.Fatalf("status %+v", st)
	}
	if !strings.HasPrefix(st.Connections[0].JID, "jvb@auth.meet.jitsi/") {
		t.Fatalf("bound JID %q", st.Connections[0].JID)
	}
}

func TestSetPresenceNowPublishesImmediately(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	var drain atomic.Bool
	b := startBridge(t, srv, func(c *xmppcomp.Config) {
		c.PresenceInterval = time.Hour // only the join-time and the nudged presences
		c.Stats = func() []xmppcomp.Stat {
			return []xmppcomp.Stat{{Name: "drain", Value: strconv.FormatBool(drain.Load())}}
		}
	})
	b.waitJoined(t, 5*time.Second)
	f := joinedFocus(t, srv)
	nextBridgePresence(t, f, 3*time.Second, hasStats)
	drain.Store(true)
	b.SetPresenceNow()
	p := nextBridgePresence(t, f, 2*time.Second, func(p statsPresence) bool {
		v, _ := p.stat("drain")
		return v == "true"
	})
	if !hasStats(p) {
		t.Fatalf("presence %+v", p)
	}
}

func iqError(t *testing.T, st prosodytest.Stanza) (cond, text string) {
	t.Helper()
	var iq struct {
		Type  string `xml:"type,attr"`
		Error struct {
			Type  string `xml:"type,attr"`
			Inner []struct {
				XMLName xml.Name
				Text    string `xml:",chardata"`
			} `xml:",any"`
		} `xml:"error"`
	}
	if err := xml.Unmarshal([]byte(st.Raw), &iq); err != nil {
		t.Fatalf("bad iq %s: %v", st.Raw, err)
	}
	if iq.Type != "error" {
		t.Fatalf("expected an error IQ, got %s", st.Raw)
	}
	for _, in := range iq.Error.Inner {
		if in.XMLName.Local == "text" {
			text = in.Text
		} else if in.XMLName.Space == "urn:ietf:params:xml:ns:xmpp-stanzas" {
			cond = in.XMLName.Local
		}
	}
	return cond, text
}

func TestHealthCheckIQ(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	b := startBridge(t, srv, nil)
	b.waitJoined(t, 5*time.Second)
	f := joinedFocus(t, srv)
	const hc = "<healthcheck xmlns='http://jitsi.org/protocol/healthcheck'/>"
	ok, err := f.IQ(ctxT(t, 5*time.Second), occupant, "get", hc)
	if err != nil {
		t.Fatal(err)
	}
	if ok.Type != "result" || ok.From != occupant {
		t.Fatalf("healthy bridge answered %s", ok.Raw)
	}

	bad := errors.New("udp socket closed")
	b.health.Store(&bad)
	res, err := f.IQ(ctxT(t, 5*time.Second), occupant, "get", hc)
	if err != nil {
		t.Fatal(err)
	}
	cond, text := iqError(t, res)
	if cond != "internal-server-error" || text != "udp socket closed" {
		t.Fatalf("unhealthy bridge answered %q %q: %s", cond, text, res.Raw)
	}
}

func TestVersionIQ(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	b := startBridge(t, srv, nil)
	b.waitJoined(t, 5*time.Second)
	f := joinedFocus(t, srv)
	res, err := f.IQ(ctxT(t, 5*time.Second), occupant, "get", "<query xmlns='jabber:iq:version'/>")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Type  string `xml:"type,attr"`
		Query struct {
			Name    string `xml:"name"`
			Version string `xml:"version"`
			OS      string `xml:"os"`
		} `xml:"jabber:iq:version query"`
	}
	if err := xml.Unmarshal([]byte(res.Raw), &v); err != nil {
		t.Fatal(err)
	}
	if v.Type != "result" || v.Query.Name != "JVB" || v.Query.Version != "2.3.0-test" || v.Query.OS != "Linux" {
		t.Fatalf("version answer %s", res.Raw)
	}
}

func TestIQFromOutsideBreweryIsForbidden(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	var calls atomic.Int64
	b := startBridge(t, srv, func(c *xmppcomp.Config) {
		c.Colibri = colibriFunc(func(context.Context, []byte, func(result, errElem []byte)) { calls.Add(1) })
	})
	b.waitJoined(t, 5*time.Second)
	f := prosodytest.DialFocus(t, srv) // logged in but not via the MUC
	full := b.Status().Connections[0].JID
	for _, payload := range []string{
		"<healthcheck xmlns='http://jitsi.org/protocol/healthcheck'/>",
		"<conference-modify xmlns='jitsi:colibri2' meeting-id='m1' create='true'/>",
		"<query xmlns='jabber:iq:version'/>",
	} {
		res, err := f.IQ(ctxT(t, 5*time.Second), full, "get", payload)
		if err != nil {
			t.Fatal(err)
		}
		if cond, _ := iqError(t, res); cond != "forbidden" {
			t.Fatalf("%s from %s answered %s", payload, f.JID(), res.Raw)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("colibri handler called %d times for a forbidden sender", n)
	}
}

// colibriFunc adapts a function to xmppcomp.ColibriHandler.
type colibriFunc func(ctx context.Context, payload []byte, reply func(result, errElem []byte))

func (f colibriFunc) HandleIQ(ctx context.Context, payload []byte, reply func(result, errElem []byte)) {
	f(ctx, payload, reply)
}

// queuedColibri records requests in arrival order and answers them from
// its own goroutine, in order, like a per-meeting queue.
type queuedColibri struct {
	mu   sync.Mutex
	seen []string
	q    chan func()
	wg   sync.WaitGroup
}

func newQueuedColibri(t *testing.T) *queuedColibri {
	h := &queuedColibri{q: make(chan func(), 1000)}
	h.wg.Go(func() {
		for f := range h.q {
			f()
		}
	})
	t.Cleanup(func() { close(h.q); h.wg.Wait() })
	return h
}

func (h *queuedColibri) HandleIQ(_ context.Context, payload []byte, reply func(result, errElem []byte)) {
	var req struct {
		XMLName xml.Name
		Meeting string `xml:"meeting-id,attr"`
		Seq     string `xml:"seq,attr"`
	}
	if err := xml.Unmarshal(payload, &req); err != nil || req.XMLName.Space != "jitsi:colibri2" {
		h.q <- func() {
			reply(nil, []byte(`<error type="modify"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`))
		}
		return
	}
	h.mu.Lock()
	h.seen = append(h.seen, req.Seq)
	h.mu.Unlock()
	h.q <- func() {
		time.Sleep(time.Millisecond) // replies come later, from another goroutine
		if req.Seq == "7" {
			reply(nil, []byte(`<error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>`+
				`<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">Conference not found</text>`+
				`<error xmlns="jitsi:colibri2" reason="conference_not_found"/></error>`))
			return
		}
		reply([]byte(fmt.Sprintf(`<conference-modified xmlns="jitsi:colibri2" meeting-id=%q seq=%q><endpoint id="ep%s"/></conference-modified>`,
			req.Meeting, req.Seq, req.Seq)), nil)
	}
}

func TestPipelinedConferenceModifyInOrder(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	h := newQueuedColibri(t)
	b := startBridge(t, srv, func(c *xmppcomp.Config) { c.Colibri = h })
	b.waitJoined(t, 5*time.Second)
	f := joinedFocus(t, srv)
	const n = 20
	ctx := ctxT(t, 10*time.Second)
	ids := make([]string, n)
	for i := range n {
		typ := "get" // what jicofo sends
		if i%2 == 1 {
			typ = "set"
		}
		id, err := f.SendIQ(ctx, occupant, typ, fmt.Sprintf(
			"<conference-modify xmlns='jitsi:colibri2' meeting-id='m1' seq='%d'><endpoint id='ep%d' create='true'/></conference-modify>", i, i))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	for i, id := range ids {
		res, err := f.Await(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if res.From != occupant || res.ID != id {
			t.Fatalf("reply %d from %q id %q", i, res.From, res.ID)
		}
		if i == 7 {
			cond, text := iqError(t, res)
			if cond != "item-not-found" || text != "Conference not found" || !strings.Contains(res.Raw, `reason="conference_not_found"`) {
				t.Fatalf("error reply %s", res.Raw)
			}
			continue
		}
		var r struct {
			Type     string `xml:"type,attr"`
			Modified struct {
				Seq      string `xml:"seq,attr"`
				Endpoint struct {
					ID string `xml:"id,attr"`
				} `xml:"endpoint"`
			} `xml:"jitsi:colibri2 conference-modified"`
		}
		if err := xml.Unmarshal([]byte(res.Raw), &r); err != nil {
			t.Fatal(err)
		}
		if r.Type != "result" || r.Modified.Seq != strconv.Itoa(i) || r.Modified.Endpoint.ID != "ep"+strconv.Itoa(i) {
			t.Fatalf("reply %d: %s", i, res.Raw)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, s := range h.seen {
		if s != strconv.Itoa(i) {
			t.Fatalf("handler saw requests in order %v", h.seen)
		}
	}
	if len(h.seen) != n {
		t.Fatalf("handler saw %d requests, want %d", len(h.seen), n)
	}
}

func TestOversizedIQGetsPolicyViolationAndConnectionSurvives(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{StanzaSizeLimit: 4 << 20})
	var calls atomic.Int64
	b := startBridge(t, srv, func(c *xmppcomp.Config) {
		c.MaxIQPayload = 64 << 10
		c.Colibri = colibriFunc(func(_ context.Context, _ []byte, reply func(result, errElem []byte)) {
			calls.Add(1)
			reply([]byte(`<conference-modified xmlns="jitsi:colibri2"/>`), nil)
		})
	})
	b.waitJoined(t, 5*time.Second)
	f := joinedFocus(t, srv)
	var big strings.Builder
	big.WriteString("<conference-modify xmlns='jitsi:colibri2' meeting-id='m1'>")
	for i := 0; big.Len() < 1<<20; i++ {
		fmt.Fprintf(&big, "<endpoint id='ep%d' stats-id='%s'/>", i, strings.Repeat("x", 100))
	}
	big.WriteString("</conference-modify>")
	res, err := f.IQ(ctxT(t, 10*time.Second), occupant, "set", big.String())
	if err != nil {
		t.Fatal(err)
	}
	if cond, _ := iqError(t, res); cond != "policy-violation" {
		t.Fatalf("oversized IQ answered %.300s", res.Raw)
	}
	if calls.Load() != 0 {
		t.Fatal("oversized IQ reached the colibri handler")
	}
	// Same connection still serves a normal request.
	ok, err := f.IQ(ctxT(t, 5*time.Second), occupant, "get", "<conference-modify xmlns='jitsi:colibri2' meeting-id='m1'/>")
	if err != nil || ok.Type != "result" {
		t.Fatalf("after oversized IQ: %v %+v", err, ok)
	}
	if d := b.Status().Disconnects; d != 0 {
		t.Fatalf("%d disconnects", d)
	}
}

func TestStopLeavesBreweryCleanly(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{})
	var shuttingDown atomic.Bool
	b := startBridge(t, srv, func(c *xmppcomp.Config) {
		c.PresenceInterval = time.Hour // only the join and the leave publish stats
		c.Stats = func() []xmppcomp.Stat {
			return []xmppcomp.Stat{{Name: "shutting_down", Value: strconv.FormatBool(shuttingDown.Load())}}
		}
	})
	b.waitJoined(t, 5*time.Second)
	f := joinedFocus(t, srv)
	nextBridgePresence(t, f, 3*time.Second, hasStats)
	shuttingDown.Store(true) // the state the bridge stops in, not yet published
	start := time.Now()
	b.stop()
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Run took %v to return after cancel", d)
	}
	// Jicofo sees the final state before the bridge leaves.
	last := nextBridgePresence(t, f, 3*time.Second, func(p statsPresence) bool {
		v, _ := p.stat("shutting_down")
		return p.Type == "unavailable" || v == "true"
	})
	if last.Type == "unavailable" {
		t.Fatal("bridge left the brewery without publishing its final stats")
	}
	nextBridgePresence(t, f, 3*time.Second, func(p statsPresence) bool { return p.Type == "unavailable" })
	if st := b.Status(); st.MUCClientsConnected != 0 || st.MUCsJoined != 0 || st.Disconnects != 0 {
		t.Fatalf("status after stop %+v", st)
	}
}
