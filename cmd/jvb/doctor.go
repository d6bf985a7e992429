package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pion/stun/v4"

	"gojvb/cmd/jvb/internal/config"
	"gojvb/cmd/jvb/internal/health"
	"gojvb/cmd/jvb/internal/stunmap"
	"gojvb/xmppcomp"
)

// verdict grades one finding of `jvb doctor`.
type verdict int

const (
	pass verdict = iota
	info         // for the operator's information, never a problem
	warn         // some participants may have trouble; a meeting still works
	fail         // a meeting through this bridge would not work
)

func (v verdict) String() string {
	return [...]string{"[ OK ]", "[INFO]", "[WARN]", "[FAIL]"}[v]
}

type finding struct {
	v     verdict
	topic string
	text  string
}

// doctorDeps are what the checks look at; tests shorten the waits.
type doctorDeps struct {
	env         config.Env
	src         addrSources
	now         func() time.Time
	xmppTimeout time.Duration // for each connection to log in and join
	probeWait   time.Duration // for a datagram sent to the public address to come back
}

// doctor checks, with the configuration `jvb` would use now, whether a meeting through this
// bridge would work, and says why not in plain words. Exit code 0 only when it would.
func doctor(ctx context.Context, args []string, env config.Env, out io.Writer) int {
	return runDoctor(ctx, args, doctorDeps{env: env, src: systemAddrSources(), now: time.Now,
		xmppTimeout: 15 * time.Second, probeWait: 2 * time.Second}, out)
}

func runDoctor(ctx context.Context, args []string, d doctorDeps, out io.Writer) int {
	fmt.Fprintln(out, "jvb doctor: would a meeting through this bridge work, with the configuration jvb would use now?")
	cfg, err := config.Load(args, d.env)
	if err != nil {
		report(out, []finding{{fail, "configuration", "the bridge would refuse to start: " + err.Error()}})
		fmt.Fprintln(out, "\nResult: a meeting would NOT work: fix the configuration first.")
		return exitConfig
	}
	started, wallStart := time.Now(), d.now()
	var fs []finding
	src := "defaults"
	if cfg.ConfigFile != "" {
		src = cfg.ConfigFile + ", the environment and defaults"
	}
	fs = append(fs, finding{pass, "configuration", "valid (from " + src + "; the settings in effect are listed at the end)"})

	conn, udp := checkUDPPort(ctx, cfg)
	fs = append(fs, udp...)
	port := cfg.Port
	if conn != nil {
		defer conn.Close()
		port = conn.LocalAddr().(*net.UDPAddr).Port
	}
	adv := newAdvertiser(cfg, port, d.src, nil, slog.New(slog.DiscardHandler))
	adv.start(ctx)
	fs = append(fs, checkAddresses(cfg, adv.current(), d.src, port)...)
	fs = append(fs, checkReachability(ctx, cfg, adv.current(), conn, port, d.probeWait)...)
	fs = append(fs, checkTCPFallback(d.env))
	fs = append(fs, checkXMPP(ctx, cfg, d.xmppTimeout)...)
	fs = append(fs, checkClock(d.now(), wallStart, time.Since(started)))
	report(out, fs)

	fmt.Fprintln(out, "\nSettings in effect (value, where it came from, and the keys that set it):")
	for _, s := range cfg.Settings() {
		keys := ""
		if s.Keys != "" {
			keys = "  [" + s.Keys + "]"
		}
		fmt.Fprintf(out, "  %-34s = %-24s (%s)%s\n", s.Field, s.Value, s.Source, keys)
	}
	var problems []string
	for _, f := range fs {
		if f.v == fail {
			problems = append(problems, f.topic)
		}
	}
	if len(problems) > 0 {
		fmt.Fprintf(out, "\nResult: a meeting would NOT work: %d problem(s): %s.\n", len(problems), strings.Join(slices.Compact(problems), ", "))
		return exitFailed
	}
	fmt.Fprintln(out, "\nResult: a meeting through this bridge should work.")
	return exitOK
}

func report(out io.Writer, fs []finding) {
	for _, f := range fs {
		fmt.Fprintf(out, "%s %s: %s\n", f.v, f.topic, f.text)
	}
}

