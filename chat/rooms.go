package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/parley-chat/parley/ledger"
)

var roomsPrefix = ds.NewKey("/rooms")

func (s *Service) savedRooms(ctx context.Context) ([]Room, error) {
	res, err := s.store.Query(ctx, query.Query{Prefix: roomsPrefix.String(), Orders: []query.Order{query.OrderByKey{}}})
	if err != nil {
		return nil, err
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, err
	}
	var rooms []Room
	for _, e := range entries {
		var r Room
		if err := json.Unmarshal(e.Value, &r); err != nil {
			return nil, fmt.Errorf("membership record %s: %w", e.Key, err)
		}
		rooms = append(rooms, r)
	}
	return rooms, nil
}

// Join joins the public room name (creating it if nobody has yet) and
// announces the join in the room's ledger, or the moderated room with
// that ID (made by Create; its history comes by sync; AwaitGenesis waits
// for it). A private room we hold and are not a member of is refused
// with ErrInviteOnly: those are joined by invite (JoinInvite). Joining a
// joined room is a no-op.
func (s *Service) Join(ctx context.Context, name string) (Room, error) {
	var r Room
	if looksLikeModeratedID(name) {
		if err := s.checkJoinByID(ctx, name); err != nil {
			return Room{}, err
		}
		r = Room{ID: name, Moderated: true}
	} else {
		n, err := NormalizeName(name)
		if err != nil {
			if looksLikeRoomID(name) {
				// A public room ID: only known rooms can be joined by ID,
				// since the name cannot be recovered from it.
				if r, ok := s.joinedRoom(name); ok {
					return r, nil
				}
				return Room{}, fmt.Errorf("%w: %s (join public rooms by name)", ErrUnknownRoom, name)
			}
			return Room{}, err
		}
		r = Room{ID: PublicRoomID(n), Name: n}
	}
	return s.join(ctx, r)
}

// join joins the resolved room r (see Join).
func (s *Service) join(ctx context.Context, r Room) (Room, error) {
	s.joinMu.Lock()
	defer s.joinMu.Unlock()
	if got, ok := s.joinedRoom(r.ID); ok {
		return s.describe(got), nil
	}
	if err := s.joinRoom(ctx, r); err != nil {
		return Room{}, err
	}
	s.announceJoin(ctx, r)
	return s.describe(r), nil
}

// joinRoom subscribes to r and records the membership. s.joinMu is held.
func (s *Service) joinRoom(ctx context.Context, r Room) error {
	if err := s.subscribe(r); err != nil {
		return err
	}
	b, _ := json.Marshal(Room{ID: r.ID, Name: r.Name, Private: r.Private, Moderated: r.Moderated})
	if err := s.store.Put(ctx, roomsPrefix.ChildString(r.ID), b); err != nil {
		s.leaveTopic(r.ID)
		return fmt.Errorf("save membership of %s: %w", r.ID, err)
	}
	return nil
}

// announceJoin appends our join event (best effort: in a moderated room
// whose genesis has not arrived yet it would be a root, which only the
// genesis may be) and tells OnJoin.
func (s *Service) announceJoin(ctx context.Context, r Room) {
	if mr := s.modRoom(r.ID); mr != nil && mr.deferJoin() {
		// Joined by ID before the genesis came: announced once it is
		// stored (onModCommit).
		s.log.Info("joined room", "room", r.ID)
		if s.cfg.OnJoin != nil {
			s.cfg.OnJoin(r.ID)
		}
		return
	}
	s.appendJoin(ctx, r)
	s.log.Info("joined room", "room", r.ID, "name", r.Name)
	if s.cfg.OnJoin != nil {
		s.cfg.OnJoin(r.ID)
	}
}

// appendJoin appends our join event to r.
func (s *Service) appendJoin(ctx context.Context, r Room) {
	body, _ := json.Marshal(memberBody{Name: s.cfg.Name})
	if _, err := s.append(ctx, r.ID, ledger.KindJoin, body); err != nil {
		s.log.Warn("announce join", "room", r.ID, "err", err)
	}
}

func (s *Service) joinedRoom(id string) (Room, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.rooms[id]
	if !ok {
		return Room{}, false
	}
	return j.Room, true
}

