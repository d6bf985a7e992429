package xmppcomp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"net"
	"time"
)

// failureKind says why a login attempt failed, in the terms an operator
// acts on. The reconnect loop logs a failure once per change of kind, and
// picks the retry delay from it.
type failureKind int

const (
	failNone failureKind = iota
	// failUnreachable: the TCP connection could not be made.
	failUnreachable
	// failTimeout: connected, but the server did not answer in time
	// (a frozen or overloaded server).
	failTimeout
	// failNoTLS: the server offered no STARTTLS (or refused it) while the
	// security mode requires TLS.
	failNoTLS
	// failTLS: the TLS handshake failed (certificate, protocol).
	failTLS
	// failAuth: the server refused the credentials (SASL failure).
	failAuth
	// failOther: anything else (stream errors, bind, broken XML).
	failOther
)

// attempt records how far one login attempt got, so that its error can be
// classified without parsing error strings.
type attempt struct {
	dialed      bool // the TCP connection was made
	tlsTried    bool // STARTTLS was requested
	tlsRefused  bool // the server did not answer STARTTLS with <proceed/>
	saslStarted bool // SASL began (so TLS, if tried, worked)
	authCond    string
	err         error
}

// kind classifies a failed attempt.
func (a *attempt) kind() failureKind {
	switch {
	case !a.dialed:
		return failUnreachable
	case a.authCond != "":
		return failAuth
	case isTimeout(a.err):
		return failTimeout
	case a.saslStarted:
		return failOther
	case a.tlsTried && !a.tlsRefused && isTLSError(a.err):
		return failTLS
	case a.tlsTried && a.tlsRefused:
		return failNoTLS
	}
	return failOther
}

// mayFallBackToPlaintext says whether a failed STARTTLS attempt may be
// retried on a plaintext stream. Only a server that offers no TLS at all
// is a reason to (SECURITY_MODE ifpossible, set or defaulted for
// localhost); a failed handshake only when the operator explicitly chose
// ifpossible; never once SASL ran, as the same credentials would only be
// sent again, in the clear.
func (a *attempt) mayFallBackToPlaintext(explicitIfPossible bool) bool {
	switch a.kind() {
	case failNoTLS:
		return true
	case failTLS:
		return explicitIfPossible
	}
	return false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func isTLSError(err error) bool {
	var (
		cv *tls.CertificateVerificationError
		ae tls.AlertError
		rh tls.RecordHeaderError
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
	)
	return errors.As(err, &cv) || errors.As(err, &ae) || errors.As(err, &rh) ||
		errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}

// saslFailureCondition returns the condition of the server's SASL
// <failure/> (e.g. "not-authorized") found in err's chain, or "". The
// client library keeps its SASL error type internal; it does expose the
// failure as XML, which is what this reads.
func saslFailureCondition(err error) string {
	var m interface{ TokenReader() xml.TokenReader }
	if !errors.As(err, &m) {
		return ""
	}
	tr := m.TokenReader()
	depth := 0
	for {
		tok, err := tr.Token()
		if err != nil {
			return ""
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		depth++
		if depth == 1 && (se.Name.Space != nsSASL || se.Name.Local != "failure") {
			return ""
		}
		if depth == 2 {
			return se.Name.Local
		}
	}
}

// retryDelay is the wait before reconnect attempt n (1 for the first
// retry): minDelay, doubled per consecutive failure up to maxDelay, then
// scaled by a jitter factor in [0.8, 1] from r in [0, 1), so that bridges
// that lost the same server do not come back in lockstep and the cap stays
// a cap.
func retryDelay(n int, minDelay, maxDelay time.Duration, r float64) time.Duration {
	d := minDelay
	for i := 1; i < n && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	return time.Duration(float64(d) * (0.8 + 0.2*r))
}
