package chat

import (
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/ledger"
)

// What a moderated room shows: the global state over its stored mod
// events, the events its bans hide (hiddenNode), and the parents new
// events of ours may name (allow, the tip, banParents).

// committed records that evs (of this room, in arrival order) are
// stored, brings the room's global state up to date, and returns the
// msg events that this hid although they were visible before (a ban
// arrived), for redaction notices.
func (r *modRoom) committed(evs []*ledger.Event) (redacted []ledger.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	var fresh []ledger.ID
	for _, ev := range evs {
		n := r.nodes[ev.ID()]
		if n == nil || n.stored {
			continue
		}
		n.stored = true
		if m := r.mods[ev.ID()]; m != nil {
			r.stored = append(r.stored, m)
			changed = true
		}
		fresh = append(fresh, ev.ID())
	}
	if r.global == nil {
		return nil
	}
	if !changed {
		for _, id := range fresh {
			if n := r.nodes[id]; r.hiddenNode(n, r.global) {
				r.hidden[id] = true
			} else {
				r.raiseTip(n)
			}
		}
		return nil
	}
	isFresh := make(map[ledger.ID]bool, len(fresh))
	for _, id := range fresh {
		isFresh[id] = true
	}
	r.global = evaluate(r.creator, r.policy, r.stored)
	for _, bans := range r.global.bans {
		for _, b := range bans {
			if b.keep == nil {
				b.keep = r.keepOf(b)
			}
		}
	}
	hidden := make(map[ledger.ID]bool, len(r.hidden))
	r.tip = ledger.Key{}
	for id, n := range r.nodes {
		if !n.stored {
			continue
		}
		if len(r.global.bans[n.author]) == 0 || !r.hiddenNode(n, r.global) {
			r.raiseTip(n)
			continue
		}
		hidden[id] = true
		if !r.hidden[id] && !isFresh[id] && n.msg {
			redacted = append(redacted, id)
		}
	}
	r.hidden = hidden
	return redacted
}

// raiseTip makes visible stored n the tip if it is newer and its author
// may write. r.mu is held.
func (r *modRoom) raiseTip(n *dagNode) {
	k := ledger.Key{Lamport: n.lamport, ID: n.id}
	if r.global.mayWrite(n.author) && k.Compare(r.tip) > 0 {
		r.tip = k
	}
}

// keepOf returns the ban's target's events in the ban's causal past
// (a walk of that past: bans are rare); a purge keeps none.
func (r *modRoom) keepOf(b *modEvent) map[*dagNode]bool {
	start := r.nodes[b.id]
	keep := map[*dagNode]bool{}
	if start == nil || b.act.op == OpPurge {
		return keep
	}
	seen := map[*dagNode]bool{}
	stack := append([]*dagNode(nil), start.parents...)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[n] {
			continue
		}
		seen[n] = true
		if n.author == b.act.peer {
			keep[n] = true
		}
		stack = append(stack, n.parents...)
	}
	return keep
}

// hiddenNode reports whether st hides n: its author has an effective ban
// that n is not in the past of, and no effective unban after that ban
// is in n's past.
func (r *modRoom) hiddenNode(n *dagNode, st *modState) bool {
	for _, b := range st.bans[n.author] {
		if b.keep[n] {
			continue
		}
		lifted := false
		for _, u := range st.unbans[n.author] {
			if n.incl.has(u.idx) && b.before(u) {
				lifted = true
				break
			}
		}
		if !lifted {
			return true
		}
	}
	return false
}

// isHidden reports whether event id is hidden now.
func (r *modRoom) isHidden(id ledger.ID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hidden[id]
}

// allow is the room's ledger.ParentPolicy.Allow: a head may be a parent
// if it is visible and its author may write.
func (r *modRoom) allow(id ledger.ID, author peer.ID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.hidden[id] && (r.global == nil || r.global.mayWrite(author))
}

// parentPolicy is the room's ledger.ParentPolicy.
func (r *modRoom) parentPolicy() ledger.ParentPolicy {
	r.mu.Lock()
	defer r.mu.Unlock()
	return ledger.ParentPolicy{Allow: r.allow, Root: r.genesis, Fallback: r.tip}
}

// banParents returns the parents of a ban of target made when the room's
// heads are heads: each head written by target (or hidden) is replaced by
// its parents, down to events of others. The target's events that nobody
// else built on are then outside the ban's past, so the ban hides them,
// while everything else the admin saw (the unbans and appointments before
// it included) is in its past. At most ledger.MaxParents, newest first.
func (r *modRoom) banParents(heads []ledger.ID, target peer.ID) []ledger.ID {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[*dagNode]bool{}
	var stack, out []*dagNode
	for _, h := range heads {
		if n := r.nodes[h]; n != nil {
			stack = append(stack, n)
		}
	}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[n] {
			continue
		}
		seen[n] = true
		if n.author == target || r.hidden[n.id] {
			stack = append(stack, n.parents...)
			continue
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *dagNode) int {
		return ledger.Key{Lamport: b.lamport, ID: b.id}.Compare(ledger.Key{Lamport: a.lamport, ID: a.id})
	})
	ids := make([]ledger.ID, 0, min(len(out), ledger.MaxParents))
	for _, n := range out[:min(len(out), ledger.MaxParents)] {
		ids = append(ids, n.id)
	}
	return ids
}
