package xmppcomp

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
)

func testClient(t testing.TB, edit func(*Config)) *Client {
	t.Helper()
	cfg := Config{Servers: []ServerConfig{{
		Host: "127.0.0.1", Domain: "auth.meet.jitsi", Username: "jvb", Password: "pw",
		MUCJIDs: []string{"JVBBrewery@internal-muc.meet.jitsi"}, Nickname: "jvb1",
	}}, MaxIQPayload: 4096}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// recorder is a stanzaSender that keeps what was sent, serialized.
type recorder struct {
	mu   sync.Mutex
	sent []string
}

func (r *recorder) send(toks []xml.Token) error {
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	for _, t := range toks {
		if err := enc.EncodeToken(t); err != nil {
			return err
		}
	}
	if err := enc.Flush(); err != nil {
		return err
	}
	r.mu.Lock()
	r.sent = append(r.sent, buf.String())
	r.mu.Unlock()
	return nil
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.sent...)
}

type payloadRecorder struct {
	mu       sync.Mutex
	payloads [][]byte
}

func (p *payloadRecorder) HandleIQ(_ context.Context, payload []byte, reply func(result, errElem []byte)) {
	p.mu.Lock()
	p.payloads = append(p.payloads, payload)
	p.mu.Unlock()
	reply(payload, nil) // echo: proves the payload is a well-formed element
}

// feed runs the read loop over raw stream content (stanzas only, as the
// session delivers them after the stream header).
func feed(t testing.TB, c *Client, raw string) (*recorder, []event, error) {
	rec := &recorder{}
	events := make(chan event, 1024)
	r := &reader{k: c.conns[0], w: rec, events: events, runCtx: context.Background()}
	err := r.readStanzas(context.Background(), xml.NewDecoder(strings.NewReader(raw)))
	close(events)
	var evs []event
	for ev := range events {
		evs = append(evs, ev)
	}
	return rec, evs, err
}

const fromMUC = "from='jvbbrewery@internal-muc.meet.jitsi/focus' to='jvb@auth.meet.jitsi/r1'"

func TestIQRoutingAndSenderCheck(t *testing.T) {
	colibri := &payloadRecorder{}
	c := testClient(t, func(c *Config) {
		c.Colibri = colibri
		c.Health = func() error { return errors.New("no UDP") }
	})
	rec, _, err := feed(t, c, ""+
		"<iq type='get' id='a' "+fromMUC+"><healthcheck xmlns='http://jitsi.org/protocol/healthcheck'/></iq>"+
		"<iq type='get' id='b' from='focus@auth.meet.jitsi/x'><healthcheck xmlns='http://jitsi.org/protocol/healthcheck'/></iq>"+
		"<iq type='set' id='c' from='JVBBREWERY@internal-muc.meet.jitsi/focus'><conference-modify xmlns='jitsi:colibri2' meeting-id='m'><endpoint id='e1'/></conference-modify></iq>"+
		"<iq type='get' id='d' "+fromMUC+"><graceful-shutdown xmlns='http://jitsi.org/protocol/colibri'/></iq>"+
		"<iq type='get' id='e' from='auth.meet.jitsi'><ping xmlns='urn:xmpp:ping'/></iq>"+
		"<iq type='get' id='f' "+fromMUC+"/>"+
		"<iq type='result' id='ping-1' from='auth.meet.jitsi'/>"+
		"<message "+fromMUC+"><body>hi</body></message>")
	if !errors.Is(err, io.EOF) {
		t.Fatalf("read loop ended with %v, want EOF", err)
	}
	// Error types as RFC 6120 8.3.3 gives them for each condition.
	want := []struct{ id, contains string }{
		{"a", `<error type="cancel"><internal-server-error`},
		{"b", `<error type="auth"><forbidden`},
		{"c", `<conference-modify xmlns="jitsi:colibri2" meeting-id="m"><endpoint xmlns="jitsi:colibri2" id="e1"></endpoint></conference-modify>`},
		{"d", `<error type="cancel"><service-unavailable`},
		{"e", `type="result"`},
		{"f", `<error type="modify"><bad-request`},
	}
	sent := rec.all()
	if len(sent) != len(want) {
		t.Fatalf("sent %d stanzas, want %d: %q", len(sent), len(want), sent)
	}
	for i, w := range want {
		if !strings.Contains(sent[i], `id="`+w.id+`"`) || !strings.Contains(sent[i], w.contains) {
			t.Errorf("reply %d = %s, want id %s containing %s", i, sent[i], w.id, w.contains)
		}
	}
	// internal-server-error is type cancel (RFC 6120 8.3.3.5), as colibri's errors.
	if !strings.Contains(sent[0], "no UDP") || !strings.Contains(sent[0], `type="cancel"`) || !strings.Contains(sent[2], `to="JVBBREWERY@internal-muc.meet.jitsi/focus"`) {
		t.Errorf("replies %q", sent)
	}
}

