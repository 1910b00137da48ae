package rpc

import (
	"encoding/json"
	"sync/atomic"

	"github.com/parley-chat/parley/rpc/api"
)

// Reply caps. A call's encoded result may take at most Config.MaxReplyBytes,
// a batch's results together at most Config.MaxBatchReplyBytes. Over a cap
// the call is answered with api.CodeReplyTooLarge, never with a truncated
// result. Results are built before they are measured, so what bounds the
// memory of one message is that no call builds much past its cap: the
// generic check in invoke covers small results, msg_history (the one method
// whose result grows with a param) pages and stops once over, and a batch
// stops starting calls once its budget is spent. Worst case for one batch:
// MaxBatchReplyBytes plus, for each of the batchWorkers calls in flight,
// MaxReplyBytes and one history page.

// replyBudget is what the results of one message may still take, in bytes.
// It is shared by the calls of a batch.
type replyBudget struct {
	max  int
	left atomic.Int64
}

func newReplyBudget(max int) *replyBudget {
	b := &replyBudget{max: max}
	b.left.Store(int64(max))
	return b
}

// spent reports whether nothing is left.
func (b *replyBudget) spent() bool { return b != nil && b.left.Load() <= 0 }

// take charges n bytes and reports whether they fitted. Bytes that did
// not fit stay charged until refunded.
func (b *replyBudget) take(n int) bool { return b == nil || b.left.Add(-int64(n)) >= 0 }

// refund returns n charged bytes (of a call that ended without a result).
func (b *replyBudget) refund(n int) {
	if b != nil && n != 0 {
		b.left.Add(int64(n))
	}
}

// charge takes n bytes of a result being built under env from its batch's
// budget, and reports whether they fitted. Outside a batch it is a no-op.
func (env *callEnv) charge(n int) bool {
	if env == nil || env.budget == nil {
		return true
	}
	env.charged += n
	return env.budget.take(n)
}

// replyLimit is how many bytes the result of a call running under env may
// take: the per-call cap, or less when the batch's budget is nearly spent.
func (s *Server) replyLimit(env *callEnv) int {
	limit := s.cfg.MaxReplyBytes
	if env != nil && env.budget != nil {
		// What is left, plus what this call already took of it.
		limit = int(min(int64(limit), max(env.budget.left.Load()+int64(env.charged), 0)))
	}
	return limit
}

// tooLarge is the error of a call under env whose result would exceed
// limit, its replyLimit.
func (s *Server) tooLarge(env *callEnv, limit int) *api.Error {
	return replyTooLarge(limit, env != nil && env.budget != nil && limit < s.cfg.MaxReplyBytes)
}

// replyTooLarge is the error of a call whose result would exceed limit
// bytes; batch says the batch's cap, not the call's, was hit.
func replyTooLarge(limit int, batch bool) *api.Error {
	var e *api.Error
	if batch {
		e = newError(api.CodeReplyTooLarge, "reply too large: the results of this batch would exceed the node's %d-byte cap; send fewer requests per batch", limit)
	} else {
		e = newError(api.CodeReplyTooLarge, "reply too large: the result would exceed %d bytes; ask for less (e.g. a smaller msg_history limit)", limit)
	}
	e.Data, _ = json.Marshal(api.ReplyTooLargeData{MaxBytes: limit})
	return e
}
