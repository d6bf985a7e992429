package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// countingHandler counts the media a transport delivers; safe for the TCP readers.
type countingHandler struct {
	nopHandler
	srtp, rtcp atomic.Int64
	last       atomic.Pointer[[]byte]
}

func (h *countingHandler) HandleSRTP(_ *Batch, b []byte, rtcp bool) {
	if rtcp {
		h.rtcp.Add(1)
		return
	}
	h.srtp.Add(1)
}

// tcpFixture is a mux with ICE-TCP on loopback and one transport with fixed credentials whose
// SRTP is enabled.
type tcpFixture struct {
	m *Mux
	t *Transport
	h *countingHandler
}

func newTCPFixture(tb testing.TB, tc TCPConfig) *tcpFixture {
	tb.Helper()
	tc.Enabled = true
	m, err := Listen(Config{BindAddr: netip.MustParseAddr("127.0.0.1"), Readers: 1, Logger: quiet, TCP: tc})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	old := newCredentials
	newCredentials = func() (string, string) { return fixtureUfrag, fixturePwd }
	h := &countingHandler{}
	tr, err := m.NewTransport(Options{ICEControlling: true}, h)
	newCredentials = old
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { tr.Close() })
	tr.secure.Store(true)
	return &tcpFixture{m: m, t: tr, h: h}
}

