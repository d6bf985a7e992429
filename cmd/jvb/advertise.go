package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"gojvb/cmd/jvb/internal/config"
	"gojvb/cmd/jvb/internal/health"
	"gojvb/cmd/jvb/internal/stunmap"
	"gojvb/sfu/transport"
)

// Timeouts of one round of address discovery. ice4j's harvest timeout is 15 s; a bridge should
// not wait that long at startup for a server that is not there.
const (
	stunTimeout    = 5 * time.Second
	resolveTimeout = 5 * time.Second
	// firstRetry is the first delay after a failed resolution or STUN discovery; it doubles
	// after each further failure up to the normal interval.
	firstRetry = 10 * time.Second
)

// addrSources are how the advertiser looks at the world; tests replace them.
type addrSources struct {
	resolve   func(ctx context.Context, host string) ([]netip.Addr, error)
	discover  func(ctx context.Context, servers []string) (netip.Addr, error)
	hostAddrs func() ([]netip.Addr, error)
}

func systemAddrSources() addrSources {
	return addrSources{
		resolve: func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		},
		discover:  stunmap.Discover,
		hostAddrs: health.InterfaceAddrs,
	}
}

// addrState is one snapshot of what the bridge announces and why. It is never changed once
// published.
type addrState struct {
	Announced  []transport.AdvertisedAddr
	Resolved   map[string][]netip.Addr // host name -> its last good answer
	ResolveErr map[string]error        // host name -> why its last resolution failed
	STUN       netip.Addr              // the address last found over STUN (kept through failures)
	STUNErr    error                   // why the last STUN discovery failed; nil when it worked
	STUNTried  bool
	Skipped    []string // configured mappings that do not apply on this host, and why
}

// advertiser keeps the set of public addresses announced as srflx candidates current:
// configured IP addresses, configured host names (resolved again every ResolveInterval) and
// the address found over STUN (asked again every STUNInterval, sooner after a failure). New
// endpoints get the set as it is when they are created; existing ones keep theirs.
type advertiser struct {
	configured []config.AdvertisedAddr
	servers    []string
	port       int // the bound UDP port, matched against a mapping's local-port
	every      struct{ resolve, stun time.Duration }
	src        addrSources
	log        *slog.Logger
	publish    func([]transport.AdvertisedAddr)

	state        atomic.Pointer[addrState]
	stunFailures atomic.Uint64
}

func newAdvertiser(cfg *config.Config, port int, src addrSources, publish func([]transport.AdvertisedAddr), log *slog.Logger) *advertiser {
	a := &advertiser{configured: cfg.Advertised, servers: cfg.STUNServers, port: port, src: src, log: log, publish: publish}
	a.every.resolve, a.every.stun = cfg.ResolveInterval, cfg.STUNInterval
	a.state.Store(&addrState{})
	return a
}

// current returns the latest snapshot.
func (a *advertiser) current() *addrState { return a.state.Load() }

// ips are the announced addresses, for the require-valid-address health check.
func (a *advertiser) ips() []netip.Addr {
	var out []netip.Addr
	for _, x := range a.current().Announced {
		out = append(out, x.IP)
	}
	return out
}

func (a *advertiser) hasHosts() bool {
	return slices.ContainsFunc(a.configured, func(x config.AdvertisedAddr) bool { return x.Host != "" })
}

// start resolves the host names and asks the STUN servers once, and publishes the result.
func (a *advertiser) start(ctx context.Context) {
	st := a.cloneState()
	a.resolveAll(ctx, st)
	if len(a.servers) > 0 {
		a.checkSTUN(ctx, st)
	}
	a.commit(st)
}

// run repeats resolution and STUN discovery until ctx ends, retrying sooner after failures.
func (a *advertiser) run(ctx context.Context) {
	never := make(<-chan time.Time)
	resolveC, stunC := never, never
	var resolveFails, stunFails int
	if a.hasHosts() && a.every.resolve > 0 {
		if len(a.current().ResolveErr) > 0 {
			resolveFails = 1
		}
		resolveC = time.After(nextWait(resolveFails, a.every.resolve))
	}
	if len(a.servers) > 0 && a.every.stun > 0 {
		if a.current().STUNErr != nil {
			stunFails = 1
		}
		stunC = time.After(nextWait(stunFails, a.every.stun))
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-resolveC:
			st := a.cloneState()
			resolveFails = countFailure(resolveFails, a.resolveAll(ctx, st))
			a.commit(st)
			resolveC = time.After(nextWait(resolveFails, a.every.resolve))
		case <-stunC:
			st := a.cloneState()
			stunFails = countFailure(stunFails, a.checkSTUN(ctx, st) != nil)
			a.commit(st)
			stunC = time.After(nextWait(stunFails, a.every.stun))
		}
	}
}

// countFailure counts consecutive failures (bounded: the wait stops growing long before).
func countFailure(n int, failed bool) int {
	if !failed {
		return 0
	}
	return min(n+1, 30)
}

// nextWait is the interval after a success; after n failures in a row, firstRetry doubled
// n-1 times, at most the interval.
func nextWait(failures int, interval time.Duration) time.Duration {
	if failures == 0 {
		return interval
	}
	return min(firstRetry<<(failures-1), interval)
}

