// Package transport owns the bridge's single UDP port and, per endpoint, the ICE, DTLS and SCTP
// state that sits on it. It demultiplexes every datagram at the socket: STUN and DTLS go to the
// endpoint's ICE agent and DTLS connection, SRTP/SRTCP go straight to the endpoint's Handler
// without any intermediate buffering. It knows nothing about conferences or forwarding, and must
// never import package sfu. On Linux it reads and writes in batches (recvmmsg/sendmmsg) on
// several SO_REUSEPORT sockets; elsewhere, or with Config.PortableSockets, it takes a portable
// path: one socket, one datagram per read or write. Optionally (Config.TCP) it also owns an
// ICE-TCP port (tcp.go), whose connections deliver into the same Handlers and take the same
// BatchWriters' datagrams.
package transport

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/pion/srtp/v3"
)

// Config configures the shared UDP port.
type Config struct {
	Port     int        // JVB_PORT, default 10000; 0 picks a free port (tests)
	BindAddr netip.Addr // zero value: all interfaces (tests use 127.0.0.1)
	Readers  int        // SO_REUSEPORT sockets / reader goroutines; 0 = GOMAXPROCS
	// SocketBuffer is SO_RCVBUF and SO_SNDBUF per socket in bytes: 0 = DefaultSocketBuffer,
	// negative = leave the kernel's default (net.core.rmem_default, usually 208 KiB).
	SocketBuffer     int
	Advertised       []AdvertisedAddr // initial srflx addresses (JVB_ADVERTISE_IPS); Mux.SetAdvertised replaces them
	AdvertisePrivate bool             // JVB_ADVERTISE_PRIVATE_CANDIDATES (default true)
	// PortableSockets takes the portable socket path on Linux too: one socket and plain reads
	// and writes instead of SO_REUSEPORT, recvmmsg and sendmmsg (always so off Linux).
	PortableSockets bool
	// TCP turns on ICE-TCP (tcp.go): off unless TCP.Enabled.
	TCP TCPConfig
	// NoGSO sends every datagram as a message of its own on the Linux path. By default a run
	// of equal-sized datagrams to one endpoint (a video frame's packets) goes out as one
	// message with UDP segmentation offload (UDP_SEGMENT) where the kernel supports it.
	NoGSO  bool
	Logger *slog.Logger
}

// SRTPKeys is what DTLS-SRTP exported once the handshake finished.
type SRTPKeys struct {
	Profile                           srtp.ProtectionProfile
	LocalMasterKey, LocalMasterSalt   []byte // protect what the bridge sends
	RemoteMasterKey, RemoteMasterSalt []byte // unprotect what the endpoint sends
}

// State is a transport's connectivity state.
type State int

const (
	StateNew State = iota
	StateChecking
	StateConnected // ICE selected a pair
	StateSecure    // DTLS done, SRTP keys delivered
	StateFailed    // ICE or DTLS failed
	StateClosed
)

// String returns the state's lower-case name.
func (s State) String() string {
	switch s {
	case StateNew:
		return "new"
	case StateChecking:
		return "checking"
	case StateConnected:
		return "connected"
	case StateSecure:
		return "secure"
	case StateFailed:
		return "failed"
	case StateClosed:
		return "closed"
	}
	return "unknown"
}

// DefaultSocketBuffer is the socket buffer size asked for when Config.SocketBuffer is 0: room
// for a few thousand datagrams, so that a keyframe burst to every endpoint is not dropped by
// the kernel while the readers are busy.
const DefaultSocketBuffer = 4 << 20

// Handler receives what a Transport delivers. HandleSRTP runs on a socket reader goroutine:
// it must not block and must not keep buf or b after returning.
type Handler interface {
	HandleSRTP(b *Batch, buf []byte, rtcp bool)
	HandleSecure(keys SRTPKeys)
	// HandleDataChannelOpen runs when the endpoint opened its bridge channel, before its first
	// message; the handler greets it (ServerHello) and sends what it must know from the start.
	HandleDataChannelOpen()
	HandleDataChannelMessage(msg []byte, isString bool)
	HandleState(s State)
}

// Options configures one endpoint's transport.
type Options struct {
	ICEControlling bool // jicofo always asks for true
	SCTP           bool // accept an SCTP association (bridge = server, port 5000)
	// Relay makes this a bridge-to-bridge transport (Octo): with SCTP, the bridge is the SCTP
	// client when SCTPClient is set (it sends INIT and opens the data channel, as JVB's relay
	// with role "client"), otherwise the server; either way the relay's one data channel may
	// carry any DCEP protocol (JVB opens it with label "default" and no protocol).
	Relay      bool
	SCTPClient bool
	Logger     *slog.Logger
}

// Datagram is one outgoing packet for BatchWriter.
type Datagram = []byte

