package sfu

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pion/srtp/v3"

	"gojvb/sfu/channel"
)

// secureRelay creates relay id in c with fresh SRTP keys on its link and returns the relay and
// the far end of its link (the other bridge, as a client).
func secureRelay(tb testing.TB, c *Conference, id string, profile srtp.ProtectionProfile) (*Relay, *client) {
	tb.Helper()
	r, err := c.CreateRelay(RelayConfig{ID: id})
	if err != nil {
		tb.Fatal(err)
	}
	keys := testKeys(tb, profile)
	if err := r.link.setKeys(keys); err != nil {
		tb.Fatal(err)
	}
	send, err := srtp.CreateContext(keys.RemoteMasterKey, keys.RemoteMasterSalt, profile)
	if err != nil {
		tb.Fatal(err)
	}
	recv, err := srtp.CreateContext(keys.LocalMasterKey, keys.LocalMasterSalt, profile)
	if err != nil {
		tb.Fatal(err)
	}
	return r, &client{ep: r.link, send: send, recv: recv}
}

// relayOutSetup: a local sender's video (SSRC 1) wanted by the other bridge, sent over a relay.
func relayOutSetup(tb testing.TB) (*client, []*client) {
	br := newTestBridge(tb, true, true)
	c, err := br.CreateConference("bench", "")
	if err != nil {
		tb.Fatal(err)
	}
	sender := joinSecure(tb, c, "sender", gcm)
	if err := sender.ep.SetSources([]MediaSource{videoSource("sender-v0", 1)}); err != nil {
		tb.Fatal(err)
	}
	r, far := secureRelay(tb, c, "B", gcm)
	r.receiverAsked("sender-v0", -1)
	settle(far)
	return sender, []*client{far}
}

// relayInSetup: a sender behind a relay (video SSRC 1) and n local receivers; the returned
// client is the other bridge sending on the relay.
func relayInSetup(tb testing.TB, n int) (*client, []*client) {
	br := newTestBridge(tb, true, true)
	c, err := br.CreateConference("bench", "")
	if err != nil {
		tb.Fatal(err)
	}
	r, far := secureRelay(tb, c, "A", gcm)
	remote, err := r.AddEndpoint("sender", "")
	if err != nil {
		tb.Fatal(err)
	}
	if err := remote.SetSources([]MediaSource{videoSource("sender-v0", 1)}); err != nil {
		tb.Fatal(err)
	}
	receivers := make([]*client, n)
	for i := range receivers {
		receivers[i] = joinSecure(tb, c, fmt.Sprintf("r%02d", i), gcm)
	}
	settle(receivers...)
	return far, receivers
}

// BenchmarkRelay is the relay's cost per packet: out (a local sender's packet decrypted once
// and re-encrypted onto the relay) and in (a packet from the relay decrypted once and forwarded
// to n local receivers), 1200-byte VP8, AEAD_AES_128_GCM, socket writes excluded.
func BenchmarkRelay(b *testing.B) {
	run := func(b *testing.B, sender *client, receivers []*client) {
		feed := newPacketFeed(b, sender, 1, 1200, 4096)
		forwardOne(sender, receivers, feed.packet(nil))
		b.SetBytes(int64(1200 * len(receivers)))
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			forwardOne(sender, receivers, feed.packet(b))
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(receivers)), "ns/forwarded")
		if s := receivers[0].ep.Stats(); s.PacketsSent < uint64(b.N) {
			b.Fatalf("%s sent %d packets, want >= %d", receivers[0].ep.id, s.PacketsSent, b.N)
		}
	}
	b.Run("out", func(b *testing.B) { s, r := relayOutSetup(b); run(b, s, r) })
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("in/receivers=%d", n), func(b *testing.B) { s, r := relayInSetup(b, n); run(b, s, r) })
	}
}

// The relay's packet path allocates nothing either way.
func TestRelayForwardDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	for name, setup := range map[string]func() (*client, []*client){
		"out": func() (*client, []*client) { return relayOutSetup(t) },
		"in":  func() (*client, []*client) { return relayInSetup(t, 3) },
	} {
		sender, receivers := setup()
		feed := newPacketFeed(t, sender, 1, 1200, 1024)
		for range historyMax + 88 {
			forwardOne(sender, receivers, feed.packet(nil))
		}
		allocs := testing.AllocsPerRun(200, func() { forwardOne(sender, receivers, feed.packet(nil)) })
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per packet, want 0", name, allocs)
		}
		if s, want := receivers[0].ep.Stats(), uint64(historyMax+88+201); s.PacketsSent != want {
			t.Errorf("%s: %s sent %d packets, want %d", name, receivers[0].ep.id, s.PacketsSent, want)
		}
	}
}

// What crosses to a JVB bridge is what it parses: AddReceiver with bridgeId (this bridge's relay
// id), sourceName and videoConstraints without a frame-rate limit (JVB reads 0 as disabled).
func TestAddReceiverWire(t *testing.T) {
	br := newTestBridge(t, true, true)
	br.relayID = "jvb-1"
	c, err := br.CreateConference("m", "")
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.CreateRelay(RelayConfig{ID: "jvb-2", SCTP: true})
	if err != nil {
		t.Fatal(err)
	}
	r.link.chanOpen.Store(true)
	r.addReceiver("x-v0", 360)
	sent := br.transport(relayLinkID("jvb-2")).take()
	want := `{"colibriClass":"AddReceiver","bridgeId":"jvb-1","sourceName":"x-v0","videoConstraints":{"maxHeight":360,"maxFrameRate":-1}}`
	if len(sent) != 1 || string(sent[0]) != want {
		t.Fatalf("sent %q, want %s", sent, want)
	}
	// Bridge-to-client messages never cross a relay.
	if r.link.sendMessage(&channel.ForwardedSources{Sources: []string{"x-v0"}}) {
		t.Error("ForwardedSources sent over a relay")
	}
}

// Messages from the other bridge reach local endpoints only: a broadcast EndpointMessage (its
// "from" kept) and a connectivity event, never another relay.
func TestRelayMessagesReachLocalEndpoints(t *testing.T) {
	br := newTestBridge(t, true, true)
	c, err := br.CreateConference("m", "")
	if err != nil {
		t.Fatal(err)
	}
	local := joinSecure(t, c, "local", gcm)
	local.ep.chanOpen.Store(true)
	r1, err := c.CreateRelay(RelayConfig{ID: "r1", SCTP: true})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c.CreateRelay(RelayConfig{ID: "r2", SCTP: true})
	if err != nil {
		t.Fatal(err)
	}
	r2.link.chanOpen.Store(true)
	for _, raw := range []string{
		`{"colibriClass":"EndpointMessage","to":"","from":"far","msgPayload":{"x":1}}`,
		`{"colibriClass":"EndpointConnectivityStatusChangeEvent","endpoint":"far","active":"false"}`,
	} {
		m, err := channel.Parse([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		r1.link.handleRelayMessage(m)
	}
	got := br.transport("local").take()
	if len(got) != 2 || !strings.Contains(string(got[0]), `"from":"far"`) || !strings.Contains(string(got[1]), `"endpoint":"far"`) {
		t.Errorf("local endpoint got %q", got)
	}
	if sent := br.transport(relayLinkID("r2")).take(); len(sent) != 0 {
		t.Errorf("relay r2 got %q from relay r1", sent)
	}
}
