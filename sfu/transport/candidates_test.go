package transport

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/ice/v4"
)

func hostCandidate(t *testing.T, ip string, port int) ice.Candidate {
	t.Helper()
	c, err := ice.NewCandidateHost(&ice.CandidateHostConfig{Network: "udp", Address: ip, Port: port, Component: 1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCandidatesFilterPrivateAndAddAdvertised(t *testing.T) {
	host := []ice.Candidate{hostCandidate(t, "10.1.2.3", 10000), hostCandidate(t, "203.0.113.7", 10000)}
	for _, tc := range []struct {
		name      string
		local     string
		private   bool
		wantHosts []string
	}{
		{"all interfaces, private advertised", "0.0.0.0:10000", true, []string{"10.1.2.3", "203.0.113.7"}},
		{"all interfaces, private hidden", "0.0.0.0:10000", false, []string{"203.0.113.7"}},
		{"explicit bind keeps its address", "10.1.2.3:10000", false, []string{"10.1.2.3", "203.0.113.7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local := netip.MustParseAddrPort(tc.local)
			m := &Mux{local: local, listen: []net.Addr{net.UDPAddrFromAddrPort(netip.MustParseAddrPort("10.1.2.3:10000"))},
				cfg: Config{AdvertisePrivate: tc.private, Advertised: []AdvertisedAddr{
					{IP: netip.MustParseAddr("198.51.100.1")},
					{IP: netip.MustParseAddr("198.51.100.2"), Port: 4443},
				}}}
			got := m.candidates(host)
			var hosts []string
			var srflx []Candidate
			for _, c := range got {
				if c.Type == "host" {
					hosts = append(hosts, c.IP)
				} else {
					srflx = append(srflx, c)
				}
			}
			if len(hosts) != len(tc.wantHosts) {
				t.Fatalf("hosts %v, want %v", hosts, tc.wantHosts)
			}
			for i := range hosts {
				if hosts[i] != tc.wantHosts[i] {
					t.Fatalf("hosts %v, want %v", hosts, tc.wantHosts)
				}
			}
			if len(srflx) != 2 {
				t.Fatalf("advertised candidates %+v, want 2", srflx)
			}
			if srflx[0].IP != "198.51.100.1" || srflx[0].Port != 10000 || srflx[0].Type != "srflx" ||
				srflx[0].RelAddr != "10.1.2.3" || srflx[0].RelPort != 10000 {
				t.Fatalf("advertised without port = %+v, want 198.51.100.1:10000 srflx raddr 10.1.2.3", srflx[0])
			}
			if srflx[1].IP != "198.51.100.2" || srflx[1].Port != 4443 {
				t.Fatalf("advertised with port = %+v, want 198.51.100.2:4443", srflx[1])
			}
			if srflx[0].Priority <= srflx[1].Priority || srflx[0].Priority >= got[0].Priority {
				t.Fatalf("priorities: srflx %d, %d; host %d", srflx[0].Priority, srflx[1].Priority, got[0].Priority)
			}
			for _, c := range got {
				if _, err := ice.UnmarshalCandidate(c.SDP()); err != nil {
					t.Fatalf("candidate %+v does not round-trip through pion: %v", c, err)
				}
			}
		})
	}
}

// TestIPv6SocketDemuxAndWrite checks the AF_INET6 sockaddr paths on ::1.
func TestIPv6SocketDemuxAndWrite(t *testing.T) {
	m, err := Listen(Config{BindAddr: netip.MustParseAddr("::1"), Readers: 2, Logger: quiet})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer m.Close()
	peer, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	for range 3 {
		if _, err := peer.WriteToUDPAddrPort([]byte{70, 1, 2}, m.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for m.Stats().DroppedGarbage < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st := m.Stats(); st.DroppedGarbage != 3 || st.PacketsReceived != 3 || st.BytesReceived != 9 {
		t.Fatalf("stats %+v, want 3 garbage datagrams of 3 bytes", st)
	}

	tr, err := m.NewTransport(Options{ICEControlling: true}, &nopHandler{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if c := tr.LocalDescription().Candidates; len(c) == 0 || c[0].IP != "::1" {
		t.Fatalf("candidates %+v, want host ::1", c)
	}
	to := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	tr.remoteAddr.Store(&to)
	w := tr.NewBatchWriter()
	w.Commit(append(w.Buffer(), rtpPacket...))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := peer.ReadFromUDPAddrPort(buf)
	if err != nil || n != len(rtpPacket) || from.Port() != m.LocalAddr().Port() {
		t.Fatalf("peer read %d bytes from %v (err %v)", n, from, err)
	}
}

type stateHandler struct {
	nopHandler
	states chan State
}

func (h *stateHandler) HandleState(s State) { h.states <- s }

func TestICEFailureFailsTheTransport(t *testing.T) {
	oldD, oldF := iceDisconnectedTimeout, iceFailedTimeout
	iceDisconnectedTimeout, iceFailedTimeout = 100*time.Millisecond, 200*time.Millisecond
	defer func() { iceDisconnectedTimeout, iceFailedTimeout = oldD, oldF }()
	m, err := Listen(Config{BindAddr: netip.MustParseAddr("127.0.0.1"), Readers: 1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	h := &stateHandler{states: make(chan State, 8)}
	tr, err := m.NewTransport(Options{ICEControlling: true}, h)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	// A peer that never answers: discard port 9 on loopback.
	if err := tr.SetRemoteDescription(Description{Ufrag: "peer", Pwd: "peer-password-peer-password",
		Candidates: []Candidate{{Foundation: "1", Component: 1, Protocol: "udp", Priority: 2130706431, IP: "127.0.0.1", Port: 9, Type: "host"}}}); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case s := <-h.states:
			if s == StateFailed {
				if tr.State() != StateFailed {
					t.Fatalf("State() = %v after HandleState(failed)", tr.State())
				}
				return
			}
			if s != StateChecking {
				t.Fatalf("unexpected state %v", s)
			}
		case <-timeout:
			t.Fatal("ICE never failed")
		}
	}
}
