package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/ledger"
)

// Moderated rooms (docs/PROTOCOL.md "Moderation"): Create makes one,
// with the caller as first admin; Moderate appends a signed mod event
// (ban, unban, admin, unadmin, admit, policy). The ledger asks checkEvent
// about every event of a moderated room before storing it (Config.Check)
// and parentPolicy which heads a new event of ours may name; the feed,
// History, Members and gossip leave out what the room hides.

// modRoom returns the moderation state of room, if it is moderated and
// known.
func (s *Service) modRoom(room string) *modRoom {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mods[room]
}

// checkEvent is the ledger's Config.Check: events of moderated rooms are
// judged in their causal past; other rooms have no rules here.
func (s *Service) checkEvent(ev *ledger.Event) error {
	if !looksLikeModeratedID(ev.Room) {
		return nil
	}
	r := s.modRoom(ev.Room)
	if r == nil {
		return fmt.Errorf("%w: moderated room %s is not joined", ErrNotAllowed, ev.Room)
	}
	if err := r.check(ev); err != nil {
		return err
	}
	if r.isPrivate() {
		return s.checkPrivate(r, ev)
	}
	return nil
}

// parentPolicy is the ledger's Config.Parents.
func (s *Service) parentPolicy(room string) ledger.ParentPolicy {
	if !looksLikeModeratedID(room) {
		return ledger.ParentPolicy{}
	}
	if r := s.modRoom(room); r != nil {
		return r.parentPolicy()
	}
	return ledger.ParentPolicy{}
}

// hidden reports whether a stored event is hidden by its room's
// moderation.
func (s *Service) hidden(ev *ledger.Event) bool {
	if !looksLikeModeratedID(ev.Room) {
		return false
	}
	r := s.modRoom(ev.Room)
	return r != nil && r.isHidden(ev.ID())
}

// ensureModRoom loads the moderation of a moderated room that is not
// joined (left, or not rejoined since a start), so that reading its
// history still hides what its bans hide.
func (s *Service) ensureModRoom(ctx context.Context, room string) error {
	if !looksLikeModeratedID(room) || s.modRoom(room) != nil {
		return nil
	}
	if n, err := s.led.Count(ctx, room); err != nil || n == 0 {
		return err // nothing stored: nothing to hide, and nothing kept for an unknown ID
	}
	return s.loadModRoom(ctx, room)
}

// loadModRoom registers room's moderation state, rebuilt from its stored
// events by one pass in (Lamport, ID) order (a parent always comes
// before its child). It reads the room page by page, newest first, so
// the pass holds the room's events in memory once, while it runs.
func (s *Service) loadModRoom(ctx context.Context, room string) error {
	if s.modRoom(room) != nil {
		return nil
	}
	r := newModRoom(room)
	var pages [][]*ledger.Event
	var before ledger.ID
	for {
		page, err := s.led.History(ctx, room, before, 1000)
		if err != nil {
			return fmt.Errorf("load moderation of %s: %w", room, err)
		}
		pages = append(pages, page)
		if len(page) < 1000 {
			break
		}
		before = page[0].ID()
	}
	var evs []*ledger.Event
	for i := len(pages) - 1; i >= 0; i-- {
		evs = append(evs, pages[i]...)
	}
	for _, ev := range evs {
		if err := r.check(ev); err != nil {
			// Stored before it was judged (cannot happen since moderated
			// rooms exist), or the rules changed: leave it out.
			s.log.Warn("stored event fails moderation", "room", room, "event", ev.ID(), "err", err)
		}
	}
	r.committed(evs)
	s.mu.Lock()
	if s.mods[room] == nil {
		s.mods[room] = r
	}
	s.mu.Unlock()
	return nil
}

