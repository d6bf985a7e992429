package sfu

import (
	"strings"
	"testing"
	"time"
)

// chanWebSocket delivers what the bridge sends on a WebSocket to a channel.
type chanWebSocket struct{ msgs chan string }

func (w chanWebSocket) WriteText(msg []byte) error {
	select {
	case w.msgs <- string(msg):
	default:
	}
	return nil
}

func (w chanWebSocket) Close(int, string) error { return nil }

// awaitMessage returns the first message from ch containing want, within d.
func awaitMessage(t *testing.T, ch <-chan string, want string, d time.Duration) string {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m := <-ch:
			if strings.Contains(m, want) {
				return m
			}
		case <-deadline:
			t.Fatalf("no message containing %s within %v", want, d)
			return ""
		}
	}
}

// TestEndpointMessagesBetweenDataChannelAndWebSocketPeers: a pion client on a real SCTP data
// channel and an endpoint whose bridge channel is a WebSocket exchange EndpointMessages, each
// stamped with its sender's id by the bridge.
func TestEndpointMessagesBetweenDataChannelAndWebSocketPeers(t *testing.T) {
	b := newLoopbackBridge(t)
	conf, err := b.CreateConference("m", "room@conference")
	if err != nil {
		t.Fatal(err)
	}
	dc := joinPeer(t, conf, 0)
	awaitMessage(t, dc.dcMsgs, `"ServerHello"`, 20*time.Second)

	wsEP, err := conf.CreateEndpoint(EndpointConfig{ID: "w", ICEControlling: true, InitialLastN: -1})
	if err != nil {
		t.Fatal(err)
	}
	ws := chanWebSocket{msgs: make(chan string, 64)}
	if err := wsEP.AttachWebSocket(ws); err != nil {
		t.Fatal(err)
	}
	if m := awaitMessage(t, ws.msgs, "colibriClass", 5*time.Second); m != `{"colibriClass":"ServerHello"}` {
		t.Fatalf("WebSocket's first message %q, want ServerHello", m)
	}

	if err := dc.dc.SendText(`{"colibriClass":"EndpointMessage","to":"w","from":"w","msgPayload":{"via":"dc"}}`); err != nil {
		t.Fatal(err)
	}
	if m := awaitMessage(t, ws.msgs, `"via":"dc"`, 5*time.Second); !strings.Contains(m, `"from":"p0"`) {
		t.Errorf("WebSocket peer got %s, want from p0", m)
	}
	wsEP.ReceiveWebSocket(ws, []byte(`{"colibriClass":"EndpointMessage","to":"","msgPayload":{"via":"ws"}}`), true)
	if m := awaitMessage(t, dc.dcMsgs, `"via":"ws"`, 5*time.Second); !strings.Contains(m, `"from":"w"`) {
		t.Errorf("data channel peer got %s, want from w", m)
	}
}
