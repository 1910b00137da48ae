package chat

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/ledger"
)

// inbound is a verified event from a peer, waiting to be stored.
type inbound struct {
	ev   *ledger.Event
	from peer.ID
}

// ingestQueue bounds the events waiting to be stored per room. Gossip is
// queued from pubsub's validation workers, which must not wait: when the
// queue is full the event is dropped here (it is still forwarded), and a
// sync with the peer that forwarded it fetches it (dropped). (A queue
// rather than a channel of this size: a channel would hold ~100 KiB per
// joined room even while the room is quiet, and the GC would scan it.)
const ingestQueue = 4096

// ingestBatch bounds how many queued events one ledger write takes.
const ingestBatch = 512

// ingest stores verified events for one room in batches, holding back those
// whose parents are missing until the parents arrive.
func (s *Service) ingest(ctx context.Context, j *joined) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-j.in.ready:
		}
		for batch := j.in.take(ingestBatch); len(batch) > 0 && ctx.Err() == nil; batch = j.in.take(ingestBatch) {
			s.storeBatch(ctx, j, batch)
			clear(batch) // the queue's array may still hold it: drop the events
		}
	}
}

// storeBatch adds a batch of gossip to the ledger, parks orphans and
// stores the orphans that the new events complete.
func (s *Service) storeBatch(ctx context.Context, j *joined, batch []inbound) {
	evs := make([]*ledger.Event, len(batch))
	from := make(map[ledger.ID]peer.ID, len(batch))
	for i, in := range batch {
		evs[i] = in.ev
		from[in.ev.ID()] = in.from
	}
	// Parents first: pubsub validates on several workers, so a burst
	// arrives slightly shuffled, and a child ahead of its parent in the
	// same batch would be parked as an orphan (and cost a datastore miss)
	// only to be released a moment later. A parent's Lamport clock is
	// always lower than its child's.
	slices.SortStableFunc(evs, func(a, b *ledger.Event) int { return cmp.Compare(a.Lamport, b.Lamport) })
	if _, err := s.storeChain(ctx, j, evs, from, nil); err != nil && !errors.Is(err, context.Canceled) {
		s.log.Error("store events", "room", j.ID, "events", len(evs), "err", err)
	}
	for _, ev := range evs { // stored, parked or refused: no longer on the way
		j.pending.Delete(ev.ID())
	}
}

// storeChain adds evs (parents first), then the released orphans kids, to j's ledger in writes of at most
// ingestBatch events, parks those whose parents are missing (from names
// the peer that forwarded each, for the sync that asks for the parents;
// it may be nil), and stores the orphans each write completes after the
// rest of evs: a released chain is bounded by the orphan budgets, and
// each released orphan is charged the room's newcomer budget. It
// returns every event added. Released orphans that get stored are
// published again: the validator ignored those that came by gossip, so
// they were not forwarded (a copy pubsub did deliver is not sent twice).
func (s *Service) storeChain(ctx context.Context, j *joined, evs []*ledger.Event, from map[ledger.ID]peer.ID, kids []*ledger.Event) ([]*ledger.Event, error) {
	var all []*ledger.Event
	var released map[ledger.ID]bool
	for {
		// Released orphans were not charged the newcomer budget when they
		// came (gossip.go): they are now, before they are stored.
		var err error
		if kids, err = s.withinNewcomerBudget(ctx, j.ID, kids, nil); err != nil {
			return all, err
		}
		if len(kids) > 0 && released == nil {
			released = make(map[ledger.ID]bool, len(kids))
		}
		for _, k := range kids {
			released[k.ID()] = true
		}
		evs = append(evs, kids...)
		if len(evs) == 0 {
			break
		}
		n := min(len(evs), ingestBatch)
		chunk, rest := evs[:n], evs[n:]
		added, rejected, err := s.led.Add(ctx, j.ID, chunk...)
		if err != nil {
			return all, err
		}
		all = append(all, added...)
		for _, ev := range added {
			if released[ev.ID()] && j.pubq != nil {
				j.pubq.tryPush(ev) // full: members sync it
			}
		}
		for range len(chunk) - len(added) - len(rejected) {
			s.metrics().MessageRejected(RejectDuplicate) // Add skips stored events
		}
		missing := false
		for _, r := range rejected {
			var mp *ledger.MissingParentsError
			if errors.As(r.Err, &mp) {
				s.metrics().MessageRejected(RejectMissingParents)
				f := from[r.Event.ID()]
				j.orph.add(r.Event, mp.Missing, f, s.group(f))
				missing = true
				continue
			}
			s.metrics().MessageRejected(rejectReason(r.Err))
			s.log.Debug("event rejected", "room", j.ID, "event", r.Event.ID(), "peer", from[r.Event.ID()], "err", r.Err)
		}
		if missing && s.cfg.OnMissing != nil {
			for _, r := range rejected {
				if errors.Is(r.Err, ledger.ErrMissingParents) {
					s.missing(ctx, j, r.Event.ID(), from[r.Event.ID()])
					break
				}
			}
		}
		// Children waiting for what we just stored can go in now, after
		// the rest of this batch or chain.
		evs, kids = rest, j.orph.releaseChildren(added)
	}
	return all, nil
}

