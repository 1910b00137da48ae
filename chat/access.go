package chat

import (
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
)

// MayRead reports whether peer p may be served room's events (sync's
// access rule): anyone for rooms found by name and public moderated
// rooms, only its current members for a private room. A refused peer is
// answered as for a room we do not hold, so it learns nothing of the
// room, not even that we are in it; and we never offer a private room to
// one. It takes the room's moderation lock briefly, never I/O.
func (s *Service) MayRead(room string, p peer.ID) bool {
	if !looksLikeModeratedID(room) {
		return true
	}
	mr := s.modRoom(room)
	if mr == nil || !mr.isPrivate() {
		return true // not held here (answered "unknown" anyway), or public
	}
	return slices.Contains(mr.members(), p)
}
