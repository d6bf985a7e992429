package standalone

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"gojvb/sfu/transport"
)

// modifyRequest is the subset of a COLIBRI2 conference-modify the focus sends: at most one
// endpoint per request, as jicofo does for allocations and updates.
type modifyRequest struct {
	MeetingID        string
	Name             string // room JID; only with CreateConference
	CreateConference bool
	ExpireConference bool
	Endpoint         *endpointRequest
}

type endpointRequest struct {
	ID        string
	Create    bool // with media (payload types, header extensions), ice-controlling transport, sctp
	Expire    bool
	Transport *transport.Description // the browser's ICE/DTLS, from its answer
	Sources   []mediaSource          // full replacement when SetSources
	SetSource bool
	// SSRCRewriting asks, with Create, for capability ssrc-rewriting: the bridge then sends the
	// endpoint remote media on its own SSRCs and announces them in VideoSourcesMap/AudioSourcesMap.
	SSRCRewriting bool
}

// modifyResult is what the focus needs from conference-modified.
type modifyResult struct {
	Transport transport.Description // the bridge's side, for the endpoint that was created
	SCTPPort  int
	Feedback  []mediaSource // jvb-a0 / jvb-v0, present when something was created
}

// modifier sends one conference-modify to the bridge and waits for the answer.
type modifier interface {
	modify(ctx context.Context, req modifyRequest) (modifyResult, error)
}

// focus is the room and participant bookkeeping; the HTTP layer (http.go) sits on top.
type focus struct {
	bridge  modifier
	log     *slog.Logger
	timeout time.Duration // a participant that neither polls nor answers for this long is removed
	domain  string        // MUC domain used to build the room JID sent as conference name
	// maxParticipants per room: each one adds two m-lines to everybody's offer.
	maxParticipants int
	maxRooms        int // rooms at once

	// mu guards rooms, byID and closed. Lock order: room.mu before focus.mu.
	mu     sync.Mutex
	rooms  map[string]*room
	byID   map[string]*participant
	closed bool
}

type room struct {
	name      string
	meetingID string

	// mu serialises everything that happens in the room, including the Modify calls, so the
	// bridge sees this meeting's requests in order (control-plane §2.1).
	mu           sync.Mutex
	participants []*participant // join order
	feedback     []mediaSource
	gone         bool // expired on the bridge (guarded by mu); a new join makes a new room
}

type participant struct {
	id      string
	token   string
	room    *room
	session uint64

	bridge   transport.Description // the bridge's transport for this endpoint
	sctpPort int
	sources  []mediaSource // from the latest answer
	answered bool          // the browser's transport went to the bridge

	// rewriting: the endpoint has capability ssrc-rewriting, so its offers carry no remote
	// sources (the page learns them from the bridge channel), as jicofo does for such clients.
	rewriting bool

	slots    []slot
	version  int
	sdp      string
	roster   []string      // the others' endpoint ids (join order) sent with the current offer
	changed  chan struct{} // closed and replaced when version changes or the participant leaves
	lastSeen time.Time
	polling  int
	left     bool
}

var (
	errUnknownParticipant = errors.New("unknown participant or wrong token")
	errBadRoom            = errors.New("room name must be 1-64 characters of a-z, 0-9, '-' and '_'")
	errClosed             = errors.New("focus is shutting down")
	errRoomFull           = errors.New("room is full")
	errTooManyRooms       = errors.New("too many rooms on this bridge")
	// The bridge no longer has the conference / the endpoint (it expired them itself).
	errConferenceGone = errors.New("conference expired on the bridge")
	errEndpointGone   = errors.New("endpoint expired on the bridge")
	roomNameRE        = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)
)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomUint64() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:]) >> 2 // o= session ids are kept below 2^62
}

