package transport

import (
	"log/slog"
	"net/netip"
	"testing"

	"github.com/pion/stun/v4"
)

// The join/leave soak saw a departed endpoint stay reachable for 28-37 s now and then: its
// closing agent sent one more connectivity check after Close had dropped its pending STUN
// transactions, and the new one kept the transport until the 30 s sweep. A closed transport
// remembers none.
func TestClosedTransportLeavesNoPendingTransaction(t *testing.T) {
	m, err := Listen(Config{BindAddr: netip.MustParseAddr("127.0.0.1"), Readers: 1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tr, err := m.NewTransport(Options{ICEControlling: true}, &nopHandler{})
	if err != nil {
		t.Fatal(err)
	}
	req, err := stun.Build(stun.BindingRequest, stun.TransactionID)
	if err != nil {
		t.Fatal(err)
	}
	held := func() (n int) {
		m.txMu.Lock()
		defer m.txMu.Unlock()
		for _, p := range m.pendingTx {
			if p.t == tr {
				n++
			}
		}
		return n
	}
	m.rememberTx(tr, req.Raw)
	if held() != 1 {
		t.Fatalf("an open transport's check is not remembered (%d)", held())
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if n := held(); n != 0 {
		t.Fatalf("%d transactions of the closed transport left after Close", n)
	}
	m.rememberTx(tr, req.Raw) // the closing agent's last check, after unregister
	if n := held(); n != 0 {
		t.Errorf("a check sent while closing is remembered: %d transactions keep the closed transport", n)
	}
}
