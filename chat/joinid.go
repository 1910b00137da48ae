package chat

import (
	"context"
	"fmt"
)

// Joining a moderated room by its ID: the ID says nothing of the room,
// not even whether it is private, so Join refuses what this node can
// tell (a private room whose genesis it holds and whose members do not
// include it), and AwaitGenesis the rest: the genesis of a room comes
// only from peers that serve it, and members serve a private room to
// members only, answering everyone else as for a room they do not hold.
// So a room whose genesis does not arrive in time is, for this node, a
// private room it was not invited to (or one nobody reachable holds),
// and the join is undone rather than left as an empty, nameless room.

// closedCh is a closed channel.
var closedCh = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// genesisStored returns a channel closed once the room's genesis is
// stored.
func (r *modRoom) genesisStored() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.genesisIsStored() {
		return closedCh
	}
	if r.genesisCh == nil {
		r.genesisCh = make(chan struct{})
	}
	return r.genesisCh
}

// noteGenesis wakes genesisStored's waiters once the genesis is stored
// (onModCommit).
func (r *modRoom) noteGenesis() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.genesisCh != nil && r.genesisIsStored() {
		close(r.genesisCh)
		r.genesisCh = nil
	}
}

// genesisIsStored reports whether the genesis is stored. r.mu is held.
func (r *modRoom) genesisIsStored() bool {
	n := r.nodes[r.genesis]
	return r.genesis != "" && n != nil && n.stored
}

// checkJoinByID refuses to join, by its ID, a private room whose genesis
// we hold and that does not count us among its members.
func (s *Service) checkJoinByID(ctx context.Context, id string) error {
	if _, ok := s.joinedRoom(id); ok {
		return nil
	}
	if err := s.loadModRoom(ctx, id); err != nil {
		return err
	}
	if mr := s.modRoom(id); mr != nil && mr.isPrivate() && !containsPeer(mr.members(), s.self) {
		return fmt.Errorf("%w: not a member of %s", ErrInviteOnly, id)
	}
	return nil
}

// AwaitGenesis waits until the joined moderated room id has its genesis
// (sync brings it after Join; Config.OnJoin starts that sync) and
// returns the room as Join would. If ctx ends first, no reachable peer
// served the room to us: the join is undone (membership record and
// topic; nothing was written to the room) and the error wraps
// ErrInviteOnly. Rooms found by name return at once.
func (s *Service) AwaitGenesis(ctx context.Context, id string) (Room, error) {
	r, ok := s.joinedRoom(id)
	if !ok {
		return Room{}, fmt.Errorf("%w: %s", ErrNotMember, id)
	}
	mr := s.modRoom(id)
	if mr == nil {
		return s.describe(r), nil
	}
	select {
	case <-mr.genesisStored():
		return s.describe(r), nil
	case <-ctx.Done():
	}
	s.joinMu.Lock()
	defer s.joinMu.Unlock()
	if mr.hasGenesis() {
		return s.describe(r), nil // came just now
	}
	if err := s.store.Delete(s.ctx, roomsPrefix.ChildString(id)); err != nil {
		return Room{}, fmt.Errorf("forget membership of %s: %w", id, err)
	}
	if err := s.leaveTopic(id); err != nil {
		s.log.Debug("leave topic", "room", id, "err", err)
	}
	return Room{}, fmt.Errorf("%w: no reachable peer served room %s to this node", ErrInviteOnly, id)
}
