//go:build unix

package transport

import (
	"net"
	"syscall"
)

// tcpWriteState is a connection's write side on Unix: non-blocking writes through the raw
// descriptor, so that a full send buffer drops a batch instead of stalling its writer.
type tcpWriteState struct {
	frames []byte // framing buffer, reused
	raw    syscall.RawConn
	fn     func(fd uintptr) bool // writeSome, bound once

	pending []byte // the write in progress
	off     int
	err     error
}

func (c *tcpConn) setup() error {
	c.frames = make([]byte, 0, 2+bufSize)
	c.fn = c.writeSome
	raw, err := c.c.SyscallConn()
	c.raw = raw
	return err
}

// writeRaw writes as much of b as the send buffer takes, without waiting: how much, and
// errTCPFull if it did not take all of it.
func (c *tcpConn) writeRaw(b []byte) (int, error) {
	if c.raw == nil {
		return 0, net.ErrClosed
	}
	c.pending, c.off, c.err = b, 0, nil
	err := c.raw.Write(c.fn)
	n := c.off
	c.pending = nil
	if err == nil {
		err = c.err
	}
	return n, err
}

// writeSome runs under the descriptor's write lock; it always returns true (never waits).
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
			c.err = errTCPFull
		default:
			c.err = err
		}
		return true
	}
	return true
}
