package transport

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
)

const (
	// writeBatchSize is the most datagrams one sendmmsg carries; a sender rarely has more queued
	// for one endpoint at a time, and every endpoint's writer holds this many buffers.
	writeBatchSize = 16
	// writeBufSize fits the largest datagram the media core builds (1500 bytes + SRTP's 20).
	writeBufSize = 1536
)

// ErrNoRemote is returned by Flush before ICE selected a pair: the datagrams are dropped.
var ErrNoRemote = errors.New("transport: no selected ICE pair yet")

// BatchWriter queues datagrams for one transport and sends them with one sendmmsg to the
// remote address of the transport's selected ICE pair. It is used by one goroutine at a time,
// and never waits for the socket: what does not fit in the send buffer is dropped.
//
// Its datagram buffers come from a pool between the first Buffer and the Flush: only writers in
// the middle of a batch hold them, not every endpoint.
type BatchWriter struct {
	t       *Transport
	sock    *socket
	send    *sendBatch
	bufs    *writeBufs // nil between batches
	queued  [writeBatchSize][]byte
	n       int
	addr    netip.AddrPort
	pending error // error of a send triggered by Commit, returned by the next Flush
}

// writeBufs is one batch's worth of datagram buffers.
type writeBufs [writeBatchSize][writeBufSize]byte

var writeBufPool = sync.Pool{New: func() any { return new(writeBufs) }}

// NewBatchWriter returns a writer for t, used by one goroutine at a time.
func (t *Transport) NewBatchWriter() *BatchWriter {
	s := t.mux.socketFor()
	sb, err := newSendBatch(s.conn, writeBatchSize)
	return &BatchWriter{t: t, sock: s, send: sb, pending: err}
}

// Buffer returns a zero-length slice with capacity >= 1520 to build the next datagram in.
func (w *BatchWriter) Buffer() []byte {
	if w.bufs == nil {
		w.bufs = writeBufPool.Get().(*writeBufs)
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
	if n > 0 && w.send != nil {
		if serr := w.write(n); serr != nil {
			err = serr
		}
	}
	clear(w.queued[:n])
	if w.bufs != nil {
		writeBufPool.Put(w.bufs)
		w.bufs = nil
	}
	return err
}

// write sends queued[:n].
func (w *BatchWriter) write(n int) error {
	if w.t.ctx.Err() != nil {
		return ErrClosed
	}
	ap := w.t.remoteAddr.Load()
	if ap == nil {
		return ErrNoRemote
	}
	if *ap != w.addr {
		w.addr = *ap
		w.send.setAddr(w.addr, w.t.mux.v6)
	}
	var bytes uint64
	for i := range n {
		b := w.queued[i]
		w.send.set(i, b)
		bytes += uint64(len(b))
	}
	if serr := w.send.write(n); serr != nil {
		return fmt.Errorf("transport: sendmmsg to %s: %w", w.addr, serr)
	}
	w.sock.stats.packetsSent.Add(uint64(n))
	w.sock.stats.bytesSent.Add(bytes)
	return nil
}
