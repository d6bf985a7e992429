package colibriws

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/websocket"

	"gojvb/sfu"
)

const (
	// writeTimeout bounds one frame write: a client that reads nothing for that long is gone.
	writeTimeout = 10 * time.Second
	// closeWait is how long the bridge waits for the client's answer to its close frame.
	closeWait = 2 * time.Second
	// WebSocket close codes used here besides the media core's 1000 and 1001.
	closeProtocolError = 1002
	closeTooBig        = 1009
)

// Errors WriteText returns.
var (
	errClosed    = errors.New("colibri-ws: connection closed")
	errQueueFull = errors.New("colibri-ws: send queue full")
)

// frameCodec sends a []byte as one frame of the given type, under the connection's write lock
// (x/net/websocket only offers text/binary messages and a bare 1000 close otherwise).
func frameCodec(kind byte) websocket.Codec {
	return websocket.Codec{Marshal: func(v any) ([]byte, byte, error) { return v.([]byte), kind, nil }}
}

var (
	textFrame  = frameCodec(websocket.TextFrame)
	pingFrame  = frameCodec(websocket.PingFrame)
	closeFrame = frameCodec(websocket.CloseFrame)
)

// conn is one endpoint's WebSocket: an sfu.MessageConn whose writes go through a bounded
// queue to its own writer goroutine, which also sends the keepalive pings and the close frame.
type conn struct {
	ws      *websocket.Conn
	cfg     Config
	dropped *atomic.Uint64
	log     *slog.Logger
	out     chan []byte

	once        sync.Once
	closing     chan struct{} // closed by Close: the writer sends the close frame and stops
	code        int           // the close code and reason, set before closing is closed
	reason      string
	closeBy     atomic.Int64 // unix nanoseconds: read deadline once closing
	writeFailed atomic.Bool
}

func newConn(ws *websocket.Conn, cfg Config, dropped *atomic.Uint64, log *slog.Logger) *conn {
	return &conn{ws: ws, cfg: cfg, dropped: dropped, log: log, out: make(chan []byte, cfg.QueueSize),
		closing: make(chan struct{})}
}

// WriteText queues msg for the writer goroutine; it never waits for the network.
func (c *conn) WriteText(msg []byte) error {
	select {
	case <-c.closing:
		return errClosed
	default:
	}
	select {
	case c.out <- msg:
		return nil
	default:
		c.dropped.Add(1)
		return errQueueFull
	}
}

// Close makes the writer send a close frame with code and reason (reason is cut to fit a
// control frame) and end the connection; the first call wins.
func (c *conn) Close(code int, reason string) error {
	c.once.Do(func() {
		if len(reason) > 123 {
			reason = reason[:123]
		}
		c.code, c.reason = code, reason
		c.closeBy.Store(time.Now().Add(closeWait).UnixNano())
		close(c.closing)
	})
	return nil
}

func (c *conn) closeCode() int {
	select {
	case <-c.closing:
		return c.code
	default:
		return 0
	}
}

// writeLoop writes queued messages and pings until Close, then the close frame.
func (c *conn) writeLoop() {
	var tick <-chan time.Time
	if c.cfg.PingInterval > 0 {
		t := time.NewTicker(c.cfg.PingInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		var err error
		select {
		case msg := <-c.out:
			err = c.write(textFrame, msg)
		case <-tick:
			err = c.write(pingFrame, nil)
		case <-c.closing:
			payload := binary.BigEndian.AppendUint16(nil, uint16(c.code))
			if !c.writeFailed.Load() {
				_ = c.write(closeFrame, append(payload, c.reason...))
			}
			// Wake a reader waiting with the idle deadline: it now waits for the answer only.
			_ = c.ws.SetReadDeadline(time.Unix(0, c.closeBy.Load()))
			return
		}
		if err != nil {
			c.log.Debug("WebSocket write failed", "err", err)
			c.writeFailed.Store(true)
			_ = c.Close(sfu.WebSocketCloseGoingAway, "")
		}
	}
}

func (c *conn) write(codec websocket.Codec, payload []byte) error {
	if err := c.ws.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	return codec.Send(c.ws, payload)
}

// readLoop delivers every text or binary message of at most max bytes to deliver until the
// connection ends: the client closes (the bridge answers with the same code), the idle timeout
// passes without any frame (pongs count), a message is too large, or the bridge closed and the
// client answered (or did not, within closeWait).
func (c *conn) readLoop(max int, deliver func(msg []byte, text bool)) {
	for {
		deadline := time.Now().Add(c.cfg.IdleTimeout)
		select {
		case <-c.closing:
			deadline = time.Unix(0, c.closeBy.Load())
		default:
		}
		if err := c.ws.SetReadDeadline(deadline); err != nil {
			return
		}
		fr, err := c.ws.NewFrameReader()
		if err != nil {
			if isTimeout(err) {
				_ = c.Close(sfu.WebSocketCloseGoingAway, "idle timeout")
			}
			return
		}
		if fr.PayloadType() == websocket.CloseFrame {
			// Answer with the client's code (x/net/websocket would not answer at all).
			payload, _ := io.ReadAll(io.LimitReader(fr, 125))
			_ = c.Close(answerCode(payload), "")
			return
		}
		if fr.PayloadType() == websocket.PingFrame {
			// The pong is written from here: give it a deadline of its own.
			if err := c.ws.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
				return
			}
		}
		// Pings are answered and pongs swallowed here; an unmasked client frame ends it.
		frame, err := c.ws.HandleFrame(fr)
		if err != nil {
			_ = c.Close(closeProtocolError, "")
			return
		}
		if frame == nil {
			continue
		}
		msg, err := io.ReadAll(io.LimitReader(frame, int64(max)+1))
		if err != nil {
			return
		}
		if len(msg) > max {
			_ = c.Close(closeTooBig, "message too big")
			return
		}
		select {
		case <-c.closing: // the endpoint is gone or replaced: nothing more is delivered
			continue
		default:
		}
		deliver(msg, frame.PayloadType() == websocket.TextFrame)
	}
}

// answerCode is the code to echo for a client's close frame payload: its own, unless it has
// none or one that must not be sent (RFC 6455 7.4).
func answerCode(payload []byte) int {
	if len(payload) < 2 {
		return sfu.WebSocketCloseNormal
	}
	code := int(binary.BigEndian.Uint16(payload))
	switch {
	case code < 1000, code == 1004, code == 1005, code == 1006, code == 1015, code >= 1016 && code < 3000, code > 4999:
		return sfu.WebSocketCloseNormal
	}
	return code
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