func TestReadElementLimits(t *testing.T) {
	for _, tc := range []struct {
		name      string
		xml       string
		truncated bool
	}{
		{"small", "<iq><a x='1'>text</a></iq>", false},
		{"big-attr", "<iq><a x='" + strings.Repeat("y", 5000) + "'/></iq>", true},
		{"big-text", "<iq><a>" + strings.Repeat("y", 5000) + "</a></iq>", true},
		{"deep", "<iq>" + strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100) + "</iq>", true},
		{"at-depth-limit", "<iq>" + strings.Repeat("<a>", maxDepth-1) + strings.Repeat("</a>", maxDepth-1) + "</iq>", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := xml.NewDecoder(strings.NewReader(tc.xml + "<next/>"))
			tok, _ := d.Token()
			el, truncated, err := readElement(d, tok.(xml.StartElement), 4096)
			if err != nil {
				t.Fatal(err)
			}
			if truncated != tc.truncated {
				t.Fatalf("truncated = %v", truncated)
			}
			if truncated && len(el.Children) != 0 {
				t.Fatal("truncated element kept children")
			}
			// The reader is positioned after the element either way.
			next, err := d.Token()
			if se, ok := next.(xml.StartElement); err != nil || !ok || se.Name.Local != "next" {
				t.Fatalf("after element: %v %v", next, err)
			}
		})
	}
}

func TestReadElementJoinsTextChunks(t *testing.T) {
	// Comments split character data into many tokens; the text must come
	// out whole (and be built linearly, not by re-copying per chunk).
	const n = 20000
	raw := "<iq><a>" + strings.Repeat("x<!---->", n) + "</a></iq>"
	d := xml.NewDecoder(strings.NewReader(raw))
	tok, _ := d.Token()
	el, truncated, err := readElement(d, tok.(xml.StartElement), 1<<20)
	if err != nil || truncated {
		t.Fatalf("err %v truncated %v", err, truncated)
	}
	if got := el.Children[0].Text; got != strings.Repeat("x", n) {
		t.Fatalf("text has %d bytes, want %d", len(got), n)
	}
}

func TestOversizedIQAnsweredWithoutReachingHandler(t *testing.T) {
	colibri := &payloadRecorder{}
	c := testClient(t, func(c *Config) { c.Colibri = colibri })
	rec, _, _ := feed(t, c, "<iq type='set' id='big' "+fromMUC+"><conference-modify xmlns='jitsi:colibri2' meeting-id='m'>"+
		strings.Repeat("<endpoint id='e'/>", 1000)+"</conference-modify></iq>")
	sent := rec.all()
	if len(sent) != 1 || !strings.Contains(sent[0], "policy-violation") || len(colibri.payloads) != 0 {
		t.Fatalf("sent %q, handler got %d payloads", sent, len(colibri.payloads))
	}
}

