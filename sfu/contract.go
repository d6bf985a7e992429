// Package sfu is the media core of the bridge: conferences, endpoints, and the per-packet path
// that moves SRTP from one endpoint to the others (socket, demux, SRTP, source, projection,
// receiver, SRTP, socket). Control protocols (COLIBRI2, XMPP, HTTP) drive it through its
// exported API; it must never import them.
package sfu

// CONTRACT STUB — the exported API agreed with colibri/, cmd/jvb and bench/. The implementation
// replaces this comment block; keep the names and meanings.
//
//	type Config struct {
//		Transport transport.Config // port, advertised addresses, readers
//		Logger    *slog.Logger
//	}
//	func New(cfg Config) (*Bridge, error)           // binds the UDP port
//	func (b *Bridge) Close() error                  // expires everything, stops all goroutines
//	func (b *Bridge) LocalAddr() netip.AddrPort
//	func (b *Bridge) CreateConference(meetingID, name string) (*Conference, error) // ErrConferenceExists
//	func (b *Bridge) Conference(meetingID string) *Conference                      // nil if unknown
//	func (b *Bridge) Conferences() []*Conference
//	func (b *Bridge) Stats() Stats                  // snapshot of counters and gauges
//
//	func (c *Conference) ID() string                // internal random hex id
//	func (c *Conference) MeetingID() string
//	func (c *Conference) Name() string
//	func (c *Conference) FeedbackSSRCs() (audio, video uint32) // random per conference (jvb-a0/jvb-v0)
//	func (c *Conference) CreateEndpoint(cfg EndpointConfig) (*Endpoint, error)   // ErrEndpointExists
//	func (c *Conference) Endpoint(id string) *Endpoint                             // nil if unknown
//	func (c *Conference) Endpoints() []*Endpoint
//	func (c *Conference) Expire()                   // expires all endpoints, removes it from the Bridge
//	func (c *Conference) Expired() bool
//	func (c *Conference) CreatedAt() time.Time
//
//	type EndpointConfig struct {
//		ID, StatsID    string
//		Visitor        bool
//		ICEControlling bool
//		SCTP           bool
//		SSRCRewriting  bool   // stored for the bridge-channel issue
//		InitialLastN   int    // -1 unlimited
//		PayloadTypes   []PayloadType
//		HeaderExts     []HeaderExtension
//	}
//	type PayloadType struct { Media MediaType; ID uint8; Name string; ClockRate uint32; Channels int;
//	                          Params map[string]string; Feedback []RTCPFeedback }
//	type RTCPFeedback struct { Type, Subtype string }
//	type HeaderExtension struct { Media MediaType; ID int; URI string }
//	type MediaType uint8 // MediaAudio, MediaVideo; String() "audio"/"video"
//	type Source struct { SSRC uint32; Name string; VideoType string; RID string }
//	type SSRCGroup struct { Semantics string; SSRCs []uint32 } // "SIM", "FID", "FEC-FR"
//	type MediaSource struct { Type MediaType; Name string; Sources []Source; Groups []SSRCGroup }
//
//	func (e *Endpoint) ID() string
//	func (e *Endpoint) Conference() *Conference
//	func (e *Endpoint) LocalTransport() transport.Description
//	func (e *Endpoint) SetRemoteTransport(d transport.Description) error   // also trickled candidates
//	func (e *Endpoint) SetSources(s []MediaSource) error  // full replacement; ErrSSRCConflict if another endpoint owns an SSRC
//	func (e *Endpoint) Sources() []MediaSource
//	func (e *Endpoint) SetForceMute(audio, video bool)
//	func (e *Endpoint) AddPayloadTypes(pts []PayloadType, exts []HeaderExtension)
//	func (e *Endpoint) SetMessageHandler(h MessageHandler)   // bridge-channel messages (after ServerHello)
//	func (e *Endpoint) SendMessage(msg []byte) error         // JSON text on the data channel
//	func (e *Endpoint) Expire()                              // idempotent; goroutines end, Done closes
//	func (e *Endpoint) Done() <-chan struct{}
//	func (e *Endpoint) CreatedAt() time.Time
//	func (e *Endpoint) LastActivity() time.Time              // last packet received from the endpoint
//	func (e *Endpoint) State() transport.State
//	func (e *Endpoint) Stats() EndpointStats
//
//	type MessageHandler interface { HandleMessage(e *Endpoint, msg []byte) }
