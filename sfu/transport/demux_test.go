package transport

import (
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

const (
	fixtureUfrag = "fixufrag"
	fixturePwd   = "fixture-password-0123456789"
)

var quiet = slog.New(slog.DiscardHandler)

type nopHandler struct{ srtp, rtcp int }

func (h *nopHandler) HandleSRTP(_ *Batch, _ []byte, rtcp bool) {
	if rtcp {
		h.rtcp++
	} else {
		h.srtp++
	}
}
func (h *nopHandler) HandleSecure(SRTPKeys)                 {}
func (h *nopHandler) HandleDataChannelOpen()                {}
func (h *nopHandler) HandleDataChannelMessage([]byte, bool) {}
func (h *nopHandler) HandleState(State)                     {}

// demuxFixture is a Mux on loopback with one transport whose credentials are fixed, one
// validated remote address and SRTP enabled, for driving demux directly.
type demuxFixture struct {
	m     *Mux
	t     *Transport
	h     *nopHandler
	s     *socket
	st    *readerState
	known netip.AddrPort
	other netip.AddrPort
}

func newDemuxFixture(tb testing.TB) *demuxFixture {
	tb.Helper()
	return newDemuxFixtureWith(tb, Config{})
}

// newDemuxFixtureWith is newDemuxFixture with cfg's socket settings (one reader, on loopback).
func newDemuxFixtureWith(tb testing.TB, cfg Config) *demuxFixture {
	tb.Helper()
	cfg.BindAddr, cfg.Readers, cfg.Logger = netip.MustParseAddr("127.0.0.1"), 1, quiet
	m, err := Listen(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	old := newCredentials
	newCredentials = func() (string, string) { return fixtureUfrag, fixturePwd }
	h := &nopHandler{}
	tr, err := m.NewTransport(Options{ICEControlling: true}, h)
	newCredentials = old
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { tr.Close() })
	known := netip.MustParseAddrPort("127.0.0.1:40000")
	m.validate(known, tr)
	tr.secure.Store(true)
	return &demuxFixture{m: m, t: tr, h: h, s: m.socks[0], st: &readerState{}, known: known,
		other: netip.MustParseAddrPort("127.0.0.1:40001")}
}

func bindingRequest(tb testing.TB, username, pwd string) []byte {
	tb.Helper()
	msg, err := stun.Build(stun.BindingRequest, stun.TransactionID, stun.NewUsername(username),
		stun.NewShortTermIntegrity(pwd), stun.Fingerprint)
	if err != nil {
		tb.Fatal(err)
	}
	return msg.Raw
}

var rtpPacket = append([]byte{0x80, 111, 0, 1, 0, 0, 3, 0xc0, 0, 0, 0x30, 0x39}, make([]byte, 160)...)

func TestDemuxCountsEveryDrop(t *testing.T) {
	f := newDemuxFixture(t)
	var rtcp = []byte{0x80, 200, 0, 6, 0, 0, 0x30, 0x39, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	dtlsRecord := []byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1}
	for _, tc := range []struct {
		name string
		buf  []byte
		from netip.AddrPort
		want func(MuxStats) uint64
	}{
		{"empty", nil, f.known, func(s MuxStats) uint64 { return s.DroppedGarbage }},
		{"first byte 70", []byte{70, 1, 2, 3}, f.known, func(s MuxStats) uint64 { return s.DroppedGarbage }},
		{"first byte 200", []byte{200, 1, 2, 3}, f.known, func(s MuxStats) uint64 { return s.DroppedGarbage }},
		{"truncated RTP", rtpPacket[:3], f.known, func(s MuxStats) uint64 { return s.DroppedGarbage }},
		{"truncated RTP header", rtpPacket[:10], f.known, func(s MuxStats) uint64 { return s.DroppedGarbage }},
		{"truncated STUN", []byte{0, 1, 0, 0, 0x21}, f.known, func(s MuxStats) uint64 { return s.DroppedGarbage }},
		{"STUN without cookie", make([]byte, 20), f.known, func(s MuxStats) uint64 { return s.DroppedGarbage }},
		{"truncated DTLS", dtlsRecord[:5], f.known, func(s MuxStats) uint64 { return s.DroppedGarbage }},
		{"STUN unknown ufrag", bindingRequest(t, "nobody:remote", fixturePwd), f.other, func(s MuxStats) uint64 { return s.DroppedUnknownUfrag }},
		{"STUN no colon", bindingRequest(t, fixtureUfrag, fixturePwd), f.other, func(s MuxStats) uint64 { return s.DroppedUnknownUfrag }},
		{"STUN bad integrity", bindingRequest(t, fixtureUfrag+":remote", "wrong-password-wrong-pwd"), f.other, func(s MuxStats) uint64 { return s.DroppedBadIntegrity }},
		{"DTLS unknown address", dtlsRecord, f.other, func(s MuxStats) uint64 { return s.DroppedUnknownAddr }},
		{"RTP unknown address", rtpPacket, f.other, func(s MuxStats) uint64 { return s.DroppedUnknownAddr }},
		{"RTCP unknown address", rtcp, f.other, func(s MuxStats) uint64 { return s.DroppedUnknownAddr }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.want(f.m.Stats())
			f.m.demux(f.s, f.st, tc.buf, tc.from)
			st := f.m.Stats()
			if got := tc.want(st) - before; got != 1 {
				t.Fatalf("counter grew by %d, want 1 (stats %+v)", got, st)
			}
		})
	}
	if f.h.srtp != 0 || f.h.rtcp != 0 {
		t.Fatalf("dropped packets reached the handler: %+v", f.h)
	}
}

