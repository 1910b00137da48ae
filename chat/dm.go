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

// dmRoom returns the joined direct conversation with p, if any (the
// lowest ID if two crossed).
func (s *Service) dmRoom(p peer.ID) (Room, bool) {
	s.mu.Lock()
	var cands []Room
	for _, j := range s.rooms {
		if j.Moderated {
			cands = append(cands, j.Room)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(cands, func(a, b Room) int {
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	for _, r := range cands {
		mr := s.modRoom(r.ID)
		if mr == nil || !mr.isDM() {
			continue
		}
		ms := mr.members()
		if len(ms) == 2 && containsPeer(ms, p) && containsPeer(ms, s.self) {
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

// AcceptDM joins the direct conversation that peer from handed us: the
// token must be signed by from and name us.
func (s *Service) AcceptDM(ctx context.Context, from peer.ID, token string) (Room, error) {
	tok, err := parseToken(token)
	if err != nil {
		return Room{}, err
	}
	inv := tok.Invite
	if inv.Inviter != from || inv.Invitee != s.self {
		return Room{}, fmt.Errorf("%w: a conversation token must come from its inviter and name us", ErrBadInvite)
	}
	return s.JoinInvite(ctx, token)
}
