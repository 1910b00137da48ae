package e2ee

import (
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// BundleBook keeps the newest bundle seen for each peer and refuses to go
// back: a bundle with a lower Seq than one already seen, or the same Seq
// with other contents, is a rollback (ErrRollback), so a malicious DHT
// node or peer cannot bring back a key it may have leaked. An expired
// bundle is refused too, but the newest one stays on record after it
// expires, as the floor for the next.
//
// The book is in memory and holds one bundle per peer ever added; its
// owner decides which peers to track (members, contacts), persists the
// bundles it relies on and brings them back with Restore. It is safe for
// concurrent use.
type BundleBook struct {
	mu     sync.Mutex
	newest map[peer.ID]*SignedBundle
}

// NewBundleBook returns an empty book.
func NewBundleBook() *BundleBook {
	return &BundleBook{newest: make(map[peer.ID]*SignedBundle)}
}

// Add accepts s if it is valid at now and not a rollback. It reports
// whether s became the peer's newest bundle (false, nil for the one
// already held).
func (b *BundleBook) Add(s *SignedBundle, now time.Time) (bool, error) {
	if err := s.Verify(now); err != nil {
		return false, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.put(s)
}

// Restore records s as seen without checking the time: for bundles the
// owner persisted, so that rollback protection survives a restart. A
// restored bundle older than the one held is refused like in Add.
func (b *BundleBook) Restore(s *SignedBundle) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, err := b.put(s)
	return err
}

func (b *BundleBook) put(s *SignedBundle) (bool, error) {
	if s.raw == nil {
		return false, fmt.Errorf("%w: bundle not from SignBundle or ParseBundle", ErrBadSignature)
	}
	cur, ok := b.newest[s.Peer]
	switch {
	case !ok:
	case s.Seq < cur.Seq:
		return false, fmt.Errorf("%w: seq %d of %s after %d", ErrRollback, s.Seq, s.Peer, cur.Seq)
	case s.Seq == cur.Seq && s.Hash() != cur.Hash():
		return false, fmt.Errorf("%w: two bundles of %s with seq %d", ErrRollback, s.Peer, s.Seq)
	case s.Seq == cur.Seq:
		return false, nil
	}
	b.newest[s.Peer] = s
	return true, nil
}

// Get returns p's newest bundle if it is valid at now: ErrExpired when it
// is not (the peer must publish a new one before anyone seals to it),
// ErrNoBundle when none is known.
func (b *BundleBook) Get(p peer.ID, now time.Time) (*SignedBundle, error) {
	b.mu.Lock()
	s, ok := b.newest[p]
	b.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoBundle, p)
	}
	if err := s.Verify(now); err != nil {
		return nil, err
	}
	return s, nil
}
