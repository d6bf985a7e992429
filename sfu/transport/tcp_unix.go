//go:build unix

package transport

import (
	"io"
	"net"
	"syscall"
	"time"
)

// tcpWriteState is a connection's write side on Unix: non-blocking writes through the raw
// descriptor, so that a full send buffer drops a batch instead of stalling its writer.
type tcpWriteState struct {
	frames   []byte // framing buffer, reused
	raw      syscall.RawConn
	fn       func(fd uintptr) bool // writeSome, bound once
	deadline time.Time

	pending []byte // the write in progress
	off     int
	drop    bool
	err     error
}

func (c *tcpConn) setup() error {
	c.frames = make([]byte, 0, 2+bufSize)
	c.fn = c.writeSome
	raw, err := c.c.SyscallConn()
	c.raw = raw
	return err
}

// writeRaw writes b; see tcpConn.write. It returns how much was written.
func (c *tcpConn) writeRaw(b []byte, dropIfFull bool) (int, error) {
	if c.raw == nil {
		return 0, net.ErrClosed
	}
	if now := time.Now(); c.deadline.Sub(now) < tcpWriteTimeout/2 {
		c.deadline = now.Add(tcpWriteTimeout)
		if err := c.c.SetWriteDeadline(c.deadline); err != nil {
			return 0, err
		}
	}
	c.pending, c.off, c.drop, c.err = b, 0, dropIfFull, nil
	err := c.raw.Write(c.fn)
	n := c.off
	c.pending = nil
	if err == nil {
		err = c.err
	}
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	return n, err
}

// writeSome runs under the descriptor's write lock; false waits until it is writable.
func (c *tcpConn) writeSome(fd uintptr) bool {
	for c.off < len(c.pending) {
		n, err := syscall.Write(int(fd), c.pending[c.off:])
		if n > 0 {
			c.off += n
		}
		switch err {
		case nil, syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if c.off == 0 && c.drop {
				c.err = errTCPFull
				return true
			}
			return false
		default:
			c.err = err
			return true
		}
	}
	return true
}
