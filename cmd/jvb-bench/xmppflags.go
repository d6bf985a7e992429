package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"gojvb/bench"
)

// xmppFlags are the --xmpp* flags: allocation over COLIBRI2 IQs through prosody.
type xmppFlags struct {
	on          bool
	compareREST bool
	cfg         bench.XMPPConfig
	set         map[string]bool // which --xmpp-* flags were given
}

func (x *xmppFlags) register(fs *flag.FlagSet) {
	x.cfg = bench.DefaultXMPPConfig()
	fs.BoolVar(&x.on, "xmpp", false, "")
	fs.BoolVar(&x.compareREST, "xmpp-compare-rest", false, "")
	fs.StringVar(&x.cfg.Server, "xmpp-server", "", "")
	fs.StringVar(&x.cfg.Domain, "xmpp-domain", x.cfg.Domain, "")
	fs.StringVar(&x.cfg.MUCDomain, "xmpp-muc-domain", x.cfg.MUCDomain, "")
	fs.StringVar(&x.cfg.Brewery, "xmpp-brewery", x.cfg.Brewery, "")
	fs.StringVar(&x.cfg.FocusUser, "xmpp-focus-user", x.cfg.FocusUser, "")
	fs.StringVar(&x.cfg.FocusPassword, "xmpp-focus-password", x.cfg.FocusPassword, "")
	fs.StringVar(&x.cfg.FocusNick, "xmpp-focus-nick", x.cfg.FocusNick, "")
	fs.StringVar(&x.cfg.JVBUser, "xmpp-jvb-user", x.cfg.JVBUser, "")
	fs.StringVar(&x.cfg.JVBPassword, "xmpp-jvb-password", x.cfg.JVBPassword, "")
	fs.StringVar(&x.cfg.BridgeNick, "xmpp-bridge-nick", "", "")
}

// check validates the flags after parsing; startBridge says whether jvb-bench starts the bridge.
func (x *xmppFlags) check(fs *flag.FlagSet, startBridge bool) error {
	x.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, "xmpp-") {
			x.set[f.Name] = true
		}
	})
	if !x.on {
		for name := range x.set {
			return fmt.Errorf("--%s needs --xmpp", name)
		}
		return nil
	}
	if x.cfg.Server != "" {
		host, port, err := net.SplitHostPort(x.cfg.Server)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || host == "" || n < 1 || n > 65535 {
			return fmt.Errorf("--xmpp-server %q: want HOST:PORT of prosody's c2s listener, like 127.0.0.1:5222", x.cfg.Server)
		}
	}
	if x.cfg.Server == "" {
		for _, name := range []string{"xmpp-domain", "xmpp-muc-domain", "xmpp-focus-user", "xmpp-focus-password", "xmpp-jvb-user", "xmpp-jvb-password"} {
			if x.set[name] {
				return fmt.Errorf("--%s describes a running prosody and needs --xmpp-server; the started one has docker-jitsi-meet's names and accounts", name)
			}
		}
	}
	if !startBridge && x.cfg.Server == "" {
		return errors.New("--xmpp with --bridge-url needs --xmpp-server: the running bridge must already be connected to that prosody")
	}
	for name, v := range map[string]string{
		"xmpp-domain": x.cfg.Domain, "xmpp-muc-domain": x.cfg.MUCDomain, "xmpp-brewery": x.cfg.Brewery,
		"xmpp-focus-user": x.cfg.FocusUser, "xmpp-focus-nick": x.cfg.FocusNick, "xmpp-jvb-user": x.cfg.JVBUser,
	} {
		if strings.TrimSpace(v) == "" || strings.ContainsAny(v, "@/ \t'\"<>&") {
			return fmt.Errorf("--%s %q: want a non-empty name without @, /, quotes or spaces", name, v)
		}
	}
	if x.cfg.Server != "" && !x.set["xmpp-focus-nick"] {
		// A running prosody may have the real jicofo in the brewery as focus with the same
		// account: the same nick would make one occupant of both.
		x.cfg.FocusNick = "focus-jvb-bench-" + strconv.Itoa(os.Getpid())
	}
	if startBridge && x.cfg.BridgeNick == "" {
		x.cfg.BridgeNick = "jvb-bench-" + strconv.Itoa(os.Getpid())
	}
	if x.cfg.BridgeNick == x.cfg.FocusNick {
		return fmt.Errorf("--xmpp-bridge-nick %q is the focus nick too; they must differ", x.cfg.BridgeNick)
	}
	return nil
}

// startProsody launches prosody unless --xmpp-server names one; stop undoes it.
func (x *xmppFlags) startProsody(ctx context.Context, stderr io.Writer) (stop func(), err error) {
	if !x.on || x.cfg.Server != "" {
		return func() {}, nil
	}
	dir, err := os.MkdirTemp("", "jvb-bench-prosody-")
	if err != nil {
		return nil, err
	}
	p, cfg, err := bench.LaunchProsody(ctx, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cfg.BridgeNick, cfg.FocusNick, cfg.Brewery = x.cfg.BridgeNick, x.cfg.FocusNick, x.cfg.Brewery
	x.cfg = cfg
	fmt.Fprintf(stderr, "prosody at %s (config and logs in %s while it runs)\n", p.Addr(), dir)
	return func() { p.Stop(); os.RemoveAll(dir) }, nil
}

// bridgeEnv is extra environment for a bridge jvb-bench starts.
func (x *xmppFlags) bridgeEnv() []string {
	if x.on && x.compareREST {
		return []string{"COLIBRI_REST_ENABLED=true"} // XMPP and REST both
	}
	return nil
}

// config is the XMPP configuration for bench.Options, nil without --xmpp.
func (x *xmppFlags) config() *bench.XMPPConfig {
	if !x.on {
		return nil
	}
	c := x.cfg
	return &c
}
