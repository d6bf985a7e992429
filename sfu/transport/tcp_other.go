//go:build !unix

package transport

import "time"

// tcpWriteState is a connection's write side off Unix: plain writes bounded by a deadline (a
// full send buffer makes the writer wait up to tcpWriteTimeout, then the connection closes).
type tcpWriteState struct {
	frames   []byte
	deadline time.Time
}

func (c *tcpConn) setup() error {
	c.frames = make([]byte, 0, 2+bufSize)
	return nil
}

func (c *tcpConn) writeRaw(b []byte, _ bool) (int, error) {
	if now := time.Now(); c.deadline.Sub(now) < tcpWriteTimeout/2 {
		c.deadline = now.Add(tcpWriteTimeout)
		if err := c.c.SetWriteDeadline(c.deadline); err != nil {
			return 0, err
		}
	}
	return c.c.Write(b)
}
