package chat

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-chat/parley/ledger"
)

// Send appends a message to a joined room and publishes it. It returns once
// the message is durably stored; publishing is best effort, since sync
// brings anything gossip missed to the other members.
func (s *Service) Send(ctx context.Context, room, text string) (Message, error) {
	r, err := s.resolve(room)
	if err != nil {
		return Message{}, err
	}
	if _, ok := s.joinedRoom(r.ID); !ok {
		return Message{}, fmt.Errorf("%w: %s", ErrNotMember, room)
	}
	body, err := encodeText(text)
	if err != nil {
		return Message{}, err
	}
	// A direct conversation's messages go to its canonical room (dmmerge.go).
	r.ID = s.canonical(nil, r.ID).room
	var ev *ledger.Event
	if mr := s.modRoom(r.ID); mr != nil && mr.isPrivate() {
		s.beforeSend(ctx, mr, r.ID) // a due direct conversation rekeys first
		ev, err = s.sendPrivate(ctx, mr, r.ID, innerMsg, body)
	} else {
		ev, err = s.append(ctx, r.ID, ledger.KindMsg, body)
	}
	if err != nil {
		return Message{}, err
	}
	// The body is encodeText(text): no need to decode it again.
	return message(ev, s.cfg.Name, text), nil
}

// append stores a new event of ours; once committed it is published on the
// room's topic.
func (s *Service) append(ctx context.Context, room, kind string, body []byte) (*ledger.Event, error) {
	return s.appendAfter(ctx, room, kind, body, nil)
}

// appendAfter is append naming the parents after (nil: the ledger's
// choice).
func (s *Service) appendAfter(ctx context.Context, room, kind string, body []byte, after []ledger.ID) (*ledger.Event, error) {
	s.mu.Lock()
	j := s.rooms[room]
	s.mu.Unlock()
	if j != nil {
		// A sender faster than the network waits here, before its event
		// exists, rather than the node queueing without bound.
		if err := j.pubq.waitRoom(ctx, j.done); errors.Is(err, errGone) {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil, ErrClosed
			}
			return nil, fmt.Errorf("%w: %s", ErrNotMember, room)
		} else if err != nil {
			return nil, fmt.Errorf("waiting to publish: %w", err)
		}
	}
	if mr := s.modRoom(room); mr != nil {
		if !mr.hasGenesis() {
			return nil, fmt.Errorf("%w: %s: its genesis has not arrived yet (syncing)", ErrNotAllowed, room)
		}
	}
	ev, err := s.led.AppendAfter(ctx, s.key, room, kind, body, s.cfg.Clock(), after)
	if err != nil {
		return nil, fmt.Errorf("store event: %w", storeErr(err))
	}
	s.metrics().MessageSent()
	// Published by the room's publisher, in commit order (see onCommit).
	return ev, nil
}