// join creates the participant's endpoint on the bridge (and the conference for the first one)
// and returns its first offer. With rewriting the endpoint gets capability ssrc-rewriting (the
// page advertised it, like lib-jitsi-meet's ssrc-rewriting-1 disco feature).
func (f *focus) join(ctx context.Context, roomName string, rewriting bool) (*participant, error) {
	roomName = strings.ToLower(strings.TrimSpace(roomName))
	if !roomNameRE.MatchString(roomName) {
		return nil, fmt.Errorf("room %q: %w", roomName, errBadRoom)
	}
	retried := false
	for {
		r, err := f.room(roomName)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		if r.gone {
			// The last participant left while we waited for the lock: start a new meeting.
			r.mu.Unlock()
			continue
		}
		p, err := f.joinLocked(ctx, r, rewriting)
		if errors.Is(err, errConferenceGone) && !retried {
			// The bridge expired the meeting behind our back (ICE failures, inactivity): the
			// others' endpoints are gone too. Remove them and start a new meeting, as jicofo
			// re-invites everyone after conference_not_found.
			f.forgetRoomLocked(r, "conference expired on the bridge")
			r.mu.Unlock()
			retried = true
			continue
		}
		if err != nil && len(r.participants) == 0 {
			f.dropRoomLocked(r)
		}
		r.mu.Unlock()
		return p, err
	}
}

func (f *focus) room(name string) (*room, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, errClosed
	}
	r := f.rooms[name]
	if r == nil {
		if len(f.rooms) >= f.maxRooms {
			return nil, fmt.Errorf("room %s: %d rooms open: %w", name, len(f.rooms), errTooManyRooms)
		}
		r = &room{name: name, meetingID: newMeetingID()}
		f.rooms[name] = r
	}
	return r, nil
}

// dropRoomLocked marks r gone (r.mu held) and forgets it.
func (f *focus) dropRoomLocked(r *room) {
	r.gone = true
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rooms[r.name] == r {
		delete(f.rooms, r.name)
	}
}

func newMeetingID() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (f *focus) joinLocked(ctx context.Context, r *room, rewriting bool) (*participant, error) {
	if len(r.participants) >= f.maxParticipants {
		return nil, fmt.Errorf("room %s has %d participants: %w", r.name, len(r.participants), errRoomFull)
	}
	p := &participant{id: f.newEndpointID(), token: randomHex(16), room: r, session: randomUint64(),
		changed: make(chan struct{}), lastSeen: time.Now(), rewriting: rewriting}
	create := len(r.participants) == 0
	req := modifyRequest{MeetingID: r.meetingID,
		Endpoint: &endpointRequest{ID: p.id, Create: true, SSRCRewriting: rewriting}}
	if create {
		req.CreateConference = true
		req.Name = r.name + "@" + f.domain
	}
	res, err := f.bridge.modify(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("allocate endpoint %s in room %s: %w", p.id, r.name, err)
	}
	if res.Transport.Ufrag == "" || len(res.Transport.Fingerprints) == 0 {
		return nil, fmt.Errorf("allocate endpoint %s in room %s: bridge returned no ICE/DTLS transport", p.id, r.name)
	}
	p.bridge, p.sctpPort = res.Transport, res.SCTPPort
	if p.sctpPort == 0 {
		p.sctpPort = 5000
	}
	if len(res.Feedback) > 0 {
		r.feedback = res.Feedback
	}
	r.participants = append(r.participants, p)
	f.mu.Lock()
	f.byID[p.id] = p
	f.mu.Unlock()
	f.log.Info("participant joined", "room", r.name, "meeting_id", r.meetingID, "endpoint", p.id,
		"participants", len(r.participants), "ssrc_rewriting", rewriting)
	f.reofferLocked(r)
	return p, nil
}

// newEndpointID returns 8 hex digits (like jitsi-meet's endpoint ids) not used in any room.
func (f *focus) newEndpointID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		if id := randomHex(4); f.byID[id] == nil {
			return id
		}
	}
}

// participant finds a participant by id and checks its token.
func (f *focus) participant(id, token string) (*participant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.byID[id]
	if p == nil || subtle.ConstantTimeCompare([]byte(p.token), []byte(token)) != 1 {
		return nil, errUnknownParticipant
	}
	return p, nil
}

