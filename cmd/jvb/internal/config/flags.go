package config

import (
	"bytes"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
)

// flags are the few settings an operator types by hand.
type flags struct {
	set       map[string]bool
	config    string
	http      string
	port      string
	logFormat string
	logLevel  string
	pprof     bool
}

// Usage is the text printed for -h and for flag errors.
const Usage = `usage: jvb [flags]        run the bridge
       jvb healthcheck    exit 0 if the running bridge's /about/health says healthy
       jvb doctor         check XMPP, addresses, STUN, the UDP port and the clock; exit 0 if a meeting would work

flags override everything; files jvb.conf includes (custom-jvb.conf) override environment
variables, which override jvb.conf's own keys, as in the jitsi/jvb image:
  --config PATH        HOCON jvb.conf (also JVB_CONFIG); include "custom-jvb.conf" is honoured
  --http HOST:PORT     private HTTP server (default 127.0.0.1:8080)
  --port N             ICE UDP port (default 10000, also JVB_PORT)
  --log-format F       text (default) or json
  --log-level L        debug, info (default), warn or error
  --pprof              serve /debug/pprof on the private HTTP server
`

func parseFlags(args []string) (*flags, error) {
	f := &flags{set: map[string]bool{}}
	fs := flag.NewFlagSet("jvb", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	fs.Usage = func() { out.WriteString(Usage) }
	fs.StringVar(&f.config, "config", "", "")
	fs.StringVar(&f.http, "http", "", "")
	fs.StringVar(&f.port, "port", "", "")
	fs.StringVar(&f.logFormat, "log-format", "", "")
	fs.StringVar(&f.logLevel, "log-level", "", "")
	fs.BoolVar(&f.pprof, "pprof", false, "")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil, err
		}
		return nil, fmt.Errorf("config: %s\n%s", strings.TrimSpace(firstLine(out.String())), Usage)
	}
	if fs.NArg() > 0 {
		return nil, &Error{Source: "flag", Key: "argument", Value: fs.Arg(0), Expected: "no positional arguments (only the healthcheck and doctor subcommands)"}
	}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	return f, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func applyFlags(cfg *Config, f *flags) []error {
	var errs []error
	bad := func(key, v, want string) {
		errs = append(errs, &Error{Source: "flag", Key: "--" + key, Value: v, Expected: want})
	}
	if f.set["http"] {
		if _, p, err := net.SplitHostPort(f.http); err != nil || !validPort(p, true) {
			bad("http", f.http, "HOST:PORT such as 127.0.0.1:8080 or 0.0.0.0:8080")
		} else {
			cfg.HTTPAddr = f.http
		}
	}
	if f.set["port"] {
		n, err := strconv.Atoi(f.port)
		if err != nil || n < 0 || n > 65535 {
			bad("port", f.port, "a UDP port 0-65535")
		} else {
			cfg.Port = n
		}
	}
	if f.set["log-format"] {
		switch f.logFormat {
		case "text", "json":
			cfg.LogFormat = f.logFormat
		default:
			bad("log-format", f.logFormat, "text or json")
		}
	}
	if f.set["log-level"] {
		var l slog.Level
		if err := l.UnmarshalText([]byte(f.logLevel)); err != nil {
			bad("log-level", f.logLevel, "debug, info, warn or error")
		} else {
			cfg.LogLevel = l
		}
	}
	if f.set["pprof"] {
		cfg.Pprof = f.pprof
	}
	return errs
}

func validPort(s string, zeroOK bool) bool {
	n, err := strconv.Atoi(s)
	if err != nil || n > 65535 || n < 0 {
		return false
	}
	return zeroOK || n > 0
}