// MuxStats are counted drops and totals at the socket.
type MuxStats struct {
	PacketsReceived, BytesReceived uint64
	PacketsSent, BytesSent         uint64
	DroppedGarbage                 uint64 // not STUN/DTLS/RTP/RTCP
	DroppedUnknownUfrag            uint64 // STUN for a ufrag no transport has
	DroppedBadIntegrity            uint64 // STUN whose MESSAGE-INTEGRITY fails
	DroppedUnknownAddr             uint64 // DTLS/SRTP from an address no transport validated
	DroppedNotSecure               uint64 // SRTP before DTLS finished
	DroppedQueueFull               uint64 // STUN/DTLS for a transport whose ICE/DTLS reader lags
	DroppedSocketOverflow          uint64 // datagrams the kernel dropped: socket receive buffer full
	RejectedDataChannels           uint64 // DCEP OPEN refused (wrong protocol or over max-channels=1)
	// DroppedAddrRefused counts authenticated STUN from an address the mux would not validate
	// for its transport: a new address of a transport that already has MaxRemoteAddrs, or one
	// another transport validated first. The address is not learned and nothing is answered.
	DroppedAddrRefused uint64
	// DroppedSTUNRateLimited counts authenticated STUN requests over the per-endpoint or
	// per-source rate (STUNRequestRate, STUNSourceRequestRate).
	DroppedSTUNRateLimited uint64
	// RefusedChecks counts connectivity checks an ICE agent wanted to send to an address that
	// was neither signalled as a candidate nor validated by the mux (never sent).
	RefusedChecks uint64
	// TCP counts the ICE-TCP port's connections and frames (all zero when it is off).
	TCP TCPStats
}

// BatchEnder is called once a socket reader has dispatched a whole batch (see Batch.AtEnd).
type BatchEnder interface{ EndBatch(b *Batch) }

// Batch is a socket reader's view of the datagrams one recvmmsg returned. Every HandleSRTP call
// of the batch gets the same Batch, so that a handler can do once per batch what it would
// otherwise do per packet (read the clock, wake another goroutine). A Batch belongs to one
// goroutine; handlers use it only during HandleSRTP.
type Batch struct {
	now   int64
	at    int64 // arrival of the datagram being handled; 0: unknown
	spent int   // work the EndBatch calls did on the reader so far (Spend)
	clock int64 // Clock's reading; 0: not read yet
	ends  []BatchEnder
	// gather sends what writers flushed during the batch's end (FlushTo) in one go, after
	// every EndBatch ran; nil where the reader has none.
	gather *readerSend
	// held are released by Finish once the gathered datagrams are sent (UnlockAfterSend).
	held []Unlocker
}

// Unlocker is a lock an EndBatch handler holds past its call (UnlockAfterSend).
type Unlocker interface{ Unlock() }

// Start begins a batch received at now (unix nanoseconds).
func (b *Batch) Start(now int64) { b.now, b.at, b.spent, b.clock = now, 0, 0, 0 }

// Clock reads the clock once per batch, at the first call after its datagrams were handled:
// the time for what EndBatch handlers send (unix nanoseconds). Now is when they arrived.
func (b *Batch) Clock() int64 {
	if b.clock == 0 {
		b.clock = time.Now().UnixNano()
	}
	return b.clock
}

// Spend adds n to the work done on the reader goroutine at the batch's end and returns the
// total: EndBatch handlers use it to bound what they do inline before the reader goes back to
// its socket (the media core sends up to a budget of packets itself, and hands the rest off).
func (b *Batch) Spend(n int) int {
	b.spent += n
	return b.spent
}

// Now is when the batch was received, in unix nanoseconds: one clock read per batch, after
// the datagrams arrived.
func (b *Batch) Now() int64 { return b.now }

// SetPacketTime records when the datagram handled next arrived at the socket (unix
// nanoseconds; 0: unknown). The socket reader calls it before each datagram of the batch.
func (b *Batch) SetPacketTime(at int64) { b.at = at }

// PacketTime is when the datagram being handled arrived at the socket, in unix nanoseconds:
// the kernel's receive timestamp, which on the Linux socket path (SO_TIMESTAMPNS) each datagram
// of a batch carries, so that arrival-time feedback (transport-cc) sees the spacing the network
// gave the packets, not the reader's. It is Now where no timestamp came (the portable path).
// Valid during HandleSRTP.
func (b *Batch) PacketTime() int64 {
	if b.at != 0 {
		return b.at
	}
	return b.now
}

// AtEnd makes Finish call x.EndBatch(), in the order of the AtEnd calls. Callers deduplicate.
func (b *Batch) AtEnd(x BatchEnder) { b.ends = append(b.ends, x) }

// UnlockAfterSend makes Finish unlock l once the datagrams gathered during the batch's end have
// been sent. An EndBatch handler that flushed a writer through the batch (FlushTo) hands over the
// writer's lock this way, so that whoever takes the writer next cannot send newer datagrams to
// the same receiver before the gathered ones leave.
func (b *Batch) UnlockAfterSend(l Unlocker) { b.held = append(b.held, l) }

// Finish ends the batch: it runs and forgets the EndBatch calls registered with AtEnd, sends
// what they gathered, then releases the locks handed over with UnlockAfterSend.
func (b *Batch) Finish() {
	for i, x := range b.ends {
		x.EndBatch(b)
		b.ends[i] = nil
	}
	b.ends = b.ends[:0]
	if b.gather != nil {
		b.gather.flush()
	}
	for i, l := range b.held {
		l.Unlock()
		b.held[i] = nil
	}
	b.held = b.held[:0]
}