func (a *advertiser) cloneState() *addrState {
	old := a.current()
	st := *old
	st.Resolved = maps.Clone(old.Resolved)
	st.ResolveErr = maps.Clone(old.ResolveErr)
	if st.Resolved == nil {
		st.Resolved = map[string][]netip.Addr{}
	}
	if st.ResolveErr == nil {
		st.ResolveErr = map[string]error{}
	}
	return &st
}

// resolveAll resolves every configured host name into st, logging when a name starts or stops
// failing or its addresses change. A failure keeps the name's last good answer.
func (a *advertiser) resolveAll(ctx context.Context, st *addrState) (failed bool) {
	seen := map[string]bool{}
	for _, c := range a.configured {
		if c.Host == "" || seen[c.Host] {
			continue
		}
		seen[c.Host] = true
		rctx, cancel := context.WithTimeout(ctx, resolveTimeout)
		ips, err := a.src.resolve(rctx, c.Host)
		cancel()
		if err == nil && len(ips) == 0 {
			err = errors.New("no addresses")
		}
		if err != nil {
			failed = true
			if st.ResolveErr[c.Host] == nil {
				a.log.Warn("cannot resolve an advertised host name: it is not announced until it resolves (the last answer is kept)",
					"host", c.Host, "err", err, "last", fmt.Sprint(st.Resolved[c.Host]))
			}
			st.ResolveErr[c.Host] = err
			continue
		}
		for i := range ips {
			ips[i] = ips[i].Unmap()
		}
		slices.SortFunc(ips, func(x, y netip.Addr) int { return x.Compare(y) })
		ips = slices.Compact(ips)
		if st.ResolveErr[c.Host] != nil || !slices.Equal(ips, st.Resolved[c.Host]) {
			a.log.Info("advertised host name resolved", "host", c.Host, "addrs", fmt.Sprint(ips))
		}
		delete(st.ResolveErr, c.Host)
		st.Resolved[c.Host] = ips
	}
	return failed
}

// checkSTUN asks the STUN servers once, logging when discovery starts or stops failing or
// finds another address. A failure keeps the address found before.
func (a *advertiser) checkSTUN(ctx context.Context, st *addrState) error {
	sctx, cancel := context.WithTimeout(ctx, stunTimeout)
	addr, err := a.src.discover(sctx, a.servers)
	cancel()
	first := !st.STUNTried
	st.STUNTried = true
	if err != nil {
		if ctx.Err() != nil {
			return err // shutting down: not a failure of the servers
		}
		a.stunFailures.Add(1)
		if first || st.STUNErr == nil {
			a.log.Warn("STUN address discovery failed: only the configured and host addresses are announced (set JVB_ADVERTISE_IPS, or JVB_DISABLE_STUN=1)",
				"servers", a.servers, "err", err, "kept", st.STUN.String())
		}
		st.STUNErr = err
		return err
	}
	if st.STUNErr != nil || addr != st.STUN {
		a.log.Info("STUN: public address found", "addr", addr.String(), "servers", a.servers)
	}
	st.STUNErr, st.STUN = nil, addr
	return nil
}

// commit computes what to announce from st and publishes it when it changed.
func (a *advertiser) commit(st *addrState) {
	host, err := a.src.hostAddrs()
	if err != nil {
		a.log.Debug("listing host addresses", "err", err)
	}
	st.Announced, st.Skipped = announced(a.configured, st.Resolved, st.STUN, host, a.port)
	old := a.state.Swap(st)
	if a.publish != nil && !slices.Equal(old.Announced, st.Announced) {
		a.publish(st.Announced)
	}
}

// announced is the set of srflx addresses: each configured address that applies on this host
// (ice4j: a mapping with a local-address applies only when the host has that address, and
// with a local-port only when the bridge binds that port), host names as last resolved, and the
// STUN address unless it is already there or is one of the host's own addresses (no NAT).
func announced(configured []config.AdvertisedAddr, resolved map[string][]netip.Addr, stun netip.Addr, host []netip.Addr, port int) ([]transport.AdvertisedAddr, []string) {
	var (
		out     []transport.AdvertisedAddr
		skipped []string
	)
	add := func(ip netip.Addr, p int) {
		x := transport.AdvertisedAddr{IP: ip.Unmap(), Port: p}
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	for _, c := range configured {
		switch {
		case c.Local.IsValid() && !slices.Contains(host, c.Local):
			skipped = append(skipped, fmt.Sprintf("%s: local-address %s is not an address of this host", c, c.Local))
			continue
		case c.LocalPort != 0 && c.LocalPort != port:
			skipped = append(skipped, fmt.Sprintf("%s: local-port %d is not the media port %d", c, c.LocalPort, port))
			continue
		}
		if c.Host == "" {
			add(c.IP, c.Port)
			continue
		}
		for _, ip := range resolved[c.Host] {
			add(ip, c.Port)
		}
	}
	if stun.IsValid() && !slices.Contains(host, stun) &&
		!slices.ContainsFunc(out, func(x transport.AdvertisedAddr) bool { return x.IP == stun }) {
		add(stun, 0)
	}
	return out, skipped
}
