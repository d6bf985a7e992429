package colibri

import (
	"errors"
	"time"
)

// Bridge is what the handler needs from the media core. sfuadapter.go implements it for
// *sfu.Bridge; tests use an in-package fake.
type Bridge interface {
	// CreateConference returns ErrConferenceExists if the meeting already has one.
	CreateConference(meetingID, name string) (Conference, error)
	// Conference returns nil if the meeting has no conference.
	Conference(meetingID string) Conference
	Conferences() []Conference
}

// Conference is one meeting on the bridge.
type Conference interface {
	MeetingID() string
	// ID is the bridge's own id of the conference (in colibri-ws URLs).
	ID() string
	// FeedbackSSRCs are the conference's random SSRCs announced as jvb-a0 / jvb-v0.
	FeedbackSSRCs() (audio, video uint32)
	// CreateEndpoint returns ErrEndpointExists if the id is taken.
	CreateEndpoint(cfg EndpointConfig) (BridgeEndpoint, error)
	// Endpoint returns nil if there is no endpoint with that id.
	Endpoint(id string) BridgeEndpoint
	Endpoints() []BridgeEndpoint
	Expire()
	Expired() bool
	CreatedAt() time.Time
}

// BridgeEndpoint is one participant's presence on the bridge (the wire element is Endpoint).
type BridgeEndpoint interface {
	ID() string
	// Visitor reports whether the endpoint was created with muc-role='visitor'.
	Visitor() bool
	// LocalTransport is the bridge's ICE-UDP transport for this endpoint (ufrag, pwd,
	// candidates, rtcp-mux, fingerprint with setup).
	LocalTransport() *ICEUDPTransport
	// SetRemoteTransport applies the endpoint's ICE/DTLS parameters; may be called again with
	// trickled candidates.
	SetRemoteTransport(t *ICEUDPTransport) error
	// SetSources replaces all of the endpoint's sources.
	SetSources(s []MediaSource) error
	SetForceMute(audio, video bool)
	// AddMedia adds payload types and header extensions (never removes any).
	AddMedia(m []Media)
	Expire()
	CreatedAt() time.Time
	// LastActivity is when the endpoint last sent a packet or an ICE consent check (its
	// creation time if nothing yet).
	LastActivity() time.Time
	ConnState() ConnState
	// WebSocketPassword is the endpoint's colibri-ws password, fixed for its life.
	WebSocketPassword() string
}

// ConnState is what expiry needs to know about an endpoint's transport.
type ConnState int

const (
	// ConnConnecting: ICE has not connected yet.
	ConnConnecting ConnState = iota
	// ConnConnected: ICE connected (DTLS may or may not be done).
	ConnConnected
	// ConnFailed: ICE or DTLS failed, or the transport is closed.
	ConnFailed
)

// EndpointConfig is what an endpoint create carries.
type EndpointConfig struct {
	ID, StatsID    string
	Visitor        bool
	ICEControlling bool
	SCTP           bool
	SSRCRewriting  bool
	InitialLastN   int // -1 unlimited
	Media          []Media
}

// Errors a Bridge implementation returns for the two conflicts of spec 2.3.
var (
	ErrConferenceExists = errors.New("conference already exists")
	ErrEndpointExists   = errors.New("endpoint already exists")
)
