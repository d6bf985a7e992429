package xmppcomp

import (
	"context"
	"encoding/xml"
	"io"
	"net"
	"sync"
	"testing"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"
)

// TestSendsNeverTimeOutEachOther sends many small stanzas from several
// goroutines at once, as the session loop, the reader's replies and late
// COLIBRI2 answers do. A send that ends must not leave a deadline behind
// that makes another, concurrent or later, write fail: that once dropped a
// healthy connection in CI ("write tcp ...: i/o timeout" a moment after a
// successful send).
func TestSendsNeverTimeOutEachOther(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(io.Discard, c)
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ready := func(context.Context, *stream.Info, *stream.Info, *xmpp.Session, any) (xmpp.SessionState, io.ReadWriter, any, error) {
		return xmpp.Ready, nil, nil, nil
	}
	me := jid.MustParse("jvb@auth.meet.jitsi/x")
	s, err := xmpp.NewSession(context.Background(), me.Domain(), me, nc, 0, ready)
	if err != nil {
		t.Fatal(err)
	}
	w := &sessionWriter{s: s, conn: nc}
	p := &element{Name: xml.Name{Local: "presence"}, Attr: []xml.Attr{{Name: xml.Name{Local: "to"}, Value: "a@b/c"}}}
	toks := p.appendTokens(nil)
	const senders, each = 4, 5000
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for range senders {
		wg.Go(func() {
			for range each {
				if err := w.send(toks); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("send failed on a healthy connection: %v", err)
	}
	_ = nc.Close()
	<-drained
}
