package chat

import (
	"context"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/ledger"
)

// Crossed direct conversations (docs/PROTOCOL.md "Direct messages"): if
// two peers each send a first message before the other's hand-over
// arrives, each creates a room and joins the other's, so two DM rooms
// hold their conversation. They are one conversation: every joined DM
// room whose two members are exactly us and the peer belongs to it, and
// its canonical room is the one with the lowest ID, which both peers
// pick once they hold both genesis events. Sends go to the canonical room
// (DMSend, Send), the conversation's history is the merge of its rooms
// (History), Messages name the canonical room, subscriptions to any of
// its rooms get them all, and ListRooms shows it once.

// dmPeerOf returns the other member of room if it is a joined direct
// conversation whose members, and its current epoch's, are exactly us and
// that peer (so that we can write in it: a crossed room counts once its
// keys for us have come, not in between).
func (s *Service) dmPeerOf(room string) (peer.ID, bool) {
	mr := s.modRoom(room)
	if mr == nil || !mr.isDM() {
		return "", false
	}
	if _, ok := s.joinedRoom(room); !ok {
		return "", false
	}
	ms := mr.members()
	if len(ms) != 2 || !containsPeer(ms, s.self) {
		return "", false
	}
	if _, em, _ := mr.currentEpoch(); !slices.Equal(em, ms) {
		return "", false
	}
	if ms[0] == s.self {
		return ms[1], true
	}
	return ms[0], true
}

// dmRooms returns the rooms of the direct conversation with p, canonical
// (lowest ID) first; nil if there is none.
func (s *Service) dmRooms(p peer.ID) []string {
	s.mu.Lock()
	var cands []string
	for id, j := range s.rooms {
		if j.Moderated {
			cands = append(cands, id)
		}
	}
	s.mu.Unlock()
	slices.Sort(cands)
	var out []string
	for _, id := range cands {
		if q, ok := s.dmPeerOf(id); ok && q == p {
			out = append(out, id)
		}
	}
	return out
}

// conversation returns the rooms of the direct conversation room belongs
// to, canonical first, and its peer; nil if room is not in one.
func (s *Service) conversation(room string) ([]string, peer.ID) {
	p, ok := s.dmPeerOf(room)
	if !ok {
		return nil, ""
	}
	return s.dmRooms(p), p
}

// canonical returns the room Messages of room name (the canonical room of
// its direct conversation, else room itself) and the conversation's peer
// ("" outside one). memo, if not nil, caches answers for one batch.
func (s *Service) canonical(memo map[string]convRef, room string) convRef {
	if c, ok := memo[room]; ok {
		return c
	}
	c := convRef{room: room}
	if rs, p := s.conversation(room); len(rs) > 0 {
		c = convRef{room: rs[0], peer: p}
	}
	if memo != nil {
		memo[room] = c
	}
	return c
}

// convRef is where a room's messages are shown: the canonical room, and
// the peer of its direct conversation ("" for other rooms).
type convRef struct {
	room string
	peer peer.ID
}

// ListRooms is Rooms as apps list them (room_list): a direct conversation
// of two crossed rooms shows once, as its canonical room. Rooms still
// lists every joined room (what sync and metrics need).
func (s *Service) ListRooms(ctx context.Context) ([]Room, error) {
	rs, err := s.Rooms(ctx)
	if err != nil {
		return nil, err
	}
	memo := map[string]convRef{}
	return slices.DeleteFunc(rs, func(r Room) bool {
		return r.Kind == KindDM && s.canonical(memo, r.ID).room != r.ID
	}), nil
}

// conversationHistory is History over the rooms of one direct
// conversation: their messages in one (Lamport, ID) order, the newest
// limit of them before q.Before, which may be a message of any of the
// rooms. Within each room that is its causal order; across the rooms,
// whose clocks are independent, it interleaves by clock value (crossed
// rooms are made by the same steps at the same moment, so their first
// messages sit side by side). Every Message names the canonical room.
func (s *Service) conversationHistory(ctx context.Context, rooms []string, q HistoryQuery) ([]Message, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	var bound *ledger.Key
	if q.Before != "" {
		id, err := ledger.ParseID(q.Before)
		if err != nil {
			return nil, fmt.Errorf("%w: before: %v", ErrBadCursor, err)
		}
		for _, r := range rooms {
			if k, err := s.led.KeyOf(ctx, r, id); err == nil {
				bound = &k
				break
			}
		}
		if bound == nil {
			return nil, fmt.Errorf("%w: before: no message %s in the conversation", ErrBadCursor, q.Before)
		}
	}
	type keyed struct {
		Message
		key ledger.Key
	}
	var all []keyed
	for _, r := range rooms {
		msgs, err := s.historyBelow(ctx, r, bound, limit)
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			id, err := ledger.ParseID(m.ID)
			if err != nil {
				return nil, err
			}
			m.Room = rooms[0]
			all = append(all, keyed{m, ledger.Key{Lamport: m.Lamport, ID: id}})
		}
	}
	slices.SortFunc(all, func(a, b keyed) int { return a.key.Compare(b.key) })
	all = all[max(0, len(all)-limit):]
	out := make([]Message, len(all))
	for i, k := range all {
		out[i] = k.Message
	}
	return out, nil
}

// historyBelow returns the newest limit messages of room whose key is
// below bound (all if bound is nil), oldest first.
func (s *Service) historyBelow(ctx context.Context, room string, bound *ledger.Key, limit int) ([]Message, error) {
	r := Room{ID: room, Moderated: true}
	if bound == nil {
		return s.roomHistory(ctx, r, room, HistoryQuery{Limit: limit})
	}
	anchor, ok, err := s.lastKeyBelow(ctx, room, *bound)
	if err != nil || !ok {
		return nil, err
	}
	msgs, err := s.roomHistory(ctx, r, room, HistoryQuery{Limit: limit, Before: anchor.ID.String()})
	if err != nil {
		return nil, err
	}
	// The anchor itself is below the bound too.
	ev, err := s.led.Get(ctx, room, anchor.ID)
	if err != nil {
		return nil, storeErr(err)
	}
	if !s.hidden(ev) {
		if m, ok := s.show(ev); ok {
			msgs = append(msgs, m)
		}
	}
	return msgs[max(0, len(msgs)-limit):], nil
}

// lastKeyBelow finds the greatest key of room below bound, reading its
// order index a 256-clock bucket at a time downwards from the lower of
// bound's clock and the room's largest (clocks are dense, so it seldom
// reads more than one or two).
func (s *Service) lastKeyBelow(ctx context.Context, room string, bound ledger.Key) (ledger.Key, bool, error) {
	sum, err := s.led.Summary(ctx, room)
	if err != nil {
		return ledger.Key{}, false, storeErr(err)
	}
	top := min(bound.Lamport, sum.MaxLamport)
	for b := top >> 8; ; b-- {
		ks, err := s.led.Keys(ctx, room, b<<8, min(b<<8|0xff, top))
		if err != nil {
			return ledger.Key{}, false, storeErr(err)
		}
		for i := len(ks) - 1; i >= 0; i-- {
			if ks[i].Compare(bound) < 0 {
				return ks[i], true, nil
			}
		}
		if b == 0 {
			return ledger.Key{}, false, nil
		}
	}
}

// creatorID returns the room's creator ("" before the genesis).
func (r *modRoom) creatorID() peer.ID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.creator
}
