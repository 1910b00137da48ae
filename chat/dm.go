package chat

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
)

// Direct messages (docs/PROTOCOL.md "Direct messages"): a direct
// conversation is a private room of two members whose genesis says dm.
// The first DMSend to a peer creates it with both members in its first
// epoch (the peer's bundle fetched from the peer, else the DHT, so the
// peer may be offline), whose secret reaches the peer as an e2ee.DMInit
// (dminit.go). The DMInit waits in the outbox (dmoutbox.go) until
// Config.DMDelivery hands it over, now or when the peer comes online; the
// peer's node takes it with AcceptDM, joins and syncs the conversation.

// KindDM is Room.Kind of a direct conversation.
const KindDM = "dm"

// dmRoomName is a direct conversation's (encrypted) name.
const dmRoomName = "dm"

// handOverTimeout bounds DMSend's own hand-over attempt; what fails
// stays queued for the node's retries.
const handOverTimeout = 15 * time.Second

// DMDelivery hands a direct conversation's first message (an encoded
// e2ee.DMInit) to the peer it names; node satisfies it with a stream
// whose other end calls AcceptDM.
type DMDelivery interface {
	Deliver(ctx context.Context, to peer.ID, init []byte) error
}

// dmRoom returns the canonical room of the direct conversation with p,
// if any (the lowest ID if two crossed: dmmerge.go).
func (s *Service) dmRoom(p peer.ID) (Room, bool) {
	for _, id := range s.dmRooms(p) {
		if r, ok := s.joinedRoom(id); ok {
			return s.describe(r), true
		}
	}
	return Room{}, false
}

// DMSend sends text to the peer with ID to in the direct conversation
// with it, starting one if there is none. Starting one needs the peer's
// bundle (ErrNoEpochKeys-free: a lookup error is returned before
// anything is written) and room in the outbox (ErrRateLimited); the
// first message is queued, then handed over at once if the peer is
// reachable. An unreachable peer is not an error: the message is stored
// and the conversation handed over later.
func (s *Service) DMSend(ctx context.Context, to, text string) (Message, error) {
	if s.cfg.Keys == nil || s.cfg.DMDelivery == nil {
		return Message{}, ErrPrivateRooms
	}
	p, err := peer.Decode(to)
	if err != nil || p == s.self {
		return Message{}, fmt.Errorf("%w: peer %q", ErrBadModeration, to)
	}
	if _, err := encodeText(text); err != nil {
		return Message{}, err
	}
	r, ok := s.dmRoom(p)
	var init []byte
	if !ok {
		if err := s.outboxRoom(ctx); err != nil {
			return Message{}, err
		}
		b, err := s.cfg.Keys.Bundle(ctx, p)
		if err != nil {
			return Message{}, fmt.Errorf("key bundle of %s: %w", p, err) // before anything is written
		}
		if r, _, init, err = s.createPrivate(ctx, dmRoomName, p); err != nil {
			return Message{}, err
		}
		if err := s.queueDM(ctx, p, r.ID, init, b.Expires); err != nil {
			return Message{}, err
		}
	}
	m, err := s.Send(ctx, r.ID, text)
	if err != nil || init == nil {
		return m, err
	}
	dctx, cancel := context.WithTimeout(ctx, handOverTimeout)
	defer cancel()
	if err := s.cfg.DMDelivery.Deliver(dctx, p, init); err != nil {
		s.log.Info("conversation queued for its peer", "peer", p, "room", r.ID, "err", err)
		return m, nil
	}
	if err := s.DMDelivered(ctx, p, r.ID); err != nil {
		s.log.Warn("drop a delivered conversation from the outbox", "err", err)
	}
	return m, nil
}

// hasWritten reports whether p has an event in room here (its join).
func (s *Service) hasWritten(ctx context.Context, room string, p peer.ID) bool {
	ms, err := s.Members(ctx, room)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(ms, func(m Member) bool { return m.PeerID == p.String() && m.State == MemberJoined })
}

// DMRoom returns the direct conversation with peer with, if there is one.
func (s *Service) DMRoom(with string) (Room, bool, error) {
	p, err := peer.Decode(with)
	if err != nil {
		return Room{}, false, fmt.Errorf("%w: peer %q", ErrBadModeration, with)
	}
	r, ok := s.dmRoom(p)
	return r, ok, nil
}

