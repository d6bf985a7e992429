package bench

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"go.uber.org/goleak"
)

func marshalRTP(t testing.TB, h rtp.Header, payload []byte) []byte {
	t.Helper()
	b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseClearHeaderReadsHeaderAndExtensions(t *testing.T) {
	for _, profile := range []uint16{0xBEDE, 0x1000} {
		h := rtp.Header{Version: 2, PayloadType: ptOpus, SequenceNumber: 65000, Timestamp: 123456789, SSRC: 0xdeadbeef,
			Marker: true, CSRC: []uint32{7, 8}, Extension: true, ExtensionProfile: profile}
		if err := h.SetExtension(extAudioLvl, []byte{0x80 | 33}); err != nil {
			t.Fatal(err)
		}
		if err := h.SetExtension(extTCC, []byte{0x12, 0x34}); err != nil {
			t.Fatal(err)
		}
		b := marshalRTP(t, h, []byte("payload"))
		got, err := parseClearHeader(b, extTCC, extAudioLvl)
		if err != nil {
			t.Fatalf("profile %#x: %v", profile, err)
		}
		if got.seq != 65000 || got.ts != 123456789 || got.ssrc != 0xdeadbeef || got.pt != ptOpus || !got.marker {
			t.Errorf("profile %#x: header %+v", profile, got)
		}
		if !got.hasTCC || got.tccSeq != 0x1234 || !got.hasLevel || got.level != 33 || !got.voiceFlag {
			t.Errorf("profile %#x: extensions %+v", profile, got)
		}
		if string(b[got.hdrLen:]) != "payload" {
			t.Errorf("profile %#x: payload starts at %d: %q", profile, got.hdrLen, b[got.hdrLen:])
		}
	}
}

func TestParseClearHeaderRejectsTruncatedPackets(t *testing.T) {
	h := rtp.Header{Version: 2, PayloadType: ptVP8, SSRC: 1, CSRC: []uint32{1, 2, 3}}
	_ = h.SetExtension(extTCC, []byte{0, 1})
	b := marshalRTP(t, h, nil)
	for n := range len(b) {
		if _, err := parseClearHeader(b[:n], extTCC, extAudioLvl); err == nil {
			t.Errorf("a %d-byte prefix of a %d-byte header parsed", n, len(b))
		}
	}
	if _, err := parseClearHeader(append([]byte{0x40}, b[1:]...), extTCC, extAudioLvl); err == nil {
		t.Error("RTP version 1 parsed")
	}
}

// FuzzClearHeader: any datagram is rejected or parsed without reading past it, and whatever
// pion's parser accepts gets the same sequence number, timestamp, SSRC and header length.
func FuzzClearHeader(f *testing.F) {
	h := rtp.Header{Version: 2, PayloadType: ptVP8, SequenceNumber: 9, SSRC: 5}
	_ = h.SetExtension(extTCC, []byte{1, 2})
	b, _ := (&rtp.Packet{Header: h, Payload: []byte{1, 2, 3}}).Marshal()
	f.Add(b)
	f.Add([]byte{0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 0x51, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseClearHeader(b, extTCC, extAudioLvl)
		if err != nil {
			return
		}
		if got.hdrLen > len(b) {
			t.Fatalf("header length %d past %d bytes", got.hdrLen, len(b))
		}
		var ph rtp.Header
		n, perr := ph.Unmarshal(b)
		if perr != nil {
			return
		}
		if ph.SequenceNumber != got.seq || ph.Timestamp != got.ts || ph.SSRC != got.ssrc || n != got.hdrLen {
			t.Fatalf("pion: seq %d ts %d ssrc %d len %d; ours %+v", ph.SequenceNumber, ph.Timestamp, ph.SSRC, n, got)
		}
	})
}

func TestSeqTrackerCountsDiscontinuities(t *testing.T) {
	var s seqTracker
	s.addTS(100, 1000)
	s.addTS(101, 4000)  // normal step
	s.addTS(102, 3000)  // forward with an earlier timestamp
	s.addTS(5200, 9000) // a jump of 5098 sequence numbers
	s.addTS(5100, 100)  // late: neither
	if s.discontinuities != 2 {
		t.Fatalf("discontinuities = %d, want 2", s.discontinuities)
	}
}

func TestGapsAreQueuedForNACKOnMediaStreamsOnly(t *testing.T) {
	r := newRecvStats()
	now := time.Now()
	for _, q := range []uint16{10, 11, 15, 16} { // 12, 13, 14 missing
		r.onHeader(now, &clearHeader{ssrc: 1, seq: q, pt: ptVP8}, 100, true)
	}
	for _, q := range []uint16{10, 20} { // an RTX stream's gap is not asked for
		r.onHeader(now, &clearHeader{ssrc: 2, seq: q, pt: ptRTX}, 100, true)
	}
	pkts := r.takeNACKs(99)
	if len(pkts) != 1 {
		t.Fatalf("%d NACK packets, want 1: %v", len(pkts), pkts)
	}
	n, ok := pkts[0].(*rtcp.TransportLayerNack)
	if !ok || n.MediaSSRC != 1 || n.SenderSSRC != 99 {
		t.Fatalf("NACK %#v, want a generic NACK for SSRC 1 from 99", pkts[0])
	}
	var seqs []uint16
	for _, p := range n.Nacks {
		seqs = append(seqs, p.PacketList()...)
	}
	if !slices.Equal(seqs, []uint16{12, 13, 14}) {
		t.Fatalf("NACKed %v, want [12 13 14]", seqs)
	}
	if again := r.takeNACKs(99); again != nil {
		t.Fatalf("NACKs sent twice: %v", again)
	}
	for q := uint16(100); q < 100+20*60; q += 60 { // far more gaps than the bound
		r.onHeader(now, &clearHeader{ssrc: 3, seq: q, pt: ptVP8}, 100, true)
	}
	if r.nackN != maxNACKs {
		t.Fatalf("%d sequence numbers queued, want the bound %d", r.nackN, maxNACKs)
	}
}

func TestOnlyASampleIsDecrypted(t *testing.T) {
	e := newSimEndpoint("r", false, false, nil, nil)
	e.recv.startMeasuring()
	sampled := 0
	for i := range 640 {
		h := clearHeader{ssrc: 7, seq: uint16(i), pt: ptVP8}
		if e.onClearRTP(time.Now(), &h, 1000, 64) {
			if i%64 != 0 {
				t.Fatalf("packet %d sampled, want the 1st and every 64th after", i)
			}
			sampled++
		}
	}
	if sampled != 10 {
		t.Fatalf("%d of 640 sampled at 1 in 64, want 10", sampled)
	}
}

// srtpPair is a sender and a receiver context with the same keys (GCM, as negotiated first).
func srtpPair(t testing.TB) (enc, dec *srtp.Context) {
	t.Helper()
	key, salt := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 12)
	p := srtp.ProtectionProfileAeadAes128Gcm
	enc, err := srtp.CreateContext(key, salt, p)
	if err != nil {
		t.Fatal(err)
	}
	dec, err = srtp.CreateContext(key, salt, p)
	if err != nil {
		t.Fatal(err)
	}
	return enc, dec
}