// answer forwards the browser's ICE/DTLS (first answer only: no ICE restart) and its sources
// (when they changed) to the bridge, then re-offers to the others.
func (f *focus) answer(ctx context.Context, p *participant, version int, sdp string, candidates []string) error {
	r := p.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if p.left {
		return errUnknownParticipant
	}
	p.lastSeen = time.Now()
	a, err := parseAnswer(sdp, candidates, p.id)
	if err != nil {
		return &requestError{fmt.Errorf("answer of %s to offer %d: %w", p.id, version, err)}
	}
	ep := &endpointRequest{ID: p.id}
	if !p.answered {
		ep.Transport = &a.Transport
	}
	if !sourcesEqual(p.sources, a.Sources) {
		ep.Sources, ep.SetSource = a.Sources, true
	}
	if ep.Transport == nil && !ep.SetSource {
		return nil
	}
	if _, err := f.bridge.modify(ctx, modifyRequest{MeetingID: r.meetingID, Endpoint: ep}); err != nil {
		switch {
		case errors.Is(err, errConferenceGone):
			f.forgetRoomLocked(r, "conference expired on the bridge")
		case errors.Is(err, errEndpointGone):
			f.forgetLocked(p, "endpoint expired on the bridge")
			f.reofferLocked(r)
		}
		return fmt.Errorf("update endpoint %s in room %s: %w", p.id, r.name, err)
	}
	if a.Dropped > 0 {
		f.log.Debug("candidates left out", "endpoint", p.id, "dropped", a.Dropped)
	}
	p.answered = true
	if ep.SetSource {
		p.sources = a.Sources
		f.log.Info("participant sources", "room", r.name, "endpoint", p.id, "sources", len(a.Sources))
		f.reofferLocked(r)
	}
	return nil
}

func sourcesEqual(a, b []mediaSource) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].equal(b[i]) {
			return false
		}
	}
	return true
}

// leave expires the participant's endpoint (or the whole conference if it was the last one)
// and re-offers to the others.
func (f *focus) leave(ctx context.Context, p *participant, reason string) error {
	r := p.room
	r.mu.Lock()
	defer r.mu.Unlock()
	return f.leaveLocked(ctx, p, reason)
}

// detachLocked marks p as gone (its long-poll ends with 410) and removes it from its room and
// the focus. It reports false if p was already gone.
func (f *focus) detachLocked(p *participant) bool {
	if p.left {
		return false
	}
	p.left = true
	close(p.changed)
	p.room.participants = removeParticipant(p.room.participants, p)
	f.mu.Lock()
	delete(f.byID, p.id)
	f.mu.Unlock()
	return true
}

// forgetLocked drops p from the focus without telling the bridge.
func (f *focus) forgetLocked(p *participant, reason string) {
	if f.detachLocked(p) {
		r := p.room
		f.log.Info("participant removed", "room", r.name, "meeting_id", r.meetingID, "endpoint", p.id, "reason", reason)
	}
}

// forgetRoomLocked drops every participant of r and r itself, without telling the bridge.
func (f *focus) forgetRoomLocked(r *room, reason string) {
	for _, p := range slices.Clone(r.participants) {
		f.forgetLocked(p, reason)
	}
	f.dropRoomLocked(r)
}

func (f *focus) leaveLocked(ctx context.Context, p *participant, reason string) error {
	if !f.detachLocked(p) {
		return nil
	}
	r := p.room
	req := modifyRequest{MeetingID: r.meetingID, Endpoint: &endpointRequest{ID: p.id, Expire: true}}
	if len(r.participants) == 0 {
		// Like jicofo: the last one out expires the conference instead of the endpoint.
		req = modifyRequest{MeetingID: r.meetingID, ExpireConference: true}
		f.dropRoomLocked(r)
	}
	f.log.Info("participant left", "room", r.name, "meeting_id", r.meetingID, "endpoint", p.id,
		"reason", reason, "participants", len(r.participants))
	_, err := f.bridge.modify(ctx, req)
	f.reofferLocked(r)
	if err != nil {
		return fmt.Errorf("expire endpoint %s in room %s: %w", p.id, r.name, err)
	}
	return nil
}

func removeParticipant(ps []*participant, p *participant) []*participant {
	out := ps[:0]
	for _, q := range ps {
		if q != p {
			out = append(out, q)
		}
	}
	clear(ps[len(out):])
	return out
}

