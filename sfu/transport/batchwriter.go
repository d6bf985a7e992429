package transport

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
)

const (
	// writeBatchSize is the most datagrams one of a writer's sendmmsg calls carries; a sender
	// rarely has more queued for one endpoint at a time.
	writeBatchSize = 16
	// writeBufSize fits the largest datagram the media core builds (1500 bytes + SRTP's 20).
	writeBufSize = 1536
)

// ErrNoRemote is returned by Flush before ICE selected a pair: the datagrams are dropped.
var ErrNoRemote = errors.New("transport: no selected ICE pair yet")

// BatchWriter queues datagrams for one transport and sends them with one sendmmsg to the
// remote address of the transport's selected ICE pair (on Linux, runs of equal-sized datagrams
// as one message each with UDP segmentation offload). It is used by one goroutine at a time,
// and never waits for the socket: what does not fit in the send buffer is dropped. It counts
// what the kernel accepted and every datagram it did not (WriteStats).
//
// Its datagram buffers come from a pool, one per datagram, between Buffer and the send: only
// writers in the middle of a batch (and a reader's gathered send, FlushTo) hold them, not every
// endpoint.
type BatchWriter struct {
	t       *Transport
	sock    *socket
	send    datagramSender
	bufs    [writeBatchSize]*writeBuf // datagram i is built in bufs[i]; all nil between batches
	queued  [writeBatchSize][]byte
	n       int
	addr    netip.AddrPort
	pending error // error of a send triggered by Commit, returned by the next Flush

	// Written by the writer's goroutine, read by Stats from any.
	sent, sentBytes, dropped atomic.Uint64
}

// WriteStats counts one BatchWriter's datagrams: every committed datagram ends up in exactly
// one of Packets (the kernel accepted it) or Dropped.
type WriteStats struct {
	Packets, Bytes uint64 // datagrams the kernel accepted, and their bytes
	// Dropped are datagrams it did not: send buffer full, refused by the kernel, no selected
	// ICE pair yet, or the transport closed.
	Dropped uint64
}

// Stats returns the writer's counters; any goroutine may call it.
func (w *BatchWriter) Stats() WriteStats {
	return WriteStats{Packets: w.sent.Load(), Bytes: w.sentBytes.Load(), Dropped: w.dropped.Load()}
}

// writeBuf is one datagram's buffer.
type writeBuf [writeBufSize]byte

var writeBufPool = sync.Pool{New: func() any { return new(writeBuf) }}

// NewBatchWriter returns a writer for t, used by one goroutine at a time.
func (t *Transport) NewBatchWriter() *BatchWriter {
	s := t.mux.socketFor()
	sb, err := t.mux.api.newSender(s.conn, writeBatchSize, &s.gsoOff)
	return &BatchWriter{t: t, sock: s, send: sb, pending: err}
}

// Buffer returns a zero-length slice with capacity >= 1520 to build the next datagram in.
func (w *BatchWriter) Buffer() []byte {
	if w.bufs[w.n] == nil {
		w.bufs[w.n] = writeBufPool.Get().(*writeBuf)
	}
	return w.bufs[w.n][:0]
}

// Commit queues b (built in the slice from Buffer) and sends the batch when it is full.
func (w *BatchWriter) Commit(b []byte) {
	w.queued[w.n] = b
	w.n++
	if w.n == writeBatchSize {
		if err := w.Flush(); err != nil && w.pending == nil {
			w.pending = err
		}
	}
}

// Flush sends what is queued to the transport's current remote address (sendmmsg) and gives
// the buffers back. Without a selected pair the queued datagrams are dropped and ErrNoRemote
// returned; with the socket's send buffer full the rest are dropped and an error wrapping
// EAGAIN returned.
func (w *BatchWriter) Flush() error {
	n := w.n
	w.n = 0
	err := w.pending
	w.pending = nil
	if n > 0 {
		if w.send == nil {
			w.dropped.Add(uint64(n))
		} else if serr := w.write(n); serr != nil {
			err = serr
		}
	}
	clear(w.queued[:n])
	w.releaseBufs()
	return err
}

// releaseBufs gives the writer's datagram buffers back to the pool.
func (w *BatchWriter) releaseBufs() {
	for i, b := range w.bufs {
		if b != nil {
			writeBufPool.Put(b)
			w.bufs[i] = nil
		}
	}
}

// write sends queued[:n] and counts each datagram as sent or dropped.
func (w *BatchWriter) write(n int) error {
	if w.t.ctx.Err() != nil {
		w.dropped.Add(uint64(n))
		return ErrClosed
	}
	if c := w.t.tcp.selected.Load(); c != nil {
		return w.writeTCP(c, n)
	}
	ap := w.t.remoteAddr.Load()
	if ap == nil {
		w.dropped.Add(uint64(n))
		return ErrNoRemote
	}
	if *ap != w.addr {
		w.addr = *ap
		w.send.setAddr(w.addr, w.t.mux.v6)
	}
	for i := range n {
		w.send.set(i, w.queued[i])
	}
	sent, bytes, serr := w.send.write(n)
	if w.sock.newGSORefusal() {
		w.t.log.Warn(gsoRefusal, "remote", w.addr.String())
	}
	w.sent.Add(uint64(sent))
	w.sentBytes.Add(bytes)
	w.dropped.Add(uint64(n - sent))
	w.sock.stats.packetsSent.Add(uint64(sent))
	w.sock.stats.bytesSent.Add(bytes)
	if serr != nil {
		return fmt.Errorf("transport: %d of %d datagrams to %s not sent: %w", n-sent, n, w.addr, serr)
	}
	return nil
}