func TestDemuxRoutesSRTPAndValidatesAddresses(t *testing.T) {
	f := newDemuxFixture(t)
	rtcp := []byte{0x80, 201, 0, 1, 0, 0, 0x30, 0x39}
	f.m.demux(f.s, f.st, rtpPacket, f.known)
	f.m.demux(f.s, f.st, rtcp, f.known)
	if f.h.srtp != 1 || f.h.rtcp != 1 {
		t.Fatalf("handler got srtp=%d rtcp=%d, want 1 and 1", f.h.srtp, f.h.rtcp)
	}

	// A good binding request validates its source address; SRTP from it is then accepted.
	f.m.demux(f.s, f.st, bindingRequest(t, fixtureUfrag+":remote", fixturePwd), f.other)
	if got, _ := f.m.addrs.get(f.other); got != f.t {
		t.Fatal("address of a good binding request was not validated")
	}
	f.m.demux(f.s, f.st, rtpPacket, f.other)
	if f.h.srtp != 2 {
		t.Fatalf("SRTP from the newly validated address not delivered (srtp=%d)", f.h.srtp)
	}

	// Before DTLS finished, SRTP is dropped as not secure.
	f.t.secure.Store(false)
	f.m.demux(f.s, f.st, rtpPacket, f.known)
	if got := f.m.Stats().DroppedNotSecure; got != 1 || f.h.srtp != 2 {
		t.Fatalf("DroppedNotSecure = %d, srtp = %d; want 1, 2", got, f.h.srtp)
	}

	// Close unregisters the transport: its addresses and ufrag are unknown afterwards.
	f.t.Close()
	f.m.demux(f.s, f.st, rtpPacket, f.known)
	f.m.demux(f.s, f.st, bindingRequest(t, fixtureUfrag+":remote", fixturePwd), f.other)
	st := f.m.Stats()
	if st.DroppedUnknownAddr != 1 || st.DroppedUnknownUfrag != 1 {
		t.Fatalf("after Close: %+v, want one unknown address and one unknown ufrag", st)
	}
}

func TestDemuxSRTPDoesNotAllocate(t *testing.T) {
	f := newDemuxFixture(t)
	allocs := testing.AllocsPerRun(1000, func() { f.m.demux(f.s, f.st, rtpPacket, f.known) })
	if allocs != 0 {
		t.Fatalf("demux of SRTP allocates %.1f times per packet", allocs)
	}
}

