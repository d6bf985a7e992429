// Package transport owns the bridge's single UDP port and, per endpoint, the ICE, DTLS and SCTP
// state that sits on it. It demultiplexes every datagram at the socket: STUN and DTLS go to the
// endpoint's ICE agent and DTLS connection, SRTP/SRTCP go straight to the endpoint's Handler
// without any intermediate buffering. It knows nothing about conferences or forwarding, and must
// never import package sfu. It is Linux-only (recvmmsg/sendmmsg, SO_REUSEPORT).
package transport

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
	DroppedQueueFull               uint64 // STUN/DTLS for a transport whose ICE/DTLS reader lags
	RejectedDataChannels           uint64 // DCEP OPEN refused (wrong protocol or over max-channels=1)
}
