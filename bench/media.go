package bench

import (
	"encoding/binary"
	"math/rand/v2"
	"time"

	"github.com/pion/rtp"
)

// Payload types and header extension ids the simulated endpoints use; they match Jicofo's
// default offer so a bridge configured for Jitsi Meet needs no remapping.
const (
	ptOpus       = 111
	ptVP8        = 100
	ptRTX        = 96
	extAudioLvl  = 1 // urn:ietf:params:rtp-hdrext:ssrc-audio-level
	extTCC       = 5 // transport-wide-cc-extensions-01
	rtpClockOpus = 48000
	rtpClockVP8  = 90000
	maxPayload   = 1100 // VP8 bytes per packet, like a browser's ~1200-byte packets
)

// stampLen is the size of the trailer every simulated packet carries at the end of its payload:
// magic, the send time (Unix ns), the height of the video encoding (0 for audio) and a
// per-stream counter. The bridge forwards payloads untouched, so a receiver that decrypts one
// can compute the forwarding latency and tell which encoding it gets (without SSRC
// rewriting the bridge still sends every encoding of a source on one SSRC).
const stampLen = 16

const stampMagic = 0x4A564242 // "JVBB"

func putStamp(b []byte, sent time.Time, height int, counter uint32) {
	binary.BigEndian.PutUint32(b[0:4], stampMagic)
	binary.BigEndian.PutUint64(b[4:12], uint64(sent.UnixNano()))
	binary.BigEndian.PutUint16(b[12:14], uint16(height))
	binary.BigEndian.PutUint16(b[14:16], uint16(counter))
}

// readStamp returns the send time carried at the end of payload, if there is one.
func readStamp(payload []byte) (sentUnixNano int64, height int, ok bool) {
	if len(payload) < stampLen {
		return 0, 0, false
	}
	s := payload[len(payload)-stampLen:]
	if binary.BigEndian.Uint32(s[0:4]) != stampMagic {
		return 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(s[4:12])), int(binary.BigEndian.Uint16(s[12:14])), true
}

// simulcastLayer describes one VP8 simulcast encoding.
type simulcastLayer struct {
	Width, Height int
	BitrateBps    int
}

// defaultLayers are the three encodings Jitsi Meet sends for a 720p camera.
var defaultLayers = []simulcastLayer{
	{Width: 320, Height: 180, BitrateBps: 150_000},
	{Width: 640, Height: 360, BitrateBps: 500_000},
	{Width: 1280, Height: 720, BitrateBps: 1_500_000},
}

// audioStream generates opus packets every 20 ms with an ssrc-audio-level extension.
type audioStream struct {
	hdr     rtp.Header
	counter uint32 // packets sent (SR packet count)
	octets  uint32 // payload octets sent (SR octet count)
	rng     *rand.Rand
	level   [1]byte
	tcc     tccTagger
	// speaking, when set, scripts the dominant speaker: loud levels while it says so, silence
	// (127, which the bridge drops) otherwise. Unset: speech-like levels all the time.
	speaking func(time.Time) bool
	// skipSilence sends nothing instead of silence, without a gap in the sequence numbers: what
	// the bridge makes of silence (it drops it and renumbers), for the mirroring relay.
	skipSilence bool
}

// tccTagger writes the transport-wide sequence number (shared by all of an endpoint's
// streams) into a packet's header; a nil seq means transport-cc is off.
type tccTagger struct {
	seq *uint16
	buf [2]byte
}

func (t *tccTagger) tag(h *rtp.Header) {
	if t.seq == nil {
		return
	}
	*t.seq++
	binary.BigEndian.PutUint16(t.buf[:], *t.seq)
	_ = h.SetExtension(extTCC, t.buf[:])
}

func newAudioStream(ssrc uint32, rng *rand.Rand) *audioStream {
	a := &audioStream{rng: rng}
	a.hdr = rtp.Header{
		Version:        2,
		PayloadType:    ptOpus,
		SSRC:           ssrc,
		SequenceNumber: uint16(rng.Uint32()),
		Timestamp:      rng.Uint32(),
	}
	// Speech-like level (-30..-60 dBov, never 127 = silence, which the bridge drops).
	a.level[0] = 0x80 | 40
	_ = a.hdr.SetExtension(extAudioLvl, a.level[:])
	return a
}

// next writes the next 20 ms opus packet into buf and returns it.
func (a *audioStream) next(buf []byte, now time.Time) []byte {
	a.hdr.Timestamp += rtpClockOpus / 50
	switch {
	case a.speaking == nil:
		a.level[0] = 0x80 | byte(30+a.rng.IntN(30))
	case a.speaking(now):
		a.level[0] = 0x80 | byte(15+a.rng.IntN(10))
	case a.skipSilence:
		return nil
	default:
		a.level[0] = 127
	}
	a.hdr.SequenceNumber++
	a.tcc.tag(&a.hdr)
	n, err := a.hdr.MarshalTo(buf)
	if err != nil {
		return nil
	}
	size := 60 + a.rng.IntN(60) // ~32-48 kbps opus
	p := buf[n : n+size]
	for i := range p[:size-stampLen] {
		p[i] = byte(i)
	}
	a.counter++
	a.octets += uint32(size)
	putStamp(p[size-stampLen:], now, 0, a.counter)
	return buf[:n+size]
}

