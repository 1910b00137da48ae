package chat

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/parley-chat/parley/ledger"
)

// Newcomers: an open room lets anyone write, and a fresh identity costs
// nothing, so authors with no accepted event in a room yet share one
// token bucket per room (Limits.NewcomerRate, NewcomerBurst). A token
// admits one new author; its later events are no longer a newcomer's.
// This is local judgement: gossip over the budget is ignored (never
// rejected: the forwarder did nothing wrong), and sync leaves it for a
// later session. Within the budget an open room stays spammable; without
// RLN-style proofs, only moderation removes what gets in.
//
// Gossip charges every event of a new author (an orphan when it is
// released: its parents are checked first). Sync charges only the events
// that no other event of the same batch names as a parent, the batch's
// tips: a node catching up on a long history meets thousands of authors
// it never saw, nearly all inside the history, where later events name
// them, while spam roots or spam children of stored events are each a
// tip (and a head once stored: what the budget protects a room's heads
// and a node's next parents from). An honest batch of 512 events sorted
// parents first has about as many tips as the room had heads at that
// point, so catch-up spends a few tokens per batch. A responder can
// still hand over a history it made up, fresh authors named by later
// events of its own: that costs it a signature per event, gets one
// token's worth of heads per batch, and is bounded like any history by
// the sync limits (p2p/ledgersync Config: events and bytes per session,
// sessions per peer); it is what honest history looks like, so no local
// rule tells them apart.

// newcomers keeps the per-room buckets.
type newcomers struct {
	rate  float64
	burst int

	mu      sync.Mutex
	rooms   map[string]*rate.Limiter
	pending map[string]map[peer.ID]time.Time // admitted, not yet stored
}

func newNewcomers(l Limits) *newcomers {
	return &newcomers{rate: l.NewcomerRate, burst: l.NewcomerBurst,
		rooms: map[string]*rate.Limiter{}, pending: map[string]map[peer.ID]time.Time{}}
}

// admittedFor is how long an admitted newcomer's further events pass
// without a token while its first one awaits storing (e.g. as an orphan).
const admittedFor = time.Minute

// allowNewcomer takes a token of room's newcomer budget if ev's author
// has no accepted event there and was not admitted a moment ago.
func (s *Service) allowNewcomer(ctx context.Context, room string, ev *ledger.Event) error {
	n := s.newcomers
	if n == nil || n.rate <= 0 || ev.Author == s.self {
		return nil
	}
	known, err := s.led.HasAuthor(ctx, room, ev.Author)
	if err != nil || known {
		return err
	}
	now := s.cfg.Clock() // the orphan pool's clock too: tests control both
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.pending[room]
	if t, ok := p[ev.Author]; ok && now.Sub(t) < admittedFor {
		return nil
	}
	lim := n.rooms[room]
	if lim == nil {
		lim = rate.NewLimiter(rate.Limit(n.rate), max(n.burst, 1))
		n.rooms[room] = lim
	}
	if !lim.AllowN(now, 1) {
		return fmt.Errorf("%w: room %s over %g new authors/s", ErrRateLimited, room, n.rate)
	}
	if p == nil || len(p) >= maxBuckets {
		p = map[peer.ID]time.Time{} // forget old admissions rather than grow
		n.pending[room] = p
	}
	p[ev.Author] = now
	return nil
}

// forget drops room's bucket and admissions: the room was left, and a
// later join starts with a full budget, which a fresh node has too.
func (n *newcomers) forget(room string) {
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.rooms, room)
	delete(n.pending, room)
}

// sizes returns how many rooms have a bucket and admissions, for tests.
func (n *newcomers) sizes() (rooms, pending int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.rooms), len(n.pending)
}

// withinNewcomerBudget returns the events of evs that the budget admits,
// in order; the rest are dropped (sync leaves them for a later session).
// Events named in vouched are not charged (see Ingest).
func (s *Service) withinNewcomerBudget(ctx context.Context, room string, evs []*ledger.Event, vouched map[ledger.ID]bool) ([]*ledger.Event, error) {
	if s.newcomers == nil || s.newcomers.rate <= 0 {
		return evs, nil
	}
	out := evs[:0:0]
	for _, ev := range evs {
		if vouched[ev.ID()] {
			out = append(out, ev)
			continue
		}
		err := s.allowNewcomer(ctx, room, ev)
		switch {
		case err == nil:
			out = append(out, ev)
		case errors.Is(err, ErrRateLimited):
			s.metrics().MessageRejected(RejectRateLimited)
		default:
			return nil, err
		}
	}
	return out, nil
}
