package xmppcomp

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"mellium.im/xmpp/jid"
)

// event is sent by the read loop to the session loop.
type event struct {
	kind    eventKind
	room    jid.JID
	id      string // iq id for iqResponse
	typ     string // iq type for iqResponse
	created bool   // joined: the room was created by us
	cond    string // joinFailed: error condition
	// sessions lists, for joined, the real JIDs the room gives for our
	// occupant: one per client session that uses the nickname.
	sessions []string
}

type eventKind int

const (
	evJoined eventKind = iota
	evJoinFailed
	evLeft
	evIQResponse
)

// session runs one connection until it breaks or ctx ends. established
// reports whether login succeeded.
func (k *conn) session(ctx context.Context) (established bool, err error) {
	s, lc, err := k.dial(ctx)
	if err != nil {
		return false, err
	}
	bound := s.LocalAddr().String()
	k.setConnected(true, bound)
	defer func() {
		k.setConnected(false, "")
		k.earlier = append(k.earlier, bound)
		if len(k.earlier) > keptJIDs {
			k.earlier = k.earlier[1:]
		}
	}()
	k.log.Info("xmpp connected", "jid", bound)

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := &sessionWriter{s: s, conn: lc}
	k.writer.Store(w)
	defer k.writer.Store(nil)
	events := make(chan event, 16)
	readDone := make(chan error, 1)
	var lastRead atomic.Int64
	lastRead.Store(time.Now().UnixNano())
	lc.mark()
	r := &reader{k: k, w: w, lc: lc, events: events, runCtx: ctx, lastRead: &lastRead}
	go func() { readDone <- r.loop(sctx, s) }()

	rejoin := map[string]*time.Timer{}
	rejoinC := make(chan jid.JID, len(k.srv.mucs))
	defer func() {
		for _, t := range rejoin {
			t.Stop()
		}
	}()
	scheduleRejoin := func(room jid.JID, after time.Duration) {
		if _, pending := rejoin[roomKey(room)]; !pending {
			rejoin[roomKey(room)] = time.AfterFunc(after, func() { rejoinC <- room })
		}
	}
	// shared: other sessions seen under our nickname while we were joined.
	shared := map[string]bool{}
	for _, room := range k.srv.mucs {
		if err := w.send(k.joinPresence(room)); err != nil {
			return true, k.abort(cancel, lc, readDone, fmt.Errorf("join %s: %w", room, err))
		}
	}
	presence := time.NewTicker(k.c.cfg.PresenceInterval)
	defer presence.Stop()
	live := time.NewTicker(livenessTick(k.c.cfg.PingInterval, k.c.cfg.PingTimeout))
	defer live.Stop()
	var pingID string
	var pingSent time.Time
	var seq uint64
	nextID := func(prefix string) string {
		seq++
		return prefix + "-" + strconv.FormatUint(seq, 10)
	}
	sendStats := func() error {
		for _, room := range k.srv.mucs {
			if k.isJoined(room) {
				if err := w.send(k.statsPresence(room)); err != nil {
					return fmt.Errorf("presence to %s: %w", room, err)
				}
			}
		}
		return nil
	}

	for {
		select {
		case <-ctx.Done():
			k.leave(lc, w, readDone)
			return true, ctx.Err()
		case err := <-readDone:
			_ = lc.Close()
			return true, err
		case ev := <-events:
			switch ev.kind {
			case evJoined:
				foreign := k.foreignSessions(ev.room, ev.sessions, bound)
				if k.isJoined(ev.room) {
					k.noteSharedNickname(ev.room, foreign, shared)
					continue
				}
				if len(foreign) > 0 {
					// The room already had another session under our nickname
					// when we came: it is the one jicofo talks to. Step aside.
					k.nicknameInUse(ev.room, foreign)
					if err := w.send(k.unavailablePresence(ev.room)); err != nil {
						return true, k.abort(cancel, lc, readDone, err)
					}
					scheduleRejoin(ev.room, conflictRetry)
					continue
				}
				// Status first (it also ends a recorded conflict), so that
				// the presence below is built from the joined state.
				k.setJoined(ev.room, true)
				k.log.Info("joined brewery", "room", ev.room.String(), "nick", k.srv.Nickname, "created", ev.created)
				if ev.created {
					if err := w.send(roomConfig(ev.room, nextID("roomcfg"))); err != nil {
						return true, k.abort(cancel, lc, readDone, err)
					}
				}
				if err := w.send(k.statsPresence(ev.room)); err != nil {
					return true, k.abort(cancel, lc, readDone, err)
				}
			case evJoinFailed, evLeft:
				was := k.isJoined(ev.room)
				if was {
					k.setJoined(ev.room, false)
				}
				switch {
				case ev.kind == evJoinFailed && ev.cond == "conflict":
					k.nicknameTaken(ev.room)
				case ev.kind == evJoinFailed:
					k.log.Error("cannot join brewery", "room", ev.room.String(), "nick", k.srv.Nickname, "condition", ev.cond, "retry_in", rejoinDelay)
				case was:
					k.log.Warn("removed from brewery", "room", ev.room.String(), "retry_in", rejoinDelay)
				}
				scheduleRejoin(ev.room, rejoinDelay)
			case evIQResponse:
				if ev.id == pingID {
					pingID = ""
				} else if strings.HasPrefix(ev.id, "roomcfg-") && ev.typ == "error" {
					k.log.Warn("room configuration rejected", "iq_id", ev.id)
				}
			}
		case room := <-rejoinC:
			delete(rejoin, roomKey(room))
			if err := w.send(k.joinPresence(room)); err != nil {
				return true, k.abort(cancel, lc, readDone, err)
			}
		case <-presence.C:
			if err := sendStats(); err != nil {
				return true, k.abort(cancel, lc, readDone, err)
			}
		case <-k.nudge:
			if err := sendStats(); err != nil {
				return true, k.abort(cancel, lc, readDone, err)
			}
		case <-live.C:
			// The server echoes every stats presence, so reads keep coming
			// in steady state; only a silent server is pinged.
			now := time.Now()
			last := time.Unix(0, lastRead.Load())
			if pingID != "" && last.After(pingSent) {
				pingID = "" // anything read proves the server alive
			}
			if pingID != "" && now.Sub(pingSent) >= k.c.cfg.PingTimeout {
				return true, k.abort(cancel, lc, readDone, fmt.Errorf("server silent for %v: ping %s not answered within %v",
					now.Sub(last).Round(time.Millisecond), pingID, k.c.cfg.PingTimeout))
			}
			if pingID == "" && now.Sub(last) >= k.c.cfg.PingInterval {
				pingID, pingSent = nextID("ping"), now
				k.log.Debug("xmpp server silent, pinging", "silent_for", now.Sub(last).Round(time.Millisecond), "iq_id", pingID)
				if err := w.send(pingIQ(k.srv.login.Domain(), pingID)); err != nil {
					return true, k.abort(cancel, lc, readDone, err)
				}
			}
		}
	}
}

