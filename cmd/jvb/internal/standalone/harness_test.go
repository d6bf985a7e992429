package standalone

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gojvb/colibri"
	"gojvb/sfu"
	"gojvb/sfu/transport"
)

// stack is an in-process bridge (sfu on 127.0.0.1), the COLIBRI2 handler and the standalone
// focus on an httptest server, torn down in the right order by t.Cleanup.
type stack struct {
	bridge *sfu.Bridge
	colib  *colibri.Handler
	focus  *Server
	http   *httptest.Server
}

func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("JVB_TEST_LOG") == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func startStack(t testing.TB, cfg Config) *stack {
	t.Helper()
	return startStackWith(t, cfg, nil)
}

// startStackWith lets a test wrap the COLIBRI2 handler the focus calls (to record requests).
func startStackWith(t testing.TB, cfg Config, wrap func(Modifier) Modifier) *stack {
	t.Helper()
	return startStackOn(t, cfg, wrap, transport.Config{})
}

// startStackOn is startStackWith with the bridge's transport configured by tc (on a free port,
// one reader, bound to tc.BindAddr or else 127.0.0.1).
func startStackOn(t testing.TB, cfg Config, wrap func(Modifier) Modifier, tc transport.Config) *stack {
	t.Helper()
	log := testLogger()
	tc.Port, tc.Readers, tc.Logger = 0, 1, log
	if !tc.BindAddr.IsValid() {
		tc.BindAddr = netip.MustParseAddr("127.0.0.1")
	}
	b, err := sfu.New(sfu.Config{Logger: log, Transport: tc})
	if err != nil {
		t.Fatalf("sfu.New: %v", err)
	}
	h, err := colibri.NewHandler(colibri.Config{Bridge: colibri.NewSFUBridge(b), Logger: log})
	if err != nil {
		_ = b.Close()
		t.Fatalf("colibri.NewHandler: %v", err)
	}
	cfg.Modifier, cfg.Logger = h, log
	if wrap != nil {
		cfg.Modifier = wrap(h)
	}
	f, err := New(cfg)
	if err != nil {
		_ = h.Close()
		_ = b.Close()
		t.Fatalf("standalone.New: %v", err)
	}
	st := &stack{bridge: b, colib: h, focus: f, http: httptest.NewServer(f)}
	t.Cleanup(func() {
		_ = st.focus.Close()
		st.http.Close()
		http.DefaultClient.CloseIdleConnections()
		_ = st.colib.Close()
		_ = st.bridge.Close()
	})
	return st
}

// endpoints returns the ids of the endpoints the bridge has for the room's conference.
func (st *stack) endpoints() map[string]bool {
	out := map[string]bool{}
	for _, c := range st.bridge.Conferences() {
		for _, e := range c.Endpoints() {
			out[e.ID()] = true
		}
	}
	return out
}

// chromiumPath finds Chromium: $JVB_TEST_CHROMIUM, then chromium / chromium-browser on PATH.
// Without it the test is skipped, except under CI=true where it fails.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("JVB_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium not found (set JVB_TEST_CHROMIUM or apt-get install chromium); required when CI=true")
	}
	t.Skip("Chromium not found; set JVB_TEST_CHROMIUM or apt-get install chromium")
	return ""
}

// browser is one headless Chromium with a fake camera and microphone, showing the page.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func startBrowser(t *testing.T, exe, url string) *browser {
	t.Helper()
	return startBrowserWith(t, exe, url)
}

// startBrowserWith is startBrowser with extra Chromium options.
func startBrowserWith(t *testing.T, exe, url string, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.UserDataDir(t.TempDir()),
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.WindowSize(1280, 800),
		chromedp.Flag("headless", "new"), chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.Flag("mute-audio", true),
		chromedp.Flag("use-fake-device-for-media-stream", true), chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("disable-renderer-backgrounding", true), chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	}
	opts = append(opts, extra...)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); acancel() })
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("chromium: open %s: %v", url, err)
	}
	return &browser{t: t, ctx: ctx}
}

// eval runs a JS expression (awaiting a promise) and decodes its JSON value into T.
func eval[T any](b *browser, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](`(async () => JSON.stringify((await (`+expr+`)) ?? null))()`,
		chromedp.EvalAwaitPromise))
	var v T
	if err != nil {
		return v, fmt.Errorf("evaluate %s: %w", expr, err)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return v, fmt.Errorf("evaluate %s: result %s: %w", expr, raw, err)
	}
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return v, fmt.Errorf("evaluate %s: result %s: %w", expr, s, err)
	}
	return v, nil
}

