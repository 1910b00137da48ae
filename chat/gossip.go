package chat

import (
	"context"
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/ledger"
)

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
	s.mu.Unlock()
	if r.Moderated {
		// Judging the room's events needs its causal bookkeeping first.
		if err := s.loadModRoom(s.ctx, r.ID); err != nil {
			return err
		}
	}
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
	j := &joined{Room: r, in: newRoomQueue[inbound](ingestQueue), ctx: ctx, cancel: cancel, done: make(chan struct{}),
		ready: make(chan struct{}), orph: &orphans{pool: s.orph, room: r.ID}, pubq: newRoomQueue[*ledger.Event](publishQueue),
		committed: newCommittedIDs()}
	s.rooms[r.ID] = j
	s.mu.Unlock()

	deliver := func(from peer.ID, _ []byte, v any) {
		ev, ok := v.(*ledger.Event)
		if !ok || ev == nil {
			return // not from our validator: a Network bug, nothing to store
		}
		if !j.in.tryPush(inbound{ev, from}) {
			j.pending.Delete(ev.ID())
			s.dropped(ctx, j, ev, from)
		}
	}
	var topic Topic
	var err error
	mr := s.modRoom(r.ID)
	if pn, canAdmit := s.net.(PrivateNetwork); canAdmit && mr != nil {
		// A moderated room's topic follows what the room turns out to
		// be: private rooms meet on their epochs' topics (roomtopic.go).
		rt := &roomTopic{s: s, pn: pn, room: r.ID, mr: mr, invited: r.Private, validate: s.validator(j), deliver: deliver}
		if err = rt.update(ctx); err != nil {
			rt.Close()
		} else {
			topic = rt
		}
	} else {
		topic, err = s.net.JoinTopic(TopicName(r.ID), s.validator(j), deliver)
	}
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

// validator checks gossip for j's room. Its verdicts follow one rule:
// Reject only what every honest forwarder must already have checked, since
// the penalty lands on the forwarder — the encoding, signature and size
// (ledger.DecodeOwned), the room, and the part of the Lamport rule that
// needs no parents (an event has parents exactly when its clock is above
// 1). Everything that depends on this node's state is Ignored: over a rate
// limit, already stored, or parents we do not have (yet). An event
// missing parents waits in the orphan pool, a sync is asked for them, and
// once they arrive it is stored and published again, so it still spreads;
// until then it is not forwarded, so orphans a stranger makes up reach
// only its neighbours. Our own messages were checked when we made them.
func (s *Service) validator(j *joined) ValidateFunc {
	room := j.ID
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
		if (len(ev.Parents) == 0) != (ev.Lamport == 1) {
			s.metrics().MessageRejected(RejectBadParents)
			return nil, Reject, fmt.Errorf("%w: lamport %d with %d parents", ledger.ErrBadParents, ev.Lamport, len(ev.Parents))
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
		// Parents before the newcomer budget: orphans made up from fresh
		// keys would otherwise drain the room's budget and never be
		// stored. An orphan is charged when it is released (storeChain);
		// until then the orphan budgets bound it.
		missing, err := s.missingParents(ctx, j, ev)
		if err != nil {
			return nil, Ignore, fmt.Errorf("check parents: %w", err)
		}
		if len(missing) > 0 {
			s.metrics().MessageRejected(RejectMissingParents)
			if j.orph.add(ev, missing, from, s.group(from)) && s.cfg.OnMissing != nil {
				s.missing(j.context(s), j, ev.ID(), from)
			}
			return nil, Ignore, errOrphan
		}
		if err := s.allowNewcomer(ctx, room, ev); err != nil {
			s.metrics().MessageRejected(RejectRateLimited)
			return nil, Ignore, err
		}
		// Moderation is local judgement of the event's past, which the
		// forwarder may not hold: never a Reject. A valid event that the
		// room's bans hide is not spread either.
		if mr := s.modRoom(room); mr != nil {
			if err := mr.checkGossip(ev); err != nil {
				s.metrics().MessageRejected(RejectModeration)
				return nil, Ignore, err
			}
		} else if looksLikeModeratedID(room) {
			return nil, Ignore, fmt.Errorf("%w: moderated room %s not loaded", ErrNotAllowed, room)
		}
		j.pending.Store(ev.ID(), struct{}{})
		s.metrics().MessageReceived()
		return ev, Accept, nil
	}
}

// missingParents returns the parents of ev that are neither stored nor
// accepted and on their way to the store (j.pending). Parents committed
// a moment ago are found in memory (j.committed); the rest, including a
// parent the ledger has staged but not yet written, are asked of the
// datastore, as before: a staged write may still fail.
func (s *Service) missingParents(ctx context.Context, j *joined, ev *ledger.Event) ([]ledger.ID, error) {
	var missing []ledger.ID
	for _, p := range ev.Parents {
		if _, ok := j.pending.Load(p); ok || j.committed.has(p) {
			continue
		}
		ok, err := s.led.Has(ctx, j.ID, p)
		if err != nil {
			return nil, err
		}
		if !ok {
			missing = append(missing, p)
		}
	}
	return missing, nil
}
