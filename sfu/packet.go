package sfu

import (
	"sync"
	"sync/atomic"

	"gojvb/simulcast"
)

// maxExtElems is how many header extension elements a packet's metadata lists (browsers send
// five or six).
const maxExtElems = 10

// extElem is one header extension element: its id and where its header, value and end are.
type extElem struct {
	id                uint8
	start, value, end uint16
}

// parseExtensions lists pkt's header extension elements, once.
func (p *packet) parseExtensions(pkt []byte, h *simulcast.RTPInfo) {
	p.next = 0
	ok := simulcast.ExtensionSpans(pkt, h, func(id uint8, start, value, end int) {
		switch {
		case p.next < 0:
		case int(p.next) == maxExtElems:
			p.next = -1
		default:
			p.ext[p.next] = extElem{id: id, start: uint16(start), value: uint16(value), end: uint16(end)}
			p.next++
		}
	})
	if !ok {
		p.next = -1
	}
}

// extensionAt returns where the value of element id is in pkt, from the list or, for a block
// the list could not hold, by walking it.
func (p *packet) extensionAt(pkt []byte, h *simulcast.RTPInfo, id uint8) (off, n int, ok bool) {
	if id == 0 {
		return 0, 0, false
	}
	if p.next < 0 {
		return simulcast.ExtensionAt(pkt, h, id)
	}
	for _, x := range p.ext[:p.next] {
		if x.id == id {
			return int(x.value), int(x.end - x.value), true
		}
	}
	return 0, 0, false
}

// extension returns the value of element id, nil if absent.
func (p *packet) extension(pkt []byte, h *simulcast.RTPInfo, id uint8) []byte {
	off, n, ok := p.extensionAt(pkt, h, id)
	if !ok {
		return nil
	}
	return pkt[off : off+n : off+n]
}

// maxZeroSpans is how many stripped header-extension elements a packet's metadata lists.
const maxZeroSpans = 6

// maxPacket is the largest datagram the bridge handles (Ethernet MTU). Buffers are this big so
// a decrypted packet re-encrypted with a longer tag still fits.
const maxPacket = 1500

// packet is one decrypted RTP or RTCP packet on its way from one endpoint to others. It is
// pooled and reference-counted: the reader goroutine that decrypted it holds one reference,
// every receiver queue it was pushed to holds one, and the last release returns it to the pool.
// Receivers only read it.
type packet struct {
	refs atomic.Int32
	rtcp bool
	n    int
	src  *source // RTP and sender reports: the signalled source the SSRC belongs to

	// Metadata parsed once on receive (RTP), so no receiver parses the packet again: sequence
	// number, timestamp, marker, payload and AV1 descriptor offsets, codec, keyframe and layer
	// ids. Encoding is filled in by each receiver's projection from src.
	meta simulcast.Packet
	// The header extension elements, found in one walk on receive (next -1: malformed, or more
	// than maxExtElems; readers then walk the block themselves).
	ext  [maxExtElems]extElem
	next int8
	// Header extensions, classified once on receive against the sender's negotiated set: the
	// element spans no receiver may get (zeroed in each receiver's copy; nzero -1: too many to
	// list, filter the copy element by element), and where the transport-wide sequence number's
	// element and value are (0: none).
	zero     [maxZeroSpans][2]uint16
	nzero    int8
	tccElem  [2]uint16
	tccValue uint16

	buf [maxPacket]byte
}

var packetPool = sync.Pool{New: func() any { return new(packet) }}

// getPacket returns an empty packet with one reference held by the caller.
func getPacket() *packet {
	p := packetPool.Get().(*packet)
	p.refs.Store(1)
	return p
}

func (p *packet) data() []byte { return p.buf[:p.n] }

func (p *packet) retain() { p.refs.Add(1) }

// release drops one reference; the last one puts the packet back into the pool.
func (p *packet) release() {
	switch r := p.refs.Add(-1); {
	case r == 0:
		p.src = nil
		p.n = 0
		p.rtcp = false
		p.meta = simulcast.Packet{}
		p.nzero, p.tccValue, p.next = 0, 0, 0
		packetPool.Put(p)
	case r < 0:
		panic("sfu: packet released more often than retained")
	}
}

// packetQueue is a bounded lock-free multi-producer single-consumer ring of packets (Dmitry
// Vyukov's bounded queue). Producers are socket reader goroutines fanning out; the consumer is
// the receiving endpoint's sender goroutine. A full queue makes push fail instead of
// blocking.
type packetQueue struct {
	_       [64]byte
	enqueue atomic.Uint64
	_       [56]byte
	dequeue uint64 // consumer only
	// consumed is dequeue as the last consumer published it (publish), for pending.
	consumed atomic.Uint64
	mask     uint64
	cells    []queueCell
}

type queueCell struct {
	seq atomic.Uint64
	pkt *packet
}

// newPacketQueue returns a queue with room for size packets; size must be a power of two.
func newPacketQueue(size int) *packetQueue {
	if size <= 0 || size&(size-1) != 0 {
		panic("sfu: packet queue size must be a power of two")
	}
	q := &packetQueue{mask: uint64(size - 1), cells: make([]queueCell, size)}
	for i := range q.cells {
		q.cells[i].seq.Store(uint64(i))
	}
	return q
}

// push adds p and reports whether there was room. The caller's reference moves into the queue
// only when push returns true.
func (q *packetQueue) push(p *packet) bool {
	pos := q.enqueue.Load()
	for {
		c := &q.cells[pos&q.mask]
		seq := c.seq.Load()
		switch dif := int64(seq - pos); {
		case dif == 0:
			if q.enqueue.CompareAndSwap(pos, pos+1) {
				c.pkt = p
				c.seq.Store(pos + 1)
				return true
			}
			pos = q.enqueue.Load()
		case dif < 0:
			return false // full
		default:
			pos = q.enqueue.Load()
		}
	}
}

// pop removes the oldest packet, or returns nil if the queue is empty (or the oldest slot is
// still being written). Only the owning consumer goroutine may call it.
func (q *packetQueue) pop() *packet {
	pos := q.dequeue
	c := &q.cells[pos&q.mask]
	if int64(c.seq.Load()-(pos+1)) < 0 {
		return nil
	}
	p := c.pkt
	c.pkt = nil
	c.seq.Store(pos + q.mask + 1)
	q.dequeue = pos + 1
	return p
}

// backlog is how many packets are queued (at least; a push in progress may not count yet).
// Only the owning consumer goroutine may call it.
func (q *packetQueue) backlog() int { return int(q.enqueue.Load() - q.dequeue) }

// publish makes what the consumer popped so far visible to pending.
func (q *packetQueue) publish() { q.consumed.Store(q.dequeue) }

// pending reports whether packets were pushed after the consumer's last publish. Any goroutine
// may call it.
func (q *packetQueue) pending() bool { return q.enqueue.Load() != q.consumed.Load() }
