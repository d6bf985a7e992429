package sfu

import (
	"testing"

	"gojvb/sfu/transport"
)

// TestRelayLossIsRepairedAcrossTheRelay puts a lossy link (the loss tests' UDP relay, 5 % of the
// sender's video and its retransmissions dropped) between two bridges' relay: the receiving
// bridge NACKs what the relay lost, the sending bridge's relay link answers from its history in
// RTX on the sender's RTX SSRC, and the receiver behind the second bridge gets the whole window.
func TestRelayLossIsRepairedAcrossTheRelay(t *testing.T) {
	bA, bB := newLoopbackBridge(t), newLoopbackBridge(t)
	bA.relayID, bB.relayID = "A", "B"
	cA, err := bA.CreateConference("loss", "")
	if err != nil {
		t.Fatal(err)
	}
	cB, err := bB.CreateConference("loss", "")
	if err != nil {
		t.Fatal(err)
	}
	snd := joinLossPeer(t, bA, cA, "p0", lossPeerOpts{rtx: true, send: true})
	rcv := joinLossPeer(t, bB, cB, "p1", lossPeerOpts{rtx: true})
	for _, p := range []*lossPeer{snd, rcv} {
		if err := p.client.WaitConnected(waitTimeout); err != nil {
			t.Fatalf("%s: %v", p.id, err)
		}
	}
	pts := []PayloadType{
		{Media: MediaVideo, ID: lossVP8PT, Name: "VP8", ClockRate: 90000,
			Feedback: []RTCPFeedback{{Type: "nack"}, {Type: "nack", Subtype: "pli"}}},
		{Media: MediaVideo, ID: lossRTXPT, Name: "rtx", ClockRate: 90000, Params: map[string]string{"apt": "100"}},
	}
	ab, err := cA.CreateRelay(RelayConfig{ID: "B", ICEControlling: true, SCTP: true, SCTPClient: true, UniquePort: true, PayloadTypes: pts})
	if err != nil {
		t.Fatal(err)
	}
	ba, err := cB.CreateRelay(RelayConfig{ID: "A", SCTP: true, PayloadTypes: pts})
	if err != nil {
		t.Fatal(err)
	}
	// A's relay port talks to B's shared port only through the lossy relay.
	lr, err := newLossRelay(bB.LocalAddr(), lossDelay)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lr.Close)
	lr.setClient(ab.mux.LocalAddr())
	via := func(d transport.Description, setup string, at transport.Candidate) transport.Description {
		d.Fingerprints[0].Setup = setup
		d.Candidates = []transport.Candidate{at}
		return d
	}
	dA, dB := ab.LocalTransport(), ba.LocalTransport()
	toA, toB := dB.Candidates[0], dA.Candidates[0]
	toA.IP, toA.Port = lr.clientFacing().Addr().String(), int(lr.clientFacing().Port())
	toB.IP, toB.Port = lr.bridgeFacing().Addr().String(), int(lr.bridgeFacing().Port())
	if err := ab.SetRemoteTransport(via(dB, "active", toA)); err != nil {
		t.Fatal(err)
	}
	if err := ba.SetRemoteTransport(via(dA, "passive", toB)); err != nil {
		t.Fatal(err)
	}

	src := videoSource(snd.id+"-v0", snd.ssrc)
	src.Sources = append(src.Sources, Source{SSRC: snd.rtxSSRC, Name: src.Name})
	src.Groups = []SSRCGroup{{Semantics: "FID", SSRCs: []uint32{snd.ssrc, snd.rtxSSRC}}}
	if err := snd.ep.SetSources([]MediaSource{src}); err != nil {
		t.Fatal(err)
	}
	remote, err := ba.AddEndpoint(snd.id, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.SetSources([]MediaSource{src}); err != nil {
		t.Fatal(err)
	}
	if err := rcv.client.SetOffer(rcv.offer(snd)); err != nil {
		t.Fatal(err)
	}
	if _, err := rcv.client.Answer(); err != nil {
		t.Fatal(err)
	}
	policy := newLossPolicy(lossSeed, 0.05, snd.ssrc, snd.rtxSSRC)
	lr.up.Store(policy) // A -> B
	s := &lossSetup{snd: snd, rcv: rcv, sender: startLossSender(t, snd)}
	rcv.waitFor(t, "the first video packet", func() bool { return len(rcv.got) > 0 })
	s.from = uint16(s.sender.sent.Load()) + 20
	s.sender.until.Store(uint32(s.from + lossWindow + 10))
	ratio, have, _ := s.run(t)
	lost, _ := policy.counts(snd.ssrc)
	out, in := ab.link.Stats(), ba.link.Stats()
	t.Logf("received %d/%d; lossy link dropped %d; B's relay NACKs sent %d, restored %d; A's relay NACKs received %d, resent %d",
		have, lossWindow, lost, in.NACKsSent, in.RetransmissionsReceived, out.NACKsReceived, out.Retransmissions)
	if ratio < 0.99 {
		t.Errorf("received %.2f%% of the window across the relay, want >= 99%% (missing %v)", 100*ratio, missingSeqs(rcv, s.from, lossWindow))
	}
	if lost == 0 || in.NACKsSent == 0 || out.NACKsReceived == 0 || out.Retransmissions == 0 || in.RetransmissionsReceived == 0 {
		t.Errorf("dropped %d, NACKs sent %d / received %d, resent %d, restored %d: want all > 0",
			lost, in.NACKsSent, out.NACKsReceived, out.Retransmissions, in.RetransmissionsReceived)
	}
	s.sender.stop()
	ab.Expire()
	ba.Expire()
}