// onModCommit brings moderated rooms up to date with newly stored events
// (from onCommit) and returns the redaction notices to send.
func (s *Service) onModCommit(evs []*ledger.Event) []queued {
	var out []queued
	var byRoom map[string][]*ledger.Event
	for _, ev := range evs {
		if !looksLikeModeratedID(ev.Room) {
			continue
		}
		if byRoom == nil {
			byRoom = map[string][]*ledger.Event{}
		}
		byRoom[ev.Room] = append(byRoom[ev.Room], ev)
	}
	for room, revs := range byRoom {
		r := s.modRoom(room)
		if r == nil {
			continue
		}
		for _, id := range r.committed(revs) {
			out = append(out, queued{Message: Message{Room: room, Redacted: id.String()}, room: room})
		}
		if r.isPrivate() && s.cfg.Keys != nil && stale(r) {
			// Not on this goroutine either (Append waits for us).
			s.mu.Lock()
			j := s.rooms[room]
			if j != nil && !s.closed {
				s.wg.Go(func() { s.rekeyIfStale(j.context(s), r, room) })
			}
			s.mu.Unlock()
		}
		r.noteGenesis()
		if slices.ContainsFunc(revs, movesTopic) {
			s.updateTopic(room)
		}
		if r.joinNow() {
			// Not on this goroutine: Append waits for the committer,
			// which is calling us.
			s.mu.Lock()
			j := s.rooms[room]
			if j != nil && !s.closed { // Close waits after setting closed
				s.wg.Go(func() { s.appendJoin(j.context(s), j.Room) })
			}
			s.mu.Unlock()
		}
	}
	return out
}

// movesTopic reports whether committing ev may move its room to another
// topic (roomtopic.go): the genesis, a new epoch or its sealed keys, a
// membership change.
func movesTopic(ev *ledger.Event) bool {
	switch ev.Kind {
	case KindCreate, KindEpoch, KindEpochKeys, KindMod:
		return true
	}
	return false
}

// updateTopic brings room's topics in line with its state, on a goroutine
// of the service: it runs on the ledger's commit goroutine, and joining a
// topic waits for the network.
func (s *Service) updateTopic(room string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.rooms[room]
	if j == nil || s.closed {
		return
	}
	s.wg.Go(func() { s.moveTopic(j) })
}

// moveTopic brings j's topics in line with its room's state (roomtopic.go).
func (s *Service) moveTopic(j *joined) {
	<-j.ready
	if rt, ok := j.topic.(*roomTopic); ok {
		if err := rt.update(j.context(s)); err != nil && j.context(s).Err() == nil {
			s.log.Warn("move to the room's topic", "room", j.ID, "err", err)
		}
	}
}

// Create creates a moderated public room named name, with this node as
// its first admin, and joins it. Its ID derives from the name and our
// key (ModeratedRoomID), so nobody else can claim it; others join it by
// ID. Creating it again is Join.
func (s *Service) Create(ctx context.Context, name string, private bool) (Room, error) {
	n, err := NormalizeName(name)
	if err != nil {
		return Room{}, err
	}
	if private {
		r, _, _, err := s.createPrivate(ctx, n, "")
		return r, err
	}
	if err != nil {
		return Room{}, err
	}
	r := Room{ID: ModeratedRoomID(n, s.self), Name: n, Moderated: true}
	s.joinMu.Lock()
	defer s.joinMu.Unlock()
	if got, ok := s.joinedRoom(r.ID); ok {
		return got, nil
	}
	if err := s.joinRoom(ctx, r); err != nil {
		return Room{}, err
	}
	body, _ := json.Marshal(createBody{Name: n, Policy: PolicyOpen})
	if ev, err := s.led.Append(ctx, s.key, r.ID, KindCreate, body, s.cfg.Clock()); err != nil {
		return Room{}, fmt.Errorf("create %s: %w", n, storeErr(err))
	} else if len(ev.Parents) != 0 {
		// Someone synced a room of our ID into this store first: only our
		// key can sign its genesis, so this is our own room's history.
		s.log.Info("created room already had history", "room", r.ID)
	}
	s.announceJoin(ctx, r)
	return s.describe(r), nil
}

