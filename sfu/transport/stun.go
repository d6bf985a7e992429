package transport

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/pion/stun/v4"
)

const (
	stunHeaderSize  = 20
	stunMagicCookie = 0x2112A442
	pendingTxMaxAge = 30 * time.Second
)

// readerState is per reader goroutine scratch space reused across datagrams.
type readerState struct {
	msg   stun.Message
	batch Batch
}

func isSTUNRequest(b []byte) bool {
	return len(b) >= stunHeaderSize && b[0] == 0x00 && b[1] == 0x01 &&
		binary.BigEndian.Uint32(b[4:8]) == stunMagicCookie
}

// handleSTUN routes one STUN message: binding requests by the local ufrag in USERNAME (after
// checking MESSAGE-INTEGRITY with that transport's password), responses by the transaction id
// an agent sent (or by address), indications by address.
func (m *Mux) handleSTUN(s *socket, st *readerState, buf []byte, from netip.AddrPort) {
	if len(buf) < stunHeaderSize || binary.BigEndian.Uint32(buf[4:8]) != stunMagicCookie {
		s.stats.garbage.Add(1)
		return
	}
	msg := &st.msg
	msg.Reset()
	msg.Raw = buf
	if err := msg.Decode(); err != nil {
		msg.Raw = nil
		s.stats.garbage.Add(1)
		return
	}
	defer func() { msg.Raw = nil }()
	switch msg.Type.Class {
	case stun.ClassRequest:
		user, err := msg.Get(stun.AttrUsername)
		if err != nil {
			s.stats.unknownUfrag.Add(1)
			return
		}
		local, _, found := bytes.Cut(user, []byte{':'})
		if !found {
			s.stats.unknownUfrag.Add(1)
			return
		}
		t, _ := m.ufrags.get(string(local))
		if t == nil {
			s.stats.unknownUfrag.Add(1)
			return
		}
		if stun.MessageIntegrity(t.localKey).Check(msg) != nil {
			s.stats.badIntegrity.Add(1)
			return
		}
		// Charged to the endpoint first, so that its excess does not use up its source's rate.
		now := st.batch.Now()
		if !t.stunRequests.allow(now, STUNRequestRate, STUNRequestBurst) || !m.sources.allow(from.Addr(), now) {
			s.stats.stunRateLimited.Add(1)
			return
		}
		if !m.validate(from, t) {
			s.stats.addrRefused.Add(1)
			return
		}
		t.lastCheck.Store(now)
		t.deliver(s, buf, from)
	case stun.ClassSuccessResponse, stun.ClassErrorResponse:
		t := m.takeTx(msg.TransactionID)
		if t == nil {
			t, _ = m.addrs.get(from)
		}
		if t == nil {
			s.stats.unknownAddr.Add(1)
			return
		}
		key := t.remoteKey.Load()
		hasMI := msg.Contains(stun.AttrMessageIntegrity)
		if key == nil || (!hasMI && msg.Type.Class == stun.ClassSuccessResponse) ||
			(hasMI && stun.MessageIntegrity(*key).Check(msg) != nil) {
			s.stats.badIntegrity.Add(1)
			return
		}
		if msg.Type.Class == stun.ClassSuccessResponse {
			if !m.validate(from, t) {
				s.stats.addrRefused.Add(1)
				return
			}
			t.lastCheck.Store(st.batch.Now())
		}
		t.deliver(s, buf, from)
	default: // indication (keepalive)
		t, _ := m.addrs.get(from)
		if t == nil {
			s.stats.unknownAddr.Add(1)
			return
		}
		t.deliver(s, buf, from)
	}
}

// rememberTx records the transaction id of a binding request an agent sends so that the
// response (which has no USERNAME) finds its transport.
func (m *Mux) rememberTx(t *Transport, b []byte) {
	var id [12]byte
	copy(id[:], b[8:20])
	m.txMu.Lock()
	defer m.txMu.Unlock()
	// A closing transport's agent may still send a check after unregister dropped its
	// transactions; remembering it would keep the transport (and its endpoint) reachable until
	// the sweep. Close cancels t.ctx before unregister takes txMu, so this test under txMu
	// leaves nothing behind.
	if t.ctx.Err() != nil {
		return
	}
	now := time.Now()
	if now.Sub(m.txSweep) > pendingTxMaxAge/2 {
		m.txSweep = now
		for k, v := range m.pendingTx {
			if now.Sub(v.at) > pendingTxMaxAge {
				delete(m.pendingTx, k)
			}
		}
	}
	m.pendingTx[id] = pendingTx{t: t, at: now}
}

func (m *Mux) takeTx(id [12]byte) *Transport {
	m.txMu.Lock()
	defer m.txMu.Unlock()
	p, ok := m.pendingTx[id]
	if !ok {
		return nil
	}
	delete(m.pendingTx, id)
	return p.t
}
