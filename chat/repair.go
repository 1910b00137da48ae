package chat

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

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
func (s *Service) missing(ctx context.Context, j *joined, id ledger.ID, from peer.ID) {
	if !j.orph.markAsked(id) {
		return // already scheduled for this orphan
	}
	var ask func(attempt int, wait time.Duration)
	ask = func(attempt int, wait time.Duration) {
		// No need to stop the timer on leave: it checks ctx and exits.
		s.timers.AfterFunc(wait, func() {
			if ctx.Err() != nil || !j.orph.has(id) {
				return
			}
			p := from
			if attempt > 0 {
				p = "" // any members
			}
			s.cfg.OnMissing(j.ID, p)
			if attempt < missingRetries {
				ask(attempt+1, 2*wait)
			}
		})
	}
	ask(0, missingGrace)
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
	var ask func(attempt int, wait time.Duration)
	ask = func(attempt int, wait time.Duration) {
		s.timers.AfterFunc(wait, func() {
			if ctx.Err() != nil {
				return // left or closed: the ledger may be closing too
			}
			last := j.lastDropped.Load()
			if stored, err := s.led.Stored(ctx, j.ID, last.ID(), last.Lamport); err == nil && stored {
				j.repair.Store(false)
				return
			}
			p := from
			if attempt > 0 {
				p = "" // any members
			}
			s.cfg.OnMissing(j.ID, p)
			if attempt == missingRetries {
				j.repair.Store(false) // the next drop starts over
				return
			}
			ask(attempt+1, 2*wait)
		})
	}
	ask(0, missingGrace)
}
