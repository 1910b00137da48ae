package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
)

// bundlesPrefix is the datastore prefix of peers' bundles: one key per
// peer, /bundles/<peer ID>, holding the newest signed bundle seen.
var bundlesPrefix = ds.NewKey("/bundles")

// errBookFull is returned when a bundle fetched on connect is not kept
// because the book already holds MaxBookPeers peers.
var errBookFull = errors.New("node: bundle book full")

// bundleBook is e2ee's BundleBook kept in the datastore, so that rollback
// protection survives a restart: every bundle that becomes a peer's
// newest is written (and synced) before Add returns.
type bundleBook struct {
	book  *e2ee.BundleBook
	store ds.Datastore
	max   int

	mu     sync.Mutex                     // orders add with its write
	newest map[peer.ID]*e2ee.SignedBundle // what book holds, expired or not
}

// openBundleBook restores the bundles stored under bundlesPrefix; a
// stored entry that does not parse, or names another peer than its key,
// is deleted with a warning.
func openBundleBook(ctx context.Context, store ds.Datastore, max int, log *slog.Logger) (*bundleBook, error) {
	b := &bundleBook{book: e2ee.NewBundleBook(), store: store, max: max, newest: make(map[peer.ID]*e2ee.SignedBundle)}
	res, err := store.Query(ctx, query.Query{Prefix: bundlesPrefix.String()})
	if err != nil {
		return nil, fmt.Errorf("read bundle book: %w", err)
	}
	var bad []ds.Key
	for r := range res.Next() {
		if r.Error != nil {
			res.Close()
			return nil, fmt.Errorf("read bundle book: %w", r.Error)
		}
		k := ds.NewKey(r.Key)
		s, err := e2ee.ParseBundle(r.Value)
		if err == nil && bundleKey(s.Peer) != k {
			err = fmt.Errorf("stored under %s", k)
		}
		if err == nil {
			err = b.book.Restore(s)
		}
		if err != nil {
			log.Warn("dropping a damaged stored bundle", "key", r.Key, "err", err)
			bad = append(bad, k)
			continue
		}
		b.newest[s.Peer] = s
	}
	res.Close()
	for _, k := range bad {
		if err := store.Delete(ctx, k); err != nil {
			return nil, fmt.Errorf("drop damaged bundle %s: %w", k, err)
		}
	}
	return b, nil
}

func bundleKey(p peer.ID) ds.Key { return bundlesPrefix.ChildString(p.String()) }

// add adds s if it is valid at now and not a rollback, and stores it if
// it became its peer's newest. bounded refuses a peer not yet in the book
// once it holds max peers (errBookFull): bundles that arrive unasked, on
// connect, cannot fill the disk; those a lookup asked for always count.
func (b *bundleBook) add(ctx context.Context, s *e2ee.SignedBundle, now time.Time, bounded bool) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur, known := b.newest[s.Peer]
	if bounded && !known && len(b.newest) >= b.max {
		return false, fmt.Errorf("%w: %d peers", errBookFull, len(b.newest))
	}
	// Decide on a copy first: the book must not move ahead of the
	// datastore.
	probe := e2ee.NewBundleBook()
	if known {
		_ = probe.Restore(cur)
	}
	if newer, err := probe.Add(s, now); err != nil || !newer {
		return false, err
	}
	if err := b.store.Put(ctx, bundleKey(s.Peer), s.Raw()); err != nil {
		return false, fmt.Errorf("store bundle of %s: %w", s.Peer, err)
	}
	if err := b.store.Sync(ctx, bundleKey(s.Peer)); err != nil {
		return false, fmt.Errorf("sync bundle of %s: %w", s.Peer, err)
	}
	if _, err := b.book.Add(s, now); err != nil {
		return false, err // only if now moved past s's expiry meanwhile
	}
	b.newest[s.Peer] = s
	return true, nil
}

// get returns p's newest bundle if it is valid at now.
func (b *bundleBook) get(p peer.ID, now time.Time) (*e2ee.SignedBundle, error) {
	return b.book.Get(p, now)
}