// livenessTick is how often the session checks for a silent server: often
// enough to notice within a quarter of the shorter of the two limits, at
// most once a second (a local timer, no traffic).
func livenessTick(pingInterval, pingTimeout time.Duration) time.Duration {
	return max(min(min(pingInterval, pingTimeout)/4, time.Second), time.Millisecond)
}

// foreignSessions returns the sessions the room lists for our occupant
// that are neither this session nor an earlier one of this connection (a
// stale session the server has not dropped yet is not a conflict).
func (k *conn) foreignSessions(room jid.JID, listed []string, bound string) []string {
	var out []string
	for _, j := range listed {
		switch {
		case strings.EqualFold(j, bound):
		case k.isEarlier(j):
			k.log.Debug("an earlier session of this bridge is still in the brewery", "room", room.String(), "jid", j)
		default:
			out = append(out, j)
		}
	}
	return out
}

func (k *conn) isEarlier(j string) bool {
	for _, e := range k.earlier {
		if strings.EqualFold(e, j) {
			return true
		}
	}
	return false
}

// nicknameInUse handles a join answered with another session already
// under our nickname (same account: the server merged us into its
// occupant instead of refusing the join).
func (k *conn) nicknameInUse(room jid.JID, foreign []string) {
	other := strings.Join(foreign, ", ")
	why := fmt.Sprintf("nickname %q in %s is already used by %s: make JVB_MUC_NICKNAME unique per bridge", k.srv.Nickname, room, other)
	if k.setConflict(room, why) {
		k.log.Error("brewery nickname already used by another XMPP session: make JVB_MUC_NICKNAME unique per bridge",
			"room", room.String(), "nick", k.srv.Nickname, "other", other, "retry_in", conflictRetry)
	}
}

// nicknameTaken handles the room's own conflict error (another account
// holds the nickname).
func (k *conn) nicknameTaken(room jid.JID) {
	why := fmt.Sprintf("nickname %q in %s is taken by another occupant: make JVB_MUC_NICKNAME unique per bridge", k.srv.Nickname, room)
	if k.setConflict(room, why) {
		k.log.Error("brewery nickname taken by another occupant: make JVB_MUC_NICKNAME unique per bridge",
			"room", room.String(), "nick", k.srv.Nickname, "retry_in", rejoinDelay)
	}
}

// noteSharedNickname warns, once per other session, that a session joined
// under our nickname after us. This bridge stays: it was there first, and
// the server keeps it as the occupant's main session.
func (k *conn) noteSharedNickname(room jid.JID, foreign []string, seen map[string]bool) {
	for _, j := range foreign {
		if seen[j] {
			continue
		}
		seen[j] = true
		k.log.Warn("another XMPP session joined the brewery under this bridge's nickname: make JVB_MUC_NICKNAME unique per bridge",
			"room", room.String(), "nick", k.srv.Nickname, "other", j)
	}
}

// abort closes the socket and waits for the read loop (cancel unblocks
// it if it is waiting to hand over an event).
func (k *conn) abort(cancel context.CancelFunc, lc *limitConn, readDone <-chan error, err error) error {
	cancel()
	_ = lc.Close()
	<-readDone
	return err
}

// leave sends a last stats presence and then unavailable presence to every joined room, closes
// the stream and waits (bounded) for the server to close its side. The last stats carry the
// state the bridge stops in (e.g. shutting_down=true when the last participant left during a
// graceful shutdown), which the periodic presence may not have published yet.
func (k *conn) leave(lc *limitConn, w *sessionWriter, readDone <-chan error) {
	for _, room := range k.srv.mucs {
		if k.isJoined(room) {
			if err := w.send(k.statsPresence(room)); err != nil {
				k.log.Debug("last stats presence not sent", "room", room.String(), "err", err)
			}
			if err := w.send(k.unavailablePresence(room)); err != nil {
				k.log.Debug("leave presence not sent", "room", room.String(), "err", err)
			}
		}
	}
	_ = w.close()
	t := time.NewTimer(closeTimeout)
	defer t.Stop()
	select {
	case <-readDone:
		_ = lc.Close()
	case <-t.C:
		_ = lc.Close()
		<-readDone
	}
	k.log.Info("xmpp connection closed")
}
