package sfu

import (
	"encoding/binary"
	"testing"
	"time"

	"gojvb/sfu/transport"
	"gojvb/simulcast"
)

// FuzzHandleSRTP feeds arbitrary datagrams to an endpoint as its transport would: they must be
// dropped with a counter, never panic, and never reach the other endpoint.
func FuzzHandleSRTP(f *testing.F) {
	tb := newTestBridge(f, true, false)
	c, _ := tb.CreateConference("fuzz", "")
	a := joinSecure(f, c, "a", gcm)
	b := joinSecure(f, c, "b", gcm)
	if err := a.ep.SetSources([]MediaSource{videoSource("a-v0", 1)}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, isRTCP bool) {
		before := a.ep.Stats()
		a.ep.receiveOne(data, isRTCP)
		after := a.ep.Stats()
		drops := after.DroppedSRTPAuth - before.DroppedSRTPAuth + after.DroppedUnknownSSRC - before.DroppedUnknownSSRC
		if drops != 1 {
			t.Errorf("garbage counted %d drops, want 1", drops)
		}
		b.ep.drain()
		if n := len(tb.writer("b").take()); n != 0 {
			t.Errorf("garbage forwarded: %d datagrams", n)
		}
	})
}

// FuzzForwardRTP protects arbitrary RTP (as an authenticated client could send it) and checks
// that the receiver gets exactly those bytes back, or that it is dropped with a counter.
func FuzzForwardRTP(f *testing.F) {
	tb := newTestBridge(f, true, false)
	c, _ := tb.CreateConference("fuzz", "")
	a := joinSecure(f, c, "a", gcm)
	b := joinSecure(f, c, "b", gcm)
	if err := a.ep.SetSources([]MediaSource{videoSource("a-v0", 1), audioSource("a-a0", 2)}); err != nil {
		f.Fatal(err)
	}
	settle(b) // b chooses to receive both sources before the first input, whichever runs first
	// Each SSRC's packets are numbered one after another, as a sender's are: a fresh index for
	// the replay window, and no jump a projection would take for a packet from the past.
	seqs := map[uint32]uint16{}
	// shift is how many padding-only video packets b's projection closed over since it started
	// forwarding the video: the video's later sequence numbers are that much lower.
	var shift uint16
	videoStarted := false
	f.Fuzz(func(t *testing.T, plain []byte) {
		if len(plain) < 12 || len(plain) > 1400 {
			return
		}
		plain = append([]byte(nil), plain...)
		plain[0] = 0x80 | plain[0]&0x3f // version 2
		ssrc := binary.BigEndian.Uint32(plain[8:12])
		if ssrc != 1 && ssrc != 2 {
			ssrc = 0 // unknown SSRCs share one numbering (the map stays small)
		}
		seq := seqs[ssrc] + 1
		seqs[ssrc] = seq
		binary.BigEndian.PutUint16(plain[2:4], seq)
		srtpPkt, err := a.send.EncryptRTP(nil, plain, nil)
		if err != nil {
			return // not RTP pion can parse
		}
		before := a.ep.Stats()
		a.ep.receiveOne(srtpPkt, false)
		after := a.ep.Stats()
		b.ep.drain()
		got := tb.writer("b").take()
		if after.DroppedUnknownSSRC > before.DroppedUnknownSSRC || after.DroppedSRTPAuth > before.DroppedSRTPAuth ||
			after.DroppedMalformed > before.DroppedMalformed || after.DroppedSilence > before.DroppedSilence ||
			after.DroppedRTX > before.DroppedRTX || after.DroppedDuplicates > before.DroppedDuplicates ||
			after.DroppedPadding > before.DroppedPadding {
			if len(got) != 0 {
				t.Errorf("dropped packet was forwarded")
			}
			if after.DroppedPadding > before.DroppedPadding && videoStarted {
				shift++
			}
			return
		}
		if len(got) != 1 {
			t.Fatalf("got %d datagrams, want 1 (stats %+v)", len(got), after)
		}
		// What b gets is what a sent, less the header extensions a receiver must not see
		// (a negotiated none, so every element becomes padding) and with the same size.
		want := append([]byte(nil), plain...)
		if h, ok := simulcast.ParseRTP(want); ok {
			var none simulcast.ExtensionSet
			simulcast.KeepExtensions(want, &h, &none)
			if h.SSRC == 1 {
				simulcast.SetSeq(want, h.Seq-shift)
				videoStarted = true
			}
		}
		out, err := b.recv.DecryptRTP(nil, got[0], nil)
		if err != nil || string(out) != string(want) {
			t.Errorf("forwarded packet differs (%v): got %x, want %x (padding shift %d)", err, out, want, shift)
		}
	})
}

// FuzzKeyframeRequests walks arbitrary decrypted compound RTCP.
func FuzzKeyframeRequests(f *testing.F) {
	tb := newTestBridge(f, true, false)
	c, _ := tb.CreateConference("fuzz", "")
	a := joinSecure(f, c, "a", gcm)
	b := joinSecure(f, c, "b", gcm)
	if err := a.ep.SetSources([]MediaSource{videoSource("a-v0", 1)}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, plain []byte) {
		before := b.ep.Stats()
		var batch transport.Batch
		batch.Start(time.Now().UnixNano() + int64(time.Hour)) // past any rate limit
		p := getPacket()
		p.n = copy(p.buf[:], plain)
		b.ep.handleRTCP(&batch, p)
		p.release()
		batch.Finish()
		b.ep.drain() // b's goroutine translates and relays what its inbox got
		after := b.ep.Stats()
		a.ep.drain()
		got := tb.writer("a").take()
		if fwd := after.KeyframeRequestsForwarded - before.KeyframeRequestsForwarded; int(fwd) != len(got) {
			t.Errorf("counted %d forwarded keyframe requests, a got %d datagrams", fwd, len(got))
		}
		for _, d := range got {
			if _, err := a.recv.DecryptRTCP(nil, d, nil); err != nil {
				t.Errorf("forwarded PLI does not decrypt: %v", err)
			}
		}
	})
}