// checkUDPPort binds the media port as the bridge would. A port held by a bridge running
// here (its /about/health answers) is fine; the socket is then nil.
func checkUDPPort(ctx context.Context, cfg *config.Config) (*net.UDPConn, []finding) {
	const topic = "udp port"
	conn, err := net.ListenUDP("udp", &net.UDPAddr{Port: cfg.Port})
	if err == nil {
		p := conn.LocalAddr().(*net.UDPAddr).Port
		if cfg.Port == 0 {
			return conn, []finding{{warn, topic, fmt.Sprintf("JVB_PORT is 0: the bridge takes any free port (here %d), which clients can only reach without a firewall or NAT", p)}}
		}
		return conn, []finding{{pass, topic, fmt.Sprintf("UDP port %d can be bound on all interfaces", p)}}
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		return nil, []finding{{fail, topic, fmt.Sprintf("cannot bind UDP port %d: %v", cfg.Port, err)}}
	}
	hctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	url := "http://" + loopbackFor(cfg.HTTPAddr) + "/about/health"
	req, _ := http.NewRequestWithContext(hctx, http.MethodGet, url, nil)
	resp, herr := http.DefaultClient.Do(req)
	if herr != nil {
		return nil, []finding{{fail, topic, fmt.Sprintf("UDP port %d is in use by another program, and no bridge answers at %s: "+
			"stop that program or set JVB_PORT to a free port (and forward it)", cfg.Port, url)}}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	if resp.StatusCode != http.StatusOK {
		return nil, []finding{{fail, topic, fmt.Sprintf("UDP port %d is held by the bridge running here, which says it is unhealthy (%d: %s)",
			cfg.Port, resp.StatusCode, strings.TrimSpace(string(body)))}}
	}
	return nil, []finding{{pass, topic, fmt.Sprintf("UDP port %d is held by the bridge running here, which says it is healthy (checks that need the port are skipped)", cfg.Port)}}
}

// checkAddresses says what candidates would carry and whether any address looks public.
func checkAddresses(cfg *config.Config, st *addrState, src addrSources, port int) []finding {
	const topic = "addresses"
	var fs []finding
	for _, h := range slices.Sorted(maps.Keys(st.ResolveErr)) {
		fs = append(fs, finding{warn, topic, fmt.Sprintf("%s does not resolve (%v): it is not announced until it does", h, st.ResolveErr[h])})
	}
	for _, h := range slices.Sorted(maps.Keys(st.Resolved)) {
		fs = append(fs, finding{info, topic, fmt.Sprintf("%s resolves to %s", h, joinAddrs(st.Resolved[h]))})
	}
	for _, s := range st.Skipped {
		fs = append(fs, finding{warn, topic, "static mapping not applied, as in JVB: " + s})
	}
	switch {
	case len(cfg.STUNServers) == 0:
		fs = append(fs, finding{info, "stun", "STUN discovery is off (JVB_DISABLE_STUN, or no JVB_STUN_SERVERS): only the configured and host addresses are announced"})
	case st.STUNErr != nil:
		fs = append(fs, finding{warn, "stun", fmt.Sprintf("no answer from the STUN servers %s within %v (%v): behind NAT, set JVB_ADVERTISE_IPS to the public address",
			strings.Join(cfg.STUNServers, ", "), stunTimeout, st.STUNErr)})
	default:
		fs = append(fs, finding{pass, "stun", fmt.Sprintf("the STUN servers %s see this host as %s", strings.Join(cfg.STUNServers, ", "), st.STUN)})
	}

	host, _ := src.hostAddrs()
	var candidates []string
	public := false
	describe := func(a netip.Addr, p int, how string) {
		kind := "private: reachable only from the same network"
		switch {
		case looksPublic(a):
			kind, public = "looks public", true
		case cgnat.Contains(a):
			kind = "carrier-grade NAT range: not reachable from the internet"
		}
		candidates = append(candidates, fmt.Sprintf("%s (%s, %s)", netip.AddrPortFrom(a, uint16(p)), how, kind))
	}
	for _, a := range st.Announced {
		p := a.Port
		if p == 0 {
			p = port
		}
		describe(a.IP, p, "advertised")
	}
	for _, a := range host {
		// As the transport: private host addresses only with advertise-private-candidates.
		if a.IsLoopback() || a.IsLinkLocalUnicast() || (!cfg.AdvertisePrivateCandidates && a.IsPrivate()) {
			continue
		}
		describe(a, port, "host")
	}
	if len(candidates) == 0 {
		return append(fs, finding{fail, topic, "no address would be announced: set JVB_ADVERTISE_IPS to the address participants reach this host at"})
	}
	fs = append(fs, finding{info, topic, "candidates would carry: " + strings.Join(candidates, "; ")})
	if !public {
		fs = append(fs, finding{fail, topic, "only private addresses would be announced: participants outside this network cannot connect " +
			"(the \"works with 2, breaks with 3\" failure). Set JVB_ADVERTISE_IPS to the public address or a host name of it, or JVB_STUN_SERVERS so the bridge finds it"})
	} else {
		fs = append(fs, finding{pass, topic, "at least one announced address looks public"})
	}
	return fs
}

// checkReachability asks a STUN server from the media port itself (a NAT that does not keep
// the port breaks the candidates, which carry the bridge's own port) and sends a datagram to
// each public advertised address, which comes back to the media port when the router forwards
// it (and loops it back).
func checkReachability(ctx context.Context, cfg *config.Config, st *addrState, conn *net.UDPConn, port int, wait time.Duration) []finding {
	const topic = "reachability"
	if conn == nil {
		return []finding{{info, topic, "skipped: the media port is held by the running bridge"}}
	}
	var fs []finding
	if len(cfg.STUNServers) > 0 {
		sctx, cancel := context.WithTimeout(ctx, stunTimeout)
		mapped, err := stunmap.MapFrom(sctx, conn, cfg.STUNServers[0])
		cancel()
		switch {
		case err != nil:
			fs = append(fs, finding{info, topic, fmt.Sprintf("could not ask %s from the media port: %v", cfg.STUNServers[0], err)})
		case int(mapped.Port()) != port:
			fs = append(fs, finding{warn, topic, fmt.Sprintf("the NAT maps the media port %d to %s: candidates carry port %d, which reaches nothing there. "+
				"Forward UDP %d one to one, or set JVB_ADVERTISE_IPS=%s#%d", port, mapped, port, port, mapped.Addr(), mapped.Port())})
		default:
			fs = append(fs, finding{pass, topic, fmt.Sprintf("from the media port, %s sees %s: the port is kept", cfg.STUNServers[0], mapped)})
		}
	}
	for _, a := range st.Announced {
		if !looksPublic(a.IP) {
			continue
		}
		p := a.Port
		if p == 0 {
			p = port
		}
		dst := netip.AddrPortFrom(a.IP, uint16(p))
		if probeSelf(conn, dst, wait) {
			fs = append(fs, finding{pass, topic, fmt.Sprintf("a datagram sent to %s arrived on the media port: the address leads here", dst)})
		} else {
			fs = append(fs, finding{warn, topic, fmt.Sprintf("a datagram sent to %s did not come back to the media port within %v; many routers do not loop "+
				"traffic back to their own network, so check from outside (e.g. nc -u %s %d) that UDP %d is forwarded to this host", dst, wait, a.IP, p, p)})
		}
	}
	return fs
}

// probeSelf sends a STUN binding request to dst from another socket and reports whether conn
// (the media port) receives it.
func probeSelf(conn *net.UDPConn, dst netip.AddrPort, wait time.Duration) bool {
	from, err := net.ListenUDP("udp", nil)
	if err != nil {
		return false
	}
	defer from.Close()
	req, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if err != nil {
		return false
	}
	if _, err := from.WriteToUDPAddrPort(req.Raw, dst); err != nil {
		return false
	}
	deadline := time.Now().Add(wait)
	buf := make([]byte, 1500)
	for {
		if conn.SetReadDeadline(deadline) != nil {
			return false
		}
		n, _, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return false
		}
		var m stun.Message
		if stun.Decode(buf[:n], &m) == nil && m.TransactionID == req.TransactionID {
			return true
		}
	}
}

