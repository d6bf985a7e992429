package xmppcomp

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestRetryDelayStaysWithinItsCap(t *testing.T) {
	const lo, hi = time.Second, 1500 * time.Millisecond
	for n := 1; n <= 50; n++ {
		for _, r := range []float64{0, 0.5, 0.999999} {
			d := retryDelay(n, lo, hi, r)
			want := min(lo<<min(n-1, 10), hi)
			if d > want || d < want*8/10 {
				t.Fatalf("retryDelay(%d, r=%v) = %v, want within [0.8, 1] x %v", n, r, d, want)
			}
		}
	}
	if a, b := retryDelay(1, lo, hi, 0), retryDelay(1, lo, hi, 0.99); a == b {
		t.Fatalf("no jitter: %v for both", a)
	}
}

func TestAttemptClassificationAndPlaintextFallback(t *testing.T) {
	tlsErr := fmt.Errorf("negotiate: %w", x509.UnknownAuthorityError{})
	for _, tc := range []struct {
		name     string
		a        attempt
		kind     failureKind
		fallback bool // with an explicit ifpossible
		implicit bool // with ifpossible defaulted for localhost
	}{
		{"unreachable", attempt{err: errors.New("refused")}, failUnreachable, false, false},
		{"frozen", attempt{dialed: true, err: fmt.Errorf("x: %w", context.DeadlineExceeded)}, failTimeout, false, false},
		{"no starttls", attempt{dialed: true, tlsTried: true, tlsRefused: true, err: errors.New("failure")}, failNoTLS, true, true},
		{"bad certificate", attempt{dialed: true, tlsTried: true, err: tlsErr}, failTLS, true, false},
		{"wrong password after tls", attempt{dialed: true, tlsTried: true, saslStarted: true, authCond: "not-authorized", err: errors.New("not-authorized")}, failAuth, false, false},
		{"bind failed after tls", attempt{dialed: true, tlsTried: true, saslStarted: true, err: errors.New("bind")}, failOther, false, false},
	} {
		if k := tc.a.kind(); k != tc.kind {
			t.Errorf("%s: kind %d, want %d", tc.name, k, tc.kind)
		}
		if got := tc.a.mayFallBackToPlaintext(true); got != tc.fallback {
			t.Errorf("%s: explicit ifpossible falls back %v, want %v", tc.name, got, tc.fallback)
		}
		if got := tc.a.mayFallBackToPlaintext(false); got != tc.implicit {
			t.Errorf("%s: default ifpossible falls back %v, want %v", tc.name, got, tc.implicit)
		}
	}
}

func TestSASLFailureConditionIgnoresOtherErrors(t *testing.T) {
	if c := saslFailureCondition(errors.New("not-authorized")); c != "" {
		t.Fatalf("plain error read as SASL failure %q", c)
	}
}