// reofferLocked recomputes every participant's offer from the room's current sources and
// roster, and wakes the long-polls of those whose offer or roster changed (jicofo's source-add /
// source-remove, and the MUC presence a rewriting page needs to drop a participant that left).
func (f *focus) reofferLocked(r *room) {
	for _, p := range r.participants {
		if !p.rewriting {
			f.assignSlotsLocked(r, p)
		}
		roster := make([]string, 0, len(r.participants))
		for _, q := range r.participants {
			if q != p {
				roster = append(roster, q.id)
			}
		}
		o := offer{SessionID: p.session, Version: p.version + 1, Bridge: p.bridge, SCTPPort: p.sctpPort,
			Feedback: r.feedback, Slots: p.slots}
		sdp := o.sdp()
		if p.sdp != "" && sdpBody(sdp) == sdpBody(p.sdp) && slices.Equal(roster, p.roster) {
			continue
		}
		p.version++
		p.sdp = sdp
		p.roster = roster
		close(p.changed)
		p.changed = make(chan struct{})
	}
}

// assignSlotsLocked points p's m-lines at the others' current sources, adding m-lines for new
// ones, in join order then source order, so every offer is stable.
func (f *focus) assignSlotsLocked(r *room, p *participant) {
	want := map[string]*mediaSource{} // key owner/name
	for _, q := range r.participants {
		if q == p {
			continue
		}
		for i := range q.sources {
			s := &q.sources[i]
			want[s.Owner+"/"+s.Name] = s
		}
	}
	for i := range p.slots {
		sl := &p.slots[i]
		sl.Source = want[sl.Owner+"/"+sl.Name]
		delete(want, sl.Owner+"/"+sl.Name)
	}
	for _, q := range r.participants {
		for i := range q.sources {
			s := &q.sources[i]
			if want[s.Owner+"/"+s.Name] == nil {
				continue
			}
			if len(p.slots) >= maxSlots {
				f.log.Warn("offer has too many m-lines, source not offered", "endpoint", p.id, "source", s.Name)
				continue
			}
			p.slots = append(p.slots, slot{Mid: fmt.Sprint(firstSlotMid + len(p.slots)), Kind: s.Kind,
				Owner: s.Owner, Name: s.Name, Source: s})
		}
	}
}

// sdpBody drops the o= line (which carries the version) so offers can be compared.
func sdpBody(sdp string) string {
	_, rest, _ := strings.Cut(sdp, "\r\ns=")
	return rest
}

// current returns the participant's offer and a channel closed when it changes.
func (f *focus) current(p *participant) (o offerMessage, changed <-chan struct{}, left bool) {
	p.room.mu.Lock()
	defer p.room.mu.Unlock()
	p.lastSeen = time.Now()
	return offerMessage{Version: p.version, SDP: p.sdp, Participants: slices.Clone(p.roster)}, p.changed, p.left
}

func (f *focus) setPolling(p *participant, delta int) {
	p.room.mu.Lock()
	defer p.room.mu.Unlock()
	p.polling += delta
	p.lastSeen = time.Now()
}

// expireStale removes participants that have not been heard from within f.timeout.
func (f *focus) expireStale(ctx context.Context, now time.Time) {
	f.removeParticipants(ctx, "timeout", func(p *participant) bool {
		return p.polling == 0 && now.Sub(p.lastSeen) > f.timeout
	})
}

// shutdown refuses new joins and expires every room on the bridge.
func (f *focus) shutdown(ctx context.Context) {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.removeParticipants(ctx, "shutdown", func(*participant) bool { return true })
}

// removeParticipants makes every participant match picks leave, room by room (each
// room locked without f.mu held, as the lock order requires).
func (f *focus) removeParticipants(ctx context.Context, reason string, match func(*participant) bool) {
	f.mu.Lock()
	rooms := make([]*room, 0, len(f.rooms))
	for _, r := range f.rooms {
		rooms = append(rooms, r)
	}
	f.mu.Unlock()
	for _, r := range rooms {
		r.mu.Lock()
		for _, p := range slices.Clone(r.participants) {
			if !match(p) {
				continue
			}
			if err := f.leaveLocked(ctx, p, reason); err != nil {
				f.log.Warn("removing a participant failed", "endpoint", p.id, "reason", reason, "err", err)
			}
		}
		r.mu.Unlock()
	}
}