// DMHistory returns the direct conversation with peer with, as History.
func (s *Service) DMHistory(ctx context.Context, with string, q HistoryQuery) ([]Message, error) {
	p, err := peer.Decode(with)
	if err != nil {
		return nil, fmt.Errorf("%w: peer %q", ErrBadModeration, with)
	}
	r, ok := s.dmRoom(p)
	if !ok {
		return []Message{}, nil
	}
	return s.History(ctx, r.ID, q)
}

// Bounds of the direct conversations others start with us that we have
// not answered (sent no message in), so that strangers, or a Sybil of
// fresh identities, cannot grow our room list and ledger without bound:
// AcceptDM refuses a new one past them (wrapping ErrRateLimited). A
// conversation counts until we send in it; a moderated room whose
// genesis has not arrived yet counts too (it may be one). Per peer two,
// as two conversations may cross.
const (
	MaxUnansweredDMs        = 32
	MaxUnansweredDMsPerPeer = 2
)

// AcceptDM takes the first message (an encoded e2ee.DMInit) of a direct
// conversation someone started with us, handed over by its sender or
// fetched from an inbox: it must be for us, sealed to a bundle of ours
// and signed by its sender (ErrBadDMInit), for a (room, epoch) not
// accepted before (ErrDMInitSeen) nor older than one accepted
// (ErrBadDMInit), and a new conversation must be within
// MaxUnansweredDMs and MaxUnansweredDMsPerPeer (ErrRateLimited). Then
// the epoch's chains are kept and the room joined (its events come by
// sync from its members). On error nothing is stored.
func (s *Service) AcceptDM(ctx context.Context, init []byte) (Room, error) {
	if s.cfg.Keys == nil {
		return Room{}, ErrPrivateRooms
	}
	s.dmAccept.Lock() // counts and joins one at a time, so the caps hold
	defer s.dmAccept.Unlock()
	d, err := e2ee.ParseDMInit(init)
	if err != nil {
		return Room{}, fmt.Errorf("%w: %w", ErrBadDMInit, err)
	}
	room, from := d.Epoch.Room, d.Sender
	if !s.isJoined(room) && d.Recipient == s.self {
		all, byFrom := s.unansweredDMs(from)
		if all >= MaxUnansweredDMs || byFrom >= MaxUnansweredDMsPerPeer {
			return Room{}, fmt.Errorf("%w: %d unanswered conversations (%d from %s); answer or leave some first",
				ErrRateLimited, all, byFrom, from)
		}
	}
	if _, err := s.acceptDMInit(ctx, init); err != nil {
		return Room{}, err
	}
	if err := s.loadModRoom(ctx, room); err != nil {
		return Room{}, err
	}
	r, err := s.join(ctx, Room{ID: room, Moderated: true, Private: true})
	if err == nil {
		if s.dmFrom == nil {
			s.dmFrom = map[string]peer.ID{}
		}
		s.dmFrom[room] = from // its genesis may come later
	}
	return r, err
}

// isJoined reports whether we have joined room.
func (s *Service) isJoined(room string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.rooms[room]
	return ok
}

// unansweredDMs counts the joined direct conversations another peer
// created in which we have sent no message, in all and those by from,
// and drops the dmFrom entries of the others. Moderated rooms whose
// genesis is unknown count in all, and for their inviter if AcceptDM
// joined them. Called with dmAccept held.
func (s *Service) unansweredDMs(from peer.ID) (all, byFrom int) {
	s.mu.Lock()
	rooms := map[string]*modRoom{}
	for id, j := range s.rooms {
		if mr := s.mods[id]; j.Moderated && mr != nil {
			rooms[id] = mr
		}
	}
	s.mu.Unlock()
	for id, mr := range rooms {
		creator, ok := mr.unansweredBy(s.self)
		if !ok {
			delete(s.dmFrom, id)
			continue
		}
		if creator == "" {
			creator = s.dmFrom[id]
		}
		all++
		if creator == from {
			byFrom++
		}
	}
	for id := range s.dmFrom {
		if rooms[id] == nil {
			delete(s.dmFrom, id) // left
		}
	}
	return all, byFrom
}

// unansweredBy reports whether r is a direct conversation that another
// peer (creator, "" before the genesis) created and self has sent no
// message in, or a room whose genesis is not known yet.
func (r *modRoom) unansweredBy(self peer.ID) (creator peer.ID, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.genesis == "" {
		return "", true
	}
	if !r.dm || r.creator == self {
		return "", false
	}
	for _, n := range r.nodes {
		if n.msg && n.author == self {
			return "", false
		}
	}
	return r.creator, true
}
