package p2p

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// throttle wraps the log handler of libp2p components that can warn once
// per message under load (pubsub's "error bumping delivery tag ... queue
// full", say): the same warning is written at most once per window, and
// the next one written says how many were suppressed. Debug and Info
// records, and errors, pass unchanged.
type throttle struct {
	next   slog.Handler
	window time.Duration
	now    func() time.Time
	state  *throttleState // shared by handlers derived with WithAttrs/WithGroup
}

type throttleState struct {
	mu   sync.Mutex
	seen map[string]*throttled
}

type throttled struct {
	last       time.Time
	suppressed int
}

// maxThrottled bounds the distinct warnings tracked; past it the table is
// cleared (at worst a warning is written once more).
const maxThrottled = 256

func newThrottle(next slog.Handler, window time.Duration) *throttle {
	return &throttle{next: next, window: window, now: time.Now, state: &throttleState{seen: make(map[string]*throttled)}}
}

func (t *throttle) Enabled(ctx context.Context, l slog.Level) bool { return t.next.Enabled(ctx, l) }

func (t *throttle) Handle(ctx context.Context, r slog.Record) error {
	if r.Level != slog.LevelWarn {
		return t.next.Handle(ctx, r)
	}
	now := t.now()
	s := t.state
	s.mu.Lock()
	e := s.seen[r.Message]
	if e != nil && now.Sub(e.last) < t.window {
		e.suppressed++
		s.mu.Unlock()
		return nil
	}
	suppressed := 0
	if e == nil {
		if len(s.seen) >= maxThrottled {
			clear(s.seen)
		}
		e = new(throttled)
		s.seen[r.Message] = e
	}
	suppressed, e.suppressed, e.last = e.suppressed, 0, now
	s.mu.Unlock()
	if suppressed > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("suppressed_since_last", suppressed))
	}
	return t.next.Handle(ctx, r)
}

func (t *throttle) WithAttrs(as []slog.Attr) slog.Handler {
	c := *t
	c.next = t.next.WithAttrs(as)
	return &c
}

func (t *throttle) WithGroup(name string) slog.Handler {
	c := *t
	c.next = t.next.WithGroup(name)
	return &c
}