func (f *tcpFixture) dial(tb testing.TB) *net.TCPConn {
	tb.Helper()
	c, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(f.m.TCPAddr()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// framed concatenates RFC 4571 frames of msgs.
func framed(msgs ...[]byte) []byte {
	var out []byte
	for _, m := range msgs {
		out = binary.BigEndian.AppendUint16(out, uint16(len(m)))
		out = append(out, m...)
	}
	return out
}

// waitClosedByBridge reads c until the bridge closes it; it fails if that takes over 5 s.
func waitClosedByBridge(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the bridge kept the connection open")
	}
}

func waitCount(t *testing.T, what string, want int64, get func() int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for get() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d, want %d", what, get(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A valid binding request binds the connection to its transport; media in the same write
// (after the request, in the bytes the integrity check must leave alone) reaches the Handler.
func TestTCPBindingRequestBindsConnectionAndMediaReachesHandler(t *testing.T) {
	f := newTCPFixture(t, TCPConfig{})
	c := f.dial(t)
	rtcp := []byte{0x80, 200, 0, 6, 0, 0, 0x30, 0x39, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if _, err := c.Write(framed(bindingRequest(t, fixtureUfrag+":remote", fixturePwd), rtpPacket, rtcp, rtpPacket)); err != nil {
		t.Fatal(err)
	}
	waitCount(t, "SRTP delivered", 2, f.h.srtp.Load)
	waitCount(t, "SRTCP delivered", 1, f.h.rtcp.Load)
	st := f.m.Stats().TCP
	if st.Bound != 1 || st.Open != 1 || st.FramesReceived != 4 || st.Rejected != 0 {
		t.Errorf("stats %+v: want one bound connection, 4 frames", st)
	}
	if got := f.t.tcp.conn(netip.MustParseAddrPort(c.LocalAddr().String())); got == nil {
		t.Error("the transport does not know the connection")
	}
	// Closing the transport closes its connections.
	f.t.Close()
	waitClosedByBridge(t, c)
}

// A connection that does not open with a valid binding request for a local ufrag is closed
// and counted, whatever it sends instead.
func TestTCPRejectsConnectionsWithoutAValidBindingRequest(t *testing.T) {
	f := newTCPFixture(t, TCPConfig{})
	for _, tc := range []struct {
		name string
		send []byte
	}{
		{"media first", framed(rtpPacket)},
		{"DTLS first", framed([]byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1})},
		{"garbage", framed([]byte{70, 1, 2, 3})},
		{"empty frame", framed(nil)},
		{"STUN without cookie", framed(make([]byte, 20))},
		{"wrong password", framed(bindingRequest(t, fixtureUfrag+":remote", "wrong-password-wrong-pwd"))},
		{"unknown ufrag", framed(bindingRequest(t, "nobody:remote", fixturePwd))},
		{"no colon", framed(bindingRequest(t, fixtureUfrag, fixturePwd))},
		{"oversize frame", []byte{0xff, 0xff, 0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.m.Stats().TCP
			c := f.dial(t)
			if _, err := c.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			waitClosedByBridge(t, c)
			waitCount(t, "open connections back to before", 0, func() int64 { return -int64(f.m.Stats().TCP.Open - before.Open) })
			st := f.m.Stats().TCP
			if st.Rejected != before.Rejected+1 || st.Bound != 0 {
				t.Errorf("stats %+v after %+v: want one more rejected, none bound", st, before)
			}
		})
	}
	if n := f.h.srtp.Load(); n != 0 {
		t.Errorf("%d packets delivered from unbound connections", n)
	}
}

// A silent connection is closed after the handshake timeout, and while it waits another
// connection binds and delivers media at once.
func TestTCPSilentConnectionTimesOutWithoutBlockingOthers(t *testing.T) {
	old := tcpHandshakeTimeout
	tcpHandshakeTimeout = time.Second
	t.Cleanup(func() { tcpHandshakeTimeout = old })
	f := newTCPFixture(t, TCPConfig{})
	silent := f.dial(t)
	half := f.dial(t)
	// Half a binding request: its reader waits for the rest.
	req := framed(bindingRequest(t, fixtureUfrag+":remote", fixturePwd))
	if _, err := half.Write(req[:10]); err != nil {
		t.Fatal(err)
	}
	good := f.dial(t)
	start := time.Now()
	if _, err := good.Write(framed(bindingRequest(t, fixtureUfrag+":remote", fixturePwd), rtpPacket)); err != nil {
		t.Fatal(err)
	}
	waitCount(t, "SRTP delivered", 1, f.h.srtp.Load)
	if d := time.Since(start); d > tcpHandshakeTimeout {
		t.Errorf("media took %v, longer than the silent connections' timeout", d)
	}
	waitClosedByBridge(t, silent)
	waitClosedByBridge(t, half)
	if st := f.m.Stats().TCP; st.TimedOut != 2 || st.Bound != 1 {
		t.Errorf("stats %+v: want 2 timed out, 1 bound", st)
	}
}

// Connections over MaxConns, and unbound ones over the per-source cap, are closed at accept.
func TestTCPConnectionCaps(t *testing.T) {
	t.Run("MaxConns", func(t *testing.T) {
		f := newTCPFixture(t, TCPConfig{MaxConns: 2})
		f.dial(t)
		f.dial(t)
		waitCount(t, "open", 2, func() int64 { return int64(f.m.Stats().TCP.Open) })
		waitClosedByBridge(t, f.dial(t))
		if st := f.m.Stats().TCP; st.Refused != 1 || st.Accepted != 3 {
			t.Errorf("stats %+v: want 1 of 3 refused", st)
		}
	})
	t.Run("unbound per source", func(t *testing.T) {
		f := newTCPFixture(t, TCPConfig{})
		for range maxUnboundPerSource {
			f.dial(t)
		}
		waitCount(t, "open", maxUnboundPerSource, func() int64 { return int64(f.m.Stats().TCP.Open) })
		waitClosedByBridge(t, f.dial(t))
		if st := f.m.Stats().TCP; st.Refused != 1 {
			t.Errorf("stats %+v: want 1 refused", st)
		}
	})
}

// After binding, a frame longer than a datagram buffer is skipped and counted; the stream
// stays in step and the next frame is delivered.
func TestTCPOversizeFrameAfterBindingIsSkipped(t *testing.T) {
	f := newTCPFixture(t, TCPConfig{})
	c := f.dial(t)
	big := bytes.Repeat([]byte{0x80}, tcpMaxFrame+1000)
	if _, err := c.Write(framed(bindingRequest(t, fixtureUfrag+":remote", fixturePwd), big, rtpPacket)); err != nil {
		t.Fatal(err)
	}
	waitCount(t, "SRTP delivered", 1, f.h.srtp.Load)
	if st := f.m.Stats().TCP; st.DroppedOversize != 1 || st.Open != 1 {
		t.Errorf("stats %+v: want 1 oversize frame dropped, the connection open", st)
	}
}

// The candidates carry a passive TCP host candidate on the announced port, and one passive
// TCP server-reflexive candidate per advertised address, below their UDP counterparts.
func TestTCPCandidates(t *testing.T) {
	m, err := Listen(Config{BindAddr: netip.MustParseAddr("127.0.0.1"), Readers: 1, Logger: quiet,
		Advertised: []AdvertisedAddr{{IP: netip.MustParseAddr("203.0.113.7")}},
		TCP:        TCPConfig{Enabled: true, MappedPort: 443}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tr, err := m.NewTransport(Options{}, &nopHandler{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var host, srflx, udpMin uint32
	udpMin = ^uint32(0)
	for _, c := range tr.LocalDescription().Candidates {
		switch {
		case c.Protocol == "udp":
			udpMin = min(udpMin, c.Priority)
		case c.Protocol == "tcp" && c.TCPType == "passive" && c.Port == 443 && c.Type == "host" && c.IP == "127.0.0.1":
			host = c.Priority
		case c.Protocol == "tcp" && c.TCPType == "passive" && c.Port == 443 && c.Type == "srflx" && c.IP == "203.0.113.7":
			srflx = c.Priority
			if c.RelPort != int(m.TCPAddr().Port()) {
				t.Errorf("srflx rport %d, want the bound port %d", c.RelPort, m.TCPAddr().Port())
			}
		default:
			t.Errorf("unexpected candidate %+v", c)
		}
	}
	if host == 0 || srflx == 0 || host >= udpMin || srflx >= udpMin {
		t.Errorf("TCP host prio %d, srflx %d, lowest UDP %d: want both present and below UDP", host, srflx, udpMin)
	}
	if line := (Candidate{Protocol: "tcp", TCPType: "passive", Foundation: "1", Priority: 1, IP: "192.0.2.1", Port: 443}).SDP(); !bytes.Contains([]byte(line), []byte(" tcp 1 192.0.2.1 443 typ host tcptype passive")) {
		t.Errorf("SDP %q", line)
	}
}

// With the port taken, the fallback port is bound (JVB: 443, else 4443).
func TestTCPFallbackPort(t *testing.T) {
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	taken := busy.Addr().(*net.TCPAddr).Port
	free, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fallback := free.Addr().(*net.TCPAddr).Port
	free.Close()
	m, err := Listen(Config{BindAddr: netip.MustParseAddr("127.0.0.1"), Readers: 1, Logger: quiet,
		TCP: TCPConfig{Enabled: true, Port: taken, FallbackPort: fallback}})
	if err != nil {
		t.Fatalf("Listen with %d taken: %v", taken, err)
	}
	defer m.Close()
	if got := int(m.TCPAddr().Port()); got != fallback {
		t.Errorf("bound %d, want the fallback %d", got, fallback)
	}
	if _, err := Listen(Config{BindAddr: netip.MustParseAddr("127.0.0.1"), Readers: 1, Logger: quiet,
		TCP: TCPConfig{Enabled: true, Port: taken}}); err == nil {
		t.Error("Listen on a taken port without fallback succeeded")
	}
}

// FuzzTCPFramer feeds a byte stream to the framer in reads of one size and all at once: both
// must cut the same frames, none longer than tcpMaxFrame, and where nothing was oversize the
// frames re-framed are exactly the bytes consumed.
func FuzzTCPFramer(f *testing.F) {
	f.Add(framed(rtpPacket, []byte{1, 2, 3}, nil), uint8(3))
	f.Add(append(framed(bytes.Repeat([]byte{9}, tcpMaxFrame+5)), framed(rtpPacket)...), uint8(200))
	f.Add([]byte{0xff, 0xff, 1, 2, 3}, uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		if len(data) > tcpReadBufSize/2 {
			data = data[:tcpReadBufSize/2]
		}
		cut := func(step int) (frames [][]byte, oversize int) {
			fr := newTCPFramer(tcpReadBufSize)
			for rest := data; len(rest) > 0; {
				n := copy(fr.space(), rest[:min(step, len(rest))])
				fr.filled(n)
				rest = rest[n:]
				for {
					frame, over, ok := fr.next()
					if over {
						oversize++
						continue
					}
					if !ok {
						break
					}
					if len(frame) > tcpMaxFrame {
						t.Fatalf("frame of %d bytes", len(frame))
					}
					frames = append(frames, append([]byte(nil), frame...))
				}
				fr.compact()
			}
			return frames, oversize
		}
		whole, wholeOver := cut(len(data) + 1)
		parts, partsOver := cut(int(chunk) + 1)
		if wholeOver != partsOver || len(whole) != len(parts) {
			t.Fatalf("whole: %d frames, %d oversize; in reads of %d: %d, %d", len(whole), wholeOver, int(chunk)+1, len(parts), partsOver)
		}
		for i := range whole {
			if !bytes.Equal(whole[i], parts[i]) {
				t.Fatalf("frame %d differs", i)
			}
		}
		if wholeOver == 0 {
			if re := framed(whole...); !bytes.Equal(re, data[:len(re)]) {
				t.Fatal("re-framed frames differ from the stream")
			}
		}
	})
}

// A peer that reads nothing costs its writer no waiting: batches that find no room in the send
// buffer are dropped and counted, frames stay whole, and once the peer has read nothing for
// tcpWriteTimeout its connection is closed.
func TestTCPPeerThatReadsNothingIsDroppedThenClosed(t *testing.T) {
	old := tcpWriteTimeout
	tcpWriteTimeout = time.Second
	t.Cleanup(func() { tcpWriteTimeout = old })
	f, c, w := tcpMediaPair(t)
	if err := c.SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var slowest time.Duration
	for f.m.Stats().TCP.WriteFailures == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("connection not closed; stats %+v, writer %+v", f.m.Stats().TCP, w.Stats())
		}
		start := time.Now()
		for range writeBatchSize {
			w.Commit(append(w.Buffer(), media1200...))
		}
		_ = w.Flush()
		slowest = max(slowest, time.Since(start))
		time.Sleep(time.Millisecond)
	}
	if slowest > tcpWriteTimeout/2 { // a write that waited for the peer would take the whole timeout
		t.Errorf("a flush took %v: writes must not wait for the peer", slowest)
	}
	st, ws := f.m.Stats().TCP, w.Stats()
	if st.DroppedFull == 0 || ws.Dropped < st.DroppedFull || ws.Packets == 0 {
		t.Errorf("stats %+v, writer %+v: want sent batches, then full-buffer drops counted by both", st, ws)
	}
	// What reached the peer is whole frames (the kernel may reset the closed connection before
	// all of its send queue is out, and the last frame may be cut by that).
	if err := c.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	fr := newTCPFramer(len(got) + 1)
	fr.filled(copy(fr.space(), got))
	n := 0
	for {
		frame, over, ok := fr.next()
		if over || (ok && !bytes.Equal(frame, media1200)) {
			t.Fatalf("frame %d is not a sent datagram", n)
		}
		if !ok {
			break
		}
		n++
	}
	if n == 0 {
		t.Errorf("peer read no frame; writer sent %d", ws.Packets)
	}
}
