// Command jvb-bench is the packet-forwarding load test for the bridge: it starts cmd/jvb (or
// targets a running bridge with --bridge-url), joins simulated ICE + DTLS-SRTP endpoints over
// REST COLIBRI2 or, with --xmpp, over COLIBRI2 IQs through prosody as jicofo does, and reports forwarding rates, loss, latency and the bridge's CPU and memory
// cost. All the logic is in package bench; this file only parses flags and prints.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gojvb/bench"
)

const usage = `usage: jvb-bench [flags]

Starts the bridge (go build ./cmd/jvb, or --bridge-bin) as a separate process, or targets a
running one with --bridge-url, and measures packet forwarding. Signalling is REST COLIBRI2
(the bridge needs COLIBRI_REST_ENABLED=true) or, with --xmpp, COLIBRI2 IQs through prosody.

bridge:
  --bridge-url URL       target a running bridge's private HTTP server (no exec)
  --bridge-pid N         with --bridge-url: read CPU/RSS from /proc/N instead of /metrics
  --bridge-bin PATH      bridge binary to exec (default: build ./cmd/jvb of this module)
  --bridge-arg ARG       extra flag for the started bridge (repeatable)
  --pprof-out FILE       start the bridge with --pprof and save its CPU profile of the window
  --bridges N            1 (default) or 2: start two bridges with relays on (ENABLE_OCTO, relay ids
                         bench-a and bench-b), put every other endpoint of each conference on the
                         second, link them with a relay per conference as jicofo does, and report
                         per bridge CPU, forwarded packets, packets over the relay and CPU-us per
                         packet (REST, one window; not with --bridge-url, --xmpp, --baseline, --sweep)
xmpp (allocate like jicofo: log in as focus, join the brewery, wait for the bridge's stats
presence, send pipelined conference-modify IQs to its occupant JID):
  --xmpp                      allocate over XMPP; starts prosody (like docker-jitsi-meet's) unless
                              --xmpp-server, and starts the bridge with XMPP_SERVER etc. pointing at it
                              and REST COLIBRI2 off
  --xmpp-brewery NAME         JVB_BREWERY_MUC (default jvbbrewery)
  --xmpp-server HOST:PORT     use this running prosody (needed with --bridge-url); with it only:
  --xmpp-domain D             XMPP_AUTH_DOMAIN (default auth.meet.jitsi)
  --xmpp-muc-domain D         XMPP_INTERNAL_MUC_DOMAIN (default internal-muc.meet.jitsi)
  --xmpp-focus-user U         account the load test logs in with (default focus)
  --xmpp-focus-password P     (default focuspass, what the started prosody registers)
  --xmpp-focus-nick N         nick in the brewery (default focus for the started prosody, else
                              focus-jvb-bench-PID: a real jicofo is "focus" with the same account)
  --xmpp-jvb-user U           JVB_AUTH_USER of a bridge jvb-bench starts (default jvb)
  --xmpp-jvb-password P       JVB_AUTH_PASSWORD of a bridge jvb-bench starts (default jvbpass)
  --xmpp-bridge-nick N        the bridge's nick in the brewery (default jvb-bench-PID for a started
                              bridge, else the first occupant publishing stats)
  --xmpp-compare-rest         after the run, join the same scenario over REST on the same bridge
                              and report both join times (a started bridge gets REST enabled too)
scenario:
  --preset NAME          start from a named meeting (meeting100, lecture); the flags below
                         override its values:
                           meeting100: 1 x 100 endpoints, 25 with camera and microphone
                             (3-layer simulcast), lastN 25 with 180p tiles, 5 receivers with the
                             first sender on stage at 720p, the speaker changing every 3 s,
                             transport-cc and NACK, relay mirroring the bridge's flow
                           lecture: 1 x 301, one sender on stage at 720p for 300 receivers
  --conferences N        conferences (default 1)
  --participants N       endpoints per conference (default 3)
  --senders N            sending endpoints per conference, the rest receive only (default all)
  --simulcast            3-layer VP8 simulcast (default true; false = one 720p stream)
  --last-n N             lastN (default -1 = unlimited)
  --max-height N         defaultConstraints.maxHeight on the bridge channel (default 180)
  --bridge-channel       open the SCTP data channel and send ReceiverVideoConstraints (default true)
  --remb BPS             REMB each receiver sends (default 10000000, 0 = none)
  --tcc                  negotiate transport-cc: tag packets, send feedback every 100 ms (default true)
  --keyframe-interval D  periodic keyframes besides PLI-triggered ones (default 5s, 0 = none)
  --duration D           measurement window (default 10s)
  --ramp-up D            spread joins over D (default 1s)
  --warmup D             wait after the joins before measuring (default 2s)
  --audio-senders N      endpoints sending audio, the first ones (default: the senders)
  --on-stage N           receive-only endpoints (the last) with the first sender on stage, -1 = all
  --on-stage-height N    their maxHeight for it (default 720)
  --speaker-interval D   one audio sender loud at a time, in turn, for D; the others silent
                         (default 0 = all at random speech levels)
  --nack                 receivers send NACKs for gaps (default false; presets: true)
  --sample-every N       receivers decrypt one packet in N per stream for latency and account
                         the rest from their clear RTP headers (default 64; 0 = decrypt all)
  --aligned-senders      every sender captures frames (and periodic keyframes) in step with the
                         others started with it: the worst-case burst (default false: each
                         sender at its own random phase, like independent cameras)
  --baseline             also run the same flow through a minimal in-process UDP relay
  --mirror-relay         the relay forwards each SSRC only where the bridge did (presets: true)
  --repeat N             N bridge windows, each followed by a relay window with --baseline, on
                         the same endpoints; reports the median ratio and its spread
  --resource-interval D  sample the bridge's goroutines, heap and open files this often during
                         the windows, for the growth report (default 30s); --duration 10m is
                         the no-growth run
  --loadgen-pprof-out F  save this load generator's own CPU profile of the whole run to F
output:
  --json                 print JSON on stdout instead of the table
  --sweep LIST           run increasing sizes CONFxPARTICIPANTS, e.g. 1x3,1x6,2x6,4x6
  --sweep-out PREFIX     with --sweep: write PREFIX.csv and PREFIX.svg (default jvb-bench-sweep)
  --log-level L          debug, info, warn (default) or error
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

type sweepSize struct{ conferences, participants int }

func parseSweep(s string) ([]sweepSize, error) {
	var out []sweepSize
	for _, part := range strings.Split(s, ",") {
		c, p, ok := strings.Cut(strings.TrimSpace(part), "x")
		ci, err1 := strconv.Atoi(c)
		pi, err2 := strconv.Atoi(p)
		if !ok || err1 != nil || err2 != nil || ci < 1 || pi < 2 {
			return nil, fmt.Errorf("--sweep %q: entry %q, want CONFERENCESxPARTICIPANTS like 2x5 (participants >= 2)", s, part)
		}
		out = append(out, sweepSize{ci, pi})
	}
	return out, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("jvb-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	sc := bench.DefaultScenario()
	preset := presetArg(args)
	if preset != "" {
		p, err := bench.Preset(preset)
		if err != nil {
			fmt.Fprintln(stderr, "jvb-bench: --preset:", err)
			return 2
		}
		sc = p
	}
	var (
		bridgeURL, bridgeBin, pprofOut, sweep, sweepOut, logLevel string
		bridgePID                                                 int
		bridgeArgs                                                multiFlag
		baseline, asJSON                                          bool
		remb                                                      uint64
	)
	fs.StringVar(&bridgeURL, "bridge-url", "", "")
	fs.IntVar(&bridgePID, "bridge-pid", 0, "")
	bridges := 1
	fs.IntVar(&bridges, "bridges", bridges, "")
	fs.StringVar(&bridgeBin, "bridge-bin", "", "")
	fs.Var(&bridgeArgs, "bridge-arg", "")
	fs.StringVar(&pprofOut, "pprof-out", "", "")
	var selfProf string
	fs.StringVar(&selfProf, "loadgen-pprof-out", "", "")
	fs.IntVar(&sc.Conferences, "conferences", sc.Conferences, "")
	fs.IntVar(&sc.Participants, "participants", sc.Participants, "")
	fs.IntVar(&sc.Senders, "senders", sc.Senders, "")
	fs.BoolVar(&sc.Simulcast, "simulcast", sc.Simulcast, "")
	fs.IntVar(&sc.LastN, "last-n", sc.LastN, "")
	fs.IntVar(&sc.MaxHeight, "max-height", sc.MaxHeight, "")
	fs.BoolVar(&sc.BridgeChannel, "bridge-channel", sc.BridgeChannel, "")
	fs.Uint64Var(&remb, "remb", sc.REMBBps, "")
	fs.BoolVar(&sc.TCC, "tcc", sc.TCC, "")
	fs.DurationVar(&sc.KeyframeInterval, "keyframe-interval", sc.KeyframeInterval, "")
	fs.DurationVar(&sc.Duration, "duration", sc.Duration, "")
	fs.DurationVar(&sc.RampUp, "ramp-up", sc.RampUp, "")
	fs.DurationVar(&sc.Warmup, "warmup", sc.Warmup, "")
	fs.BoolVar(&baseline, "baseline", false, "")
	fs.StringVar(&preset, "preset", preset, "")
	fs.IntVar(&sc.AudioSenders, "audio-senders", sc.AudioSenders, "")
	fs.IntVar(&sc.OnStageReceivers, "on-stage", sc.OnStageReceivers, "")
	if sc.OnStageHeight == 0 {
		sc.OnStageHeight = 720
	}
	fs.IntVar(&sc.OnStageHeight, "on-stage-height", sc.OnStageHeight, "")
	fs.DurationVar(&sc.SpeakerInterval, "speaker-interval", sc.SpeakerInterval, "")
	fs.BoolVar(&sc.NACK, "nack", sc.NACK, "")
	fs.IntVar(&sc.SampleEvery, "sample-every", sc.SampleEvery, "")
	fs.BoolVar(&sc.AlignedSenders, "aligned-senders", sc.AlignedSenders, "")
	fs.BoolVar(&sc.MirrorRelay, "mirror-relay", sc.MirrorRelay, "")
	fs.IntVar(&sc.Repeat, "repeat", sc.Repeat, "")
	fs.DurationVar(&sc.ResourceInterval, "resource-interval", sc.ResourceInterval, "")
	fs.BoolVar(&asJSON, "json", false, "")
	fs.StringVar(&sweep, "sweep", "", "")
	fs.StringVar(&sweepOut, "sweep-out", "jvb-bench-sweep", "")
	fs.StringVar(&logLevel, "log-level", "warn", "")
	var xf xmppFlags
	xf.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "jvb-bench: unexpected argument %q\n%s", fs.Arg(0), usage)
		return 2
	}
	sc.REMBBps = remb
	if selfProf != "" {
		f, err := os.Create(selfProf)
		if err != nil {
			fmt.Fprintln(stderr, "jvb-bench:", err)
			return 1
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			fmt.Fprintln(stderr, "jvb-bench: load generator profile:", err)
			return 1
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
		fmt.Fprintf(stderr, "jvb-bench: --log-level %q: want debug, info, warn or error\n", logLevel)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	sizes := []sweepSize{{sc.Conferences, sc.Participants}}
	if sweep != "" {
		var err error
		if sizes, err = parseSweep(sweep); err != nil {
			fmt.Fprintln(stderr, "jvb-bench:", err)
			return 2
		}
	}
	if bridgeURL != "" && (bridgeBin != "" || len(bridgeArgs) > 0) {
		fmt.Fprintln(stderr, "jvb-bench: --bridge-bin/--bridge-arg start a bridge; they cannot be combined with --bridge-url")
		return 2
	}
	if bridges != 1 && (bridges != 2 || bridgeURL != "" || xf.on || baseline || sweep != "" || sc.Repeat > 1 || pprofOut != "") {
		fmt.Fprintln(stderr, "jvb-bench: --bridges is 1 or 2; 2 starts both bridges and runs one REST window (no --bridge-url, --xmpp, --baseline, --sweep, --repeat, --pprof-out)")
		return 2
	}
	if bridgeURL == "" && bridgePID != 0 {
		fmt.Fprintln(stderr, "jvb-bench: --bridge-pid needs --bridge-url")
		return 2
	}
	if err := xf.check(fs, bridgeURL == ""); err != nil {
		fmt.Fprintln(stderr, "jvb-bench:", err)
		return 2
	}
	stopProsody, err := xf.startProsody(ctx, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "jvb-bench:", err)
		return 1
	}
	defer stopProsody()

	pid := bridgePID
	relayIDs := [2]string{"bench-a", "bench-b"}
	var second *bench.SecondBridge
	if bridgeURL == "" {
		bin := bridgeBin
		if bin == "" {
			dir, err := os.MkdirTemp("", "jvb-bench-")
			if err != nil {
				fmt.Fprintln(stderr, "jvb-bench:", err)
				return 1
			}
			defer os.RemoveAll(dir)
			root, err := moduleRoot(ctx)
			if err != nil {
				fmt.Fprintln(stderr, "jvb-bench:", err)
				return 1
			}
			fmt.Fprintln(stderr, "building ./cmd/jvb ...")
			if bin, err = bench.BuildBridge(ctx, root, dir); err != nil {
				fmt.Fprintln(stderr, "jvb-bench:", err)
				return 1
			}
		}
		cargs := []string(bridgeArgs)
		if pprofOut != "" {
			cargs = append(cargs, "--pprof")
		}
		env := xf.bridgeEnv()
		if bridges == 2 {
			env = append(env, "ENABLE_OCTO=1", "JVB_OCTO_RELAY_ID="+relayIDs[0])
		}
		bp, err := bench.StartBridge(ctx, bench.BridgeConfig{Binary: bin, Args: cargs, Logger: log, XMPP: xf.config(), Env: env})
		if err != nil {
			fmt.Fprintln(stderr, "jvb-bench:", err)
			return 1
		}
		defer bp.Stop()
		bridgeURL, pid = bp.URL, bp.PID()
		fmt.Fprintf(stderr, "bridge pid %d at %s\n", pid, bridgeURL)
		if bridges == 2 {
			bp2, err := bench.StartBridge(ctx, bench.BridgeConfig{Binary: bin, Args: cargs, Logger: log,
				Env: []string{"ENABLE_OCTO=1", "JVB_OCTO_RELAY_ID=" + relayIDs[1]}})
			if err != nil {
				fmt.Fprintln(stderr, "jvb-bench: second bridge:", err)
				return 1
			}
			defer bp2.Stop()
			second = &bench.SecondBridge{URL: bp2.URL, PID: bp2.PID(), RelayIDs: relayIDs}
			fmt.Fprintf(stderr, "second bridge pid %d at %s\n", bp2.PID(), bp2.URL)
		}
	}

	var results []*bench.Result
	var points []bench.SweepPoint
	failed := false
	for i, sz := range sizes {
		s := sc
		s.Conferences, s.Participants = sz.conferences, sz.participants
		opts := bench.Options{Scenario: s, BridgeURL: bridgeURL, BridgePID: pid, Baseline: baseline,
			XMPP: xf.config(), CompareREST: xf.compareREST, Progress: stderr, Logger: log, Second: second}
		var prof *os.File
		if pprofOut != "" && i == len(sizes)-1 {
			f, err := os.Create(pprofOut)
			if err != nil {
				fmt.Fprintln(stderr, "jvb-bench:", err)
				return 1
			}
			prof = f
			opts.CPUProfile = f
		}
		fmt.Fprintf(stderr, "running %dx%d for %v\n", s.Conferences, s.Participants, s.Duration)
		res, err := bench.Run(ctx, opts)
		if prof != nil {
			_ = prof.Close()
		}
		if err != nil {
			fmt.Fprintf(stderr, "jvb-bench: %dx%d: %v\n", s.Conferences, s.Participants, err)
			failed = true
			if res == nil || res.Joined == 0 {
				break
			}
		}
		results = append(results, res)
		points = append(points, bench.SweepPoint{Conferences: s.Conferences, Participants: s.Participants, R: res})
		if !asJSON {
			res.WriteTable(stdout)
			fmt.Fprintln(stdout)
		}
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		var v any = results
		if sweep == "" && len(results) == 1 {
			v = results[0]
		}
		if err := enc.Encode(v); err != nil {
			fmt.Fprintln(stderr, "jvb-bench:", err)
			return 1
		}
	}
	if sweep != "" && len(points) > 0 {
		if err := writeSweep(sweepOut, points); err != nil {
			fmt.Fprintln(stderr, "jvb-bench:", err)
			return 1
		}
		fmt.Fprintf(stderr, "wrote %s.csv and %s.svg\n", sweepOut, sweepOut)
	}
	if pprofOut != "" {
		fmt.Fprintf(stderr, "bridge CPU profile: %s (go tool pprof -top %s)\n", pprofOut, pprofOut)
	}
	if failed {
		return 1
	}
	return 0
}

// presetArg finds --preset's value before the flags are parsed, so that the preset's values
// become the other flags' defaults and explicit flags override them.
func presetArg(args []string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "preset" {
			continue
		}
		if hasVal {
			return val
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func writeSweep(prefix string, pts []bench.SweepPoint) error {
	for ext, write := range map[string]func(io.Writer, []bench.SweepPoint) error{
		".csv": bench.WriteSweepCSV, ".svg": bench.WriteSweepSVG,
	} {
		f, err := os.Create(prefix + ext)
		if err != nil {
			return err
		}
		if err := write(f, pts); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", prefix+ext, err)
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// moduleRoot is the directory of the go.mod governing the working directory.
func moduleRoot(ctx context.Context) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w (pass --bridge-bin)", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the gojvb module; pass --bridge-bin or --bridge-url")
	}
	return filepath.Dir(mod), nil
}
