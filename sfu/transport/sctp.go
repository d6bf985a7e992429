package transport

import (
	"errors"
	"fmt"
	"io"

	"github.com/pion/datachannel"
	"github.com/pion/dtls/v3"
	"github.com/pion/sctp"
)

const (
	// ColibriProtocol is the DCEP protocol of the bridge channel (the client opens it).
	ColibriProtocol = "http://jitsi.org/protocols/colibri"
	maxDataChannels = 1 // videobridge.sctp.max-channels
	// dcReadBuf is what a bridge channel reader starts with (messages are small JSON); it grows
	// to dcMaxMessage for a larger message.
	dcReadBuf    = 4 << 10
	dcMaxMessage = 64 << 10
)

// ErrNoDataChannel is returned by SendDataChannel before the endpoint opened the bridge channel.
var ErrNoDataChannel = errors.New("transport: no data channel open")

// dataChannel is what the transport needs from pion's DataChannel.
type dataChannel interface {
	ReadDataChannel(p []byte) (int, bool, error)
	WriteDataChannel(p []byte, isString bool) (int, error)
	Close() error
}

// serveSCTP accepts the endpoint's SCTP association (the bridge never sends INIT) and the
// data channels it opens, keeping the first colibri one.
func (t *Transport) serveSCTP(dconn *dtls.Conn) {
	assoc, err := sctp.Server(sctp.Config{NetConn: dconn, LoggerFactory: t.logFactory})
	if err != nil {
		if t.ctx.Err() == nil {
			t.log.Info("SCTP association failed", "err", err)
		}
		return
	}
	if !t.keep(func() { t.assoc = assoc }) {
		assoc.Close()
		return
	}
	for {
		stream, err := assoc.AcceptStream()
		if err != nil {
			return
		}
		t.dcMu.Lock()
		have := t.dc != nil
		t.dcMu.Unlock()
		if have {
			t.rejectStream(stream, "max-channels reached")
			continue
		}
		stream.SetDefaultPayloadType(sctp.PayloadTypeWebRTCBinary)
		dc, err := datachannel.Server(stream, &datachannel.Config{LoggerFactory: t.logFactory})
		if err != nil {
			t.rejectStream(stream, err.Error())
			continue
		}
		if dc.Config.Protocol != ColibriProtocol && !t.opts.Relay {
			t.mux.rejected.Add(1)
			t.log.Info("rejected data channel", "label", dc.Config.Label, "protocol", dc.Config.Protocol)
			dc.Close()
			continue
		}
		if !t.acceptChannel(dc) {
			return
		}
	}
}

// RelayChannelLabel is the label of the data channel a relay's SCTP client opens (JVB's).
const RelayChannelLabel = "default"

// dialSCTP is a relay's SCTP client side: it starts the association and opens the relay's one
// data channel (reliable, ordered, stream 0) on it.
func (t *Transport) dialSCTP(dconn *dtls.Conn) {
	assoc, err := sctp.Client(sctp.Config{NetConn: dconn, LoggerFactory: t.logFactory})
	if err != nil {
		if t.ctx.Err() == nil {
			t.log.Info("SCTP association failed", "err", err)
		}
		return
	}
	if !t.keep(func() { t.assoc = assoc }) {
		assoc.Close()
		return
	}
	dc, err := datachannel.Dial(assoc, 0, &datachannel.Config{
		ChannelType:   datachannel.ChannelTypeReliable,
		Label:         RelayChannelLabel,
		LoggerFactory: t.logFactory,
	})
	if err != nil {
		if t.ctx.Err() == nil {
			t.log.Info("relay data channel open failed", "err", err)
		}
		return
	}
	t.acceptChannel(dc)
}

func (t *Transport) rejectStream(s *sctp.Stream, why string) {
	t.mux.rejected.Add(1)
	t.log.Info("rejected data channel stream", "stream", s.StreamIdentifier(), "reason", why)
	s.Close()
}

// acceptChannel keeps dc as the bridge channel, greets the endpoint and starts its reader.
func (t *Transport) acceptChannel(dc dataChannel) bool {
	t.dcMu.Lock()
	if t.ctx.Err() != nil {
		t.dcMu.Unlock()
		dc.Close()
		return false
	}
	t.dc = dc
	t.dcMu.Unlock()
	t.emit(t.handler.HandleDataChannelOpen)
	t.wg.Add(1)
	go t.readDataChannel(dc)
	return true
}

// readDataChannel delivers the endpoint's messages in order.
func (t *Transport) readDataChannel(dc dataChannel) {
	defer t.wg.Done()
	buf := make([]byte, dcReadBuf)
	for {
		n, isString, err := dc.ReadDataChannel(buf)
		if errors.Is(err, io.ErrShortBuffer) && len(buf) < dcMaxMessage {
			buf = make([]byte, dcMaxMessage) // pion keeps the message queued until it fits
			continue
		}
		if err != nil {
			if t.ctx.Err() == nil {
				t.log.Debug("data channel closed", "err", err)
			}
			return
		}
		msg := append([]byte(nil), buf[:n]...)
		t.emit(func() { t.handler.HandleDataChannelMessage(msg, isString) })
	}
}

// SendDataChannel sends msg on the bridge channel: PPID 51 (string) or 53 (binary).
func (t *Transport) SendDataChannel(msg []byte, isString bool) error {
	t.dcMu.Lock()
	dc := t.dc
	t.dcMu.Unlock()
	if dc == nil {
		return ErrNoDataChannel
	}
	if _, err := dc.WriteDataChannel(msg, isString); err != nil {
		return fmt.Errorf("transport: data channel write: %w", err)
	}
	return nil
}
