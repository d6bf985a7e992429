package main

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gojvb/cmd/jvb/internal/config"
	"gojvb/sfu/transport"
)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// TestAnnouncedFollowsIce4jMappings: a mapping applies only on a host with its local-address
// and when the bridge binds its local-port; host names bring every address they resolve to;
// the STUN address joins unless it is already there or is the host's own.
func TestAnnouncedFollowsIce4jMappings(t *testing.T) {
	host := []netip.Addr{ip("127.0.0.1"), ip("10.0.0.2")}
	configured := []config.AdvertisedAddr{
		{IP: ip("203.0.113.7")},
		{Host: "jvb.example.org", Port: 443, Local: ip("10.0.0.2"), LocalPort: 10000},
		{IP: ip("198.51.100.1"), Local: ip("10.9.9.9")},               // another host's mapping
		{IP: ip("198.51.100.2"), Local: ip("10.0.0.2"), LocalPort: 9}, // another port
		{IP: ip("203.0.113.7")}, // twice
	}
	resolved := map[string][]netip.Addr{"jvb.example.org": {ip("192.0.2.1"), ip("2001:db8::1")}}
	got, skipped := announced(configured, resolved, ip("203.0.113.7"), host, 10000)
	want := []transport.AdvertisedAddr{{IP: ip("203.0.113.7")}, {IP: ip("192.0.2.1"), Port: 443}, {IP: ip("2001:db8::1"), Port: 443}}
	if !slices.Equal(got, want) {
		t.Fatalf("announced %v, want %v", got, want)
	}
	if len(skipped) != 2 {
		t.Fatalf("skipped %q", skipped)
	}
	if got, _ := announced(nil, nil, ip("10.0.0.2"), host, 10000); len(got) != 0 {
		t.Fatalf("the host's own address found over STUN announced: %v", got)
	}
	if got, _ := announced(nil, nil, ip("198.51.100.77"), host, 10000); !slices.Equal(got, []transport.AdvertisedAddr{{IP: ip("198.51.100.77")}}) {
		t.Fatalf("STUN address: %v", got)
	}
}

// fakeWorld answers the advertiser's questions from values a test changes.
type fakeWorld struct {
	mu      sync.Mutex
	names   map[string][]netip.Addr
	stun    netip.Addr
	stunErr error
}

func (w *fakeWorld) sources() addrSources {
	return addrSources{
		resolve: func(_ context.Context, h string) ([]netip.Addr, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			if a, ok := w.names[h]; ok {
				return slices.Clone(a), nil
			}
			return nil, errors.New("no such host")
		},
		discover: func(context.Context, []string) (netip.Addr, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			return w.stun, w.stunErr
		},
		hostAddrs: func() ([]netip.Addr, error) { return []netip.Addr{ip("127.0.0.1")}, nil },
	}
}

func (w *fakeWorld) set(f func(w *fakeWorld)) { w.mu.Lock(); f(w); w.mu.Unlock() }

