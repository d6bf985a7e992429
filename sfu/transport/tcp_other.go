//go:build !unix

package transport

import (
	"errors"
	"os"
	"time"
)

// tcpWriteState is a connection's write side off Unix: plain writes with a short deadline, so
// that a full send buffer makes the writer wait at most tcpPortableWait (what it did not take
// is kept, or the batch dropped, as on Unix).
type tcpWriteState struct {
	frames []byte
}

// tcpPortableWait bounds one write off Unix.
const tcpPortableWait = 20 * time.Millisecond

func (c *tcpConn) setup() error {
	c.frames = make([]byte, 0, 2+bufSize)
	return nil
}

func (c *tcpConn) writeRaw(b []byte) (int, error) {
	if err := c.c.SetWriteDeadline(time.Now().Add(tcpPortableWait)); err != nil {
		return 0, err
	}
	n, err := c.c.Write(b)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = errTCPFull
	}
	return n, err
}
