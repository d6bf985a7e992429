package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSlowBodiesLeaveHealthAndMetricsAnswering: many connections dribbling a request body a
// byte at a time, from one address, neither pile up nor stop /about/health and /metrics from
// answering another client: connections over the per-address limit are closed on accept, and
// the others lose their connection at ReadTimeout.
func TestSlowBodiesLeaveHealthAndMetricsAnswering(t *testing.T) {
	const (
		attackers   = 300
		readTimeout = time.Second
		perIP       = 40
	)
	// The Colibri REST stand-in reads the whole body, as the real one does.
	h := NewHandler(Deps{
		Gates:   allGates(),
		Health:  func() error { return nil },
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "jitsi_jvb_conferences 1\n") }),
		Colibri: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.ReadAll(r.Body) }),
		Log:     slog.New(slog.DiscardHandler),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var st ConnStats
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, h, slog.New(slog.DiscardHandler),
			Limits{ReadTimeout: readTimeout, MaxConns: 200, MaxConnsPerIP: perIP}, &st)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	addr := ln.Addr().String()

	// The attack, from 127.0.0.2: headers at once, then one body byte per connection every
	// 200 ms from a single goroutine.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	head := "POST /colibri/v2/conferences HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
	for i := range attackers {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("attack connection %d: %v", i, err)
		}
		conns = append(conns, c)
		_, _ = io.WriteString(c, head)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				for _, c := range conns {
					_ = c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
					_, _ = c.Write([]byte("x"))
				}
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()

	// Meanwhile health and metrics answer quickly, every time.
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	var worst time.Duration
	for end := time.Now().Add(3 * readTimeout); time.Now().Before(end); {
		for _, path := range []string{"/about/health", "/metrics"} {
			start := time.Now()
			resp, err := client.Get("http://" + addr + path)
			if err != nil {
				t.Fatalf("GET %s during the attack: %v", path, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s during the attack: %s", path, resp.Status)
			}
			worst = max(worst, time.Since(start))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("worst health/metrics latency during the attack: %v; refused %d of %d connections",
		worst.Round(time.Millisecond), st.Refused.Load(), attackers)
	if got := st.Refused.Load(); got < attackers-perIP {
		t.Errorf("refused %d connections from one address, want >= %d (MaxConnsPerIP %d)", got, attackers-perIP, perIP)
	}
	// Every attack connection is closed by now (ReadTimeout passed long ago).
	open := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, err := io.ReadAll(c)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			open++
		}
	}
	if open > 0 {
		t.Errorf("%d dribbling connections still open %v after they started (ReadTimeout %v)", open, 3*readTimeout, readTimeout)
	}
}

func TestGuardRefusesForgeableStateChanges(t *testing.T) {
	f := newFixture(t, allGates())
	for _, tc := range []struct {
		name, method, path, ctype, body string
		hdr                             map[string]string
		want                            int
	}{
		{"shutdown as text/plain", "POST", "/colibri/shutdown", "text/plain", `{"graceful-shutdown":true}`, nil, 415},
		{"shutdown as form", "POST", "/colibri/shutdown", "application/x-www-form-urlencoded", `{"graceful-shutdown":true}`, nil, 415},
		{"colibri without type", "POST", "/colibri/v2/conferences", "", `{}`, nil, 415},
		{"colibri as JSON", "POST", "/colibri/v2/conferences", "application/json; charset=utf-8", `{}`, nil, http.StatusTeapot},
		{"cross-site drain", "POST", "/colibri/drain/enable", "", "", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"other origin", "POST", "/colibri/drain/enable", "", "", map[string]string{"Origin": "http://evil.example"}, 403},
		{"curl drain", "POST", "/colibri/drain/enable", "", "", nil, 200},
		{"cross-site GET", "GET", "/about/health", "", "", map[string]string{"Sec-Fetch-Site": "cross-site"}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, f.srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
			}
		})
	}
	if len(f.shutdowns) != 0 {
		t.Fatalf("a refused request shut the bridge down: %v", f.shutdowns)
	}
}
