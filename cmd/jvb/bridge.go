package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"gojvb/bwe"
	"gojvb/cmd/jvb/internal/config"
	"gojvb/cmd/jvb/internal/health"
	"gojvb/cmd/jvb/internal/httpapi"
	"gojvb/cmd/jvb/internal/shutdown"
	"gojvb/cmd/jvb/internal/standalone"
	"gojvb/cmd/jvb/internal/stats"
	"gojvb/colibri"
	"gojvb/sfu"
	"gojvb/sfu/transport"
	"gojvb/xmppcomp"
)

// averageParticipantStress is what jicofo adds per recently added endpoint
// (videobridge.load-management.average-participant-stress).
const averageParticipantStress = 0.01

// started is called once the private HTTP server listens (tests use it to find the port).
type started func(httpAddr net.Addr, b *sfu.Bridge)

// runBridge runs the bridge until its shutdown finishes (exit 0), a signal forces an exit, or
// a component fails (exit 1). Every goroutine it starts has ended when it returns.
func runBridge(parent context.Context, cfg *config.Config, log *slog.Logger, sig <-chan os.Signal, onStart started) int {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()

	alloc := allocationConfig(cfg.Allocation)
	relay := relaySettings(cfg.Relay, log)
	allocator := allocatorConfig(cfg.Allocation)
	b, err := sfu.New(sfu.Config{Transport: transportConfig(cfg, log), Logger: log,
		Allocation: &alloc, Allocator: &allocator, SSRCLimitAudio: cfg.Allocation.SSRCLimitAudio,
		RelayID: relay.RelayID, HandOffSends: !cfg.SendInline})
	if err != nil {
		log.Error("cannot start the media core", "err", err)
		return exitFailed
	}
	defer b.Close()
	// The advertised addresses are in place before anything can create an endpoint.
	adv := newAdvertiser(cfg, int(b.LocalAddr().Port()), systemAddrSources(), b.SetAdvertised, log)
	adv.start(ctx)

	// xc is set (when XMPP is configured) before any goroutine that announces starts.
	var xc *xmppcomp.Client
	announce := func() {
		if xc != nil {
			xc.SetPresenceNow()
		}
	}
	mgr := shutdown.New(shutdown.Config{
		MaxDuration:       cfg.Shutdown.MaxDuration,
		MinParticipants:   cfg.Shutdown.MinParticipants,
		ShuttingDownDelay: cfg.Shutdown.ShuttingDownDelay,
	}, cfg.InitialDrain, log, func(shutdown.State) { announce() })

	wsURLs := webSocketURLs(cfg, log)
	col, err := colibri.NewHandler(colibri.Config{
		Bridge:           colibri.NewSFUBridge(b),
		GracefulShutdown: func() bool { return !mgr.AcceptsConferences() },
		DisableSCTP:      !cfg.SCTP,
		Logger:           log,
		Caps: colibri.Caps{MaxConferences: cfg.Limits.MaxConferences, MaxEndpoints: cfg.Limits.MaxEndpoints,
			MaxEndpointsPerConference: cfg.Limits.MaxEndpointsPerConference},
		WebSockets: wsURLs,
		Relays:     relay.Enabled,
	})
	if err != nil {
		log.Error("cannot start the COLIBRI2 handler", "err", err)
		return exitFailed
	}
	defer col.Close()

	var wg sync.WaitGroup
	defer wg.Wait() // runs before the deferred Close calls above
	defer cancel()

	// XMPP, health and stats refer to each other through these closures.
	xmppStatus := func() stats.XMPPStatus {
		if xc == nil {
			return stats.XMPPStatus{}
		}
		st := xc.Status()
		return stats.XMPPStatus{ClientsConfigured: st.MUCClientsConfigured, ClientsConnected: st.MUCClientsConnected,
			MUCsConfigured: st.MUCsConfigured, MUCsJoined: st.MUCsJoined, Disconnects: st.Disconnects}
	}
	checks := []health.Check{
		health.UDPBound(b.LocalAddr),
		health.Forwarding(b.Alive),
		addressCheck(adv, cfg.RequireValidAddress),
	}
	if len(cfg.XMPP) > 0 {
		connections := func() []xmppcomp.ConnectionStatus {
			if xc == nil { // not created yet
				return nil
			}
			return xc.Status().Connections
		}
		loginProblems := func() (out []string) {
			for _, c := range connections() {
				if !c.Connected && c.LoginProblem != "" {
					out = append(out, c.ID+": "+c.LoginProblem)
				}
			}
			return out
		}
		nicknameConflicts := func() (out []string) {
			for _, c := range connections() {
				for _, n := range c.NicknameConflicts {
					out = append(out, c.ID+": "+n)
				}
			}
			return out
		}
		checks = append(checks, health.XMPP(func() (int, int) {
			st := xmppStatus()
			return st.ClientsConfigured, st.ClientsConnected
		}, loginProblems), health.XMPPNickname(nicknameConflicts))
	}
	checker := health.NewChecker(time.Second, log, checks...)
	flags := func() stats.Flags {
		st := mgr.State()
		return stats.Flags{
			GracefulShutdown: st >= shutdown.GracefulShutdown,
			ShuttingDown:     st >= shutdown.ShuttingDown,
			Drain:            mgr.Drain(),
			Healthy:          checker.Healthy(),
		}
	}
	// relay_id and region only with relays enabled: jicofo spans a conference over bridges that
	// all announce a relay_id (spec §1.5).
	info := stats.Info{Version: version, Release: cfg.Release, Region: relay.Region, RelayID: relay.RelayID,
		AverageParticipantStress: averageParticipantStress, Started: time.Now()}
	sampler := stats.NewSampler(stats.Sources{Bridge: b.Stats, Flags: flags, XMPP: xmppStatus}, info, time.Now())
	// Presence and /colibri/stats: the last interval's numbers with the flags as they are now.
	current := func() stats.Report {
		r := sampler.Last()
		r.Flags, r.XMPP, r.Time = flags(), xmppStatus(), time.Now()
		return r
	}

	if len(cfg.XMPP) > 0 {
		xc, err = xmppcomp.New(xmppConfig(cfg, col, checker, current, log))
		if err != nil {
			log.Error("bad XMPP configuration", "err", err)
			return exitConfig
		}
	}

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		log.Error("cannot listen for the private HTTP server", "addr", cfg.HTTPAddr, "err", err)
		return exitFailed
	}
	// Without XMPP the private server also offers the standalone page and focus, so two
	// browsers can meet through this bridge with nothing else installed.
	var page http.Handler
	if len(cfg.XMPP) == 0 {
		sa, err := standalone.New(standalone.Config{Modifier: col, Logger: log, AllowedHosts: cfg.StandaloneHosts})
		if err != nil {
			log.Error("cannot start the standalone page", "err", err)
			return exitFailed
		}
		defer sa.Close()
		page = sa
	}
	reg := stats.NewRegistry(sampler)
	var httpConns httpapi.ConnStats
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: stats.Namespace + "_http_connections_refused_total",
			Help: "Private HTTP connections closed on accept: too many open (in all or from one address)."},
			func() float64 { return float64(httpConns.Refused.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: stats.Namespace + "_http_accept_errors_total",
			Help: "Failed accepts on the private HTTP port (e.g. out of file descriptors)."},
			func() float64 { return float64(httpConns.AcceptErrors.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: stats.Namespace + "_stun_discovery_failures_total",
			Help: "Public address discoveries over STUN (JVB_STUN_SERVERS), at startup and on each re-check, that got no answer."},
			func() float64 { return float64(adv.stunFailures.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: stats.Namespace + "_stun_discovery_failing",
			Help: "1 while the last STUN discovery got no answer (the address found before, if any, is still announced)."},
			func() float64 { return b2f(adv.current().STUNErr != nil) }))
	for _, c := range []struct {
		limit string
		value func(colibri.CapRefusals) uint64
	}{
		{"conferences", func(r colibri.CapRefusals) uint64 { return r.Conferences }},
		{"endpoints", func(r colibri.CapRefusals) uint64 { return r.Endpoints }},
		{"endpoints_per_conference", func(r colibri.CapRefusals) uint64 { return r.EndpointsPerConference }},
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: stats.Namespace + "_colibri_cap_refusals_total",
			Help: "COLIBRI2 creates refused by a cap (videobridge.limits.*), by cap.", ConstLabels: prometheus.Labels{"limit": c.limit}},
			func() float64 { return float64(c.value(col.CapRefusals())) }))
	}
	startShutdown := func(graceful bool) {
		now := time.Now()
		mgr.Initiate(graceful, now)
		mgr.Step(now, localEndpoints(b))
	}
	handler := httpapi.NewHandler(httpapi.Deps{
		Version: version,
		Gates: httpapi.Gates{Colibri: cfg.REST.Colibri, Shutdown: cfg.REST.Shutdown, Debug: cfg.REST.Debug,
			Drain: cfg.REST.Drain, Health: cfg.REST.Health, Prometheus: cfg.REST.Prometheus,
			Version: cfg.REST.Version, Pprof: cfg.Pprof},
		Health:   checker.Check,
		Stats:    func() []byte { return current().JSON() },
		Metrics:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}),
		Drain:    announcingDrain{mgr, announce},
		Shutdown: startShutdown,
		Debug:    debugDump(b),
		Colibri:  col.RESTHandler(),
		Fallback: page,
		Log:      log,
	})

	fatal := make(chan error, 3)
	wg.Go(func() {
		if err := httpapi.Serve(ctx, ln, handler, log, httpapi.Limits{}, &httpConns); err != nil {
			fatal <- err
		}
	})
	if cfg.WebSockets.Enabled && cfg.PublicHTTPAddr != "" {
		// The public server carries only the colibri WebSockets (videobridge.http-servers.public).
		pub, err := net.Listen("tcp", cfg.PublicHTTPAddr)
		if err != nil {
			log.Error("cannot listen for the public HTTP server (colibri websockets)", "addr", cfg.PublicHTTPAddr, "err", err)
			return exitFailed
		}
		wss := webSocketServer(cfg, wsURLs.ServerID, b, log)
		defer wss.Close() // before cancel: ends the WebSockets, which the HTTP server no longer tracks
		wg.Go(func() {
			// One WebSocket per endpoint, usually all through one proxy address: the private
			// server's per-address bound would cap a bridge behind a proxy at 64 endpoints.
			lim := httpapi.Limits{MaxConns: colibri.DefaultMaxEndpoints, MaxConnsPerIP: colibri.DefaultMaxEndpoints}
			if err := httpapi.Serve(ctx, pub, wss, log, lim, nil); err != nil {
				fatal <- err
			}
		})
		log.Info("colibri websockets", "public_http", pub.Addr().String(), "server_id", wsURLs.ServerID,
			"domains", wsURLs.Domains, "tls", wsURLs.TLS)
	}
	wg.Go(func() {
		if err := col.RunExpiry(ctx, colibri.ExpiryConfig{InactivityTimeout: cfg.EntityExpiration}); err != nil && !errors.Is(err, context.Canceled) {
			fatal <- fmt.Errorf("colibri expiry: %w", err)
		}
	})
	wg.Go(func() { sampler.Run(ctx, cfg.StatsInterval, nil) })
	wg.Go(func() { adv.run(ctx) })
	wg.Go(func() { mgr.Run(ctx, time.Second, func() int { return localEndpoints(b) }) })
	if xc != nil {
		wg.Go(func() { _ = xc.Run(ctx) })
	}

	logStartup(log, cfg, b.LocalAddr(), ln.Addr())
	if onStart != nil {
		onStart(ln.Addr(), b)
	}

	for {
		select {
		case s := <-sig:
			if s == syscall.SIGTERM && mgr.State() == shutdown.Running {
				log.Info("SIGTERM: starting graceful shutdown (send SIGTERM again or SIGINT to exit now)")
				startShutdown(true)
				continue
			}
			log.Info("exiting now", "signal", s.String())
			mgr.Exit(time.Now())
		case <-mgr.Stopped():
			log.Info("shutdown complete", "endpoints_left", localEndpoints(b))
			return exitOK
		case err := <-fatal:
			log.Error("bridge failed", "err", err)
			return exitFailed
		}
	}
}

