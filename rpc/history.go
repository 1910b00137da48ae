package rpc

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/rpc/api"
)

const (
	// historyPage is how many messages msg_history reads and encodes at a
	// time when asked for more, so that a request over the reply cap is
	// refused after building about one page past it, not the whole result.
	historyPage = 100
	// maxHistoryLimit is chat.History's own cap on a page (HistoryQuery.Limit).
	maxHistoryLimit = 1000
)

// history answers msg_history: the newest q.Limit messages before
// q.Before, oldest first, encoded. Limits above historyPage are read
// backwards in pages of historyPage (each page's Before is the oldest
// message of the previous one, which is the same list in (Lamport, ID)
// order) and refused with api.CodeReplyTooLarge as soon as the encoded
// pages exceed the call's reply limit.
func (s *Server) history(ctx context.Context, env *callEnv, room string, q api.HistoryQuery) (any, error) {
	if q.Limit <= historyPage {
		msgs, err := s.chat.History(ctx, room, chat.HistoryQuery{Limit: q.Limit, Before: q.Before})
		if err != nil {
			return nil, err
		}
		if msgs == nil {
			return []api.Message{}, nil
		}
		return toMessages(msgs), nil
	}
	limit := min(q.Limit, maxHistoryLimit)
	var pages [][]byte // encoded pages, newest first
	size, got, before := len("[]"), 0, q.Before
	for got < limit {
		n := min(historyPage, limit-got)
		msgs, err := s.chat.History(ctx, room, chat.HistoryQuery{Limit: n, Before: before})
		if err != nil {
			return nil, err
		}
		if len(msgs) == 0 {
			break
		}
		capBytes := s.replyLimit(env) // a batch's budget shrinks as other calls build theirs
		var buf bytes.Buffer
		for i, m := range msgs {
			if i > 0 {
				buf.WriteByte(',')
			}
			b, err := marshal(toMessage(m))
			if err != nil {
				return nil, err
			}
			buf.Write(b)
			if size+buf.Len() > capBytes {
				return nil, s.tooLarge(env, capBytes)
			}
		}
		if !env.charge(buf.Len() + 1) {
			return nil, s.tooLarge(env, s.replyLimit(env))
		}
		pages = append(pages, buf.Bytes())
		size += buf.Len() + 1
		got += len(msgs)
		if len(msgs) < n {
			break // the start of the room
		}
		before = msgs[0].ID
	}
	out := make([]byte, 0, size)
	out = append(out, '[')
	for i := len(pages) - 1; i >= 0; i-- {
		out = append(out, pages[i]...)
		if i > 0 {
			out = append(out, ',')
		}
	}
	return json.RawMessage(append(out, ']')), nil
}
