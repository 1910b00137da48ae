package rpc

import (
	"encoding/json"
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/parley-chat/parley/rpc/api"
)

// Rate limits (token buckets, golang.org/x/time/rate). Every JSON-RPC
// request costs one token: each element of a batch, notifications and
// unparsable messages (one token) included. HTTP clients share one bucket
// per remote IP address (a WebSocket upgrade also costs one token there);
// every WebSocket connection has a bucket of its own.
//
// Over the limit the whole message is refused without running anything:
// every request in it that expects a response gets api.CodeRateLimited with
// data {"retryAfterMs":N}; over HTTP the status is 429 with a Retry-After
// header (seconds) and the same JSON-RPC body. The node keeps serving
// everyone else, and the client itself again once its bucket refilled.

// ipLimiterIdle is how long an idle per-IP bucket is kept. A bucket that
// has refilled completely holds no state and is dropped earlier by sweep.
const (
	ipLimiterIdle    = time.Minute
	ipLimiterSweepAt = 1024 // sweep when the map grows past this
)

// limiterSet holds the per-remote-IP buckets of HTTP clients.
type limiterSet struct {
	limit rate.Limit
	burst int

	mu        sync.Mutex
	m         map[string]*ipLimiter
	lastSweep time.Time
}

type ipLimiter struct {
	lim      *rate.Limiter
	lastSeen time.Time
}

func newLimiterSet(limit rate.Limit, burst int) *limiterSet {
	return &limiterSet{limit: limit, burst: burst, m: make(map[string]*ipLimiter)}
}

// get returns the bucket of the client at remoteAddr (host:port; the port
// is ignored), or nil when rate limiting is off.
func (ls *limiterSet) get(remoteAddr string, now time.Time) *rate.Limiter {
	if ls == nil {
		return nil
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if len(ls.m) >= ipLimiterSweepAt && now.Sub(ls.lastSweep) > time.Second {
		ls.sweep(now)
	}
	e, ok := ls.m[host]
	if !ok {
		e = &ipLimiter{lim: rate.NewLimiter(ls.limit, ls.burst)}
		ls.m[host] = e
	}
	e.lastSeen = now
	return e.lim
}

// sweep drops buckets that are full again or idle for ipLimiterIdle.
func (ls *limiterSet) sweep(now time.Time) {
	ls.lastSweep = now
	for k, e := range ls.m {
		if now.Sub(e.lastSeen) > ipLimiterIdle || e.lim.TokensAt(now) >= float64(ls.burst) {
			delete(ls.m, k)
		}
	}
}

// len reports the number of buckets held (tests).
func (ls *limiterSet) len() int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return len(ls.m)
}

// newConnLimiter returns the bucket of one WebSocket connection, or nil
// when rate limiting is off.
func (s *Server) newConnLimiter() *rate.Limiter {
	if s.cfg.RateLimit < 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(s.cfg.RateLimit), s.cfg.RateBurst)
}

// admit takes n tokens from lim. It returns nil when the message may run,
// else an api.CodeRateLimited error saying when to retry. A nil lim admits all.
func admit(lim *rate.Limiter, n int) *api.Error {
	if lim == nil {
		return nil
	}
	now := time.Now()
	if n < 1 {
		n = 1
	}
	r := lim.ReserveN(now, n)
	if !r.OK() {
		// More than the burst: never admissible (MaxBatch <= RateBurst
		// makes this unreachable with valid configs).
		return rateLimited(time.Second, n)
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return rateLimited(d, n)
	}
	return nil
}

func rateLimited(d time.Duration, n int) *api.Error {
	ms := max(d.Milliseconds(), 1)
	data, _ := json.Marshal(api.RateLimitData{RetryAfterMs: ms})
	e := newError(api.CodeRateLimited, "rate limit exceeded (%d requests refused); retry after %dms", n, ms)
	e.Data = data
	return e
}
