// Package transport owns the bridge's single UDP port and, per endpoint, the ICE, DTLS and SCTP
// state that sits on it. It demultiplexes every datagram at the socket: STUN and DTLS go to the
// endpoint's ICE agent and DTLS connection, SRTP/SRTCP go straight to the endpoint's Handler
// without any intermediate buffering. It knows nothing about conferences or forwarding, and must
// never import package sfu.
package transport

// CONTRACT STUB — the signatures below are the agreed API between sfu and sfu/transport.
// The implementation replaces the bodies; keep the exported names and meanings.

import (
	"log/slog"
	"net/netip"

	"github.com/pion/srtp/v3"
)

// Config configures the shared UDP port.
type Config struct {
	Port             int              // JVB_PORT, default 10000; 0 picks a free port (tests)
	BindAddr         netip.Addr       // zero value: all interfaces (tests use 127.0.0.1)
	Readers          int              // SO_REUSEPORT sockets / reader goroutines; 0 = GOMAXPROCS
	Advertised       []AdvertisedAddr // JVB_ADVERTISE_IPS
	AdvertisePrivate bool             // JVB_ADVERTISE_PRIVATE_CANDIDATES (default true)
	Logger           *slog.Logger
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

// Handler receives what a Transport delivers. HandleSRTP runs on a socket reader goroutine:
// it must not block and must not keep buf after returning.
type Handler interface {
	HandleSRTP(buf []byte, rtcp bool)
	HandleSecure(keys SRTPKeys)
	HandleDataChannelMessage(msg []byte, isString bool)
	HandleState(s State)
}

// Options configures one endpoint's transport.
type Options struct {
	ICEControlling bool // jicofo always asks for true
	SCTP           bool // accept an SCTP association (bridge = server, port 5000)
	Logger         *slog.Logger
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
}

// The agreed methods (implemented in this package):
//
//	func Listen(cfg Config) (*Mux, error)
//	func (m *Mux) Close() error
//	func (m *Mux) LocalAddr() netip.AddrPort
//	func (m *Mux) Stats() MuxStats
//	func (m *Mux) NewTransport(opts Options, h Handler) (*Transport, error)
//
//	// LocalDescription: ufrag, pwd, host candidates (+ advertised), sha-256 fingerprint with
//	// setup "actpass" until the remote role is known, then "passive"/"active"; RTCPMux true.
//	func (t *Transport) LocalDescription() Description
//	// SetRemoteDescription may be called repeatedly: ufrag/pwd/fingerprints are taken the first
//	// time they are non-empty (ICE starts once ufrag+pwd are known); candidates are added each
//	// time (trickle). Remote setup "active" => bridge is DTLS server, "passive" => client.
//	func (t *Transport) SetRemoteDescription(d Description) error
//	func (t *Transport) State() State
//	func (t *Transport) SendDataChannel(msg []byte, isString bool) error
//	// NewBatchWriter returns a writer owned by one goroutine (the endpoint's sender).
//	func (t *Transport) NewBatchWriter() *BatchWriter
//	// Close stops every goroutine of this transport; the Handler is not called after it returns.
//	func (t *Transport) Close() error
//
//	// Buffer returns a zero-length slice with capacity >= 1500 to build the next datagram in.
//	func (w *BatchWriter) Buffer() []byte
//	// Commit queues b (built in the slice from Buffer) and sends the batch when it is full.
//	func (w *BatchWriter) Commit(b []byte)
//	// Flush sends what is queued to the transport's current remote address (sendmmsg).
//	func (w *BatchWriter) Flush() error
