package chat

import (
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/ledger"
)

// modEvent is a valid mod event of a moderated room.
type modEvent struct {
	idx     int // in modRoom.list
	id      ledger.ID
	lamport uint64
	author  peer.ID
	act     modAct
	// past is the set of mod events in its causal past (not itself).
	past *frontier
	// keep is, for a ban, the target's events in the ban's causal past:
	// the ones it leaves visible (none for a purge). Computed once, when the ban takes
	// effect (moddag.go keepOf); nil until then.
	keep map[*dagNode]bool
}

func (m *modEvent) key() ledger.Key { return ledger.Key{Lamport: m.lamport, ID: m.id} }

// before reports whether m is in n's causal past.
func (m *modEvent) before(n *modEvent) bool { return n.past.has(m.idx) }

// concurrent reports whether neither of m and n is in the other's past.
func (m *modEvent) concurrent(n *modEvent) bool {
	return m != n && !m.before(n) && !n.before(m)
}

// modState is what a set of mod events, closed under causality, decides:
// admins, bans, admissions and the policy. It is a pure function of the
// set and the genesis (evaluate), so every node holding the same events
// decides the same.
type modState struct {
	policy   string
	admins   map[peer.ID]bool
	banned   map[peer.ID]bool
	admitted map[peer.ID]bool
	// bans and unbans are the effective bans and unbans, by target, in
	// (Lamport, ID) order.
	bans   map[peer.ID][]*modEvent
	unbans map[peer.ID][]*modEvent
}

// mayWrite reports whether p may write under s.
func (s *modState) mayWrite(p peer.ID) bool {
	if s.banned[p] {
		return false
	}
	return s.policy != PolicyMembers || s.admins[p] || s.admitted[p]
}

// sortedAdmins returns the admins, sorted.
func (s *modState) sortedAdmins() []peer.ID {
	out := make([]peer.ID, 0, len(s.admins))
	for p := range s.admins {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// evaluate decides what mods (closed under causality) make of the
// genesis (creator the only admin, policy), in three steps:
//
//  1. Revocations: the unadmins in (Lamport, ID) order, each effective
//     unless an effective one before it revoked its author concurrently
//     (so of two concurrent mutual revocations the first in order wins).
//  2. Void acts: any act concurrent with an effective revocation of its
//     author ("a revocation concurrent with an act of the revoked admin
//     wins"), whichever comes first in order.
//  3. Replay the rest in (Lamport, ID) order: an act counts if its author
//     is an admin and not banned at that point.
//
// A revocation of step 1 that step 3 does not apply (its author lost
// admin rights another way, or it is void) is left out and the steps run
// again; that set only shrinks, so this ends. Mods are rare (admins make
// them) and the result is cached per causal past (frontier.state).
func evaluate(creator peer.ID, policy string, mods []*modEvent) *modState {
	sorted := slices.Clone(mods)
	slices.SortFunc(sorted, func(a, b *modEvent) int { return a.key().Compare(b.key()) })
	excluded := map[ledger.ID]bool{}
	for {
		var revs []*modEvent
		revokedIn := func(m *modEvent) bool {
			for _, u := range revs {
				if u.act.peer == m.author && u.concurrent(m) {
					return true
				}
			}
			return false
		}
		for _, m := range sorted {
			if m.act.op == OpUnadmin && !excluded[m.id] && !revokedIn(m) {
				revs = append(revs, m)
			}
		}
		isRev := make(map[ledger.ID]bool, len(revs))
		for _, u := range revs {
			isRev[u.id] = true
		}
		st := &modState{policy: policy, admins: map[peer.ID]bool{creator: true}, banned: map[peer.ID]bool{},
			admitted: map[peer.ID]bool{}, bans: map[peer.ID][]*modEvent{}, unbans: map[peer.ID][]*modEvent{}}
		dropped := false
		for _, m := range sorted {
			if revokedIn(m) || !st.admins[m.author] || st.banned[m.author] {
				if isRev[m.id] {
					excluded[m.id], dropped = true, true
				}
				continue
			}
			st.apply(m)
		}
		if !dropped {
			return st
		}
	}
}

func (s *modState) apply(m *modEvent) {
	p := m.act.peer
	switch m.act.op {
	case OpAdmin:
		s.admins[p] = true
	case OpUnadmin:
		delete(s.admins, p)
	case OpBan, OpPurge:
		s.banned[p] = true
		s.bans[p] = append(s.bans[p], m)
	case OpUnban:
		delete(s.banned, p)
		s.unbans[p] = append(s.unbans[p], m)
	case OpAdmit:
		s.admitted[p] = true
	case OpPolicy:
		s.policy = m.act.policy
	}
}
