package chat

import (
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/ledger"
)

// maxOrphans bounds the events held per room while their parents are
// fetched; past it the oldest are dropped (sync fetches them again later).
const maxOrphans = 10000

// orphans holds verified events whose parents have not arrived, indexed by
// the parents they wait for. Safe for concurrent use.
type orphans struct {
	mu      sync.Mutex
	max     int
	waiting map[ledger.ID][]ledger.ID // missing parent → children waiting
	events  map[ledger.ID]*orphan
	order   []ledger.ID // arrival order, for eviction
}

type orphan struct {
	ev      *ledger.Event
	missing map[ledger.ID]bool
	from    peer.ID
	asked   bool // a sync was scheduled for it
}

func newOrphans(max int) *orphans {
	return &orphans{max: max, waiting: make(map[ledger.ID][]ledger.ID), events: make(map[ledger.ID]*orphan)}
}

func (o *orphans) add(ev *ledger.Event, missing []ledger.ID, from peer.ID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.events[ev.ID()]; ok {
		return
	}
	for len(o.events) >= o.max && len(o.order) > 0 {
		old := o.order[0]
		o.order = o.order[1:]
		delete(o.events, old)
	}
	or := &orphan{ev: ev, missing: make(map[ledger.ID]bool, len(missing)), from: from}
	for _, p := range missing {
		or.missing[p] = true
		o.waiting[p] = append(o.waiting[p], ev.ID())
	}
	o.events[ev.ID()] = or
	o.order = append(o.order, ev.ID())
	if len(o.order) > 2*o.max {
		// Drop released entries so the order list stays bounded.
		kept := o.order[:0]
		for _, id := range o.order {
			if _, ok := o.events[id]; ok {
				kept = append(kept, id)
			}
		}
		o.order = kept
	}
}

// release returns the orphans that were waiting only for id.
func (o *orphans) release(id ledger.ID) []*ledger.Event {
	o.mu.Lock()
	defer o.mu.Unlock()
	kids := o.waiting[id]
	delete(o.waiting, id)
	var out []*ledger.Event
	for _, k := range kids {
		or := o.events[k]
		if or == nil {
			continue
		}
		delete(or.missing, id)
		if len(or.missing) == 0 {
			delete(o.events, k)
			out = append(out, or.ev)
		}
	}
	return out
}

// len returns how many events are held.
func (o *orphans) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.events)
}

// releaseChildren returns the orphans that were waiting only for events
// among stored and, transitively, for the events it returns: a chain of
// orphans comes out whole, parents before children, so one ledger write
// stores it instead of one write per generation.
func (o *orphans) releaseChildren(stored []*ledger.Event) []*ledger.Event {
	var out []*ledger.Event
	for _, ev := range stored {
		out = append(out, o.release(ev.ID())...)
	}
	for i := 0; i < len(out); i++ {
		out = append(out, o.release(out[i].ID())...)
	}
	return out
}

// has reports whether id is still held.
func (o *orphans) has(id ledger.ID) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.events[id]
	return ok
}

// markAsked records that a sync was scheduled for id; it returns false if
// one already was (or id is not held).
func (o *orphans) markAsked(id ledger.ID) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	or := o.events[id]
	if or == nil || or.asked {
		return false
	}
	or.asked = true
	return true
}
