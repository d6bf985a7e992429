package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/transport/v5"
	"golang.org/x/net/ipv4"
)

// The cheap receive path. A receiver must cost far less than the bridge forwarding to it, or
// the load generator, not the bridge, is what a run on one machine measures. So once DTLS-SRTP
// is up, an endpoint's socket is read in batches (recvmmsg on Linux) on the ICE agent's own
// reader goroutine, and SRTP packets never reach pion's agent (whose per-packet path hands each
// datagram to its event loop and copies it twice). Loss, order and continuity come from the
// clear part of each SRTP packet (RTP header and extensions: sequence number, SSRC,
// timestamp, transport-wide sequence number); only one packet in sampleEvery per stream is
// authenticated and decrypted, for the send stamp in its payload (latency). STUN and DTLS
// (and SCTP over it) still go to pion.

// clearHeader is what an SRTP packet carries unencrypted: the RTP header and its extensions.
type clearHeader struct {
	pt        uint8
	marker    bool
	seq       uint16
	ts        uint32
	ssrc      uint32
	hdrLen    int // bytes before the payload (which SRTP encrypts)
	tccSeq    uint16
	hasTCC    bool
	level     uint8 // ssrc-audio-level: 0 (loud) .. 127 (silence), without the V bit
	hasLevel  bool
	voiceFlag bool // the V bit of ssrc-audio-level
}

var errNotRTP = errors.New("not an RTP packet")

// parseClearHeader reads the RTP header of b (RFC 3550 §5.1) and the one-byte or two-byte
// header extensions (RFC 8285), picking out transport-cc (tccID) and audio level (levelID).
// It never reads past b and rejects anything malformed.
func parseClearHeader(b []byte, tccID, levelID uint8) (clearHeader, error) {
	var h clearHeader
	if len(b) < 12 || b[0]>>6 != 2 {
		return h, errNotRTP
	}
	h.marker = b[1]&0x80 != 0
	h.pt = b[1] & 0x7f
	h.seq = binary.BigEndian.Uint16(b[2:4])
	h.ts = binary.BigEndian.Uint32(b[4:8])
	h.ssrc = binary.BigEndian.Uint32(b[8:12])
	n := 12 + 4*int(b[0]&0x0f)
	if n > len(b) {
		return h, fmt.Errorf("RTP header: %d CSRCs past the end of %d bytes", b[0]&0x0f, len(b))
	}
	if b[0]&0x10 != 0 {
		if n+4 > len(b) {
			return h, fmt.Errorf("RTP header: extension header past the end of %d bytes", len(b))
		}
		profile := binary.BigEndian.Uint16(b[n : n+2])
		extEnd := n + 4 + 4*int(binary.BigEndian.Uint16(b[n+2:n+4]))
		if extEnd > len(b) {
			return h, fmt.Errorf("RTP header: extension of %d bytes past the end of %d bytes", extEnd-n, len(b))
		}
		ext := b[n+4 : extEnd]
		onEl := func(id uint8, v []byte) {
			switch {
			case id == tccID && len(v) >= 2:
				h.tccSeq, h.hasTCC = binary.BigEndian.Uint16(v), true
			case id == levelID && len(v) >= 1:
				h.level, h.voiceFlag, h.hasLevel = v[0]&0x7f, v[0]&0x80 != 0, true
			}
		}
		switch {
		case profile == 0xBEDE: // one-byte elements
			for i := 0; i < len(ext); {
				id, l := ext[i]>>4, int(ext[i]&0x0f)+1
				if id == 0 { // padding
					i++
					continue
				}
				if id == 15 || i+1+l > len(ext) {
					break
				}
				onEl(id, ext[i+1:i+1+l])
				i += 1 + l
			}
		case profile&0xfff0 == 0x1000: // two-byte elements
			for i := 0; i+1 < len(ext); {
				id, l := ext[i], int(ext[i+1])
				if id == 0 {
					i++
					continue
				}
				if i+2+l > len(ext) {
					break
				}
				onEl(id, ext[i+2:i+2+l])
				i += 2 + l
			}
		}
		n = extEnd
	}
	h.hdrLen = n
	return h, nil
}

// isRTCP says whether an RTP-version datagram is RTCP (RFC 5761 §4: payload types 64-95 on a
// muxed port, i.e. packet types 192-223).
func isRTCP(b []byte) bool { pt := b[1] & 0x7f; return pt >= 64 && pt <= 95 }

// mediaSink takes the SRTP and SRTCP datagrams a batchConn reads, with their control
// messages (the kernel's arrival time where available) and the time the batch was read.
type mediaSink interface {
	onDatagram(b, oob []byte, now time.Time)
}

// batchConn is an endpoint's ICE socket: pion's candidate reader calls ReadFrom, which reads
// batches and, once a sink is set, hands it every RTP/RTCP datagram directly and returns only
// the rest (STUN, DTLS) to pion. It deliberately does not embed *net.UDPConn, so pion uses its
// ReadFrom rather than the socket's own methods.
type batchConn struct {
	transport.UDPConn
	pc   *ipv4.PacketConn
	msgs []ipv4.Message
	n    int // messages in the current batch
	next int // next message to look at
	now  time.Time
	sink atomic.Pointer[mediaSink]
}

const readBatch = 32