func TestCheapReceiverAccountsEveryPacketAndDecryptsASample(t *testing.T) {
	enc, dec := srtpPair(t)
	e := newSimEndpoint("r", false, false, nil, nil)
	e.recv.startMeasuring()
	c := newCheapReceiver(e, dec, 16)
	rng := rand.New(rand.NewPCG(1, 2))
	v := newVideoLayer(42, defaultLayers[2], rng)
	buf := make([]byte, 1600)
	sent := 0
	for f := range 40 {
		v.nextFrame(buf, time.Now(), f == 0, func(p []byte) {
			sent++
			if sent == 5 { // lost on the way
				return
			}
			out, err := enc.EncryptRTP(nil, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			if sent == 18 { // corrupted: the 17th received, the second one sampled
				out[len(out)-1] ^= 1
			}
			c.onDatagram(out, nil, time.Now())
		})
	}
	r := e.recv.snapshot("r", time.Time{}, nil)
	if r.Packets != uint64(sent-1) || r.Lost != 1 || r.Streams != 1 {
		t.Fatalf("received %d lost %d streams %d, want %d, 1, 1", r.Packets, r.Lost, r.Streams, sent-1)
	}
	wantSamples := (sent - 1 + 15) / 16
	if got := c.decrypted.Load() + c.authFailed.Load(); got != uint64(wantSamples) || c.authFailed.Load() != 1 {
		t.Fatalf("decrypted %d, failed %d; want %d attempts, 1 failure", c.decrypted.Load(), c.authFailed.Load(), wantSamples)
	}
	if e.recv.lat.n != c.decrypted.Load() {
		t.Fatalf("%d latency samples for %d decrypted packets", e.recv.lat.n, c.decrypted.Load())
	}
	if st := e.recv.streamsSeen()[42]; st.height != 720 {
		t.Fatalf("stream height %d from the decrypted stamps, want 720", st.height)
	}
}

func TestBatchConnGivesMediaToTheSinkAndTheRestToPion(t *testing.T) {
	for _, batched := range []bool{true, false} { // false: the path of systems without recvmmsg
		t.Run(map[bool]string{true: "batched", false: "one-by-one"}[batched], func(t *testing.T) {
			testBatchConn(t, batched)
		})
	}
}

func testBatchConn(t *testing.T, batched bool) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	rc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	bc := newBatchConn(rc)
	defer bc.Close()
	if !batched {
		bc.pc = nil
	}
	got := make(chan []byte, 8)
	var stamped atomic.Int32
	bc.setSink(sinkFunc(func(b, oob []byte, now time.Time) {
		if at, ok := rxTimestamp(oob); ok && at <= now.UnixNano() && at > now.Add(-5*time.Second).UnixNano() {
			stamped.Add(1)
		}
		got <- bytes.Clone(b)
	}))
	wc, err := net.DialUDP("udp4", nil, rc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	rtpPkt := marshalRTP(t, rtp.Header{Version: 2, PayloadType: ptVP8, SequenceNumber: 1, SSRC: 3}, []byte{1})
	dtlsRec := []byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0}
	for _, p := range [][]byte{rtpPkt, rtpPkt, dtlsRec} {
		if _, err := wc.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := bc.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 1600)
	n, _, err := bc.ReadFrom(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p[:n], dtlsRec) {
		t.Fatalf("ReadFrom returned %x, want the DTLS record", p[:n])
	}
	if len(got) != 2 {
		t.Fatalf("sink got %d RTP packets, want 2 (read before the DTLS record)", len(got))
	}
	if batched && runtime.GOOS == "linux" && stamped.Load() != 2 {
		t.Fatalf("%d of 2 packets carried a kernel arrival time before the batch was read", stamped.Load())
	}
}

type sinkFunc func(b, oob []byte, now time.Time)

func (f sinkFunc) onDatagram(b, oob []byte, now time.Time) { f(b, oob, now) }

// TestDTLSPipeHonoursReadDeadlines: pion's DTLS ends a timed-out handshake by setting a read
// deadline in the past and waiting for its reader; a pipe ignoring it hung a join forever.
func TestDTLSPipeHonoursReadDeadlines(t *testing.T) {
	p := newDTLSPipe(nil)
	done := make(chan error, 1)
	go func() {
		_, _, err := p.ReadFrom(make([]byte, 10))
		done <- err
	}()
	_ = p.SetReadDeadline(time.Unix(1, 0))
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("ReadFrom after a past deadline: %v, want os.ErrDeadlineExceeded", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a blocked ReadFrom ignored a deadline set in the past")
	}
	_ = p.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, _, err := p.ReadFrom(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadFrom past a near deadline: %v", err)
	}
	_ = p.SetReadDeadline(time.Time{})
	p.close()
	if _, _, err := p.ReadFrom(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ReadFrom on a closed pipe: %v, want net.ErrClosed", err)
	}
}
