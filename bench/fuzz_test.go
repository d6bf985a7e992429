package bench

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// FuzzColibriResponse: whatever a bridge answers, decoding it is an error or a value, never a
// panic, and a decoded transport can be handed to connect's validation.
func FuzzColibriResponse(f *testing.F) {
	f.Add([]byte(`{"endpoints":[{"id":"a","transport":{"transport":{"ufrag":"u","pwd":"p","candidates":[{"ip":"127.0.0.1","port":"10000","priority":1,"component":"1"}],"fingerprints":[{"fingerprint":"AA","hash":"sha-256","setup":"actpass"}]}}}]}`))
	f.Add([]byte(`{"endpoints":[{"id":"a","transport":{"transport":{"candidates":[{"port":-1}]}}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r c2Response
		if err := json.Unmarshal(b, &r); err != nil {
			return
		}
		for _, e := range r.Endpoints {
			if e.Transport != nil && e.Transport.Transport != nil {
				for _, c := range e.Transport.Transport.Candidates {
					_ = int(c.Port)
				}
			}
		}
	})
}

// FuzzReceivedPacket: hostile RTP reaching a receiver is counted or ignored, never a panic.
func FuzzReceivedPacket(f *testing.F) {
	f.Add([]byte{0x80, 111, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 'J', 'V', 'B', 'B'})
	f.Add(make([]byte, 12))
	f.Fuzz(func(t *testing.T, b []byte) {
		e := newSimEndpoint("x", false, false, nil, nil)
		e.recv.startMeasuring()
		var hdr rtp.Header
		n, err := hdr.Unmarshal(b)
		if err != nil {
			return
		}
		e.handleRTP(time.Now(), &hdr, b[n:], len(b))
		e.handleRTP(time.Now(), &hdr, b[n:], len(b))
		_ = e.recv.snapshot("x", time.Time{}, nil)
		_ = e.reportBlocks()
	})
}
