//go:build unix

package transport_test

import (
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/stun/v4"
	"golang.org/x/sys/unix"

	. "gojvb/sfu/transport"
)

// relay is a Handler that forwards what its client sends to another transport's client,
// rewritten onto the SSRC the other client was offered: a minimal SFU for one pair.
type relay struct {
	states chan State

	mu   sync.Mutex
	dec  *srtp.Context // this client's media, set on HandleSecure
	enc  *srtp.Context // towards this client, set on HandleSecure
	to   *relay
	w    *BatchWriter
	buf  []byte
	sent int
}

func newRelay() *relay { return &relay{states: make(chan State, 16)} }

func (r *relay) HandleSecure(k SRTPKeys) {
	dec, err1 := srtp.CreateContext(k.RemoteMasterKey, k.RemoteMasterSalt, k.Profile)
	enc, err2 := srtp.CreateContext(k.LocalMasterKey, k.LocalMasterSalt, k.Profile)
	if err1 != nil || err2 != nil {
		panic("SRTP context from exported keys")
	}
	r.mu.Lock()
	r.dec, r.enc = dec, enc
	r.mu.Unlock()
}

func (r *relay) HandleSRTP(_ *Batch, buf []byte, rtcp bool) {
	if rtcp {
		return
	}
	r.mu.Lock()
	dec, to := r.dec, r.to
	var err error
	if dec != nil {
		r.buf, err = dec.DecryptRTP(r.buf[:0], buf, nil)
	}
	plain := r.buf
	r.mu.Unlock()
	if dec == nil || to == nil || err != nil || len(plain) < 12 {
		return
	}
	to.mu.Lock()
	defer to.mu.Unlock()
	if to.enc == nil {
		return
	}
	plain[8], plain[9], plain[10], plain[11] = 0xB1, 0xD6, 0xE0, 0x01 // bridgeAudioSSRC
	out, err := to.enc.EncryptRTP(to.w.Buffer(), plain, nil)
	if err != nil {
		return
	}
	to.w.Commit(out)
	if to.w.Flush() == nil {
		to.sent++
	}
}

func (r *relay) HandleDataChannelOpen()                {}
func (r *relay) HandleDataChannelMessage([]byte, bool) {}
func (r *relay) HandleState(s State)                   { r.states <- s }

func waitRelaySecure(t *testing.T, r *relay) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case s := <-r.states:
			if s == StateSecure {
				return
			}
			if s == StateFailed {
				t.Fatal("transport failed")
			}
		case <-timeout:
			t.Fatal("transport not secure within 20 s")
		}
	}
}

// arrivals records when the receiving client got each forwarded packet.
type arrivals struct {
	mu sync.Mutex
	at []time.Time
}

func (a *arrivals) count(from, to time.Time) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, t := range a.at {
		if !t.Before(from) && t.Before(to) {
			n++
		}
	}
	return n
}

