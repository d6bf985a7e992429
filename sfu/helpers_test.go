package sfu

import (
	"crypto/rand"
	"encoding/binary"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"gojvb/sfu/transport"
)

// fakeTransport stands in for *transport.Transport in tests that need no socket.
type fakeTransport struct {
	mu       sync.Mutex
	remote   []transport.Description
	messages [][]byte
	closed   bool
	// onSend, when set, sees each data-channel message before it is kept (mu is not held).
	onSend func(msg []byte)
}

func (t *fakeTransport) LocalDescription() transport.Description {
	return transport.Description{Ufrag: "fake", Pwd: "fakefakefakefakefakefake", RTCPMux: true}
}

func (t *fakeTransport) SetRemoteDescription(d transport.Description) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.remote = append(t.remote, d)
	return nil
}

func (t *fakeTransport) State() transport.State { return transport.StateSecure }

func (t *fakeTransport) LastConsentCheck() time.Time { return time.Time{} }

func (t *fakeTransport) SendDataChannel(msg []byte, isString bool) error {
	t.mu.Lock()
	hook := t.onSend
	t.mu.Unlock()
	if hook != nil {
		hook(msg)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.messages = append(t.messages, append([]byte(nil), msg...))
	return nil
}

func (t *fakeTransport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	return nil
}

// take returns and forgets the messages sent so far.
func (t *fakeTransport) take() [][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.messages
	t.messages = nil
	return m
}

// settle runs each manual-mode endpoint's pending control work (its choice of sources), as its
// sender goroutine would after a kick.
func settle(cls ...*client) {
	for _, cl := range cls {
		cl.ep.drain()
	}
}

func (t *fakeTransport) sent() [][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([][]byte(nil), t.messages...)
}

// captureWriter keeps every committed datagram (discard=false) or only counts them.
type captureWriter struct {
	mu        sync.Mutex
	buf       [maxPacket]byte
	discard   bool
	datagrams [][]byte
	sent      atomic.Uint64
	sentBytes atomic.Uint64
}

func (w *captureWriter) Buffer() []byte { return w.buf[:0] }

func (w *captureWriter) Commit(b []byte) {
	w.sent.Add(1)
	w.sentBytes.Add(uint64(len(b)))
	if w.discard {
		return // stands in for the socket write, which benchmarks exclude
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.datagrams = append(w.datagrams, append([]byte(nil), b...))
}

func (w *captureWriter) Flush() error { return nil }

func (w *captureWriter) FlushTo(*transport.Batch) error { return nil }

// Stats counts every committed datagram as sent, as a socket that never refuses one would.
func (w *captureWriter) Stats() transport.WriteStats {
	return transport.WriteStats{Packets: w.sent.Load(), Bytes: w.sentBytes.Load()}
}

func (w *captureWriter) take() [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	d := w.datagrams
	w.datagrams = nil
	return d
}

// testBridge is a bridge whose transports are fakes; with manual=true no sender goroutines run
// and tests call drain themselves.
type testBridge struct {
	*Bridge
	mu         sync.Mutex
	transports map[string]*fakeTransport
	writers    map[string]*captureWriter
	discard    bool
}

func newTestBridge(t testing.TB, manual, discard bool) *testBridge {
	tb := &testBridge{transports: map[string]*fakeTransport{}, writers: map[string]*captureWriter{}, discard: discard}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tb.Bridge = newBridge(log, func(opts transport.Options, h transport.Handler) (endpointTransport, datagramWriter, error) {
		id := h.(endpointHandler).e.id
		tr, w := &fakeTransport{}, &captureWriter{discard: tb.discard}
		tb.mu.Lock()
		tb.transports[id], tb.writers[id] = tr, w
		tb.mu.Unlock()
		return tr, w, nil
	})
	tb.manualSend = manual
	// Forward every video source at its highest encoding without waiting for the receivers'
	// ReceiverVideoConstraints (JVB's initial max height is 0): these tests are about the
	// pipeline; the allocation tests set the defaults back.
	tb.alloc.InitialMaxHeight = -1
	t.Cleanup(func() { _ = tb.Close() })
	return tb
}

func (tb *testBridge) writer(id string) *captureWriter {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.writers[id]
}

func (tb *testBridge) transport(id string) *fakeTransport {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.transports[id]
}

// client is the far end of an endpoint's SRTP: it protects what it sends to the bridge with the
// endpoint's remote keys and unprotects what the bridge sends with the local ones.
type client struct {
	ep         *Endpoint
	send, recv *srtp.Context
	seq        uint16
	hdr        rtp.Header
}

func testKeys(t testing.TB, profile srtp.ProtectionProfile) transport.SRTPKeys {
	t.Helper()
	kl, err := profile.KeyLen()
	if err != nil {
		t.Fatal(err)
	}
	sl, err := profile.SaltLen()
	if err != nil {
		t.Fatal(err)
	}
	r := func(n int) []byte { b := make([]byte, n); _, _ = rand.Read(b); return b }
	return transport.SRTPKeys{Profile: profile,
		LocalMasterKey: r(kl), LocalMasterSalt: r(sl), RemoteMasterKey: r(kl), RemoteMasterSalt: r(sl)}
}

// joinSecure creates endpoint id in c, installs fresh keys and returns its client.
func joinSecure(t testing.TB, c *Conference, id string, profile srtp.ProtectionProfile, opts ...srtp.ContextOption) *client {
	t.Helper()
	e, err := c.CreateEndpoint(EndpointConfig{ID: id, InitialLastN: -1})
	if err != nil {
		t.Fatal(err)
	}
	keys := testKeys(t, profile)
	if err := e.setKeys(keys, opts...); err != nil {
		t.Fatal(err)
	}
	send, err := srtp.CreateContext(keys.RemoteMasterKey, keys.RemoteMasterSalt, profile)
	if err != nil {
		t.Fatal(err)
	}
	recv, err := srtp.CreateContext(keys.LocalMasterKey, keys.LocalMasterSalt, profile)
	if err != nil {
		t.Fatal(err)
	}
	return &client{ep: e, send: send, recv: recv}
}

func videoSource(name string, ssrcs ...uint32) MediaSource {
	m := MediaSource{Type: MediaVideo, Name: name}
	for _, s := range ssrcs {
		m.Sources = append(m.Sources, Source{SSRC: s, Name: name})
	}
	return m
}

func audioSource(name string, ssrc uint32) MediaSource {
	return MediaSource{Type: MediaAudio, Name: name, Sources: []Source{{SSRC: ssrc, Name: name}}}
}

// rtpPacket builds a plain RTP packet with a payload of n bytes derived from seq.
func (cl *client) rtpPacket(ssrc uint32, pt uint8, n int) []byte {
	cl.seq++
	p := make([]byte, 12+n)
	p[0], p[1] = 0x80, pt
	binary.BigEndian.PutUint16(p[2:], cl.seq)
	binary.BigEndian.PutUint32(p[4:], uint32(cl.seq)*960)
	binary.BigEndian.PutUint32(p[8:], ssrc)
	for i := 12; i < len(p); i++ {
		p[i] = byte(i) ^ byte(cl.seq)
	}
	return p
}

// protect encrypts plain RTP as the client would send it.
func (cl *client) protect(t testing.TB, plain []byte) []byte {
	t.Helper()
	out, err := cl.send.EncryptRTP(nil, plain, &cl.hdr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (cl *client) protectRTCP(t testing.TB, plain []byte) []byte {
	t.Helper()
	out, err := cl.send.EncryptRTCP(nil, plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// unprotect decrypts an RTP datagram the bridge sent to this client.
func (cl *client) unprotect(t testing.TB, d []byte) []byte {
	t.Helper()
	out, err := cl.recv.DecryptRTP(nil, d, nil)
	if err != nil {
		t.Fatalf("client %s: unprotect: %v", cl.ep.id, err)
	}
	return out
}

func pli(sender, media uint32) []byte {
	b := make([]byte, 12)
	b[0], b[1] = 0x81, 206
	binary.BigEndian.PutUint16(b[2:], 2)
	binary.BigEndian.PutUint32(b[4:], sender)
	binary.BigEndian.PutUint32(b[8:], media)
	return b
}

// receiveOne delivers one datagram to e as a socket reader would: alone in its batch.
func (e *Endpoint) receiveOne(buf []byte, rtcp bool) {
	var b transport.Batch
	b.Start(time.Now().UnixNano())
	e.handleSRTP(&b, buf, rtcp)
	b.Finish()
}

// waitWanted waits until r's sender goroutine has chosen to receive each SSRC.
func waitWanted(t testing.TB, r *Endpoint, ssrcs ...uint32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, ssrc := range ssrcs {
		for {
			src := r.conf.sources.Load().bySSRC[ssrc]
			if src != nil && r.wanted.Load().has(src) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never chose to receive SSRC %d", r.id, ssrc)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// waitNotified waits until cond (called with mu held) holds, checking again whenever notify
// fires; after waitTimeout it fails naming what and describe() (called with mu held).
func waitNotified(t *testing.T, mu *sync.Mutex, notify <-chan struct{}, what string, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		mu.Lock()
		ok := cond()
		mu.Unlock()
		if ok {
			return
		}
		select {
		case <-notify:
		case <-deadline.C:
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("timed out waiting for %s (%s)", what, describe())
		}
	}
}
