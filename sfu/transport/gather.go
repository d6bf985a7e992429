package transport

import "net/netip"

// gatherSize is the most datagrams a reader gathers before it sends them (readerSend): the
// receivers of one batch's fan-out, each with a few datagrams.
const gatherSize = 64

// readerSend gathers what BatchWriters flush through a socket reader's batch (FlushTo) and
// sends it with one sendmmsg for all their receivers when the batch ends, or earlier when it
// is full. A fan-out to five receivers then costs one system call, not five. Datagrams keep
// their order per writer; each is counted as sent or dropped on its own writer, as Flush does.
type readerSend struct {
	m    *Mux
	sock *socket // the reader's socket: every writer's datagrams leave from the shared port
	send gatherSender
	n    int
	// Per datagram: the writer it came from, its size, and its buffer (back to the pool once
	// sent).
	owner [gatherSize]*BatchWriter
	size  [gatherSize]int
	bufs  [gatherSize]*writeBuf
}

// newReaderSend returns s's reader's gather batch, or nil where the platform has none.
func newReaderSend(m *Mux, s *socket) *readerSend {
	if m.api.newGather == nil {
		return nil
	}
	g, err := m.api.newGather(s.conn, gatherSize, &s.gsoOff)
	if err != nil {
		m.log.Warn("no gathered sends on the UDP port: each receiver's datagrams go in a system call of their own", "err", err)
		return nil
	}
	return &readerSend{m: m, sock: s, send: g}
}

// add takes over w's queued datagrams, to ap, and their buffers.
func (g *readerSend) add(w *BatchWriter, ap netip.AddrPort) {
	if g.n+w.n > gatherSize {
		g.flush()
	}
	for i := range w.n {
		b := w.queued[i]
		g.send.setTo(g.n, b, ap, g.m.v6)
		g.owner[g.n], g.size[g.n], g.bufs[g.n] = w, len(b), w.bufs[i]
		w.bufs[i] = nil
		g.n++
	}
	clear(w.queued[:w.n])
	w.n = 0
	w.releaseBufs() // one taken by a Buffer call without its Commit
}

// flush sends what was gathered and counts every datagram on its writer.
func (g *readerSend) flush() {
	n := g.n
	if n == 0 {
		return
	}
	sent, bytes, _ := g.send.write(n)
	if g.sock.newGSORefusal() {
		g.m.log.Warn(gsoRefusal)
	}
	for i := 0; i < n; {
		w := g.owner[i]
		var ok, okBytes uint64
		j := i
		for ; j < n && g.owner[j] == w; j++ {
			if g.send.accepted(j) {
				ok++
				okBytes += uint64(g.size[j])
			}
			g.owner[j] = nil
		}
		w.sent.Add(ok)
		w.sentBytes.Add(okBytes)
		w.dropped.Add(uint64(j-i) - ok)
		i = j
	}
	g.sock.stats.packetsSent.Add(uint64(sent))
	g.sock.stats.bytesSent.Add(bytes)
	for i := range n {
		writeBufPool.Put(g.bufs[i])
		g.bufs[i] = nil
	}
	g.n = 0
}

// FlushTo is Flush for a writer used at the end of a socket reader's batch b (a BatchEnder's
// EndBatch): on the UDP path, when b's reader reads this writer's port, the datagrams join
// the reader's gathered send, which goes out with those of the batch's other writers when the
// batch ends (they are counted then). Otherwise, and with b nil, it is Flush.
func (w *BatchWriter) FlushTo(b *Batch) error {
	var g *readerSend
	if b != nil {
		g = b.gather
	}
	if g == nil || g.m != w.t.mux || w.n == 0 || w.send == nil || w.t.ctx.Err() != nil || w.t.tcp.selected.Load() != nil {
		return w.Flush()
	}
	ap := w.t.remoteAddr.Load()
	if ap == nil {
		return w.Flush()
	}
	g.add(w, *ap)
	err := w.pending
	w.pending = nil
	return err
}
