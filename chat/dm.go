package chat

import (
	"context"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Direct messages (docs/PROTOCOL.md "Direct messages"): a direct
// conversation is a private room of two members whose genesis says dm.
// The first DMSend to a peer creates it, adds the peer (its bundle
// fetched from it), and hands the peer an invite naming it through
// Config.DMDelivery; the peer's node joins it (AcceptDM). Both peers must
// be online for the first message.

// KindDM is Room.Kind of a direct conversation.
const KindDM = "dm"

// dmRoomName is a direct conversation's (encrypted) name.
const dmRoomName = "dm"

// DMDelivery hands a direct conversation's invite token to the peer it
// names; node satisfies it with a stream whose other end calls AcceptDM.
type DMDelivery interface {
	Deliver(ctx context.Context, to peer.ID, token string) error
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
// with it, starting one if there is none.
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
	if !ok {
		if _, err := s.cfg.Keys.Bundle(ctx, p); err != nil {
			return Message{}, fmt.Errorf("key bundle of %s: %w", p, err) // before anything is written
		}
		if r, _, err = s.createPrivate(ctx, dmRoomName, true); err != nil {
			return Message{}, err
		}
	}
	if !ok || !s.hasWritten(ctx, r.ID, p) {
		// New, or the peer has not joined yet as far as we know (an
		// earlier hand-over may have failed): hand it over (again).
		tok, err := s.Invite(ctx, r.ID, to)
		if err != nil {
			return Message{}, err
		}
		if err := s.cfg.DMDelivery.Deliver(ctx, p, tok); err != nil {
			return Message{}, fmt.Errorf("hand the conversation to %s: %w", p, err)
		}
	}
	return s.Send(ctx, r.ID, text)
}

// hasWritten reports whether p has an event in room here (its join).
func (s *Service) hasWritten(ctx context.Context, room string, p peer.ID) bool {
	ms, err := s.Members(ctx, room)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(ms, func(m Member) bool { return m.PeerID == p.String() })
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

// AcceptDM joins the direct conversation that peer from handed us: the
// token must be signed by from and name us, and the conversation be
// within MaxUnansweredDMs and MaxUnansweredDMsPerPeer unless joined
// already.
func (s *Service) AcceptDM(ctx context.Context, from peer.ID, token string) (Room, error) {
	tok, err := parseToken(token)
	if err != nil {
		return Room{}, err
	}
	inv := tok.Invite
	if inv.Inviter != from || inv.Invitee != s.self {
		return Room{}, fmt.Errorf("%w: a conversation token must come from its inviter and name us", ErrBadInvite)
	}
	s.dmAccept.Lock() // counts and joins one at a time, so the caps hold
	defer s.dmAccept.Unlock()
	if !s.isJoined(inv.Room) {
		all, byFrom := s.unansweredDMs(from)
		if all >= MaxUnansweredDMs || byFrom >= MaxUnansweredDMsPerPeer {
			return Room{}, fmt.Errorf("%w: %d unanswered conversations (%d from %s); answer or leave some first",
				ErrRateLimited, all, byFrom, from)
		}
	}
	r, err := s.JoinInvite(ctx, token)
	if err == nil {
		if s.dmFrom == nil {
			s.dmFrom = map[string]peer.ID{}
		}
		s.dmFrom[inv.Room] = from // its genesis may come later
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