// videoLayer generates one VP8 simulcast encoding with three temporal layers (L1T3 pattern
// 0,2,1,2), picture id, TL0PICIDX and keyframe headers carrying the layer's resolution.
type videoLayer struct {
	layer     simulcastLayer
	hdr       rtp.Header
	pictureID uint16 // 15 bits
	tl0PicIdx uint8
	frame     uint64
	counter   uint32 // packets sent (SR packet count)
	octets    uint32 // payload octets sent (SR octet count)
	rng       *rand.Rand
	tcc       tccTagger
}

func newVideoLayer(ssrc uint32, l simulcastLayer, rng *rand.Rand) *videoLayer {
	return &videoLayer{
		layer:     l,
		rng:       rng,
		pictureID: uint16(rng.IntN(1 << 15)),
		tl0PicIdx: uint8(rng.Uint32()),
		hdr: rtp.Header{
			Version:        2,
			PayloadType:    ptVP8,
			SSRC:           ssrc,
			SequenceNumber: uint16(rng.Uint32()),
			Timestamp:      rng.Uint32(),
		},
	}
}

// temporalID follows libvpx's 3-layer pattern: TL0 every 4th frame, TL1 every other.
func temporalID(frame uint64) uint8 {
	switch frame % 4 {
	case 0:
		return 0
	case 2:
		return 1
	default:
		return 2
	}
}

// frameSize is the byte size of the next frame: the layer's bitrate spread over 30 fps,
// weighted by temporal layer (TL0 frames are bigger), keyframes ~5x, with ±20% jitter.
func (v *videoLayer) frameSize(tid uint8, key bool) int {
	base := float64(v.layer.BitrateBps) / 8 / 30
	switch tid {
	case 0:
		base *= 1.5
	case 1:
		base *= 1.0
	default:
		base *= 0.75
	}
	if key {
		base *= 5
	}
	base *= 0.8 + 0.4*v.rng.Float64()
	if base < 100 {
		base = 100
	}
	return int(base)
}

// nextFrame packetizes the next 30 fps frame and calls emit for each packet (built in buf).
func (v *videoLayer) nextFrame(buf []byte, now time.Time, key bool, emit func([]byte)) {
	tid := temporalID(v.frame)
	if key {
		tid = 0
	}
	if v.frame > 0 {
		v.hdr.Timestamp += rtpClockVP8 / 30
	}
	v.frame++
	v.pictureID = (v.pictureID + 1) & 0x7fff
	if tid == 0 {
		v.tl0PicIdx++
	}
	remaining := v.frameSize(tid, key)
	first := true
	for remaining > 0 {
		chunk := min(remaining, maxPayload)
		remaining -= chunk
		v.hdr.SequenceNumber++
		v.hdr.Marker = remaining == 0
		v.tcc.tag(&v.hdr)
		n, err := v.hdr.MarshalTo(buf)
		if err != nil {
			return
		}
		p := buf[n:]
		// VP8 payload descriptor (RFC 7741): X, S on the first packet, PID 0;
		// I (15-bit picture id), L (TL0PICIDX), T (TID, Y).
		p[0] = 0x80
		if first {
			p[0] |= 0x10
		}
		if tid == 2 {
			p[0] |= 0x20 // N: non-reference frame
		}
		p[1] = 0xE0
		p[2] = 0x80 | byte(v.pictureID>>8)
		p[3] = byte(v.pictureID)
		p[4] = v.tl0PicIdx
		p[5] = tid<<6 | 0x20 // Y=1: layer sync
		off := 6
		if first {
			off += writeVP8FrameHeader(p[off:], key, v.layer.Width, v.layer.Height, chunk)
		}
		end := 6 + chunk + stampLen
		if off > end-stampLen {
			end = off + stampLen
		}
		for i := off; i < end-stampLen; i++ {
			p[i] = byte(i)
		}
		v.counter++
		v.octets += uint32(end)
		putStamp(p[end-stampLen:end], now, v.layer.Height, v.counter)
		emit(buf[:n+end])
		first = false
	}
}

// writeVP8FrameHeader writes the VP8 uncompressed data chunk (RFC 6386 §9.1): 3-byte frame tag
// and, for keyframes, the start code and dimensions the bridge reads to learn layer heights.
func writeVP8FrameHeader(b []byte, key bool, width, height, size int) int {
	partition := uint32(size) & 0x7ffff
	tag := partition<<5 | 1<<4 // show_frame=1, version 0
	if !key {
		tag |= 1 // P=1: interframe
	}
	b[0] = byte(tag)
	b[1] = byte(tag >> 8)
	b[2] = byte(tag >> 16)
	if !key {
		return 3
	}
	b[3], b[4], b[5] = 0x9d, 0x01, 0x2a
	binary.LittleEndian.PutUint16(b[6:8], uint16(width)&0x3fff)
	binary.LittleEndian.PutUint16(b[8:10], uint16(height)&0x3fff)
	return 10
}