func BenchmarkDemuxSRTP(b *testing.B) {
	f := newDemuxFixture(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(rtpPacket)))
	for b.Loop() {
		f.m.demux(f.s, f.st, rtpPacket, f.known)
	}
}

// sink is a loopback UDP socket that reads and discards what a BatchWriter sends.
func sink(tb testing.TB) (netip.AddrPort, *net.UDPConn) {
	tb.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c.LocalAddr().(*net.UDPAddr).AddrPort(), c
}

func fillBatch(w *BatchWriter, n int) {
	for range n {
		b := append(w.Buffer(), rtpPacket...)
		w.Commit(b)
	}
}

func TestBatchWriterSendsToSelectedPair(t *testing.T) {
	f := newDemuxFixture(t)
	w := f.t.NewBatchWriter()
	fillBatch(w, 3)
	if err := w.Flush(); err != ErrNoRemote {
		t.Fatalf("Flush without a selected pair = %v, want ErrNoRemote", err)
	}
	addr, c := sink(t)
	f.t.remoteAddr.Store(&addr)
	fillBatch(w, writeBatchSize+5) // one automatic send when full, 5 on Flush
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	for i := range writeBatchSize + 5 {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		if from != f.m.LocalAddr() || n != len(rtpPacket) {
			t.Fatalf("datagram %d: %d bytes from %v, want %d from %v", i, n, from, len(rtpPacket), f.m.LocalAddr())
		}
	}
	if st := f.m.Stats(); st.PacketsSent < writeBatchSize+5 || st.BytesSent < uint64((writeBatchSize+5)*len(rtpPacket)) {
		t.Fatalf("sent counters %+v", st)
	}
}

func TestBatchWriterDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	f := newDemuxFixture(t)
	addr, _ := sink(t)
	f.t.remoteAddr.Store(&addr)
	w := f.t.NewBatchWriter()
	allocs := testing.AllocsPerRun(200, func() {
		fillBatch(w, 10)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("a 10-packet batch allocates %.1f times", allocs)
	}
}

