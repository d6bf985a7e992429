package prosodytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// Process is a prosody started by Launch: the same provisioning as Start, but owned by its
// caller instead of a test, for tools such as jvb-bench.
type Process struct {
	Dir  string // configuration, certificates, data and logs
	Host string // loopback address of the c2s listener
	Port int    // c2s port
	cmd  *exec.Cmd
	done chan struct{}
}

// Addr is host:port of the c2s listener.
func (p *Process) Addr() string { return net.JoinHostPort(p.Host, strconv.Itoa(p.Port)) }

// Launch provisions prosody in dir (created if missing) exactly like Start — the
// auth.meet.jitsi host, the internal-muc.meet.jitsi brewery component, users jvb and focus — on
// a free loopback port, starts it and waits until it listens. The caller must call Stop.
func Launch(ctx context.Context, dir string, opts Options) (*Process, error) {
	for _, bin := range []string{"prosody", "prosodyctl", "openssl"} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("%s not installed (apt-get install -y prosody openssl): %w", bin, err)
		}
	}
	for _, d := range []string{"data", "certs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("prosody directory: %w", err)
		}
	}
	conf := filepath.Join(dir, "prosody.cfg.lua")
	p := &Process{Dir: dir, Host: "127.0.0.1"}
	// The port is free when freeTCPPort returns but is only taken when prosody binds it; a
	// connection made meanwhile (by another test) can get it as its source port. Then prosody
	// runs without a listener: try again on another port.
	for attempt := 1; ; attempt++ {
		port, err := pickPort()
		if err != nil {
			return nil, err
		}
		p.Port = port
		var cfg bytes.Buffer
		err = template.Must(template.New("cfg").Parse(configTemplate)).Execute(&cfg, map[string]any{
			"Dir": dir, "Port": port, "RequireTLS": !opts.PlaintextAllowed, "StanzaLimit": opts.StanzaSizeLimit,
		})
		if err != nil {
			return nil, fmt.Errorf("prosody config: %w", err)
		}
		if err := os.WriteFile(conf, cfg.Bytes(), 0o600); err != nil {
			return nil, fmt.Errorf("prosody config: %w", err)
		}
		if attempt == 1 {
			if err := provision(ctx, dir, conf); err != nil {
				return nil, err
			}
		}
		err = p.start(ctx, conf)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, errPortInUse) || attempt == 3 {
			return nil, err
		}
	}
}

// provision creates the TLS certificate and the jvb and focus accounts.
func provision(ctx context.Context, dir, conf string) error {
	steps := [][]string{
		{"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
			"-subj", "/CN=" + Domain, "-addext", "subjectAltName=DNS:" + Domain + ",DNS:" + MUCDomain,
			"-keyout", filepath.Join(dir, "certs", Domain+".key"), "-out", filepath.Join(dir, "certs", Domain+".crt")},
		{"prosodyctl", "--config", conf, "register", JVBUser, Domain, JVBPassword},
		{"prosodyctl", "--config", conf, "register", FocusUser, Domain, FocusPassword},
	}
	for _, s := range steps {
		if out, err := exec.CommandContext(ctx, s[0], s[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(s, " "), err, bytes.TrimSpace(out))
		}
	}
	return nil
}

// errPortInUse: prosody started but could not listen on its c2s port.
var errPortInUse = errors.New("prosody's c2s port is in use")

// portInUse reports whether prosody logged, after offset bytes of its log, that it could not
// open a server port.
func (p *Process) portInUse(offset int64) bool {
	data, err := os.ReadFile(filepath.Join(p.Dir, "prosody.log"))
	if err != nil || int64(len(data)) <= offset {
		return false
	}
	return bytes.Contains(data[offset:], []byte("Failed to open server port"))
}

func (p *Process) logSize() int64 {
	fi, err := os.Stat(filepath.Join(p.Dir, "prosody.log"))
	if err != nil {
		return 0
	}
	return fi.Size()
}

// pickPort chooses the c2s port; a variable so that a test can hand out a taken one.
var pickPort = freeTCPPort

func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port for prosody: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (p *Process) start(ctx context.Context, conf string) error {
	out, err := os.OpenFile(filepath.Join(p.Dir, "prosody.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("prosody output: %w", err)
	}
	logStart := p.logSize()
	cmd := exec.Command("prosody", "--config", conf, "-F")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = dieWithParent()
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start prosody: %w", err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); out.Close(); close(p.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if p.portInUse(logStart) {
			p.Stop()
			return fmt.Errorf("%w: %s", errPortInUse, p.Addr())
		}
		select {
		case <-p.done:
			return fmt.Errorf("prosody exited during startup: %s", p.Logs())
		case <-ctx.Done():
			p.Stop()
			return fmt.Errorf("waiting for prosody on %s: %w", p.Addr(), ctx.Err())
		default:
		}
		if time.Now().After(deadline) {
			p.Stop()
			return errors.New("prosody not listening on " + p.Addr() + " after 10s: " + p.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills prosody and waits for it. Safe to call twice.
func (p *Process) Stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	p.cmd = nil
}

// Freeze stops prosody with SIGSTOP: its sockets stay open and the kernel still accepts
// connections, but nothing is answered, like a hung server. Thaw resumes it.
func (p *Process) Freeze() error { return p.signal(sigStop) }

// Thaw resumes a frozen prosody with SIGCONT.
func (p *Process) Thaw() error { return p.signal(sigCont) }

func (p *Process) signal(sig os.Signal) error {
	if sig == nil {
		return errors.New("stopping and resuming prosody is not supported on this platform")
	}
	if p.cmd == nil {
		return errors.New("prosody is not running")
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal prosody (%v): %w", sig, err)
	}
	return nil
}

// Logs returns prosody's log files, for error messages.
func (p *Process) Logs() string {
	var b strings.Builder
	for _, f := range []string{"prosody.log", "prosody.out"} {
		data, _ := os.ReadFile(filepath.Join(p.Dir, f))
		fmt.Fprintf(&b, "--- %s ---\n%s", f, data)
	}
	return b.String()
}