func TestPresenceEvents(t *testing.T) {
	c := testClient(t, nil)
	_, evs, _ := feed(t, c, ""+
		"<presence from='jvbbrewery@internal-muc.meet.jitsi/jvb1'><x xmlns='http://jabber.org/protocol/muc#user'><status code='110'/><status code='201'/></x></presence>"+
		"<presence from='jvbbrewery@internal-muc.meet.jitsi/focus'/>"+
		"<presence from='other@internal-muc.meet.jitsi/jvb1'/>"+
		"<presence type='error' from='jvbbrewery@internal-muc.meet.jitsi/jvb1'><error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"+
		"<presence type='unavailable' from='jvbbrewery@internal-muc.meet.jitsi/jvb1'/>")
	if len(evs) != 3 {
		t.Fatalf("events %+v", evs)
	}
	if evs[0].kind != evJoined || !evs[0].created || evs[1].kind != evJoinFailed || evs[1].cond != "conflict" || evs[2].kind != evLeft {
		t.Fatalf("events %+v", evs)
	}
}

func TestColibriReplyValidation(t *testing.T) {
	req := &element{Name: xml.Name{Space: "jabber:client", Local: "iq"}, Attr: []xml.Attr{
		{Name: xml.Name{Local: "id"}, Value: "x"}, {Name: xml.Name{Local: "from"}, Value: "a@b/c"}}}
	for _, tc := range []struct {
		result, errElem string
		ok              bool
	}{
		{`<conference-modified xmlns="jitsi:colibri2"/>`, "", true},
		{"", `<error type="cancel"><conflict xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`, true},
		{"", "", true},
		{`<conference-modified xmlns="jitsi:colibri2">`, "", false},
		{`<a/><b/>`, "", false},
		{"", `<notanerror/>`, false},
		{"text", "", false},
	} {
		_, err := colibriReply(req, []byte(tc.result), []byte(tc.errElem))
		if tc.errElem == "" {
			_, err = colibriReply(req, []byte(tc.result), nil)
		}
		if (err == nil) != tc.ok {
			t.Errorf("colibriReply(%q, %q) err = %v", tc.result, tc.errElem, err)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	ok := ServerConfig{Host: "xmpp.meet.jitsi", Domain: "auth.meet.jitsi", Username: "jvb", Password: "p",
		MUCJIDs: []string{"jvbbrewery@internal-muc.meet.jitsi"}, Nickname: "n"}
	for _, tc := range []struct {
		name string
		edit func(*ServerConfig)
		key  string
	}{
		{"no host", func(s *ServerConfig) { s.Host = "" }, "HOSTNAME"},
		{"bad port", func(s *ServerConfig) { s.Port = 70000 }, "PORT"},
		{"no user", func(s *ServerConfig) { s.Username = "" }, "USERNAME"},
		{"no password", func(s *ServerConfig) { s.Password = "" }, "PASSWORD"},
		{"no muc", func(s *ServerConfig) { s.MUCJIDs = nil }, "MUC_JIDS"},
		{"muc with resource", func(s *ServerConfig) { s.MUCJIDs = []string{"a@b/c"} }, "MUC_JIDS"},
		{"muc without local", func(s *ServerConfig) { s.MUCJIDs = []string{"internal-muc.meet.jitsi"} }, "MUC_JIDS"},
		{"no nick", func(s *ServerConfig) { s.Nickname = "" }, "MUC_NICKNAME"},
	} {
		sc := ok
		tc.edit(&sc)
		_, err := New(Config{Servers: []ServerConfig{sc}})
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: err = %v, want mention of %s", tc.name, err, tc.key)
		}
		if err != nil && strings.Contains(err.Error(), "p\"") && tc.key != "PASSWORD" {
			t.Errorf("%s: error leaks the password: %v", tc.name, err)
		}
	}
	c, err := New(Config{Servers: []ServerConfig{ok}})
	if err != nil {
		t.Fatal(err)
	}
	k := c.conns[0]
	if k.srv.Port != 5222 || k.srv.mode != SecurityRequired {
		t.Fatalf("defaults: port %d mode %v", k.srv.Port, k.srv.mode)
	}
	if _, err := New(Config{}); err == nil {
		t.Fatal("New with no servers succeeded")
	}
}

func TestSecurityModeDefaults(t *testing.T) {
	for host, want := range map[string]SecurityMode{
		"localhost": SecurityIfPossible, "127.0.0.1": SecurityIfPossible, "::1": SecurityIfPossible,
		"xmpp.meet.jitsi": SecurityRequired,
	} {
		if got := SecurityDefault.effective(host); got != want {
			t.Errorf("%s: %v, want %v", host, got, want)
		}
	}
	for in, want := range map[string]SecurityMode{"": SecurityDefault, "Required": SecurityRequired,
		"ifpossible": SecurityIfPossible, "DISABLED": SecurityDisabled} {
		if got, err := ParseSecurityMode(in); err != nil || got != want {
			t.Errorf("ParseSecurityMode(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseSecurityMode("maybe"); err == nil || !strings.Contains(err.Error(), "maybe") {
		t.Errorf("bad mode error %v", err)
	}
}

// FuzzReadStanzas feeds arbitrary stream content to the read loop: it
// must never panic, every reply must be well-formed XML, and every payload
// given to the COLIBRI2 handler must be a bounded, well-formed element.
func FuzzReadStanzas(f *testing.F) {
	f.Add([]byte("<iq type='get' id='a' " + fromMUC + "><healthcheck xmlns='http://jitsi.org/protocol/healthcheck'/></iq>"))
	f.Add([]byte("<iq type='set' id='c' " + fromMUC + "><conference-modify xmlns='jitsi:colibri2' meeting-id='m'><endpoint id='e1' create='true'><transport xmlns='jitsi:colibri2'/></endpoint></conference-modify></iq>"))
	f.Add([]byte("<presence from='jvbbrewery@internal-muc.meet.jitsi/jvb1'><x xmlns='http://jabber.org/protocol/muc#user'><status code='201'/></x></presence>"))
	f.Add([]byte("<iq type='get' id='x' from='a:b@c/d' xmlns:p='urn:p'><p:q p:attr='1'/></iq><<"))
	colibri := &payloadRecorder{}
	c := testClient(f, func(c *Config) { c.Colibri = colibri })
	f.Fuzz(func(t *testing.T, data []byte) {
		colibri.mu.Lock()
		colibri.payloads = nil
		colibri.mu.Unlock()
		rec, _, _ := feed(t, c, string(data))
		for _, s := range rec.all() {
			if _, err := parseElement([]byte(s), 1<<20); err != nil {
				t.Fatalf("reply is not well-formed: %v: %q", err, s)
			}
		}
		colibri.mu.Lock()
		defer colibri.mu.Unlock()
		for _, p := range colibri.payloads {
			if len(p) > 2*c.cfg.MaxIQPayload+1024 {
				t.Fatalf("payload of %d bytes passed the %d limit", len(p), c.cfg.MaxIQPayload)
			}
			if _, err := parseElement(p, 1<<20); err != nil {
				t.Fatalf("payload not well-formed: %v: %q", err, p)
			}
		}
	})
}

// BenchmarkConferenceModifyIQ measures framing one jicofo-sized
// conference-modify IQ, the sender check and handing its payload bytes to
// the COLIBRI2 handler (which here echoes them back as the reply).
func BenchmarkConferenceModifyIQ(b *testing.B) {
	iq := "<iq type='get' id='c' " + fromMUC + "><conference-modify xmlns='jitsi:colibri2' meeting-id='m'>" +
		"<endpoint id='e1' create='true' stats-id='s'><media type='audio'><payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='111' name='opus' clockrate='48000' channels='2'>" +
		"<parameter name='minptime' value='10'/><rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='transport-cc'/></payload-type></media>" +
		"<transport ice-controlling='true'><sctp/></transport><capability name='source-names'/></endpoint></conference-modify></iq>"
	colibri := &payloadRecorder{}
	c := testClient(b, func(c *Config) { c.Colibri = colibri })
	rec := &recorder{}
	r := &reader{k: c.conns[0], w: rec, events: make(chan event, 1), runCtx: context.Background()}
	b.SetBytes(int64(len(iq)))
	b.ReportAllocs()
	for b.Loop() {
		d := xml.NewDecoder(strings.NewReader(iq))
		_ = r.readStanzas(context.Background(), d)
		colibri.payloads = colibri.payloads[:0]
		rec.sent = rec.sent[:0]
	}
}
