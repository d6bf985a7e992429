// Package health decides whether the bridge is healthy, for /about/health, the healthcheck IQ
// and the `healthy` stat: the UDP port is bound, the forwarding goroutines make progress, there
// is a valid address to announce when require-valid-address is on (as in JVB), and (when XMPP
// is configured) at least one brewery connection is up and no other session uses the bridge's
// brewery nickname.
//
// Checks read the bridge through small functions; this package must never import the media
// core or the control protocols.
package health

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Check is one named test. A Soft failure is reported as 503 (the bridge works but is
// degraded), a hard one as 500.
type Check struct {
	Name string
	Soft bool
	Run  func() error
}

// Failure is a failed check.
type Failure struct {
	Check string
	soft  bool
	Err   error
}

func (f *Failure) Error() string { return f.Check + ": " + f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }

// Soft reports whether the failure is soft (HTTP 503 rather than 500).
func (f *Failure) Soft() bool { return f.soft }

// Checker runs its checks at most once per ttl and remembers the result.
type Checker struct {
	checks []Check
	ttl    time.Duration
	now    func() time.Time
	log    *slog.Logger

	mu  sync.Mutex
	at  time.Time
	err error
	ran bool
}

// NewChecker returns a Checker; ttl 0 runs the checks on every call. It logs when the result
// changes (a warning with the reasons when health fails, info when it recovers), never in
// steady state.
func NewChecker(ttl time.Duration, log *slog.Logger, checks ...Check) *Checker {
	if log == nil {
		log = slog.Default()
	}
	return &Checker{checks: checks, ttl: ttl, now: time.Now, log: log}
}

// Check returns nil when every check passes, else the joined *Failure values (hard ones first).
func (c *Checker) Check() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.ran && now.Sub(c.at) < c.ttl {
		return c.err
	}
	var hard, soft []error
	for _, ch := range c.checks {
		if err := ch.Run(); err != nil {
			f := &Failure{Check: ch.Name, soft: ch.Soft, Err: err}
			if ch.Soft {
				soft = append(soft, f)
			} else {
				hard = append(hard, f)
			}
		}
	}
	err := errors.Join(append(hard, soft...)...)
	switch {
	case err != nil && (c.err == nil || err.Error() != c.err.Error()):
		c.log.Warn("unhealthy", "reason", err.Error())
	case err == nil && c.err != nil:
		c.log.Info("healthy again")
	}
	c.err = err
	c.at, c.ran = now, true
	return c.err
}

// Invalidate makes the next Check run the checks even within ttl. The XMPP client calls it
// when its connection state changes, so that the presence it sends right after re-joining the
// brewery carries health as it is now, not as it was while disconnected.
func (c *Checker) Invalidate() {
	c.mu.Lock()
	c.ran = false
	c.mu.Unlock()
}

// Healthy is Check() == nil.
func (c *Checker) Healthy() bool { return c.Check() == nil }

// UDPBound fails when the media port is not bound.
func UDPBound(addr func() netip.AddrPort) Check {
	return Check{Name: "udp", Run: func() error {
		a := addr()
		if !a.IsValid() || a.Port() == 0 {
			return errors.New("the media UDP port is not bound")
		}
		return nil
	}}
}

// Forwarding fails when the media core's goroutines stopped making progress (alive is
// (*sfu.Bridge).Alive: a socket reader or an endpoint's sender goroutine is stuck).
func Forwarding(alive func() error) Check {
	return Check{Name: "forwarding", Run: alive}
}

// InterfaceAddrs lists the host's unicast addresses.
func InterfaceAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("listing interface addresses: %w", err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr())
		}
	}
	return out, nil
}

// ValidAddress is JVB's health.require-valid-address check (JvbHealthChecker). With require
// off (the jitsi/jvb image's default) it never fails. With it on, it fails unless some host
// address or some advertised address (JVB: a mapping harvester's public address, i.e.
// JVB_ADVERTISE_IPS / static mappings, or one found over STUN) is valid in JVB's sense: not
// loopback, not link-local and not site-local (10/8, 172.16/12, 192.168/16, fec0::/10; IPv6
// ULAs and 100.64/10 do count, as in Java's InetAddress). The unspecified address and
// multicast addresses never count. advertised is read on every run.
func ValidAddress(advertised func() []netip.Addr, hostAddrs func() ([]netip.Addr, error), require bool) Check {
	return Check{Name: "address", Run: func() error {
		if !require {
			return nil
		}
		adv := advertised()
		for _, a := range adv {
			if ValidForJVB(a) {
				return nil
			}
		}
		host, err := hostAddrs()
		if err != nil {
			return err
		}
		for _, a := range host {
			if ValidForJVB(a) {
				return nil
			}
		}
		return fmt.Errorf("no valid (public) address among host addresses [%s] and advertised [%s] "+
			"(require-valid-address is on): set JVB_ADVERTISE_IPS to the public address, or JVB_REQUIRE_VALID_ADDRESS=false",
			join(host), join(adv))
	}}
}

// ValidForJVB is JvbHealthChecker's isValid: not site-local, link-local or loopback (nor,
// here, unspecified or multicast).
func ValidForJVB(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() || a.IsMulticast() {
		return false
	}
	for _, p := range siteLocal {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// siteLocal are the prefixes Java's InetAddress.isSiteLocalAddress covers.
var siteLocal = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("fec0::/10"),
}

func join(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// XMPP fails (soft) when connections are configured and none is connected: jicofo cannot reach
// the bridge. One shard down out of several is not a failure (restarting would hurt the others).
// problems, when it returns any, says why logins fail (e.g. a refused password).
func XMPP(status func() (configured, connected int), problems func() []string) Check {
	return Check{Name: "xmpp", Soft: true, Run: func() error {
		configured, connected := status()
		if configured > 0 && connected == 0 {
			if p := problems(); len(p) > 0 {
				return fmt.Errorf("none of %d XMPP connections is up: %s", configured, strings.Join(p, "; "))
			}
			return fmt.Errorf("none of %d XMPP connections is up", configured)
		}
		return nil
	}}
}

// XMPPNickname fails (soft) while another session uses the bridge's brewery nickname: the bridge
// stays out of that brewery, so jicofo does not see it there, but it works for everyone else.
func XMPPNickname(conflicts func() []string) Check {
	return Check{Name: "xmpp-nickname", Soft: true, Run: func() error {
		if c := conflicts(); len(c) > 0 {
			return errors.New(strings.Join(c, "; "))
		}
		return nil
	}}
}
