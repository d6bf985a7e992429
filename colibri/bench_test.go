package colibri

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

func BenchmarkParseAllocateRequest(b *testing.B) {
	req := []byte(allocate("m", "alice", true, ""))
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseConferenceModify(req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalAllocateResponse(b *testing.B) {
	c := &fakeConf{fbAudio: 1, fbVideo: 2}
	resp := &ConferenceModified{
		Endpoints: []Endpoint{{ID: "alice", Transport: &Transport{
			ICEUDP: &ICEUDPTransport{Ufrag: "abcd", Pwd: "0123456789abcdef012345", RTCPMux: true,
				Fingerprints: []Fingerprint{{Hash: "sha-256", Setup: "actpass", Value: "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"}},
				Candidates: []Candidate{{Component: 1, Foundation: "1", ID: "c1", Priority: 2130706431, Protocol: "udp", Type: "host", IP: "10.0.0.1", Port: 10000},
					{Component: 1, Foundation: "2", ID: "c2", Priority: 1694498815, Protocol: "udp", Type: "srflx", IP: "192.0.2.1", Port: 10000, RelAddr: "10.0.0.1", RelPort: 10000}}},
			SCTP: &SCTP{Role: "server", Port: SCTPPort}}}},
		Sources: feedbackSources(c),
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := resp.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRESTRequestJSON(b *testing.B) {
	req := []byte(restCreate)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		var m ConferenceModify
		if err := json.Unmarshal(req, &m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandleIQTrickle is a whole trickle update: parse, queue, apply to a (fake) bridge,
// marshal the reply.
func BenchmarkHandleIQTrickle(b *testing.B) {
	fb := newFakeBridge()
	h, err := NewHandler(Config{Bridge: fb, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	c, _ := fb.CreateConference("m", "")
	if _, err := c.CreateEndpoint(EndpointConfig{ID: "a"}); err != nil {
		b.Fatal(err)
	}
	req := []byte(trickle("m", "a", 4000))
	done := make(chan struct{}, 1)
	reply := func(result, errElem []byte) {
		if errElem != nil {
			panic(string(errElem))
		}
		done <- struct{}{}
	}
	b.ReportAllocs()
	for b.Loop() {
		h.HandleIQ(context.Background(), req, reply)
		<-done
		fb.mu.Lock()
		fb.log = fb.log[:0]
		c.(*fakeConf).eps["a"].remote = nil
		fb.mu.Unlock()
	}
}
