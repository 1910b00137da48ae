package chat

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

// Limits bound how fast gossip from one author or one forwarding peer is
// accepted. Messages over a limit are ignored (not stored, not forwarded)
// without penalizing the forwarder, since an honest peer may relay someone
// else's flood; gossipsub's scoring handles peers that send invalid data.
// What an honest author sent in a burst is still fetched later by sync,
// which the author and peer limits do not apply to; the newcomer budget
// does, to the tips of each synced batch only (newcomers.go).
type Limits struct {
	AuthorRate  float64 // events/s per author; 0 means no limit
	AuthorBurst int
	PeerRate    float64 // events/s per forwarding peer; 0 means no limit
	PeerBurst   int
	// NewcomerRate is how many authors with no accepted event in a room
	// the room admits per second, on gossip and sync together
	// (newcomers.go; sync charges only events no other event of their
	// batch names as a parent); 0 means no limit.
	NewcomerRate  float64
	NewcomerBurst int
}

// DefaultLimits are the limits a user node runs with.
func DefaultLimits() Limits {
	return Limits{AuthorRate: 20, AuthorBurst: 100, PeerRate: 200, PeerBurst: 500,
		NewcomerRate: 10, NewcomerBurst: 1000}
}

// ErrRateLimited is returned by the validator, with the verdict Ignore,
// for gossip over a rate limit, and by Ingest when the room's newcomer
// budget left some of the events for later.
var ErrRateLimited = errors.New("rate limited")

// errStored is returned by the validator, with the verdict Ignore, for
// gossip carrying an event already stored: not forwarded, and nobody
// penalized.
var errStored = errors.New("event already stored")

// errOrphan is returned by the validator, with the verdict Ignore, for
// gossip whose parents we do not have: it waits in the orphan pool.
var errOrphan = errors.New("parents missing: held until they arrive")

// limiter keeps token buckets per author and per peer. Buckets idle for a
// while are dropped so the maps stay small.
type limiter struct {
	cfg     Limits
	now     func() time.Time // Config.Clock
	mu      sync.Mutex
	authors map[peer.ID]*bucket
	peers   map[peer.ID]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	used time.Time
}

const maxBuckets = 10000

func newLimiter(cfg Limits, now func() time.Time) *limiter {
	return &limiter{cfg: cfg, now: now, authors: map[peer.ID]*bucket{}, peers: map[peer.ID]*bucket{}, swept: now()}
}

// allowPeer takes a token for the forwarding peer. It runs before the
// signature check, so a flood costs us a map lookup, not a verification.
func (l *limiter) allowPeer(from peer.ID) error {
	if l.cfg.PeerRate <= 0 {
		return nil
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute || len(l.authors)+len(l.peers) > 2*maxBuckets {
		l.sweep(now)
	}
	if !take(l.peers, from, l.cfg.PeerRate, l.cfg.PeerBurst, now) {
		return fmt.Errorf("%w: peer %s over %g events/s", ErrRateLimited, from, l.cfg.PeerRate)
	}
	return nil
}

// allowAuthor takes a token for a verified event's author.
func (l *limiter) allowAuthor(author peer.ID) error {
	if l.cfg.AuthorRate <= 0 {
		return nil
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !take(l.authors, author, l.cfg.AuthorRate, l.cfg.AuthorBurst, now) {
		return fmt.Errorf("%w: author %s over %g events/s", ErrRateLimited, author, l.cfg.AuthorRate)
	}
	return nil
}

func take(m map[peer.ID]*bucket, id peer.ID, r float64, burst int, now time.Time) bool {
	b := m[id]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(r), max(burst, 1))}
		m[id] = b
	}
	b.used = now
	return b.lim.AllowN(now, 1)
}

// sweep drops buckets idle long enough to be full again.
func (l *limiter) sweep(now time.Time) {
	l.swept = now
	for _, m := range []map[peer.ID]*bucket{l.authors, l.peers} {
		for id, b := range m {
			if now.Sub(b.used) > 30*time.Second {
				delete(m, id)
			}
		}
	}
}