// TestAdvertiserReresolvesAndRechecks: a host name is resolved again and a changed answer is
// published; a STUN failure keeps the address found before, is counted and logged once, and a
// new answer replaces the address.
func TestAdvertiserReresolvesAndRechecks(t *testing.T) {
	w := &fakeWorld{names: map[string][]netip.Addr{"jvb.example.org": {ip("192.0.2.1")}}, stun: ip("203.0.113.1")}
	cfg := config.Defaults()
	cfg.Advertised = []config.AdvertisedAddr{{Host: "jvb.example.org"}}
	cfg.STUNServers = []string{"stun.example.org:3478"}
	cfg.ResolveInterval, cfg.STUNInterval = 20*time.Millisecond, 20*time.Millisecond
	published := make(chan []transport.AdvertisedAddr, 100)
	logs := newSyncBuffer()
	a := newAdvertiser(cfg, 10000, w.sources(), func(x []transport.AdvertisedAddr) { published <- x }, slog.New(slog.NewTextHandler(logs, nil)))
	a.start(context.Background())
	want := []transport.AdvertisedAddr{{IP: ip("192.0.2.1")}, {IP: ip("203.0.113.1")}}
	if got := <-published; !slices.Equal(got, want) {
		t.Fatalf("start: %v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.run(ctx) }()
	defer func() { cancel(); <-done }()
	await := func(want []transport.AdvertisedAddr) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case got := <-published:
				if slices.Equal(got, want) {
					return
				}
			case <-deadline:
				t.Fatalf("never published %v; now %v", want, a.current().Announced)
			}
		}
	}
	w.set(func(w *fakeWorld) { w.names["jvb.example.org"] = []netip.Addr{ip("192.0.2.2")} })
	await([]transport.AdvertisedAddr{{IP: ip("192.0.2.2")}, {IP: ip("203.0.113.1")}})

	w.set(func(w *fakeWorld) { w.stunErr = errors.New("timeout") })
	deadline := time.Now().Add(10 * time.Second)
	for a.current().STUNErr == nil {
		if time.Now().After(deadline) {
			t.Fatal("STUN failure not noticed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := a.current(); a.stunFailures.Load() < 1 || !slices.Contains(st.Announced, transport.AdvertisedAddr{IP: ip("203.0.113.1")}) {
		t.Fatalf("during the failure: %+v", st)
	}
	w.set(func(w *fakeWorld) { w.stunErr, w.stun = nil, ip("203.0.113.9") })
	await([]transport.AdvertisedAddr{{IP: ip("192.0.2.2")}, {IP: ip("203.0.113.9")}})
	if n := strings.Count(logs.String(), "STUN address discovery failed"); n != 1 {
		t.Fatalf("failure logged %d times: %s", n, logs.String())
	}
}

// TestSTUNFailureFailsHealthOnlyWithRequireValidAddress: with only loopback on the host and
// STUN failing, health fails (naming STUN) when require-valid-address is on, and never when it
// is off; an address found before the failure still counts.
func TestSTUNFailureFailsHealthOnlyWithRequireValidAddress(t *testing.T) {
	w := &fakeWorld{stunErr: errors.New("no answer")}
	cfg := config.Defaults()
	cfg.STUNServers = []string{"stun.example.org:3478"}
	a := newAdvertiser(cfg, 10000, w.sources(), nil, slog.New(slog.DiscardHandler))
	a.start(context.Background())
	if err := addressCheck(a, false).Run(); err != nil {
		t.Fatalf("require-valid-address off: %v", err)
	}
	err := addressCheck(a, true).Run()
	if err == nil || !strings.Contains(err.Error(), "STUN discovery failed: no answer") {
		t.Fatalf("require-valid-address on: %v", err)
	}
	w.set(func(w *fakeWorld) { w.stunErr, w.stun = nil, ip("203.0.113.4") })
	st := a.cloneState()
	if a.checkSTUN(context.Background(), st) != nil {
		t.Fatal("STUN still failing")
	}
	a.commit(st)
	w.set(func(w *fakeWorld) { w.stunErr = errors.New("no answer") })
	st = a.cloneState()
	_ = a.checkSTUN(context.Background(), st)
	a.commit(st)
	if err := addressCheck(a, true).Run(); err != nil || a.current().STUNErr == nil {
		t.Fatalf("the address found before the failure must still count: %v", err)
	}
}

func TestRetryWaitsDoubleUpToTheInterval(t *testing.T) {
	n, got := 0, []time.Duration{}
	for _, failed := range []bool{true, true, true, true, true, true, false, true} {
		n = countFailure(n, failed)
		got = append(got, nextWait(n, time.Minute))
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute, time.Minute, time.Minute, 10 * time.Second}
	if !slices.Equal(got, want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
	if nextWait(30, 5*time.Minute) != 5*time.Minute || nextWait(1, time.Second) != time.Second {
		t.Fatal("bounds")
	}
}