// checkTCPFallback reports ICE-TCP as the environment configures it (JVB_TCP_HARVESTER_DISABLED,
// JVB_TCP_PORT, as in the jitsi/jvb image); it never fails a meeting.
func checkTCPFallback(env config.Env) finding {
	const topic = "tcp fallback"
	disabled := true
	if v, ok := env("JVB_TCP_HARVESTER_DISABLED"); ok && strings.TrimSpace(v) != "" {
		if b, err := strconv.ParseBool(strings.TrimSpace(v)); err == nil {
			disabled = b
		}
	}
	if disabled {
		return finding{info, topic, "ICE-TCP is off (JVB_TCP_HARVESTER_DISABLED unset or true, as in jitsi/jvb): participants whose network blocks UDP " +
			"need a TURN server (e.g. coturn on 443) configured in Jitsi Meet"}
	}
	port := "4443"
	if v, ok := env("JVB_TCP_PORT"); ok && strings.TrimSpace(v) != "" {
		port = strings.TrimSpace(v)
	}
	return finding{info, topic, "ICE-TCP is requested (JVB_TCP_HARVESTER_DISABLED=false) on TCP port " + port + ": participants whose network blocks UDP can connect over TCP where that port is reachable"}
}

// checkXMPP logs in to each configured XMPP server and joins its brewery under a nickname of
// its own (so that a bridge running here keeps its occupant), announcing itself as shutting
// down so that jicofo never picks it, then leaves.
func checkXMPP(ctx context.Context, cfg *config.Config, timeout time.Duration) []finding {
	const topic = "xmpp"
	if len(cfg.XMPP) == 0 {
		return []finding{{warn, topic, cfg.XMPPOff + ": jicofo cannot use this bridge (only the standalone page works)"}}
	}
	xc := xmppcomp.Config{
		Servers: xmppServers(cfg), Version: version, Logger: slog.New(slog.DiscardHandler),
		Health: func() error { return errors.New("jvb doctor is not a bridge") },
		Stats: func() []xmppcomp.Stat {
			return []xmppcomp.Stat{{Name: "graceful_shutdown", Value: "true"}, {Name: "shutting_down", Value: "true"},
				{Name: "drain", Value: "true"}, {Name: "healthy", Value: "false"}}
		},
		PresenceInterval: time.Hour,
	}
	for i := range xc.Servers {
		xc.Servers[i].Nickname += "-doctor"
	}
	client, err := xmppcomp.New(xc)
	if err != nil {
		return []finding{{fail, topic, err.Error()}}
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = client.Run(rctx) }()
	settled := func(c xmppcomp.ConnectionStatus) bool {
		return (c.Connected && c.MUCsJoined == c.MUCsConfigured) || len(c.NicknameConflicts) > 0 || c.LoginProblem != ""
	}
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	for time.Now().Before(deadline) && !allOf(client.Status().Connections, settled) {
		<-tick.C
	}
	tick.Stop()
	st := client.Status()
	cancel()
	<-done // left the brewery and closed the stream
	var fs []finding
	for _, c := range st.Connections {
		i := slices.IndexFunc(cfg.XMPP, func(x config.XMPPClient) bool { return x.ID == c.ID })
		if i < 0 {
			continue
		}
		x := cfg.XMPP[i]
		where := fmt.Sprintf("%s (%s:%d, %s@%s)", c.ID, c.Host, c.Port, x.Username, x.Domain)
		switch {
		case c.Connected && c.MUCsJoined == c.MUCsConfigured:
			fs = append(fs, finding{pass, topic, fmt.Sprintf("%s: logged in and joined %s (as %s-doctor), then left", where, strings.Join(x.MUCJIDs, ", "), x.MUCNickname)})
		case len(c.NicknameConflicts) > 0:
			fs = append(fs, finding{fail, topic, where + ": " + strings.Join(c.NicknameConflicts, "; ")})
		case c.Connected:
			fs = append(fs, finding{fail, topic, fmt.Sprintf("%s: logged in, but joined %d of the brewery rooms %s within %v: check JVB_BREWERY_MUC and XMPP_INTERNAL_MUC_DOMAIN",
				where, c.MUCsJoined, strings.Join(x.MUCJIDs, ", "), timeout)})
		case c.LoginProblem != "":
			fs = append(fs, finding{fail, topic, where + ": " + c.LoginProblem})
		default:
			fs = append(fs, finding{fail, topic, fmt.Sprintf("%s: no login within %v: check XMPP_SERVER and that prosody listens there", where, timeout)})
		}
	}
	return fs
}

