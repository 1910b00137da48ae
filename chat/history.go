package chat

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/ledger"
)

// HistoryQuery selects a page of history.
type HistoryQuery struct {
	Limit  int    // at most this many messages; 0 means 50, capped at 1000
	Before string // only messages before this message ID
}

// History returns messages of a room in (Lamport, ID) order, oldest first:
// the newest Limit of them, or those just before q.Before. A room of a
// direct conversation gives the whole conversation, merged from its
// rooms if two crossed (dmmerge.go).
func (s *Service) History(ctx context.Context, room string, q HistoryQuery) ([]Message, error) {
	r, err := s.resolve(room)
	if err != nil {
		return nil, err
	}
	if rooms, _ := s.conversation(r.ID); len(rooms) > 1 {
		return s.conversationHistory(ctx, rooms, q)
	}
	return s.roomHistory(ctx, r, room, q)
}

// roomHistory is History of the one resolved room r (named room by the
// caller).
func (s *Service) roomHistory(ctx context.Context, r Room, room string, q HistoryQuery) ([]Message, error) {
	var err error
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	var before ledger.ID
	if q.Before != "" {
		if before, err = ledger.ParseID(q.Before); err != nil {
			return nil, fmt.Errorf("%w: before: %v", ErrBadCursor, err)
		}
		if ok, err := s.led.Has(ctx, r.ID, before); err != nil {
			return nil, storeErr(err)
		} else if !ok {
			return nil, fmt.Errorf("%w: before: no message %s in room", ErrBadCursor, q.Before)
		}
	} else if _, joined := s.joinedRoom(r.ID); !joined {
		if n, err := s.led.Count(ctx, r.ID); err != nil {
			return nil, storeErr(err)
		} else if n == 0 {
			return nil, fmt.Errorf("%w: %s", ErrUnknownRoom, room)
		}
	}
	if err := s.ensureModRoom(ctx, r.ID); err != nil {
		return nil, storeErr(err)
	}
	// Pages hold other kinds too (joins, leaves): read until we have
	// enough messages or reach the start.
	var out []Message
	for len(out) < limit {
		evs, err := s.led.History(ctx, r.ID, before, limit)
		if err != nil {
			return nil, storeErr(err)
		}
		page := make([]Message, 0, len(evs))
		for _, ev := range evs {
			s.learnName(ev)
			if s.hidden(ev) {
				continue
			}
			if m, ok := s.show(ev); ok {
				page = append(page, m)
			}
		}
		out = append(page, out...)
		if len(evs) < limit {
			break
		}
		before = evs[0].ID()
	}
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

// VerifyReport is the result of Verify.
type VerifyReport = ledger.Report

// Problem is one finding of Verify.
type Problem = ledger.Problem

// Verify checks the ledger of one room, or of all rooms if room is "".
func (s *Service) Verify(ctx context.Context, room string) (VerifyReport, error) {
	id := ""
	if room != "" {
		r, err := s.resolve(room)
		if err != nil {
			return VerifyReport{}, err
		}
		id = r.ID
	}
	return s.led.Verify(ctx, id)
}

func (s *Service) learnName(ev *ledger.Event) {
	if ev.Kind != ledger.KindJoin && ev.Kind != ledger.KindProfile {
		return
	}
	var b memberBody
	if json.Unmarshal(ev.Body, &b) != nil || b.Name == "" {
		return
	}
	s.mu.Lock()
	s.names[ev.Author] = b.Name
	s.mu.Unlock()
}

func (s *Service) name(p peer.ID) string {
	if p == s.self {
		return s.cfg.Name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.names[p]
}
