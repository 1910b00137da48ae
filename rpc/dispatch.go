package rpc

import (
	"context"
	"encoding/json"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/parley-chat/parley/rpc/api"
)

// batchWorkers bounds how many calls of one batch run at once. Sends that
// run together share the ledger's commit groups (one fsync each), so a
// batch of msg_send is stored faster the more of it runs at once
// (docs/BENCHMARKS.md: 8 → 32 workers).
const batchWorkers = 32

// callEnv is the transport side of a call: the WebSocket connection (nil
// over HTTP) and work to run once the response has been queued (a
// subscription starts pushing only after its ID reached the client).
type callEnv struct {
	conn  *wsConn
	limit *rate.Limiter // the client's bucket; nil: unlimited

	// For a call of a batch: what the batch's results may still take,
	// how much of it this call took while building its result (a paging
	// handler charges as it goes), and the message's env, which holds the
	// after-work. All nil/zero otherwise.
	budget  *replyBudget
	charged int
	root    *callEnv

	mu    sync.Mutex
	after []func()
}

func (e *callEnv) defer_(f func()) {
	if e.root != nil {
		e.root.defer_(f)
		return
	}
	e.mu.Lock()
	e.after = append(e.after, f)
	e.mu.Unlock()
}

func (e *callEnv) runAfter() {
	e.mu.Lock()
	after := e.after
	e.after = nil
	e.mu.Unlock()
	for _, f := range after {
		f()
	}
}

// handleMessage runs one HTTP body or WebSocket message and returns the
// encoded response, or nil when none is due (only notifications). A
// non-nil limited is the api.CodeRateLimited error with which the client's
// rate limit refused the whole message; resp then answers each request
// with it.
func (s *Server) handleMessage(ctx context.Context, data []byte, env *callEnv) (resp []byte, limited *api.Error) {
	reqs, batch, perr := decodeMessage(data, s.cfg.MaxBatch)
	if rerr := admit(env.limit, len(reqs)); rerr != nil {
		s.log.Debug("rpc rate limited", "requests", max(len(reqs), 1))
		if perr != nil {
			return encodeResponses([]*response{errorResponse(nil, rerr)}, false), rerr
		}
		resps := make([]*response, len(reqs))
		for i, r := range reqs {
			if r.hasID {
				resps[i] = errorResponse(r.responseID(), rerr)
			}
		}
		return encodeResponses(resps, batch), rerr
	}
	if perr != nil {
		s.log.Debug("rpc bad message", "code", perr.Code)
		return encodeResponses([]*response{errorResponse(nil, perr)}, false), nil
	}
	resps := make([]*response, len(reqs))
	if len(reqs) == 1 {
		resps[0] = s.call(ctx, reqs[0], env)
		return encodeResponses(resps, batch), nil
	}
	// The batch's results share one budget: once it is spent, no call that
	// expects a result starts, and a result that does not fit is replaced
	// by the error (which calls landed first depends on timing).
	budget := newReplyBudget(s.cfg.MaxBatchReplyBytes)
	sem := make(chan struct{}, batchWorkers)
	var wg sync.WaitGroup
	for i, r := range reqs {
		sem <- struct{}{}
		if r.hasID && budget.spent() {
			<-sem
			resps[i] = errorResponse(r.responseID(), replyTooLarge(budget.max, true))
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			cenv := &callEnv{conn: env.conn, limit: env.limit, budget: budget, root: env}
			resp := s.call(ctx, r, cenv)
			switch {
			case resp == nil || resp.Result == nil:
				budget.refund(cenv.charged)
			case !budget.take(len(resp.Result) - cenv.charged):
				budget.refund(len(resp.Result))
				resp = errorResponse(r.responseID(), replyTooLarge(budget.max, true))
			}
			resps[i] = resp
		}()
	}
	wg.Wait()
	return encodeResponses(resps, batch), nil
}

// call runs one request. It returns nil for a notification.
func (s *Server) call(ctx context.Context, r *request, env *callEnv) *response {
	if r.err != nil {
		s.calls.observe(unknownMethod, r.err.Code, 0)
		return errorResponse(r.responseID(), r.err)
	}
	start := time.Now()
	result, rerr := s.invoke(ctx, r, env)
	dur := time.Since(start)
	lvl, code := slog.LevelDebug, api.Code(0)
	if rerr != nil {
		code = rerr.Code
		if code == api.CodeInternal {
			lvl = slog.LevelWarn
		}
	}
	s.calls.observe(r.method, code, dur)
	s.log.Log(ctx, lvl, "rpc call", "method", r.method, "code", code, "dur", dur, "notification", !r.hasID)
	if !r.hasID {
		return nil
	}
	if rerr != nil {
		return errorResponse(r.responseID(), rerr)
	}
	return &response{JSONRPC: version, ID: r.responseID(), Result: result}
}

// invoke looks the method up, checks params and runs the handler under the
// call timeout, recovering panics into -32603.
func (s *Server) invoke(ctx context.Context, r *request, env *callEnv) (result json.RawMessage, rerr *api.Error) {
	m, ok := s.methods[r.method]
	if !ok {
		e := newError(api.CodeMethodNotFound, "method not found: %s", r.method)
		if s.chat == nil {
			for _, rm := range registry() {
				if rm.Name == r.method && rm.NeedsChat {
					e.Message += " (this node has no chat service)"
				}
			}
		}
		return nil, e
	}
	p, perr := m.checkParams(r.params)
	if perr != nil {
		return nil, perr
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("rpc handler panic", "method", r.method, "panic", v, "stack", string(debug.Stack()))
			result, rerr = nil, newError(api.CodeInternal, "internal error")
		}
	}()
	v, err := m.Handler(ctx, s, env, p)
	if err != nil {
		e := toError(err, m.Fallback)
		if e.Code == api.CodeInternal {
			s.log.Warn("rpc call failed", "method", r.method, "err", err)
		}
		return nil, e
	}
	b, ok := v.(json.RawMessage) // already encoded (msg_history's pages)
	if !ok {
		b, err = marshal(v)
	}
	if err != nil {
		s.log.Error("rpc encode result", "method", r.method, "err", err)
		return nil, newError(api.CodeInternal, "internal error: encoding result")
	}
	if limit := s.replyLimit(env); len(b) > limit {
		return nil, s.tooLarge(env, limit)
	}
	return b, nil
}