// announcingDrain republishes presence whenever drain changes, so jicofo sees it at once.
type announcingDrain struct {
	*shutdown.Manager
	announce func()
}

func (d announcingDrain) SetDrain(on bool) {
	d.Manager.SetDrain(on)
	d.announce()
}

func b2f(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

func localEndpoints(b *sfu.Bridge) int {
	n := 0
	for _, c := range b.Conferences() {
		n += c.EndpointCount()
	}
	return n
}

func transportConfig(cfg *config.Config, log *slog.Logger) transport.Config {
	// The advertised addresses come later, from the advertiser (they may need DNS and STUN).
	tc := transport.Config{Port: cfg.Port, AdvertisePrivate: cfg.AdvertisePrivateCandidates, NoGSO: !cfg.UDPGSO, Logger: log}
	if t := cfg.ICETCP; t.Enabled {
		tc.TCP = transport.TCPConfig{Enabled: true, Port: t.Port, MappedPort: t.MappedPort}
		if t.Port == 0 { // JVB: 443 where the host allows it, else 4443
			tc.TCP.Port, tc.TCP.FallbackPort = 443, 4443
		}
	}
	return tc
}

// allocationConfig maps videobridge.cc.* and ssrc-limit.video onto the media core's receiver
// defaults (ssrc-limit.audio goes to sfu.Config directly).
func allocationConfig(a config.Allocation) bwe.Config {
	return bwe.Config{
		InitialLastN:              a.InitialLastN,
		JVBLastN:                  a.JVBLastN,
		SSRCLimitVideo:            a.SSRCLimitVideo,
		DefaultMaxHeight:          a.DefaultMaxHeight,
		InitialMaxHeight:          a.InitialMaxHeight,
		OnstagePreferredHeight:    a.OnstagePreferredHeight,
		OnstagePreferredFramerate: a.OnstagePreferredFramerate,
	}
}

// allocatorConfig maps the allocator's videobridge.cc.* keys onto bwe's allocator (its Config
// part comes from allocationConfig); our hysteresis keeps its defaults.
func allocatorConfig(a config.Allocation) bwe.AllocatorConfig {
	c := bwe.DefaultAllocatorConfig()
	c.Config = allocationConfig(a)
	c.BWEChangeThreshold = a.BWEChangeThreshold
	c.MaxTimeBetweenCalculations = a.MaxTimeBetweenCalculations
	c.AllowOversendOnstage = a.AllowOversendOnstage
	c.MaxOversendBitrate = a.MaxOversendBitrate
	c.DistrustBWE = !a.TrustBWE
	return c
}

// addressCheck is JVB's require-valid-address check over the addresses announced now; when it
// fails while STUN discovery is failing, it says so too.
func addressCheck(adv *advertiser, require bool) health.Check {
	c := health.ValidAddress(adv.ips, adv.src.hostAddrs, require)
	run := c.Run
	c.Run = func() error {
		err := run()
		if st := adv.current(); err != nil && st.STUNErr != nil {
			return fmt.Errorf("%w; STUN discovery failed: %v", err, st.STUNErr)
		}
		return err
	}
	return c
}

func xmppConfig(cfg *config.Config, col *colibri.Handler, checker *health.Checker, current func() stats.Report, log *slog.Logger) xmppcomp.Config {
	xcfg := xmppcomp.Config{
		Version: version,
		Stats: func() []xmppcomp.Stat {
			st := current().Presence()
			out := make([]xmppcomp.Stat, len(st))
			for i, s := range st {
				out[i] = xmppcomp.Stat{Name: s.Name, Value: s.Value}
			}
			return out
		},
		Health: checker.Check,
		// Health depends on the XMPP state: re-evaluate it when that changes, before the first
		// presence after a (re)join is built.
		StateChanged:     checker.Invalidate,
		Colibri:          col,
		PresenceInterval: cfg.PresenceInterval,
		Logger:           log,
	}
	xcfg.Servers = xmppServers(cfg)
	return xcfg
}

// xmppServers are the configured XMPP connections.
func xmppServers(cfg *config.Config) []xmppcomp.ServerConfig {
	var out []xmppcomp.ServerConfig
	for _, x := range cfg.XMPP {
		mode, _ := xmppcomp.ParseSecurityMode(x.SecurityMode) // validated by config.Load
		out = append(out, xmppcomp.ServerConfig{
			ID: x.ID, Host: x.Hostname, Port: x.Port, Domain: x.Domain, Username: x.Username,
			Password: x.Password, MUCJIDs: x.MUCJIDs, Nickname: x.MUCNickname,
			DisableCertificateVerification: x.DisableCertificateVerification, SecurityMode: mode,
		})
	}
	return out
}

// logStartup says, once, what the bridge is doing and what was ignored.
func logStartup(log *slog.Logger, cfg *config.Config, udp netip.AddrPort, httpAddr net.Addr) {
	attrs := []any{"version", version, "udp", udp.String(), "http", httpAddr.String()}
	if cfg.ConfigFile != "" {
		attrs = append(attrs, "config", cfg.ConfigFile)
	}
	if len(cfg.Advertised) > 0 {
		attrs = append(attrs, "advertised", fmt.Sprint(cfg.Advertised))
	}
	attrs = append(attrs, "colibri_rest", cfg.REST.Colibri, "shutdown_rest", cfg.REST.Colibri && cfg.REST.Shutdown)
	if cfg.InstanceID != "" {
		attrs = append(attrs, "instance_id", cfg.InstanceID)
	}
	log.Info("bridge started", attrs...)
	for _, x := range cfg.XMPP {
		log.Info("XMPP connection configured", "xmpp", x)
	}
	if len(cfg.XMPP) == 0 {
		log.Info(cfg.XMPPOff + " (optionally XMPP_AUTH_DOMAIN, XMPP_INTERNAL_MUC_DOMAIN, JVB_BREWERY_MUC, or videobridge.apis.xmpp-client.configs in jvb.conf); until then jicofo cannot use this bridge")
		log.Info("standalone mode: open http://"+loopbackFor(httpAddr.String())+"/ in two browser tabs to meet through this bridge", "colibri_rest", cfg.REST.Colibri)
	}
	if len(cfg.Ignored) > 0 {
		log.Info("settings accepted for compatibility but without effect", "settings", cfg.Ignored)
	}
}

// relaySettings is what the bridge announces and accepts of videobridge.relay.*: nothing
// unless enabled. Enabled without a relay id, the bridge accepts relay requests but announces
// no relay_id, so jicofo never asks it for one (JVB refuses to start instead).
func relaySettings(r config.Relay, log *slog.Logger) config.Relay {
	if !r.Enabled {
		return config.Relay{}
	}
	if r.RelayID == "" {
		log.Warn("relays enabled without a relay id (JVB_OCTO_RELAY_ID, JVB_OCTO_BIND_ADDRESS or videobridge.relay.relay-id): " +
			"jicofo will not span conferences over this bridge")
	} else {
		log.Info("relays (Octo) enabled", "relay_id", r.RelayID, "region", r.Region)
	}
	return r
}
