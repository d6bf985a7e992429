package transport

import (
	"errors"
	"net/netip"
)

var errNotImplemented = errors.New("transport: not implemented yet")

// Mux is the bridge's single UDP port shared by all transports.
type Mux struct{}

// Listen binds cfg.Readers SO_REUSEPORT sockets on one port and starts their readers.
func Listen(cfg Config) (*Mux, error) { return nil, errNotImplemented }

// Close stops the readers and closes the sockets.
func (m *Mux) Close() error { return nil }

// LocalAddr is the bound address and port.
func (m *Mux) LocalAddr() netip.AddrPort { return netip.AddrPort{} }

// Stats sums the per-socket counters.
func (m *Mux) Stats() MuxStats { return MuxStats{} }

// NewTransport creates one endpoint's ICE/DTLS/SCTP transport on the mux.
func (m *Mux) NewTransport(opts Options, h Handler) (*Transport, error) {
	return nil, errNotImplemented
}

// Transport is one endpoint's ICE/DTLS(/SCTP) state on the shared port.
type Transport struct{}

// LocalDescription returns ufrag, pwd, candidates and fingerprint of the bridge side.
func (t *Transport) LocalDescription() Description { return Description{} }

// SetRemoteDescription takes the endpoint's ICE/DTLS parameters; may be called again to trickle.
func (t *Transport) SetRemoteDescription(d Description) error { return errNotImplemented }

// State returns the current connectivity state.
func (t *Transport) State() State { return StateNew }

// SendDataChannel sends msg on the colibri data channel (PPID 51 if isString, else 53).
func (t *Transport) SendDataChannel(msg []byte, isString bool) error { return errNotImplemented }

// NewBatchWriter returns a writer owned by one goroutine (the endpoint's sender).
func (t *Transport) NewBatchWriter() *BatchWriter { return &BatchWriter{} }

// Close stops every goroutine of this transport; the Handler is not called after it returns.
func (t *Transport) Close() error { return nil }

// BatchWriter queues datagrams and sends them with one sendmmsg.
type BatchWriter struct{}

// Buffer returns a zero-length slice with capacity >= 1500 to build the next datagram in.
func (w *BatchWriter) Buffer() []byte { return make([]byte, 0, 1500) }

// Commit queues b (built in the slice from Buffer) and sends the batch when it is full.
func (w *BatchWriter) Commit(b []byte) {}

// Flush sends what is queued to the transport's current remote address.
func (w *BatchWriter) Flush() error { return nil }
