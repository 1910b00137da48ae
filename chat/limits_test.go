package chat

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// The author and peer limits refill by Config.Clock too, so one clock
// drives every timed judgement of the validator.
func TestRateLimitsUseConfigClock(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := localService(t, Config{Limits: Limits{AuthorRate: 1, AuthorBurst: 1, PeerRate: 1, PeerBurst: 1}, Clock: clock})
	for _, l := range []struct {
		name  string
		allow func() error
	}{{"author", func() error { return s.limit.allowAuthor("author") }}, {"peer", func() error { return s.limit.allowPeer("peer") }}} {
		if err := l.allow(); err != nil {
			t.Fatalf("%s: first event: %v", l.name, err)
		}
		if err := l.allow(); !errors.Is(err, ErrRateLimited) {
			t.Fatalf("%s: second event at once: %v, want rate limited", l.name, err)
		}
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	if err := s.limit.allowAuthor("author"); err != nil {
		t.Fatalf("author after the clock moved 1 s: %v", err)
	}
	if err := s.limit.allowPeer("peer"); err != nil {
		t.Fatalf("peer after the clock moved 1 s: %v", err)
	}
}
