// Command jvb is a drop-in replacement for the Jitsi Videobridge: it reads the jitsi/jvb
// image's environment variables and jvb.conf, binds the media UDP port, joins the brewery MUC
// of each configured XMPP server and answers jicofo's COLIBRI2 requests, and serves the
// private HTTP API (health, version, metrics, stats, drain, shutdown, debug).
//
// `jvb healthcheck` asks a running bridge's /about/health and exits 0 when it is healthy
// (for container HEALTHCHECKs on images without curl). `jvb doctor` checks, with the same
// configuration, whether a meeting through this bridge would work and says why not.
//
// This package only wires the others together; the bridge's behaviour lives in sfu, colibri,
// xmppcomp and cmd/jvb/internal/*.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"gojvb/cmd/jvb/internal/config"
)

// version is set at build time: go build -ldflags "-X main.version=2.3.0-abc".
var version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "doctor" {
		os.Exit(doctor(context.Background(), os.Args[2:], os.LookupEnv, os.Stdout))
	}
	tuneGC(os.LookupEnv)
	os.Exit(run(os.Args[1:], os.LookupEnv, os.Stderr))
}

// Exit codes.
const (
	exitOK     = 0 // graceful shutdown finished, or healthy
	exitFailed = 1 // runtime failure (cannot bind, HTTP server died), or unhealthy
	exitConfig = 2 // bad configuration: the bridge refuses to start
)

func run(args []string, env config.Env, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(args[1:], env, stderr)
	}
	if len(args) > 0 && args[0] == "doctor" {
		return doctor(context.Background(), args[1:], env, stderr)
	}
	cfg, err := config.Load(args, env)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, config.Usage)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "jvb: refusing to start: %v\n", err)
		return exitConfig
	}
	log := newLogger(cfg, stderr)

	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	return runBridge(context.Background(), cfg, log, sig, nil)
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// healthcheck GETs /about/health of the bridge configured by the same flags, environment and
// jvb.conf, on the loopback address when it binds all interfaces.
func healthcheck(args []string, env config.Env, stderr io.Writer) int {
	cfg, err := config.Load(args, env)
	if err != nil {
		fmt.Fprintf(stderr, "jvb healthcheck: %v\n", err)
		return exitConfig
	}
	url := "http://" + loopbackFor(cfg.HTTPAddr) + "/about/health"
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintf(stderr, "jvb healthcheck: %v\n", err)
		return exitFailed
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "jvb healthcheck: %s: %d %s\n", url, resp.StatusCode, strings.TrimSpace(string(body)))
		return exitFailed
	}
	return exitOK
}

// loopbackFor turns a listen address into one to connect to.
func loopbackFor(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}
