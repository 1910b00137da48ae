package chat

import (
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/ledger"
)

// A private room's key epochs, judged like moderation: an epoch event is
// a mod event (so "is it in this event's past" is one bit of a frontier)
// whose act changes no admin or ban. Which epoch a causal past is in is
// decided by winner, a pure function of the epoch events in it, so every
// node holding the same past decides the same.

const opEpoch = "epoch"

// membersOf is who a state lets read a private room: admins and admitted
// peers, minus the banned, sorted.
func membersOf(st *modState) []peer.ID {
	var out []peer.ID
	for p := range st.admins {
		out = append(out, p)
	}
	for p := range st.admitted {
		if !st.admins[p] {
			out = append(out, p)
		}
	}
	out = slices.DeleteFunc(out, func(p peer.ID) bool { return st.banned[p] })
	slices.Sort(out)
	return out
}

// winner picks the current epoch among eps: from the first epoch (no
// predecessor) follow successors, taking the lowest ID where concurrent
// epochs name the same predecessor. Removals made in a losing branch
// still stand: they are bans in the global state, and an admin rekeys
// when the winner's members include a removed peer (rekeyIfStale).
func winner(eps []*modEvent) *modEvent {
	var cur *modEvent
	var prev ledger.ID
	for {
		var next *modEvent
		for _, e := range eps {
			if e.act.epoch.Prev == prev && (cur == nil || e != cur) && (next == nil || e.id < next.id) {
				next = e
			}
		}
		if next == nil {
			return cur
		}
		cur, prev = next, next.id
	}
}

// epochOf returns the winning epoch of the mod events in f (cached on f).
// r.mu is held.
func (r *modRoom) epochOf(f *frontier) *modEvent {
	if !f.epochDone {
		var eps []*modEvent
		for i, m := range r.list {
			if m.act.op == opEpoch && f.has(i) {
				eps = append(eps, m)
			}
		}
		f.epoch, f.epochDone = winner(eps), true
	}
	return f.epoch
}

// judgeEpoch checks an epoch event in its causal past: by an admin (in a
// direct conversation, by either member: dmrekey.go), naming the past's
// winning epoch as its predecessor and exactly the past's members. r.mu
// is held.
func (r *modRoom) judgeEpoch(ev *ledger.Event, author peer.ID, st *modState, past *frontier) (modAct, error) {
	e, err := decodeEpoch(ev.Body)
	if err != nil {
		return modAct{}, fmt.Errorf("%w: %w", ErrNotAllowed, err)
	}
	if !st.admins[author] && !(r.dm && slices.Contains(membersOf(st), author)) {
		return modAct{}, fmt.Errorf("%w: %s starts an epoch", ErrNotAdmin, author)
	}
	var want ledger.ID
	if w := r.epochOf(past); w != nil {
		want = w.id
	}
	if e.Prev != want {
		return modAct{}, fmt.Errorf("%w: epoch follows %s, its past's epoch is %s", ErrNotAllowed, e.Prev, want)
	}
	if !slices.Equal(e.Members, membersOf(st)) {
		return modAct{}, fmt.Errorf("%w: epoch members differ from its past's", ErrNotAllowed)
	}
	return modAct{op: opEpoch, epoch: e}, nil
}

// judgePrivate checks epoch_keys and enc events in their causal past.
// Decrypting is not judgement (only members can): privcrypt.go does it.
// r.mu is held.
func (r *modRoom) judgePrivate(ev *ledger.Event, author peer.ID, st *modState, past *frontier) error {
	switch ev.Kind {
	case KindInvite, KindInviteUse:
		return r.judgeInvite(ev, author, st, past)
	case KindEpochKeys:
		k, err := decodeEpochKeys(ev.Body)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrNotAllowed, err)
		}
		ep := r.mods[k.Epoch]
		if ep == nil || ep.act.op != opEpoch || !past.has(ep.idx) {
			return fmt.Errorf("%w: epoch_keys for %s, not an epoch in its past", ErrNotAllowed, k.Epoch)
		}
		if ep.author != author {
			return fmt.Errorf("%w: epoch_keys by %s for an epoch of %s", ErrNotAllowed, author, ep.author)
		}
		for _, s := range k.Seals {
			if _, ok := slices.BinarySearch(ep.act.epoch.Members, s.Peer); !ok {
				return fmt.Errorf("%w: epoch_keys seals to %s, not a member of the epoch", ErrNotAllowed, s.Peer)
			}
			if s.DMInit == nil {
				continue
			}
			if !r.dm || ep.act.epoch.Prev != "" {
				return fmt.Errorf("%w: a dm-init outside a direct conversation's first epoch", ErrNotAllowed)
			}
			if err := judgeDMInit(s, author, ev.Room, k.Epoch); err != nil {
				return fmt.Errorf("%w: %w", ErrNotAllowed, err)
			}
		}
		return nil
	case KindEnc:
		ct, err := e2ee.ParseCiphertext(ev.Body)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrNotAllowed, err)
		}
		w := r.epochOf(past)
		if w == nil || string(w.id) != string(ct.Epoch) {
			// Nobody encrypts under an epoch after seeing its successor.
			return fmt.Errorf("%w: %w: not its past's epoch", ErrNotAllowed, e2ee.ErrWrongEpoch)
		}
		if _, ok := slices.BinarySearch(w.act.epoch.Members, author); !ok {
			return fmt.Errorf("%w: %s is not a member of the epoch", ErrNotAllowed, author)
		}
		return nil
	}
	return nil
}

// currentEpoch returns the winning epoch over every stored event, or nil.
func (r *modRoom) currentEpoch() (id ledger.ID, members []peer.ID, author peer.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var eps []*modEvent
	for _, m := range r.stored {
		if m.act.op == opEpoch {
			eps = append(eps, m)
		}
	}
	w := winner(eps)
	if w == nil {
		return "", nil, ""
	}
	return w.id, w.act.epoch.Members, w.author
}

// epochRef is one epoch of a chain: its ID and members.
type epochRef struct {
	id      ledger.ID
	members []peer.ID
}

// recentEpochs returns the winning epoch over every stored event and its
// predecessors back to the first, newest first (nil before any epoch).
func (r *modRoom) recentEpochs() []epochRef {
	r.mu.Lock()
	defer r.mu.Unlock()
	var eps []*modEvent
	for _, m := range r.stored {
		if m.act.op == opEpoch {
			eps = append(eps, m)
		}
	}
	var out []epochRef
	for w := winner(eps); w != nil && len(out) <= len(eps); {
		out = append(out, epochRef{w.id, w.act.epoch.Members})
		if w.act.epoch.Prev == "" {
			break
		}
		w = r.mods[w.act.epoch.Prev]
	}
	return out
}

// epochMembers returns the members of epoch id, if it is a judged epoch.
func (r *modRoom) epochMembers(id ledger.ID) ([]peer.ID, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.mods[id]
	if m == nil || m.act.op != opEpoch {
		return nil, false
	}
	return m.act.epoch.Members, true
}

// isPrivate reports whether the room's genesis made it private.
func (r *modRoom) isPrivate() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.private
}

// isDM reports whether the room's genesis made it a direct conversation.
func (r *modRoom) isDM() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dm
}

// hasGenesis reports whether the room's genesis is known.
func (r *modRoom) hasGenesis() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.genesis != ""
}

// members returns the room's members under its global state, sorted.
func (r *modRoom) members() []peer.ID {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.global == nil {
		return nil
	}
	return membersOf(r.global)
}
