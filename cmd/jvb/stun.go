package main

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"gojvb/cmd/jvb/internal/config"
	"gojvb/cmd/jvb/internal/stunmap"
)

// stunTimeout bounds the startup discovery (ice4j's harvest timeout is 15 s; a bridge should
// not wait that long for a server that is not there).
const stunTimeout = 5 * time.Second

// discoverPublicAddress asks the configured STUN servers for the host's public address and
// adds it to cfg.Advertised (with the media port), unless it is already advertised or is one of
// the host's own addresses (no NAT). It reports whether discovery failed; the bridge starts
// either way, with what it has.
func discoverPublicAddress(ctx context.Context, cfg *config.Config, hostAddrs func() ([]netip.Addr, error), log *slog.Logger) (failed bool) {
	if len(cfg.STUNServers) == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, stunTimeout)
	defer cancel()
	addr, err := stunmap.Discover(ctx, cfg.STUNServers)
	if err != nil {
		log.Warn("STUN address discovery failed: only the configured and host addresses are announced (set JVB_ADVERTISE_IPS, or JVB_DISABLE_STUN=1)",
			"servers", cfg.STUNServers, "err", err)
		return true
	}
	for _, a := range cfg.Advertised {
		if a.IP == addr {
			log.Info("STUN: public address already advertised", "addr", addr.String())
			return false
		}
	}
	if host, err := hostAddrs(); err == nil && slices.Contains(host, addr) {
		log.Info("STUN: the public address is the host's own (no NAT)", "addr", addr.String())
		return false
	}
	cfg.Advertised = append(cfg.Advertised, config.AdvertisedAddr{IP: addr})
	log.Info("STUN: public address found", "addr", addr.String(), "servers", cfg.STUNServers)
	return false
}
