package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // sha-1 fingerprints are still sent by some endpoints
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"strings"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/srtp/v3"
)

const (
	dtlsHandshakeTimeout = 30 * time.Second
)

// certificate is the self-signed ECDSA P-256 certificate a Mux presents to every endpoint.
type certificate struct {
	tls         tls.Certificate
	fingerprint string // sha-256, upper-case hex pairs separated by ':'
}

func newCertificate() (*certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("transport: generate DTLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("transport: certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "gojvb"},
		NotBefore:    time.Now().Add(-24 * time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("transport: self-sign DTLS certificate: %w", err)
	}
	sum := sha256.Sum256(der)
	return &certificate{
		tls:         tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		fingerprint: formatFingerprint(sum[:]),
	}, nil
}

func formatFingerprint(sum []byte) string {
	var b strings.Builder
	for i, x := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", x)
	}
	return b.String()
}

func fingerprintHash(name string) (hash.Hash, error) {
	switch strings.ToLower(name) {
	case "sha-1":
		return sha1.New(), nil //nolint:gosec // see import
	case "sha-224":
		return sha256.New224(), nil
	case "sha-256":
		return sha256.New(), nil
	case "sha-384":
		return sha512.New384(), nil
	case "sha-512":
		return sha512.New(), nil
	}
	return nil, fmt.Errorf("transport: unsupported fingerprint hash %q", name)
}

var errFingerprintMismatch = errors.New("transport: remote DTLS certificate matches no fingerprint")

// verifyFingerprint checks the remote's leaf certificate against the signalled fingerprints.
func verifyFingerprint(fps []Fingerprint, rawCerts [][]byte) error {
	if len(rawCerts) == 0 {
		return errors.New("transport: remote sent no DTLS certificate")
	}
	if len(fps) == 0 {
		return errors.New("transport: no remote fingerprint to verify the DTLS certificate")
	}
	for _, fp := range fps {
		h, err := fingerprintHash(fp.Hash)
		if err != nil {
			continue
		}
		h.Write(rawCerts[0])
		if strings.EqualFold(formatFingerprint(h.Sum(nil)), strings.TrimSpace(fp.Value)) {
			return nil
		}
	}
	return errFingerprintMismatch
}

// dtlsConfig is the DTLS configuration for one transport.
func (t *Transport) dtlsConfig(fps []Fingerprint) *dtls.Config {
	return &dtls.Config{
		Certificates: []tls.Certificate{t.mux.cert.tls},
		SRTPProtectionProfiles: []dtls.SRTPProtectionProfile{
			dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80,
		},
		ExtendedMasterSecret: dtls.RequireExtendedMasterSecret,
		ClientAuth:           dtls.RequireAnyClientCert,
		InsecureSkipVerify:   true, // self-signed: the fingerprint is what authenticates
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			return verifyFingerprint(fps, rawCerts)
		},
		LoggerFactory: t.logFactory,
	}
}

// exportSRTPKeys derives the SRTP master keys from the finished handshake (RFC 5764 §4.2, with
// pion/srtp's extractor); the bridge's "local" half is the server's when it is the DTLS server.
func exportSRTPKeys(c *dtls.Conn, isServer bool) (SRTPKeys, error) {
	p, ok := c.SelectedSRTPProtectionProfile()
	if !ok {
		return SRTPKeys{}, errors.New("transport: DTLS negotiated no SRTP protection profile")
	}
	state, ok := c.ConnectionState()
	if !ok {
		return SRTPKeys{}, errors.New("transport: DTLS state unavailable")
	}
	cfg := srtp.Config{Profile: srtp.ProtectionProfile(p)}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, !isServer); err != nil {
		return SRTPKeys{}, fmt.Errorf("transport: SRTP keys from DTLS (profile %#04x): %w", uint16(p), err)
	}
	return SRTPKeys{
		Profile:        cfg.Profile,
		LocalMasterKey: cfg.Keys.LocalMasterKey, LocalMasterSalt: cfg.Keys.LocalMasterSalt,
		RemoteMasterKey: cfg.Keys.RemoteMasterKey, RemoteMasterSalt: cfg.Keys.RemoteMasterSalt,
	}, nil
}