// Ingest stores events of room obtained outside gossip (by sync), in the
// order given (parents first), exactly as gossip would: verified with
// ledger.Decode by the caller, new ones shown to subscribers once. It
// returns the events that were new (with the gossiped orphans they
// completed) and the rejections of evs. Only the events of evs that no
// other names as a parent are charged the room's newcomer budget
// (newcomers.go); those of new authors over it are neither added nor
// rejected but left for a later session, and the error then wraps
// ErrRateLimited (after the rest is stored), so that the session can
// stop pulling what this budget would drop too.
func (s *Service) Ingest(ctx context.Context, room string, evs []*ledger.Event) ([]*ledger.Event, []ledger.Rejection, error) {
	n := len(evs)
	evs, err := s.withinNewcomerBudget(ctx, room, evs, namedParents(evs))
	if err != nil {
		return nil, nil, err
	}
	var over error
	if left := n - len(evs); left > 0 {
		over = fmt.Errorf("%w: %d events of authors new to room %s left for later", ErrRateLimited, left, room)
	}
	added, rejected, err := s.led.Add(ctx, room, evs...)
	if err != nil {
		return added, rejected, err
	}
	// Refused by the room's rules: local judgement of the event's past,
	// not the responder's fault. Skipped without blame.
	rejected = slices.DeleteFunc(rejected, func(r ledger.Rejection) bool {
		if errors.Is(r.Err, ledger.ErrRefused) {
			s.metrics().MessageRejected(RejectModeration)
			return true
		}
		return false
	})
	s.mu.Lock()
	j := s.rooms[room]
	s.mu.Unlock()
	if j == nil {
		return added, rejected, over
	}
	more, err := s.storeChain(ctx, j, nil, nil, j.orph.releaseChildren(added))
	return append(added, more...), rejected, cmp.Or(err, over)
}

// namedParents returns the IDs that some event of evs names as a parent.
func namedParents(evs []*ledger.Event) map[ledger.ID]bool {
	named := make(map[ledger.ID]bool, len(evs))
	for _, ev := range evs {
		for _, p := range ev.Parents {
			named[p] = true
		}
	}
	return named
}

// rejectReason maps a ledger rejection to a Metrics reason.
func rejectReason(err error) string {
	switch {
	case errors.Is(err, ledger.ErrBadParents):
		return RejectBadParents
	case errors.Is(err, ledger.ErrWrongRoom):
		return RejectWrongRoom
	case errors.Is(err, ledger.ErrRefused):
		return RejectModeration
	}
	return RejectInvalid
}