func newBatchConn(c transport.UDPConn) *batchConn {
	b := &batchConn{UDPConn: c, msgs: make([]ipv4.Message, readBatch)}
	stamps := false
	// x/net batches with recvmmsg/sendmmsg on Linux only (elsewhere one message per call, and
	// not at all on Windows): other systems read one datagram at a time.
	if uc, ok := c.(*net.UDPConn); ok && runtime.GOOS == "linux" {
		b.pc = ipv4.NewPacketConn(uc)
		stamps = enableRxTimestamps(uc)
	}
	for i := range b.msgs {
		b.msgs[i].Buffers = [][]byte{make([]byte, 1600)}
		if stamps {
			b.msgs[i].OOB = make([]byte, 64)
		}
	}
	return b
}

func (c *batchConn) setSink(s mediaSink) { c.sink.Store(&s) }

// ReadFrom returns the next datagram that is not SRTP/SRTCP for the sink.
func (c *batchConn) ReadFrom(p []byte) (int, net.Addr, error) {
	if c.pc == nil {
		for {
			n, addr, err := c.UDPConn.ReadFrom(p)
			if err != nil || n < 12 || p[0] < 128 || p[0] > 191 {
				return n, addr, err
			}
			s := c.sink.Load()
			if s == nil {
				return n, addr, nil
			}
			(*s).onDatagram(p[:n], nil, time.Now())
		}
	}
	for {
		for c.next < c.n {
			m := &c.msgs[c.next]
			c.next++
			b := m.Buffers[0][:m.N]
			if len(b) >= 12 && b[0] >= 128 && b[0] <= 191 {
				if s := c.sink.Load(); s != nil {
					(*s).onDatagram(b, m.OOB[:m.NN], c.now)
					continue
				}
			}
			return copy(p, b), m.Addr, nil
		}
		n, err := c.pc.ReadBatch(c.msgs, 0)
		if err != nil {
			return 0, nil, err
		}
		c.n, c.next, c.now = n, 0, time.Now() // one clock read per batch
	}
}

// Read is ReadFrom without the address.
func (c *batchConn) Read(p []byte) (int, error) {
	n, _, err := c.ReadFrom(p)
	return n, err
}

// cheapReceiver is one endpoint's sink: header accounting for every packet, decryption of a
// sample. Its SRTP contexts are its own (keyed like the transport's), used only on the
// socket's reader goroutine.
type cheapReceiver struct {
	e           *simEndpoint
	ctx         *srtp.Context
	sampleEvery uint64
	dec         []byte
	hdr         rtp.Header
	rh          rtcp.Header

	decrypted, authFailed atomic.Uint64
}

func newCheapReceiver(e *simEndpoint, ctx *srtp.Context, sampleEvery int) *cheapReceiver {
	return &cheapReceiver{e: e, ctx: ctx, sampleEvery: uint64(max(1, sampleEvery)), dec: make([]byte, 1600)}
}

func (c *cheapReceiver) onDatagram(b, oob []byte, now time.Time) {
	if isRTCP(b) {
		out, err := c.ctx.DecryptRTCP(c.dec[:0], b, &c.rh)
		if err != nil {
			c.authFailed.Add(1)
			return
		}
		if pkts, err := rtcp.Unmarshal(out); err == nil {
			c.e.handleRTCP(pkts)
		}
		return
	}
	h, err := parseClearHeader(b, extTCC, extAudioLvl)
	if err != nil {
		return
	}
	// The kernel's arrival time, where there is one, is what the transport-cc feedback reports
	// (a browser's network thread reads at once): the batch's clock would add this generator's
	// own scheduling delay, and the bridge's delay-based estimate would pace for it.
	at, stamped := rxTimestamp(oob)
	if stamped {
		now = time.Unix(0, at)
	} else {
		at = now.UnixNano()
	}
	if !c.e.onClearRTP(now, &h, len(b), c.sampleEvery) {
		return
	}
	out, err := c.ctx.DecryptRTP(c.dec[:0], b, &c.hdr)
	if err != nil {
		c.authFailed.Add(1)
		return
	}
	c.decrypted.Add(1)
	if h.hdrLen <= len(out) {
		if sent, height, ok := readStamp(unpadded(out, h.hdrLen)); ok {
			c.e.recv.addSample(h.ssrc, at-sent, height)
		}
	}
}

// unpadded is the payload of a decrypted RTP packet whose header is hl bytes, without RTP
// padding (RFC 3550 §5.1: the last byte counts the padding bytes).
func unpadded(pkt []byte, hl int) []byte {
	end := len(pkt)
	if pkt[0]&0x20 != 0 && end > hl {
		end -= int(pkt[end-1])
		if end < hl {
			return nil
		}
	}
	return pkt[hl:end]
}

// onClearRTP accounts one received packet from its clear header and says whether it is one to
// decrypt for latency (the first of each stream and then one in sampleEvery).
func (e *simEndpoint) onClearRTP(now time.Time, h *clearHeader, size int, sampleEvery uint64) bool {
	n := e.recv.onHeader(now, h, size, e.nack)
	if e.tccRec != nil && h.hasTCC {
		e.tccMu.Lock()
		e.tccRec.Record(h.ssrc, h.tccSeq, now.UnixMicro())
		e.tccMu.Unlock()
	}
	return n%sampleEvery == 1 || sampleEvery == 1
}