// pending says whether a datagram is queued on c, without waiting.
func pending(t *testing.T, c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	buf := make([]byte, 1)
	if err := rc.Read(func(fd uintptr) bool {
		n, _, _ = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT|unix.MSG_PEEK)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestManyAddressSTUNFloodLeavesOtherPairAlone reproduces the many-address attack: an
// endpoint's holder sends authenticated binding requests (its own ufrag and password) from
// thousands of source addresses, next to a live pair of pion clients whose media the bridge
// forwards at 50 packets/s. The pair's rate must stay within 10 % of what it was before, and
// the bridge must answer or check none of the addresses it refused.
func TestManyAddressSTUNFloodLeavesOtherPairAlone(t *testing.T) {
	if testing.Short() {
		t.Skip("opens thousands of sockets")
	}
	const (
		attackAddrs = 6000 // distinct authenticated source addresses
		badAddrs    = 200  // sources whose requests fail integrity
		rate        = 50   // packets/s of the live pair
		window      = time.Second
		windows     = 4
	)
	m := listenLoopback(t)

	// The live pair: A's client sends, the bridge forwards to B's client.
	ra, rb := newRelay(), newRelay()
	ra.to = rb
	tra, err := m.NewTransport(Options{ICEControlling: true}, ra)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tra.Close() })
	trb, err := m.NewTransport(Options{ICEControlling: true}, rb)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { trb.Close() })
	rb.w = trb.NewBatchWriter()
	ca, da := newClient(t, tra.LocalDescription(), clientOptions{dataProtos: []string{}})
	cb, db := newClient(t, trb.LocalDescription(), clientOptions{dataProtos: []string{}})
	if err := tra.SetRemoteDescription(da); err != nil {
		t.Fatal(err)
	}
	if err := trb.SetRemoteDescription(db); err != nil {
		t.Fatal(err)
	}
	waitRelaySecure(t, ra)
	waitRelaySecure(t, rb)

	// The attacker's own endpoint: its ICE agent runs, as after a normal join.
	trx, err := m.NewTransport(Options{ICEControlling: true}, newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { trx.Close() })
	xd := trx.LocalDescription()
	if err := trx.SetRemoteDescription(Description{Ufrag: "attacker", Pwd: "attacker-password-attacker",
		Fingerprints: []Fingerprint{{Hash: "sha-256", Value: xd.Fingerprints[0].Value, Setup: "active"}}}); err != nil {
		t.Fatal(err)
	}

	got, sent := &arrivals{}, &arrivals{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // B's client: note each forwarded packet's arrival
		defer wg.Done()
		for {
			select {
			case <-cb.remote:
				now := time.Now()
				got.mu.Lock()
				got.at = append(got.at, now)
				got.mu.Unlock()
			case <-stop:
				return
			}
		}
	}()
	go func() { // A's client: 50 packets/s
		defer wg.Done()
		tick := time.NewTicker(time.Second / rate)
		defer tick.Stop()
		for seq := uint16(1); ; seq++ {
			select {
			case <-tick.C:
				now := time.Now()
				sent.mu.Lock()
				sent.at = append(sent.at, now)
				sent.mu.Unlock()
				_ = ca.track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, Timestamp: uint32(seq) * 960}, Payload: make([]byte, 100)})
			case <-stop:
				return
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	deadline := time.Now().Add(10 * time.Second)
	for got.count(time.Time{}, time.Now()) < rate/2 {
		if time.Now().After(deadline) {
			t.Fatal("the pair forwards nothing")
		}
		time.Sleep(20 * time.Millisecond)
	}
	baseStart := time.Now()
	time.Sleep(windows * window)
	baseline := got.count(baseStart, baseStart.Add(windows*window))
	if baseline < windows*rate/2 {
		t.Fatalf("baseline: %d packets in %v, want about %d", baseline, windows*window, windows*rate)
	}

	// The attack sockets stay open until the end, so that whatever the bridge sends to them
	// (responses, connectivity checks) is still queued there.
	socks := make([]*net.UDPConn, 0, attackAddrs+badAddrs)
	defer func() {
		for _, c := range socks {
			c.Close()
		}
	}()
	for i := range attackAddrs + badAddrs {
		// Distinct ports on 127.0.0.1 and distinct addresses in 127.0.0.0/8.
		ip := net.IPv4(127, 0, byte(1+i%8), byte(1+i/8%250))
		if i%2 == 0 {
			ip = net.IPv4(127, 0, 0, 1)
		}
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip})
		if err != nil {
			t.Fatalf("attack socket %d: %v", i, err)
		}
		socks = append(socks, c)
	}
	to := net.UDPAddrFromAddrPort(m.LocalAddr())
	request := func(pwd string) []byte {
		msg, err := stun.Build(stun.BindingRequest, stun.TransactionID, stun.NewUsername(xd.Ufrag+":attacker"),
			stun.NewShortTermIntegrity(pwd), stun.Fingerprint)
		if err != nil {
			t.Fatal(err)
		}
		return msg.Raw
	}
	good := make([][]byte, attackAddrs)
	for i := range good {
		good[i] = request(xd.Pwd)
	}
	bad := request("not-the-password-of-anyone")

	cpu0 := cpuTime()
	attackStart := time.Now()
	for i, c := range socks {
		b := bad
		if i < attackAddrs {
			b = good[i]
		}
		if _, err := c.WriteToUDP(b, to); err != nil {
			t.Fatalf("attack send %d: %v", i, err)
		}
	}
	sendTime := time.Since(attackStart)
	time.Sleep(windows * window)
	cpu := cpuTime() - cpu0

	// What B's client got by the end of each second is compared with what A's client had sent
	// 100 ms earlier (forwarding takes well under that on loopback), so that a machine busy
	// with other work, which delays the client as much as the bridge, does not count as a
	// stall; a stall of the bridge holds packets back and shows.
	const latency = 100 * time.Millisecond
	for i := range windows {
		from := attackStart.Add(time.Duration(i) * window)
		n, m := got.count(from, from.Add(window)), sent.count(from, from.Add(window))
		end := from.Add(window)
		fwd, want := got.count(attackStart, end), sent.count(attackStart, end.Add(-latency))
		t.Logf("second %d of the attack: %d packets forwarded, %d sent (baseline %d/s); so far %d forwarded of %d sent",
			i+1, n, m, baseline/windows, fwd, want)
		if fwd*10 < want*9 {
			t.Errorf("by second %d of the attack: %d packets forwarded of %d sent: the pair slowed by more than 10 %%", i+1, fwd, want)
		}
	}
	t.Logf("%d authenticated + %d bad requests sent in %v; process CPU over the %v after: %v",
		attackAddrs, badAddrs, sendTime.Round(time.Millisecond), windows*window, cpu.Round(time.Millisecond))
	if cpu > windows*window*3/4 {
		t.Errorf("process used %v of CPU in %v after the attack: more than 0.75 core", cpu, windows*window)
	}

	// Nothing goes to the sources the bridge refused or never authenticated.
	answered := 0
	for i, c := range socks {
		if pending(t, c) {
			if i >= attackAddrs {
				t.Errorf("the bridge sent to %v, whose request failed integrity", c.LocalAddr())
			}
			answered++
		}
	}
	st := m.Stats()
	t.Logf("sources answered or checked: %d of %d; stats: address limit %d, rate limited %d, bad integrity %d, checks refused %d",
		answered, attackAddrs, st.DroppedAddrRefused, st.DroppedSTUNRateLimited, st.DroppedBadIntegrity, st.RefusedChecks)
	if answered > MaxRemoteAddrs {
		t.Errorf("the bridge answered or checked %d attack sources, want at most %d (MaxRemoteAddrs)", answered, MaxRemoteAddrs)
	}
	if st.DroppedAddrRefused+st.DroppedSTUNRateLimited < attackAddrs-MaxRemoteAddrs {
		t.Errorf("refused requests counted: address limit %d + rate %d, want >= %d", st.DroppedAddrRefused, st.DroppedSTUNRateLimited, attackAddrs-MaxRemoteAddrs)
	}
	if st.DroppedBadIntegrity < badAddrs {
		t.Errorf("bad integrity counted %d, want >= %d", st.DroppedBadIntegrity, badAddrs)
	}
}
