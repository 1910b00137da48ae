package chat

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/internal/backoff"
	"github.com/parley-chat/parley/ledger"
)

// missingGrace is how long an event may wait for its parents before we
// ask a peer for them: gossip often delivers them a moment later anyway.
const missingGrace = 300 * time.Millisecond

// missingRetries is how many more times we ask, each wait twice the last
// (0.6 s, 1.2 s, … 9.6 s), while the parents are still missing: the peer
// asked first may not have had them yet (it got the child by gossip
// too), so later asks go to any members. Past that, the periodic sync
// repairs.
const missingRetries = 5

// missing asks for a sync of j's room when the orphan id is still waiting
// for its parents after missingGrace: first with from, the peer that
// forwarded it, then with other members.
//
// One forwarder has one repair at a time per room: a sync with it fetches
// every parent it has, so more asks would only repeat that sync (orphans
// from a peer that does not speak sync made one failed sync each, 36 MB
// of log in 42 s). An orphan from it that arrives meanwhile is asked for
// once the running repair ends (its parents may not be among those the
// sync fetched): the end starts a repair for one orphan from the same
// forwarder that none was scheduled for yet.
func (s *Service) missing(ctx context.Context, j *joined, id ledger.ID, from peer.ID) {
	if _, busy := j.asking.LoadOrStore(from, struct{}{}); busy {
		return
	}
	if !j.orph.markAsked(id) {
		j.asking.Delete(from)
		return // already scheduled for this orphan
	}
	done := func() {
		j.asking.Delete(from)
		if next, ok := j.orph.unasked(from); ok {
			s.missing(ctx, j, next, from)
		}
	}
	// No need to stop the asks on leave: each checks ctx and ends.
	s.repeatAsk(func(attempt int) bool {
		if ctx.Err() != nil {
			j.asking.Delete(from)
			return false
		}
		if !j.orph.has(id) {
			done()
			return false
		}
		s.cfg.OnMissing(j.ID, askPeer(from, attempt))
		if attempt == missingRetries {
			done()
		}
		return true
	})
}

// dropped counts a gossip event the full ingest queue could not take and
// has the room synced until the newest event dropped is stored: first
// with from, the peer that forwarded it, once the queue has had
// missingGrace to drain, then with any members after waits that double
// (the forwarder passes an event on before it stores it, and under the
// same load its own queue may be full too), missingRetries more times at
// most. Each sync fetches every event dropped meanwhile that its peer
// holds; an earlier one still missing after that waits for the periodic
// sync, or for a child of it to ask as an orphan.
func (s *Service) dropped(ctx context.Context, j *joined, ev *ledger.Event, from peer.ID) {
	s.metrics().MessageRejected(RejectQueueFull)
	j.lastDropped.Store(ev)
	if s.cfg.OnMissing == nil || !j.repair.CompareAndSwap(false, true) {
		return // a repair is already scheduled; it checks the newest drop
	}
	s.log.Debug("ingest queue full: gossip dropped, sync scheduled", "room", j.ID, "peer", from)
	s.repeatAsk(func(attempt int) bool {
		if ctx.Err() != nil {
			return false // left or closed: the ledger may be closing too
		}
		last := j.lastDropped.Load()
		if stored, err := s.led.Stored(ctx, j.ID, last.ID(), last.Lamport); err == nil && stored {
			j.repair.Store(false)
			return false
		}
		s.cfg.OnMissing(j.ID, askPeer(from, attempt))
		if attempt == missingRetries {
			j.repair.Store(false) // the next drop starts over
		}
		return true
	})
}

// askPeer is whom ask number attempt goes to: the forwarder first, then
// any members ("").
func askPeer(from peer.ID, attempt int) peer.ID {
	if attempt > 0 {
		return ""
	}
	return from
}

// repeatAsk calls ask after missingGrace and again after waits that
// double up to missingGrace<<missingRetries (internal/backoff), while it
// returns true, missingRetries+1 times at most (attempt counts from 0).
// The waits run on s.timers, which Close stops.
func (s *Service) repeatAsk(ask func(attempt int) bool) {
	b := &backoff.Backoff{Min: missingGrace, Max: missingGrace << missingRetries}
	var next func(attempt int)
	next = func(attempt int) {
		// Each timer schedules the next: b has one user at a time.
		s.timers.AfterFunc(b.Next(), func() {
			if ask(attempt) && attempt < missingRetries {
				next(attempt + 1)
			}
		})
	}
	next(0)
}
