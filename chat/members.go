package chat

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/ledger"
)

// Member is one member of a room, as room_members shows it.
type Member struct {
	PeerID   string `json:"peerId"`
	Name     string `json:"name"`
	LastSeen string `json:"lastSeen"` // RFC 3339: claimed time of their newest event; "" if none
	State    string `json:"state"`    // MemberJoined or MemberInvited
}

// Member states.
const (
	// MemberJoined is a peer with events in the room.
	MemberJoined = "member"
	// MemberInvited is a peer a private room's admins admitted (an invite
	// naming it, or one it proved) that has written nothing there yet.
	MemberInvited = "invited"
)

// memberState folds a room's events into membership. Every update is
// idempotent and independent of arrival order (join/leave decided by the
// newest of them in (Lamport, ID) order), so a scan and live commits may
// overlap.
type memberState struct {
	name     string
	lastSeen int64
	memLam   uint64
	memID    ledger.ID
	left     bool
}

type roomMembers struct {
	loaded bool
	m      map[peer.ID]*memberState
}

// noteMember updates membership from one stored event. s.mu must be held.
func (s *Service) noteMember(ev *ledger.Event) {
	rm := s.members[ev.Room]
	if rm == nil {
		rm = &roomMembers{m: make(map[peer.ID]*memberState)}
		s.members[ev.Room] = rm
	}
	st := rm.m[ev.Author]
	if st == nil {
		st = &memberState{}
		rm.m[ev.Author] = st
	}
	st.lastSeen = max(st.lastSeen, ev.Time)
	if ev.Kind != ledger.KindJoin && ev.Kind != ledger.KindLeave {
		return
	}
	if ev.Lamport < st.memLam || ev.Lamport == st.memLam && ev.ID() <= st.memID {
		return
	}
	st.memLam, st.memID, st.left = ev.Lamport, ev.ID(), ev.Kind == ledger.KindLeave
	var b memberBody
	if json.Unmarshal(ev.Body, &b) == nil && b.Name != "" {
		st.name = b.Name
	}
}

// Members lists the members of a room: everyone whose newest join or leave
// is a join, or who wrote in it without ever joining or leaving (state
// MemberJoined), and in a private room the admitted peers that have
// written nothing yet (MemberInvited), sorted by name then peer ID. The first call after a start reads the room's whole
// ledger once; later events keep it current.
func (s *Service) Members(ctx context.Context, room string) ([]Member, error) {
	r, err := s.resolve(room)
	if err != nil {
		return nil, err
	}
	if err := s.ensureMembers(ctx, r.ID); err != nil {
		return nil, err
	}
	if err := s.ensureModRoom(ctx, r.ID); err != nil {
		return nil, storeErr(err)
	}
	var mod *modState
	var admitted []peer.ID
	if mr := s.modRoom(r.ID); mr != nil {
		_, mod = mr.snapshot()
		if mr.isPrivate() {
			admitted = mr.members()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rm := s.members[r.ID]
	out := []Member{}
	if rm == nil {
		return out, nil
	}
	for _, p := range admitted {
		if rm.m[p] == nil {
			out = append(out, Member{PeerID: p.String(), Name: s.names[p], State: MemberInvited})
		}
	}
	for p, st := range rm.m {
		if st.left || mod != nil && mod.banned[p] {
			continue // a banned author's events are hidden: so is the author
		}
		name := st.name
		if n := s.names[p]; n != "" {
			name = n
		}
		if p == s.self {
			name = s.cfg.Name
		}
		out = append(out, Member{PeerID: p.String(), Name: name,
			LastSeen: claimedTime(st.lastSeen).Format(time.RFC3339), State: MemberJoined})
	}
	slices.SortFunc(out, func(a, b Member) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.PeerID, b.PeerID))
	})
	return out, nil
}

// ensureMembers reads room's ledger into membership once per start.
func (s *Service) ensureMembers(ctx context.Context, room string) error {
	s.mu.Lock()
	loaded := s.members[room] != nil && s.members[room].loaded
	s.mu.Unlock()
	if loaded {
		return nil
	}
	return s.loadMembers(ctx, room)
}

func (s *Service) loadMembers(ctx context.Context, room string) error {
	var before ledger.ID
	for {
		page, err := s.led.History(ctx, room, before, 1000)
		if err != nil {
			return err
		}
		s.mu.Lock()
		for _, ev := range page {
			s.noteMember(ev)
		}
		s.mu.Unlock()
		if len(page) < 1000 {
			break
		}
		before = page[0].ID()
	}
	s.mu.Lock()
	if s.members[room] == nil {
		s.members[room] = &roomMembers{m: make(map[peer.ID]*memberState)}
	}
	s.members[room].loaded = true
	s.mu.Unlock()
	return nil
}
