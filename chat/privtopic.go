package chat

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/libp2p/go-libp2p/core/peer"
)

// A private room's topic admits only the room's members (docs/PROTOCOL.md
// "Private rooms on the wire"): chat joins it through PrivateNetwork with
// a rule that reads an immutable member set behind an atomic pointer,
// because the rule runs on pubsub's event loop, where taking the room's
// moderation lock could stall every topic. The set is replaced whenever
// the room's global state is re-evaluated (genesis, membership, epochs).

// memberSet is an immutable set of peers admitted to a private topic.
type memberSet map[peer.ID]struct{}

// publishMembers replaces the admitted set with the room's current
// members. r.mu is held. Before the genesis (global nil) the seeded set
// stays: we joined by invite and know only who invited us.
func (r *modRoom) publishMembers() {
	if r.global == nil {
		return
	}
	ms := membersOf(r.global)
	set := make(memberSet, len(ms))
	for _, p := range ms {
		set[p] = struct{}{}
	}
	r.admitted.Store(&set)
}

// seedMembers admits ps to the topic until the genesis gives the real
// member list: joining by invite, the inviter (a member and admin) is the
// one peer we know to be in the room, and through it the genesis and the
// rest of the history arrive.
func (r *modRoom) seedMembers(ps ...peer.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.global != nil {
		return
	}
	set := make(memberSet, len(ps))
	for _, p := range ps {
		set[p] = struct{}{}
	}
	r.admitted.Store(&set)
}

// admits is the topic rule of a private room: p is a current member (or,
// before the genesis, a seeded peer). It never blocks.
func (r *modRoom) admits(p peer.ID) bool {
	set := r.admitted.Load()
	if set == nil {
		return false
	}
	_, ok := (*set)[p]
	return ok
}

// RendezvousName is where a private room's members meet in the DHT: a
// hash of the room ID under its own domain, so the provider record names
// neither the room ID nor the topic.
func RendezvousName(room string) string {
	sum := sha256.Sum256([]byte("parley/v1/rendezvous\x00" + room))
	return hex.EncodeToString(sum[:])
}
