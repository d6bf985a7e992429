package xmppcomp_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gojvb/xmppcomp"
)

// fakeServer is a scripted XMPP server on loopback for what a real prosody
// never does: send garbage, stream errors or ignore pings. It speaks just
// enough (plaintext, SASL PLAIN, bind) for the client to log in, then runs
// after(conn, decoder) for each connection.
type fakeServer struct {
	ln       net.Listener
	accepted atomic.Int64
	after    func(c net.Conn, d *xml.Decoder)
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func startFakeServer(t *testing.T, after func(c net.Conn, d *xml.Decoder)) *fakeServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{ln: ln, after: after}
	s.wg.Go(s.accept)
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *fakeServer) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.accepted.Add(1)
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.wg.Go(func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			d := xml.NewDecoder(c)
			if err := fakeLogin(c, d); err != nil {
				return
			}
			s.after(c, d)
		})
	}
}

const fakeHeader = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='%s' from='auth.meet.jitsi' version='1.0'>`

// nextStart returns the next start element, skipping everything else.
func nextStart(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se, nil
		}
	}
}

func fakeLogin(c net.Conn, d *xml.Decoder) error {
	if _, err := nextStart(d); err != nil { // <stream:stream>
		return err
	}
	fmt.Fprintf(c, fakeHeader+`<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`, "s1")
	auth, err := nextStart(d)
	if err != nil || auth.Name.Local != "auth" {
		return fmt.Errorf("expected auth: %v %v", auth.Name, err)
	}
	if err := d.Skip(); err != nil {
		return err
	}
	io.WriteString(c, `<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`)
	if _, err := nextStart(d); err != nil { // restarted <stream:stream>
		return err
	}
	fmt.Fprintf(c, fakeHeader+`<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>`, "s2")
	iq, err := nextStart(d)
	if err != nil || iq.Name.Local != "iq" {
		return fmt.Errorf("expected bind iq: %v %v", iq.Name, err)
	}
	var id string
	for _, a := range iq.Attr {
		if a.Name.Local == "id" {
			id = a.Value
		}
	}
	if err := d.Skip(); err != nil {
		return err
	}
	fmt.Fprintf(c, `<iq type='result' id='%s'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>jvb@auth.meet.jitsi/fake</jid></bind></iq>`, id)
	return nil
}

func fakeBridge(t *testing.T, s *fakeServer, edit func(*xmppcomp.Config)) *bridge {
	addr := s.ln.Addr().(*net.TCPAddr)
	cfg := xmppcomp.Config{
		Servers: []xmppcomp.ServerConfig{{
			ID: "fake", Host: "127.0.0.1", Port: addr.Port, Domain: "auth.meet.jitsi",
			Username: "jvb", Password: "secret", MUCJIDs: []string{"jvbbrewery@internal-muc.meet.jitsi"},
			Nickname: nick, SecurityMode: xmppcomp.SecurityDisabled,
		}},
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Logger: testLogger(t),
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := xmppcomp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &bridge{Client: c, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		_ = c.Run(ctx)
	}()
	t.Cleanup(b.stop)
	return b
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestServerGarbageAndStreamErrorsCauseReconnect(t *testing.T) {
	for name, junk := range map[string]string{
		"garbage":      "<<<&&& this is not XML \x00\xff",
		"stream-error": "<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>",
		"stream-end":   "</stream:stream>",
		"bad-end":      "<presence></message>",
		"text-at-top":  "hello<presence/>",
		// Larger than the hard per-stanza limit (16 MiB) and never ends.
		"endless-stanza": "<message><body>" + strings.Repeat("x", 17<<20),
		"unknown-iq-ns":  "<iq type='get' id='1' from='jvbbrewery@internal-muc.meet.jitsi/focus'><x xmlns='urn:unknown'/></iq>" + "<<<",
	} {
		t.Run(name, func(t *testing.T) {
			s := startFakeServer(t, func(c net.Conn, d *xml.Decoder) {
				io.WriteString(c, junk)
				_, _ = io.Copy(io.Discard, c) // until the client hangs up
			})
			b := fakeBridge(t, s, nil)
			waitFor(t, 10*time.Second, "a reconnect", func() bool {
				return s.accepted.Load() >= 2 && b.Status().Disconnects >= 1
			})
		})
	}
}

func TestUnansweredPingsCauseReconnect(t *testing.T) {
	s := startFakeServer(t, func(c net.Conn, d *xml.Decoder) {
		_, _ = io.Copy(io.Discard, c) // never answers anything
	})
	b := fakeBridge(t, s, func(c *xmppcomp.Config) { c.PingInterval, c.PingTimeout = 50*time.Millisecond, 50*time.Millisecond })
	waitFor(t, 3*time.Second, "a reconnect after a lost ping", func() bool {
		return s.accepted.Load() >= 2 && b.Status().Disconnects >= 1
	})
}

func TestIfPossibleFallsBackToPlaintextWithoutSTARTTLS(t *testing.T) {
	// The fake server offers no STARTTLS: the TLS attempt fails, the
	// plaintext retry logs in.
	s := startFakeServer(t, func(c net.Conn, d *xml.Decoder) { _, _ = io.Copy(io.Discard, c) })
	b := fakeBridge(t, s, func(c *xmppcomp.Config) { c.Servers[0].SecurityMode = xmppcomp.SecurityIfPossible })
	waitFor(t, 5*time.Second, "a plaintext login", func() bool { return b.Status().MUCClientsConnected == 1 })
	if n := s.accepted.Load(); n != 2 {
		t.Fatalf("%d connections, want a TLS attempt and a plaintext one", n)
	}
}

func TestRequiredRefusesServerWithoutSTARTTLS(t *testing.T) {
	s := startFakeServer(t, func(c net.Conn, d *xml.Decoder) { _, _ = io.Copy(io.Discard, c) })
	b := fakeBridge(t, s, func(c *xmppcomp.Config) { c.Servers[0].SecurityMode = xmppcomp.SecurityRequired })
	waitFor(t, 5*time.Second, "two refused attempts", func() bool { return s.accepted.Load() >= 2 })
	if st := b.Status(); st.MUCClientsConnected != 0 {
		t.Fatalf("logged in without TLS: %+v", st)
	}
}