type pageStats struct {
	EndpointID      string         `json:"endpointId"`
	ConnectionState string         `json:"connectionState"`
	DCState         string         `json:"dcState"`
	ServerHello     bool           `json:"serverHello"`
	Received        map[string]int `json:"received"`
	SSRCRewriting   bool           `json:"ssrcRewriting"`
	Forwarded       []string       `json:"forwarded"`
	Dominant        string         `json:"dominant"`
	Mapped          []struct {
		Kind   string `json:"kind"`
		SSRC   uint32 `json:"ssrc"`
		RTX    uint32 `json:"rtx"`
		Owner  string `json:"owner"`
		Source string `json:"source"`
	} `json:"mapped"`
	Tiles                    []string `json:"tiles"`
	AvailableOutgoingBitrate float64  `json:"availableOutgoingBitrate"`
	RoundTripTime            float64  `json:"roundTripTime"` // of the selected candidate pair, s
	At                       float64  `json:"at"`            // performance.now() of the sample, in ms
	Inbound                  []struct {
		Kind                 string  `json:"kind"`
		SSRC                 uint32  `json:"ssrc"`
		Mid                  string  `json:"mid"`
		Owner                string  `json:"owner"`
		Source               string  `json:"source"`
		PacketsReceived      int     `json:"packetsReceived"`
		BytesReceived        int     `json:"bytesReceived"`
		FramesDecoded        int     `json:"framesDecoded"`
		TotalSamplesReceived int     `json:"totalSamplesReceived"`
		TotalAudioEnergy     float64 `json:"totalAudioEnergy"`
		FrameHeight          int     `json:"frameHeight"`
	} `json:"inbound"`
	Outbound []struct {
		Kind          string  `json:"kind"`
		SSRC          uint32  `json:"ssrc"`
		PacketsSent   int     `json:"packetsSent"`
		BytesSent     int     `json:"bytesSent"`
		TargetBitrate float64 `json:"targetBitrate"`
		FrameHeight   int     `json:"frameHeight"`
		Limitation    string  `json:"qualityLimitationReason"`
		NACKs         int     `json:"nackCount"`
	} `json:"outbound"`
	RemoteInbound []struct { // what the bridge's receiver reports say about the page's streams
		Kind          string  `json:"kind"`
		SSRC          uint32  `json:"ssrc"`
		PacketsLost   int     `json:"packetsLost"`
		FractionLost  float64 `json:"fractionLost"`
		RoundTripTime float64 `json:"roundTripTime"`
	} `json:"remoteInbound"`
}

// fromOwner sums what the page received from one remote endpoint.
func (s pageStats) fromOwner(owner string) (videoFrames, videoBytes, audioSamples, audioPackets int) {
	for _, in := range s.Inbound {
		if in.Owner != owner {
			continue
		}
		if in.Kind == "video" {
			videoFrames += in.FramesDecoded
			videoBytes += in.BytesReceived
		} else {
			audioSamples += in.TotalSamplesReceived
			audioPackets += in.PacketsReceived
		}
	}
	return
}

// fromMapped sums the video frames decoded and audio energy received on the SSRCs the bridge
// mapped to owner's sources (SSRC rewriting), and reports the inbound SSRCs labelled with owner
// that no source map announced.
func (s pageStats) fromMapped(owner string) (videoFrames int, audioEnergy float64, unmapped []uint32) {
	mapped := map[string]bool{}
	for _, m := range s.Mapped {
		if m.Owner == owner {
			mapped[fmt.Sprint(m.Kind, m.SSRC)] = true
		}
	}
	for _, in := range s.Inbound {
		if in.Owner != owner {
			continue
		}
		if !mapped[fmt.Sprint(in.Kind, in.SSRC)] {
			unmapped = append(unmapped, in.SSRC)
			continue
		}
		if in.Kind == "video" {
			videoFrames += in.FramesDecoded
		} else {
			audioEnergy += in.TotalAudioEnergy
		}
	}
	return
}

func (b *browser) stats() (pageStats, error) { return eval[pageStats](b, `jvbStats()`) }

// join joins room from the page; rewriting says whether the page asks for SSRC rewriting (the
// page's default) and is checked against what the focus agreed to.
func (b *browser) join(room string, simulcast, rewriting bool) string {
	b.t.Helper()
	r, err := eval[struct {
		EndpointID    string `json:"endpointId"`
		SSRCRewriting bool   `json:"ssrcRewriting"`
	}](b, fmt.Sprintf(`jvbJoin(%q, {simulcast: %v, ssrcRewriting: %v})`, room, simulcast, rewriting))
	if err != nil {
		b.t.Fatalf("join: %v", err)
	}
	if r.SSRCRewriting != rewriting {
		b.t.Fatalf("joined with SSRC rewriting %v, asked for %v", r.SSRCRewriting, rewriting)
	}
	return r.EndpointID
}
