package bench

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// FuzzColibriResponse: whatever a bridge answers, decoding it is an error or a value, never a
// panic; a value survives re-encoding (what the load generator would send back for it decodes
// to the same thing), and numeric fields (flexUint) hold what the input said.
func FuzzColibriResponse(f *testing.F) {
	f.Add([]byte(`{"endpoints":[{"id":"a","transport":{"transport":{"ufrag":"u","pwd":"p","candidates":[{"ip":"127.0.0.1","port":"10000","priority":1,"component":"1"}],"fingerprints":[{"fingerprint":"AA","hash":"sha-256","setup":"actpass"}]}}}]}`))
	f.Add([]byte(`{"endpoints":[{"id":"a","transport":{"transport":{"candidates":[{"port":-1}]}}}]}`))
	f.Add([]byte(`{"endpoints":[{"id":"a","transport":{"sctp":{"port":"5000"}},"medias":[{"type":"audio","payload-types":[{"id":"111","name":"opus","clockrate":"48000","parameters":{"useinbandfec":"1"}}]}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r c2Response
		if err := json.Unmarshal(b, &r); err != nil {
			return
		}
		enc, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("a decoded response does not encode: %v", err)
		}
		var again c2Response
		if err := json.Unmarshal(enc, &again); err != nil {
			t.Fatalf("re-encoded response %s does not decode: %v", enc, err)
		}
		if enc2, _ := json.Marshal(again); !bytes.Equal(enc, enc2) {
			t.Fatalf("response changes when re-encoded:\n%s\n%s", enc, enc2)
		}
		for _, e := range r.Endpoints {
			if e.Transport == nil || e.Transport.Transport == nil {
				continue
			}
			for _, c := range e.Transport.Transport.Candidates {
				// The port read is the one written: re-encoding gives its decimal string.
				if p, _ := json.Marshal(c.Port); string(p) != `"`+strconv.FormatUint(uint64(c.Port), 10)+`"` {
					t.Fatalf("port %d encodes as %s", c.Port, p)
				}
			}
		}
	})
}

// The seeds above mean what they say: the first decodes to its candidate, the second (a
// negative port) is refused.
func TestColibriResponseSeeds(t *testing.T) {
	var r c2Response
	err := json.Unmarshal([]byte(`{"endpoints":[{"id":"a","transport":{"transport":{"candidates":[{"ip":"127.0.0.1","port":"10000","priority":7,"component":"1"}]}}}]}`), &r)
	if err != nil {
		t.Fatal(err)
	}
	if c := r.Endpoints[0].Transport.Transport.Candidates[0]; c.Port != 10000 || c.Priority != 7 || c.Component != 1 || c.IP != "127.0.0.1" {
		t.Fatalf("candidate = %+v", c)
	}
	if err := json.Unmarshal([]byte(`{"endpoints":[{"id":"a","transport":{"transport":{"candidates":[{"port":-1}]}}}]}`), &r); err == nil {
		t.Fatal("a negative port decoded")
	}
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