// Leave announces leaving, unsubscribes from the room's topic and forgets
// the membership. The room's history stays on disk and readable.
func (s *Service) Leave(ctx context.Context, room string) error {
	r, err := s.resolve(room)
	if err != nil {
		return err
	}
	s.joinMu.Lock()
	defer s.joinMu.Unlock()
	if _, ok := s.joinedRoom(r.ID); !ok {
		return fmt.Errorf("%w: %s", ErrNotMember, room)
	}
	body, _ := json.Marshal(memberBody{Name: s.cfg.Name})
	if ev, err := s.append(ctx, r.ID, ledger.KindLeave, body); err != nil {
		s.log.Warn("announce leave", "room", r.ID, "err", err)
	} else {
		// Publish it now: the room's publisher stops with the topic below.
		// (The publisher may send it too; pubsub drops the duplicate.)
		s.mu.Lock()
		j := s.rooms[r.ID]
		s.mu.Unlock()
		if j != nil {
			<-j.ready
			if j.topic != nil {
				j.topic.Publish(ctx, ev.Raw())
			}
		}
	}
	if err := s.store.Delete(ctx, roomsPrefix.ChildString(r.ID)); err != nil {
		return fmt.Errorf("forget membership of %s: %w", r.ID, err)
	}
	return s.leaveTopic(r.ID)
}

func (s *Service) leaveTopic(id string) error {
	s.mu.Lock()
	j := s.rooms[id]
	delete(s.rooms, id)
	s.mu.Unlock()
	if j == nil {
		return nil
	}
	err := s.stop(j)
	// After the worker stopped: nothing charges the room any more.
	s.newcomers.forget(id)
	return err
}

// Rooms lists the joined rooms, sorted by name.
func (s *Service) Rooms(ctx context.Context) ([]Room, error) {
	s.mu.Lock()
	out := make([]Room, 0, len(s.rooms))
	for _, j := range s.rooms {
		out = append(out, j.Room)
	}
	s.mu.Unlock()
	for i := range out {
		out[i] = s.describe(out[i])
	}
	sort.Slice(out, func(i, k int) bool {
		return out[i].Name < out[k].Name || out[i].Name == out[k].Name && out[i].ID < out[k].ID
	})
	return out, nil
}

// resolve finds a room by ID or public name. A public name resolves even
// when not joined (its ID is derived), so history of a left room can be read.
func (s *Service) resolve(room string) (Room, error) {
	if r, ok := s.joinedRoom(room); ok {
		return r, nil
	}
	if looksLikeRoomID(room) {
		return Room{ID: room}, nil
	}
	if looksLikeModeratedID(room) {
		return Room{ID: room, Moderated: true}, nil
	}
	n, err := NormalizeName(room)
	if err != nil {
		return Room{}, fmt.Errorf("%w: %q", ErrUnknownRoom, room)
	}
	id := PublicRoomID(n)
	if r, ok := s.joinedRoom(id); ok {
		return r, nil
	}
	if r, ok := s.moderatedByName(n); ok {
		return r, nil
	}
	return Room{ID: id, Name: n}, nil
}

// moderatedByName finds the one joined moderated room named n, so that
// its name works where a ROOM is asked for (the name-only room of that
// name, when joined, comes first). Two joined moderated rooms of one
// name (different creators) need their IDs.
func (s *Service) moderatedByName(n string) (Room, bool) {
	s.mu.Lock()
	var cands []Room
	for _, j := range s.rooms {
		if j.Moderated {
			cands = append(cands, j.Room)
		}
	}
	s.mu.Unlock()
	var found []Room
	for _, r := range cands {
		if r = s.describe(r); r.Name == n {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		return Room{}, false
	}
	return found[0], true
}

// Orphans returns how many events of room wait for their parents.
func (s *Service) Orphans(room string) int {
	s.mu.Lock()
	j := s.rooms[room]
	s.mu.Unlock()
	if j == nil {
		return 0
	}
	return j.orph.len()
}

// context is the room's context, or the service's for a joined made
// without one (tests).
func (j *joined) context(s *Service) context.Context {
	if j.ctx != nil {
		return j.ctx
	}
	return s.ctx
}
