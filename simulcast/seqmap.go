package simulcast

// seqRuns is how many runs of deliberately dropped packets a projection remembers to number
// late packets (reordered or retransmitted by the sender) exactly. At 30 fps with every other
// frame dropped that is about two seconds, well beyond a retransmission's round trip.
const seqRuns = 32

// dropRun is a run of consecutive input sequence numbers the projection dropped on purpose
// (extended, inclusive); after is the offset of the packets that follow it.
type dropRun struct {
	start, end int64
	after      uint16
}

// seqMap numbers the forwarded packets of one encoding so that packets the projection drops
// leave no gap while real loss does: every deliberate drop of the newest packet lowers the
// offset of the packets after it by one. A late packet (older than the newest seen) gets the
// offset that was in force at its place, so a retransmission carries the number its gap was
// left for. It is dropped when it falls in a dropped run (it was dropped before), before the
// first packet of the encoding, or before the oldest run still remembered. A late packet the
// projection decides to drop now cannot give its number back: it leaves a gap.
type seqMap struct {
	maxExt int64  // the newest input sequence number seen, extended
	floor  int64  // late packets below floor are dropped
	base   uint16 // offset from floor up to the oldest remembered run
	delta  uint16 // offset of packets newer than every run
	// runs is allocated at the first deliberate drop: most projections (audio, video whose
	// every layer is wanted) never drop one, and the array is most of a projection's size.
	runs *[seqRuns]dropRun
	head int // index of the oldest run
	n    int
}

// reset starts numbering at seq, which gets seq+delta.
func (m *seqMap) reset(seq, delta uint16) {
	m.maxExt = int64(seq)
	m.floor = m.maxExt
	m.base, m.delta = delta, delta
	m.head, m.n = 0, 0
}

func (m *seqMap) ext(seq uint16) int64 {
	return m.maxExt + int64(int16(seq-uint16(m.maxExt)))
}

// forward returns the output sequence number of a packet the projection forwards; ok is false
// when the packet must be dropped after all (see seqMap).
func (m *seqMap) forward(seq uint16) (uint16, bool) {
	e := m.ext(seq)
	if e > m.maxExt {
		m.maxExt = e
		return seq + m.delta, true
	}
	if e < m.floor {
		return 0, false
	}
	for i := m.n - 1; i >= 0; i-- {
		r := &m.runs[(m.head+i)%seqRuns]
		if e > r.end {
			return seq + r.after, true
		}
		if e >= r.start {
			return 0, false
		}
	}
	return seq + m.base, true
}

// drop records a packet the projection does not forward.
func (m *seqMap) drop(seq uint16) { m.dropFrom(seq, seq) }

// dropFrom records that the projection does not forward seq, nor the packets missing between
// from and seq (they belong to a frame it drops). from must be newer than every packet seen.
func (m *seqMap) dropFrom(from, seq uint16) {
	e := m.ext(seq)
	f := m.maxExt + int64(int16(from-uint16(m.maxExt)))
	if e <= m.maxExt || f <= m.maxExt || f > e {
		return // late or duplicate: nothing after it can be renumbered
	}
	if m.runs == nil {
		m.runs = new([seqRuns]dropRun)
	}
	var last *dropRun
	if m.n > 0 {
		last = &m.runs[(m.head+m.n-1)%seqRuns]
	}
	if last == nil || last.end != m.maxExt || f != m.maxExt+1 {
		if m.n == seqRuns {
			old := &m.runs[m.head]
			m.floor, m.base = old.end+1, old.after
			m.head = (m.head + 1) % seqRuns
			m.n--
		}
		last = &m.runs[(m.head+m.n)%seqRuns]
		m.n++
		last.start = f
	}
	last.end = e
	m.delta -= uint16(e - f + 1)
	last.after = m.delta
	m.maxExt = e
}
