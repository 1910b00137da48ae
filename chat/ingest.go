package chat

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

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

// subscribe joins the room's topic and starts its ingest worker.
func (s *Service) subscribe(r Room) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if _, ok := s.rooms[r.ID]; ok {
		s.mu.Unlock()
		return nil
	}
	ctx, cancel := context.WithCancel(s.ctx)
	j := &joined{Room: r, in: newRoomQueue[inbound](ingestQueue), cancel: cancel, done: make(chan struct{}),
		ready: make(chan struct{}), orph: newOrphans(maxOrphans), pubq: newRoomQueue[[]byte](publishQueue)}
	s.rooms[r.ID] = j
	s.mu.Unlock()

	topic, err := s.net.JoinTopic(TopicName(r.ID), s.validator(r.ID), func(from peer.ID, _ []byte, v any) {
		ev, ok := v.(*ledger.Event)
		if !ok || ev == nil {
			return // not from our validator: a Network bug, nothing to store
		}
		if !j.in.tryPush(inbound{ev, from}) {
			s.dropped(ctx, j, ev, from)
		}
	})
	if err != nil {
		cancel()
		s.mu.Lock()
		if s.rooms[r.ID] == j {
			delete(s.rooms, r.ID)
		}
		s.mu.Unlock()
		// No worker will run: a Close or Leave that found j stops it
		// without waiting for one.
		close(j.done)
		close(j.ready)
		return fmt.Errorf("join topic of %s: %w", r.ID, err)
	}
	j.topic = topic
	defer close(j.ready) // after the worker is counted in s.wg
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(j.done)
		var pwg sync.WaitGroup
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			s.publish(ctx, j)
		}()
		s.ingest(ctx, j)
		pwg.Wait()
	}()
	return nil
}

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

// stop closes the room's topic and waits for its worker. A subscription
// still joining the topic finishes first.
func (s *Service) stop(j *joined) error {
	<-j.ready
	var err error
	if j.topic != nil {
		err = j.topic.Close()
	}
	j.cancel()
	<-j.done
	return err
}

// validator checks gossip for room (P2): well-formed, correctly signed,
// within limits and for this room. Whether the parents fit is checked when
// storing, since they may not have arrived yet. Our own messages were
// checked when we made them. Invalid data is rejected (its forwarder is
// penalised); what is valid but unwanted here is ignored.
func (s *Service) validator(room string) ValidateFunc {
	return func(ctx context.Context, from peer.ID, data []byte) (any, Verdict, error) {
		if from == s.self {
			return nil, Accept, nil
		}
		if s.limit != nil {
			if err := s.limit.allowPeer(from); err != nil {
				s.metrics().MessageRejected(RejectRateLimited)
				return nil, Ignore, err
			}
		}
		ev, err := ledger.DecodeOwned(data) // Network: data is never reused
		if err != nil {
			s.metrics().MessageRejected(RejectInvalid)
			return nil, Reject, err
		}
		if ev.Room != room {
			s.metrics().MessageRejected(RejectWrongRoom)
			return nil, Reject, fmt.Errorf("%w: %s on the topic of %s", ledger.ErrWrongRoom, ev.Room, room)
		}
		// A copy of an event we have (it came by sync first, or gossip's
		// seen window passed before this copy arrived) is ignored before
		// it can spend its author's allowance (the forwarding peer's is
		// spent above). Ignored means not forwarded either: that stops a
		// stale copy from flooding the room again, at the price that when
		// sync brought the event first, our mesh peers get it from their
		// other mesh peers or their own sync rather than from us.
		if ok, err := s.led.Stored(ctx, room, ev.ID(), ev.Lamport); err != nil {
			// Our store failing is not the sender's fault.
			return nil, Ignore, fmt.Errorf("check for a stored copy: %w", err)
		} else if ok {
			s.metrics().MessageRejected(RejectDuplicate)
			return nil, Ignore, errStored
		}
		if s.limit != nil {
			if err := s.limit.allowAuthor(ev.Author); err != nil {
				s.metrics().MessageRejected(RejectRateLimited)
				return nil, Ignore, err
			}
		}
		s.metrics().MessageReceived()
		return ev, Accept, nil
	}
}

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
	if _, err := s.storeChain(ctx, j, evs, from); err != nil && !errors.Is(err, context.Canceled) {
		s.log.Error("store events", "room", j.ID, "events", len(evs), "err", err)
	}
}

// storeChain adds evs (parents first) to j's ledger in writes of at most
// ingestBatch events, parks those whose parents are missing (from names
// the peer that forwarded each, for the sync that asks for the parents;
// it may be nil), and stores the orphans each write completes after the
// rest of evs: a released chain can be up to maxOrphans long. It returns
// every event added.
func (s *Service) storeChain(ctx context.Context, j *joined, evs []*ledger.Event, from map[ledger.ID]peer.ID) ([]*ledger.Event, error) {
	var all []*ledger.Event
	for len(evs) > 0 {
		n := min(len(evs), ingestBatch)
		chunk, rest := evs[:n], evs[n:]
		added, rejected, err := s.led.Add(ctx, j.ID, chunk...)
		if err != nil {
			return all, err
		}
		all = append(all, added...)
		for range len(chunk) - len(added) - len(rejected) {
			s.metrics().MessageRejected(RejectDuplicate) // Add skips stored events
		}
		missing := false
		for _, r := range rejected {
			var mp *ledger.MissingParentsError
			if errors.As(r.Err, &mp) {
				s.metrics().MessageRejected(RejectMissingParents)
				j.orph.add(r.Event, mp.Missing, from[r.Event.ID()])
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
		evs = append(rest, j.orph.releaseChildren(added)...)
	}
	return all, nil
}

// Ingest stores events of room obtained outside gossip (by sync), in the
// order given (parents first), exactly as gossip would: verified with
// ledger.Decode by the caller, new ones shown to subscribers once. It
// returns the events that were new (with the gossiped orphans they
// completed) and the rejections of evs.
func (s *Service) Ingest(ctx context.Context, room string, evs []*ledger.Event) ([]*ledger.Event, []ledger.Rejection, error) {
	added, rejected, err := s.led.Add(ctx, room, evs...)
	if err != nil {
		return added, rejected, err
	}
	s.mu.Lock()
	j := s.rooms[room]
	s.mu.Unlock()
	if j == nil {
		return added, rejected, nil
	}
	more, err := s.storeChain(ctx, j, j.orph.releaseChildren(added), nil)
	return append(added, more...), rejected, err
}

// rejectReason maps a ledger rejection to a Metrics reason.
func rejectReason(err error) string {
	switch {
	case errors.Is(err, ledger.ErrBadParents):
		return RejectBadParents
	case errors.Is(err, ledger.ErrWrongRoom):
		return RejectWrongRoom
	}
	return RejectInvalid
}