// Moderate appends a moderation act (OpBan, OpPurge, OpUnban, OpAdmin,
// OpUnadmin, OpAdmit with a peer; OpPolicy with a policy) to a joined
// moderated room. It fails with ErrNoAdmins for a room found by name and
// with ErrNotAdmin unless we are an admin. In a private room a purge is a
// kick (Kick) that also hides what the member wrote before it.
func (s *Service) Moderate(ctx context.Context, room, op, target, policy string) error {
	r, err := s.resolve(room)
	if err != nil {
		return err
	}
	if !looksLikeModeratedID(r.ID) {
		return fmt.Errorf("%w: %s", ErrNoAdmins, room)
	}
	if _, ok := s.joinedRoom(r.ID); !ok {
		return fmt.Errorf("%w: %s", ErrNotMember, room)
	}
	act := modAct{op: op, policy: policy}
	if target != "" {
		p, err := peer.Decode(target)
		if err != nil {
			return fmt.Errorf("%w: peer %q: %v", ErrBadModeration, target, err)
		}
		act.peer = p
	}
	body := encodeMod(act)
	if _, err := decodeMod(body); err != nil {
		return err
	}
	mr := s.modRoom(r.ID)
	if mr == nil {
		return fmt.Errorf("%w: %s", ErrUnknownRoom, room)
	}
	if _, st := mr.snapshot(); st == nil || !st.admins[s.self] {
		return fmt.Errorf("%w: %s", ErrNotAdmin, room)
	}
	var after []ledger.ID
	if act.op == OpPurge && mr.isPrivate() {
		return s.kick(ctx, r.ID, act.peer, OpPurge)
	}
	if act.op == OpBan || act.op == OpPurge {
		heads, err := s.led.Heads(ctx, r.ID)
		if err != nil {
			return storeErr(err)
		}
		if after = mr.banParents(heads, act.peer); len(after) == 0 {
			after = nil // only the target's events (it made the room): the usual choice
		}
	}
	_, err = s.appendAfter(ctx, r.ID, KindMod, body, after)
	return err
}

// Admins returns the peer IDs of a moderated room's admins, sorted, as
// its whole known history decides.
func (s *Service) Admins(ctx context.Context, room string) ([]string, error) {
	r, err := s.resolve(room)
	if err != nil {
		return nil, err
	}
	if !looksLikeModeratedID(r.ID) {
		return nil, fmt.Errorf("%w: %s", ErrNoAdmins, room)
	}
	mr := s.modRoom(r.ID)
	if mr == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownRoom, room)
	}
	_, st := mr.snapshot()
	if st == nil {
		return []string{}, nil // the genesis has not arrived yet
	}
	return peerStrings(st.sortedAdmins()), nil
}

func peerStrings(ps []peer.ID) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// Banned returns the peer IDs of the authors banned in a moderated room
// now, sorted.
func (s *Service) Banned(ctx context.Context, room string) ([]string, error) {
	r, err := s.resolve(room)
	if err != nil {
		return nil, err
	}
	mr := s.modRoom(r.ID)
	if mr == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoAdmins, room)
	}
	_, st := mr.snapshot()
	out := []peer.ID{}
	if st != nil {
		for p := range st.banned {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return peerStrings(out), nil
}

// describe fills a moderated room's name (from its genesis) and policy.
func (s *Service) describe(r Room) Room {
	if !r.Moderated {
		return r
	}
	mr := s.modRoom(r.ID)
	if mr == nil {
		return r
	}
	name, st := mr.snapshot()
	if mr.isPrivate() {
		r.Private = true
		if mr.isDM() {
			r.Kind = KindDM
		}
		name = s.roomName(context.Background(), r.ID)
	}
	if r.Name == "" {
		r.Name = name
	}
	if st != nil {
		r.Policy = st.policy
	}
	return r
}
