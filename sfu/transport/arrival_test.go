package transport

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// Marks in byte 12 of the test datagrams (the first payload byte after the RTP header).
const (
	markProbe   = 1 // delivered and recorded
	markHold    = 2 // the handler holds the reader until release is closed
	markMeasure = 3 // one of the spaced datagrams whose arrival times are checked
)

// arrival is what arrivalHandler saw of one SRTP datagram.
type arrival struct {
	mark    byte
	at, now int64 // Batch.PacketTime and Batch.Now during HandleSRTP
}

// arrivalHandler records each SRTP datagram's packet time and its batch's time, and holds the
// socket reader inside a markHold datagram until it takes a value from release, so that what
// is sent meanwhile queues in the socket and comes back in one recvmmsg batch.
type arrivalHandler struct {
	nopHandler
	got     chan arrival
	release chan struct{}
	done    chan struct{} // closed when the test ends: hold no more
}

func (h *arrivalHandler) HandleSRTP(b *Batch, buf []byte, _ bool) {
	select {
	case h.got <- arrival{mark: buf[12], at: b.PacketTime(), now: b.Now()}:
	default: // the test stopped reading; never block the reader
	}
	if buf[12] == markHold {
		select {
		case <-h.release:
		case <-h.done:
		}
	}
}

// arrivalFixture is a one-reader Mux on loopback with a secure transport whose handler is an
// arrivalHandler, and a client socket whose address that transport validated.
type arrivalFixture struct {
	h      *arrivalHandler
	client *net.UDPConn
	to     netip.AddrPort
	m      *Mux
}

func newArrivalFixture(t *testing.T, cfg Config) *arrivalFixture {
	t.Helper()
	cfg.BindAddr, cfg.Readers, cfg.Logger = netip.MustParseAddr("127.0.0.1"), 1, quiet
	m, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	h := &arrivalHandler{got: make(chan arrival, 64), release: make(chan struct{}, 1), done: make(chan struct{})}
	tr, err := m.NewTransport(Options{ICEControlling: true}, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	// Registered last, so it runs first: a failed test never leaves the reader held in the
	// handler while Close waits for it.
	t.Cleanup(func() { close(h.done) })
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	m.validate(c.LocalAddr().(*net.UDPAddr).AddrPort(), tr)
	tr.secure.Store(true)
	return &arrivalFixture{h: h, client: c, to: m.LocalAddr(), m: m}
}

// send sends one RTP datagram with mark and returns the wall clock just before and just after
// the send (unix nanoseconds). On loopback the datagram reaches the receiving socket's queue
// within the send call, so its kernel receive timestamp lies between the two.
func (f *arrivalFixture) send(t *testing.T, mark byte) (before, after int64) {
	t.Helper()
	b := append([]byte(nil), rtpPacket...)
	b[12] = mark
	before = time.Now().UnixNano()
	if _, err := f.client.WriteToUDPAddrPort(b, f.to); err != nil {
		t.Fatal(err)
	}
	return before, time.Now().UnixNano()
}

// hold sends a markHold datagram and returns once the reader holds in the handler: what is
// sent until release queues in the socket.
func (f *arrivalFixture) hold(t *testing.T) {
	t.Helper()
	f.send(t, markHold)
	if a := f.next(t); a.mark != markHold {
		t.Fatalf("handler got mark %d, want the hold datagram", a.mark)
	}
}

// release lets the held reader go on.
func (f *arrivalFixture) release() { f.h.release <- struct{}{} }

// next waits for the handler's next datagram.
func (f *arrivalFixture) next(t *testing.T) arrival {
	t.Helper()
	select {
	case a := <-f.h.got:
		return a
	case <-time.After(5 * time.Second):
		t.Fatal("no datagram reached the handler within 5s")
		return arrival{}
	}
}

// On the portable path there is no kernel timestamp: every datagram's packet time is its
// batch's time.
func TestPortablePacketTimeIsBatchTime(t *testing.T) {
	f := newArrivalFixture(t, Config{PortableSockets: true})
	for range 3 {
		before, _ := f.send(t, markProbe)
		a := f.next(t)
		if a.at != a.now || a.now < before {
			t.Fatalf("packet time %d, batch time %d; want the batch time, read after the send began (%d)", a.at, a.now, before)
		}
	}
}

func TestBatchPacketTimeFallsBackToNow(t *testing.T) {
	var b Batch
	b.Start(1000)
	if got := b.PacketTime(); got != 1000 {
		t.Fatalf("PacketTime with no arrival time = %d, want Now (1000)", got)
	}
	b.SetPacketTime(900)
	if got := b.PacketTime(); got != 900 {
		t.Fatalf("PacketTime = %d, want the arrival time set (900)", got)
	}
	b.SetPacketTime(0)
	if got := b.PacketTime(); got != 1000 {
		t.Fatalf("PacketTime after an unknown arrival = %d, want Now (1000)", got)
	}
	b.SetPacketTime(900)
	b.Start(2000)
	if got := b.PacketTime(); got != 2000 {
		t.Fatalf("PacketTime after Start = %d, want the new batch's Now (2000)", got)
	}
}
