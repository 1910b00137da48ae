package p2p

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// maxKnownAddrs bounds the addresses remembered per peer.
const maxKnownAddrs = 16

// rewriteAfter: an unchanged entry is written again only when its last
// seen time is older than this, so busy nodes do not write on every
// identify round.
const rewriteAfter = 10 * time.Minute

// KnownPeer is one entry of the remembered peer list.
type KnownPeer struct {
	ID       peer.ID
	Addrs    []ma.Multiaddr
	LastSeen time.Time
}

// knownPeerRecord is the stored form of a KnownPeer, under /<peer-id>.
type knownPeerRecord struct {
	Addrs    []string  `json:"addrs"`
	LastSeen time.Time `json:"lastSeen"`
}

// peerBook remembers peers and their listen addresses on a datastore,
// bounded to the max most recently seen. Safe for concurrent use.
type peerBook struct {
	store ds.Batching
	max   int
	log   *slog.Logger

	mu    sync.Mutex
	peers map[peer.ID]KnownPeer
}

// openPeerBook loads the list from store. Entries that do not parse are
// deleted and logged; they never fail the start.
func openPeerBook(ctx context.Context, store ds.Batching, max int, log *slog.Logger) (*peerBook, error) {
	b := &peerBook{store: store, max: max, log: log, peers: make(map[peer.ID]KnownPeer)}
	res, err := store.Query(ctx, query.Query{})
	if err != nil {
		return nil, fmt.Errorf("load known peers: %w", err)
	}
	defer res.Close()
	var bad []ds.Key
	for e := range res.Next() {
		if e.Error != nil {
			return nil, fmt.Errorf("load known peers: %w", e.Error)
		}
		kp, err := decodeKnownPeer(e.Key, e.Value)
		if err != nil {
			log.Warn("dropping unreadable known peer", "key", e.Key, "err", err)
			bad = append(bad, ds.NewKey(e.Key))
			continue
		}
		b.peers[kp.ID] = kp
	}
	for _, k := range bad {
		if err := store.Delete(ctx, k); err != nil {
			return nil, fmt.Errorf("delete known peer %s: %w", k, err)
		}
	}
	if err := b.prune(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

func decodeKnownPeer(key string, value []byte) (KnownPeer, error) {
	id, err := peer.Decode(ds.RawKey(key).BaseNamespace())
	if err != nil {
		return KnownPeer{}, err
	}
	var rec knownPeerRecord
	if err := json.Unmarshal(value, &rec); err != nil {
		return KnownPeer{}, err
	}
	kp := KnownPeer{ID: id, LastSeen: rec.LastSeen}
	for _, s := range rec.Addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return KnownPeer{}, err
		}
		kp.Addrs = append(kp.Addrs, a)
	}
	return kp, nil
}

func peerKey(id peer.ID) ds.Key { return ds.NewKey(id.String()) }

// seen records that id was seen at now. Non-empty addrs replace the
// remembered addresses; empty addrs only refresh the time of an entry that
// exists (a peer we never learnt an address for is not worth keeping).
func (b *peerBook) seen(ctx context.Context, id peer.ID, addrs []ma.Multiaddr, now time.Time) error {
	if len(addrs) > maxKnownAddrs {
		addrs = addrs[:maxKnownAddrs]
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old, ok := b.peers[id]
	if len(addrs) == 0 {
		if !ok {
			return nil
		}
		addrs = old.Addrs
	}
	if ok && now.Sub(old.LastSeen) < rewriteAfter && slices.EqualFunc(old.Addrs, addrs, ma.Multiaddr.Equal) {
		return nil
	}
	kp := KnownPeer{ID: id, Addrs: slices.Clone(addrs), LastSeen: now.UTC().Truncate(time.Second)}
	rec := knownPeerRecord{LastSeen: kp.LastSeen}
	for _, a := range kp.Addrs {
		rec.Addrs = append(rec.Addrs, a.String())
	}
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := b.store.Put(ctx, peerKey(id), v); err != nil {
		return fmt.Errorf("store known peer %s: %w", id, err)
	}
	b.peers[id] = kp
	return b.prune(ctx)
}

// prune deletes the least recently seen entries beyond max. Called with
// b.mu held (or before b is shared).
func (b *peerBook) prune(ctx context.Context) error {
	if len(b.peers) <= b.max {
		return nil
	}
	all := b.sortedLocked()
	batch, err := b.store.Batch(ctx)
	if err != nil {
		return err
	}
	for _, kp := range all[b.max:] {
		if err := batch.Delete(ctx, peerKey(kp.ID)); err != nil {
			return err
		}
	}
	if err := batch.Commit(ctx); err != nil {
		return fmt.Errorf("prune known peers: %w", err)
	}
	for _, kp := range all[b.max:] {
		delete(b.peers, kp.ID)
	}
	return nil
}

// sortedLocked returns the entries, most recently seen first.
func (b *peerBook) sortedLocked() []KnownPeer {
	out := make([]KnownPeer, 0, len(b.peers))
	for _, kp := range b.peers {
		out = append(out, kp)
	}
	slices.SortFunc(out, func(x, y KnownPeer) int {
		if c := y.LastSeen.Compare(x.LastSeen); c != 0 {
			return c
		}
		return cmp.Compare(x.ID, y.ID)
	})
	return out
}

// recent returns up to n entries, most recently seen first (all if n < 0).
func (b *peerBook) recent(n int) []KnownPeer {
	b.mu.Lock()
	defer b.mu.Unlock()
	all := b.sortedLocked()
	if n >= 0 && len(all) > n {
		all = all[:n]
	}
	return all
}

// KnownPeers returns the remembered peers, most recently seen first. It is
// empty when Config.Datastore is nil. Safe for concurrent use.
func (n *Node) KnownPeers() []KnownPeer {
	if n.book == nil {
		return nil
	}
	return n.book.recent(-1)
}