func allOf[T any](s []T, f func(T) bool) bool {
	for _, x := range s {
		if !f(x) {
			return false
		}
	}
	return true
}

// earliestSane is a date before which the clock is certainly wrong (before this code was written).
var earliestSane = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// checkClock looks at the wall clock: a date in the past breaks certificate checks and makes
// logs and stats timestamps lie; a jump during the checks means the clock is being stepped.
func checkClock(now, wallStart time.Time, monotonic time.Duration) finding {
	const topic = "clock"
	zone, _ := now.Zone()
	if now.Before(earliestSane) || now.Year() > 2200 {
		return finding{warn, topic, fmt.Sprintf("the clock says %s, which cannot be right: set it (NTP); XMPP TLS certificates and timestamps depend on it", now.UTC().Format(time.RFC3339))}
	}
	if jump := now.Round(0).Sub(wallStart.Round(0)) - monotonic; jump > time.Second || jump < -time.Second {
		return finding{warn, topic, fmt.Sprintf("the wall clock moved by %v more than the time that passed during the checks: it is being stepped (NTP?)", jump.Round(time.Millisecond))}
	}
	return finding{pass, topic, fmt.Sprintf("%s (time zone %s), steady during the checks", now.UTC().Format(time.RFC3339), zone)}
}

// cgnat is RFC 6598's shared address space, used behind carrier-grade NATs.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// looksPublic is stricter than JVB's require-valid-address rule (health.ValidForJVB), which
// also counts IPv6 unique local addresses and 100.64/10: an address a participant on the
// internet can reach.
func looksPublic(a netip.Addr) bool {
	return health.ValidForJVB(a) && !a.IsPrivate() && !cgnat.Contains(a)
}

func joinAddrs(a []netip.Addr) string {
	s := make([]string, len(a))
	for i, x := range a {
		s[i] = x.String()
	}
	return strings.Join(s, ", ")
}
