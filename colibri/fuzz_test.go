package colibri

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/ and run with every `go test`.

func FuzzParseConferenceModify(f *testing.F) {
	f.Add([]byte(fullRequest))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseConferenceModify(b)
		if err != nil {
			return
		}
		out, err := m.Marshal()
		if err != nil {
			t.Fatalf("parsed request does not marshal: %v", err)
		}
		if _, err := ParseConferenceModify(out); err != nil {
			t.Fatalf("marshalled request does not re-parse: %v\n%s", err, out)
		}
		if _, err := json.Marshal(m); err != nil {
			t.Fatalf("parsed request has no JSON form: %v", err)
		}
	})
}

func FuzzParseConferenceModifyJSON(f *testing.F) {
	f.Add([]byte(restCreate))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseConferenceModifyJSON(b)
		if err != nil {
			return
		}
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("parsed request does not marshal: %v", err)
		}
		if _, err := ParseConferenceModifyJSON(out); err != nil {
			t.Fatalf("marshalled request does not re-parse: %v\n%s", err, out)
		}
		if _, err := m.Marshal(); err != nil {
			t.Fatalf("parsed request has no XML form: %v", err)
		}
	})
}

// FuzzHandleIQ feeds arbitrary payloads to a handler whose bridge already has a conference
// "m" with endpoint "a": every payload gets exactly one reply, which is well-formed.
func FuzzHandleIQ(f *testing.F) {
	f.Add([]byte(sessionAccept("m", "a")))
	f.Fuzz(func(t *testing.T, b []byte) {
		fb := newFakeBridge()
		h, err := NewHandler(Config{Bridge: fb, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		c, _ := fb.CreateConference("m", "")
		if _, err := c.CreateEndpoint(EndpointConfig{ID: "a"}); err != nil {
			t.Fatal(err)
		}
		replies := make(chan [2][]byte, 2)
		h.HandleIQ(context.Background(), b, func(result, errElem []byte) { replies <- [2][]byte{result, errElem} })
		select {
		case r := <-replies:
			switch {
			case (r[0] == nil) == (r[1] == nil):
				t.Fatalf("reply with result %q and error %q", r[0], r[1])
			case r[1] != nil:
				if _, err := ParseStanzaError(r[1]); err != nil {
					t.Fatalf("unparsable error %s: %v", r[1], err)
				}
			default:
				if _, err := ParseConferenceModified(r[0]); err != nil {
					t.Fatalf("unparsable result %s: %v", r[0], err)
				}
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no reply")
		}
		select {
		case r := <-replies:
			t.Fatalf("second reply %q %q", r[0], r[1])
		default:
		}
	})
}
