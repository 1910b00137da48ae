package chat

import (
	"sync"

	"github.com/parley-chat/parley/ledger"
)

// recentCommitted is how many of a room's newest committed IDs the
// validator keeps: gossip names parents from the heads its author saw a
// moment ago, so at 1,000 events/s this still covers a second.
const recentCommitted = 1024

// committedIDs is a bounded set of a joined room's most recently
// committed event IDs, fed by the ledger's OnCommit, so that the gossip
// validator finds an event's parents without a datastore read per
// parent. OnCommit fires only for events written to the datastore, so
// every ID here is one ledger.Has finds: a hit gives Has's answer, and a
// miss (an older parent, or one staged but not yet committed) asks Has.
// A nil *committedIDs holds nothing. Safe for concurrent use.
type committedIDs struct {
	mu   sync.RWMutex
	set  map[ledger.ID]struct{}
	ring []ledger.ID // insertion order; grows to recentCommitted, then wraps
	next int
}

func newCommittedIDs() *committedIDs {
	return &committedIDs{set: make(map[ledger.ID]struct{})}
}

// has reports whether id was committed recently.
func (c *committedIDs) has(id ledger.ID) bool {
	if c == nil {
		return false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.set[id]
	return ok
}

// add records committed IDs, forgetting the oldest past recentCommitted.
func (c *committedIDs) add(ids ...ledger.ID) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		if _, ok := c.set[id]; ok {
			continue
		}
		c.set[id] = struct{}{}
		if len(c.ring) < recentCommitted {
			c.ring = append(c.ring, id)
			continue
		}
		delete(c.set, c.ring[c.next])
		c.ring[c.next] = id
		c.next = (c.next + 1) % recentCommitted
	}
}

// noteCommitted feeds each joined room's committedIDs from OnCommit.
func (s *Service) noteCommitted(evs []*ledger.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var j *joined
	for _, ev := range evs {
		if j == nil || j.ID != ev.Room {
			j = s.rooms[ev.Room]
		}
		if j != nil {
			j.committed.add(ev.ID())
		}
	}
}
