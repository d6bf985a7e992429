// Package stunmap finds the bridge's public address the way ice4j's STUN mapping harvester
// does for JVB (ice4j.harvest.mapping.stun.addresses, JVB_STUN_SERVERS): a STUN binding
// request from a local UDP socket to each configured server; the XOR-MAPPED-ADDRESS's IP is
// the address to announce, with the bridge's own port (a 1:1 port mapping, as ice4j assumes).
//
// It only talks to STUN servers; it must never import the media core.
package stunmap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/pion/stun/v4"
)

// retransmit is the interval between binding requests to a server that has not answered.
const retransmit = 500 * time.Millisecond

// Discover asks servers ("host:port", tried at once) for this host's mapped address and returns
// the first answer. It fails when none answers before ctx ends.
func Discover(ctx context.Context, servers []string) (netip.Addr, error) {
	if len(servers) == 0 {
		return netip.Addr{}, errors.New("stun: no servers configured")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		addr netip.Addr
		err  error
	}
	results := make(chan result, len(servers))
	for _, s := range servers {
		go func() {
			a, err := ask(ctx, s)
			results <- result{a, err}
		}()
	}
	// Every goroutine has ended when Discover returns: the first answer cancels the others.
	var (
		found netip.Addr
		errs  []error
	)
	for range servers {
		r := <-results
		switch {
		case r.err == nil && !found.IsValid():
			found = r.addr
			cancel()
		case r.err != nil:
			errs = append(errs, r.err)
		}
	}
	if found.IsValid() {
		return found, nil
	}
	return netip.Addr{}, errors.Join(errs...)
}

// ask sends binding requests to server from a fresh socket until it answers or ctx ends.
func ask(ctx context.Context, server string) (netip.Addr, error) {
	conn, err := net.ListenUDP("udp", nil)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("stun: local socket for %s: %w", server, err)
	}
	defer conn.Close()
	a, err := MapFrom(ctx, conn, server)
	return a.Addr(), err
}

// MapFrom asks server, from conn, for the address and port conn is mapped to (jvb doctor
// asks from the media port itself: a NAT that changes the port breaks the candidates, which
// announce the bridge's own port). It sets and leaves read deadlines on conn.
func MapFrom(ctx context.Context, conn *net.UDPConn, server string) (netip.AddrPort, error) {
	raddr, err := (&net.Resolver{}).LookupNetIP(ctx, "ip", hostOf(server))
	if err != nil || len(raddr) == 0 {
		return netip.AddrPort{}, fmt.Errorf("stun: resolving %s: %w", server, err)
	}
	port, err := net.LookupPort("udp", portOf(server))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("stun: port of %s: %w", server, err)
	}
	dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(raddr[0].Unmap(), uint16(port)))
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	req, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("stun: building a request: %w", err)
	}
	buf := make([]byte, 1500)
	for {
		if _, err := conn.WriteToUDP(req.Raw, dst); err != nil {
			return netip.AddrPort{}, fmt.Errorf("stun: sending to %s: %w", server, err)
		}
		if err := conn.SetReadDeadline(time.Now().Add(retransmit)); err != nil {
			return netip.AddrPort{}, fmt.Errorf("stun: %w", err)
		}
		if ctx.Err() != nil {
			return netip.AddrPort{}, fmt.Errorf("stun: no answer from %s: %w", server, ctx.Err())
		}
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				if ctx.Err() != nil {
					return netip.AddrPort{}, fmt.Errorf("stun: no answer from %s: %w", server, ctx.Err())
				}
				break // retransmit
			}
			if from.Addr().Unmap() != dst.AddrPort().Addr() {
				continue
			}
			if a, ok := mapped(buf[:n], req.TransactionID); ok {
				return a, nil
			}
		}
	}
}

// mapped returns the XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS) of a success response to the
// transaction id; anything else is ignored.
func mapped(b []byte, id [stun.TransactionIDSize]byte) (netip.AddrPort, bool) {
	if !stun.IsMessage(b) {
		return netip.AddrPort{}, false
	}
	var m stun.Message
	if err := stun.Decode(b, &m); err != nil || m.Type != stun.BindingSuccess || m.TransactionID != id {
		return netip.AddrPort{}, false
	}
	var xor stun.XORMappedAddress
	if err := xor.GetFrom(&m); err == nil {
		if a, ok := netip.AddrFromSlice(xor.IP); ok {
			return netip.AddrPortFrom(a.Unmap(), uint16(xor.Port)), true
		}
	}
	var plain stun.MappedAddress
	if err := plain.GetFrom(&m); err == nil {
		if a, ok := netip.AddrFromSlice(plain.IP); ok {
			return netip.AddrPortFrom(a.Unmap(), uint16(plain.Port)), true
		}
	}
	return netip.AddrPort{}, false
}

func hostOf(server string) string {
	if h, _, err := net.SplitHostPort(server); err == nil {
		return h
	}
	return strings.Trim(server, "[]")
}

func portOf(server string) string {
	if _, p, err := net.SplitHostPort(server); err == nil {
		return p
	}
	return "3478"
}