func BenchmarkBatchWriter(b *testing.B) {
	f := newDemuxFixture(b)
	addr, _ := sink(b)
	f.t.remoteAddr.Store(&addr)
	w := f.t.NewBatchWriter()
	b.ReportAllocs()
	b.SetBytes(int64(len(rtpPacket)))
	for b.Loop() {
		w.Commit(append(w.Buffer(), rtpPacket...))
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

func FuzzDemux(f *testing.F) {
	fx := newDemuxFixture(f)
	f.Add(rtpPacket, true)
	f.Add(bindingRequest(f, fixtureUfrag+":remote", fixturePwd), false)
	f.Add([]byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1}, true)
	f.Fuzz(func(t *testing.T, data []byte, known bool) {
		from := fx.other
		if known {
			from = fx.known
		}
		fx.m.demux(fx.s, fx.st, data, from)
	})
}

// BenchmarkWriteToUDPBaseline is one sendto per packet on the same loopback path, the cost
// BatchWriter's sendmmsg is compared against.
func BenchmarkWriteToUDPBaseline(b *testing.B) {
	f := newDemuxFixture(b)
	addr, _ := sink(b)
	c := f.m.socks[0].conn
	b.ReportAllocs()
	b.SetBytes(int64(len(rtpPacket)))
	for b.Loop() {
		if _, err := c.WriteToUDPAddrPort(rtpPacket, addr); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

// One endpoint's authenticated requests from ever new addresses: MaxRemoteAddrs of them are
// learned, the others are refused before the agent sees them, and the endpoint's rate caps
// the rest. Another transport's address cannot be taken over with one's own credentials.
func TestSTUNAddressCapAndRate(t *testing.T) {
	f := newDemuxFixture(t)
	f.st.batch.Start(time.Unix(1000, 0).UnixNano())
	req := bindingRequest(t, fixtureUfrag+":remote", fixturePwd)
	for i := range 50 {
		f.m.demux(f.s, f.st, req, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), uint16(2000+i)))
	}
	f.m.regMu.Lock()
	n := len(f.t.addrs)
	f.m.regMu.Unlock()
	if n != MaxRemoteAddrs {
		t.Fatalf("%d addresses validated, want MaxRemoteAddrs=%d", n, MaxRemoteAddrs)
	}
	// A signalled candidate's address is still validated: only peer-reflexive ones are capped.
	if err := f.t.SetRemoteDescription(Description{Candidates: []Candidate{{Foundation: "1", Component: 1, Protocol: "udp", Priority: 1, IP: "127.0.0.3", Port: 3000, Type: "host"}}}); err != nil {
		t.Fatal(err)
	}
	f.m.demux(f.s, f.st, req, netip.MustParseAddrPort("127.0.0.3:3000"))
	if got, _ := f.m.addrs.get(netip.MustParseAddrPort("127.0.0.3:3000")); got != f.t {
		t.Fatal("the address of a signalled candidate was refused after the peer-reflexive cap")
	}
	st := f.m.Stats()
	if st.DroppedAddrRefused != 50-(MaxRemoteAddrs-1) { // the fixture validated one already
		t.Fatalf("DroppedAddrRefused = %d, want %d", st.DroppedAddrRefused, 50-(MaxRemoteAddrs-1))
	}
	// Over the burst in one instant: rate limited, even from a validated address.
	for range STUNRequestBurst {
		f.m.demux(f.s, f.st, req, f.known)
	}
	// 50 + 1 + STUNRequestBurst requests at one instant: all over the burst are dropped.
	if st := f.m.Stats(); st.DroppedSTUNRateLimited != 51 {
		t.Fatalf("DroppedSTUNRateLimited = %d after %d requests at once, want 51", st.DroppedSTUNRateLimited, 51+STUNRequestBurst)
	}

	// A second transport's holder cannot take the first one's address.
	old := newCredentials
	newCredentials = func() (string, string) { return "otherufr", "other-password-0123456789" }
	other, err := f.m.NewTransport(Options{ICEControlling: true}, &nopHandler{})
	newCredentials = old
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	f.m.demux(f.s, f.st, bindingRequest(t, "otherufr:remote", "other-password-0123456789"), f.known)
	if got, _ := f.m.addrs.get(f.known); got != f.t {
		t.Fatal("an address moved to another transport on that transport's credentials")
	}
}

// The agent may check signalled candidates and validated addresses, nothing else.
func TestChecksOnlyToSignalledOrValidatedAddresses(t *testing.T) {
	f := newDemuxFixture(t)
	if err := f.t.SetRemoteDescription(Description{Candidates: []Candidate{{Foundation: "1", Component: 1, Protocol: "udp", Priority: 1, IP: "127.0.0.9", Port: 5000, Type: "host"}}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		to   netip.AddrPort
		want bool
	}{
		{f.known, true},
		{netip.MustParseAddrPort("127.0.0.9:5000"), true},
		{netip.MustParseAddrPort("127.0.0.9:5001"), false},
		{f.other, false},
	} {
		if got := f.t.mayCheck(tc.to); got != tc.want {
			t.Errorf("mayCheck(%v) = %v, want %v", tc.to, got, tc.want)
		}
	}
	check := bindingRequest(t, "remote:"+fixtureUfrag, "remote-password-remote-pw")
	addr, c := sink(t)
	if _, err := f.m.writeTo(f.t, check, addr); err != nil {
		t.Fatal(err)
	}
	if got := f.m.Stats().RefusedChecks; got != 1 {
		t.Fatalf("RefusedChecks = %d after a check to an unknown address, want 1", got)
	}
	if err := c.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadFrom(make([]byte, 100)); err == nil {
		t.Fatal("the refused check was sent")
	}
}
