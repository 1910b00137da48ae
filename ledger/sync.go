package ledger

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
)

// This file is the data side of ledger sync (range-based set
// reconciliation over the (Lamport, ID) order): room summaries, key
// snapshots, range fingerprints and raw reads that skip signature checks.
// The wire protocol lives in p2p/ledgersync.

// Key is an event's position in a room's (Lamport, ID) order.
type Key struct {
	Lamport uint64
	ID      ID
}

// Compare orders keys by Lamport clock, then ID: the history order (P3).
func (k Key) Compare(o Key) int {
	if c := cmp.Compare(k.Lamport, o.Lamport); c != 0 {
		return c
	}
	return cmp.Compare(k.ID, o.ID)
}

// Summary is a room's whole-room state, read from memory.
type Summary struct {
	Fingerprint
	MaxLamport uint64
	Heads      []ID // sorted
}

// Summary returns room's fingerprint, largest Lamport clock and heads. It
// includes writes that are accepted but not yet committed, so it can briefly
// differ from a Keys snapshot taken at the same time.
func (l *Ledger) Summary(ctx context.Context, room string) (Summary, error) {
	st, err := l.lockRoom(ctx, room)
	if err != nil {
		return Summary{}, err
	}
	defer st.mu.Unlock()
	s := Summary{Fingerprint: st.meta.acc.fingerprint(st.meta.count), MaxLamport: st.meta.maxLamport}
	s.Heads = st.hidx.ids()
	slices.Sort(s.Heads)
	return s, nil
}

// keysBucketLimit is the number of 256-clock buckets up to which Keys reads
// bucket by bucket; wider spans read the room's whole order index once
// (datastore queries have prefixes, not seeks).
const keysBucketLimit = 8

// Keys returns the keys of room's committed events with from <= Lamport <=
// to, in (Lamport, ID) order, from a keys-only scan of the order index.
// Pass 0 and ^uint64(0) for the whole room.
func (l *Ledger) Keys(ctx context.Context, room string, from, to uint64) ([]Key, error) {
	var out []Key
	err := l.scanOrder(ctx, room, from, to, true, func(k Key, _ []byte) (bool, error) {
		out = append(out, k)
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("keys of %s: %w", room, err)
	}
	return out, nil
}

// RawRange calls fn with the key and signed bytes of each committed event
// of room with from <= Lamport <= to, in (Lamport, ID) order, until fn
// returns false or an error (which RawRange returns). It reads the order
// index in one scan, which costs far less per event than RawAt when most
// events of the span are wanted. Like RawAt it checks that the bytes hash
// to the key's ID and does not check signatures. raw must not be modified
// and may be kept.
func (l *Ledger) RawRange(ctx context.Context, room string, from, to uint64, fn func(k Key, raw []byte) (bool, error)) error {
	return l.scanOrder(ctx, room, from, to, false, func(k Key, b []byte) (bool, error) {
		if len(b) < 8 || ComputeID(b[8:]) != k.ID {
			return false, fmt.Errorf("event %s: stored bytes do not match the ID", k.ID)
		}
		return fn(k, b[8:])
	})
}

// scanOrder runs fn over room's order-index entries with from <= Lamport
// <= to, in order: bucket by bucket for a narrow span, else one scan of the
// room's whole index (datastore queries have prefixes, not seeks). value is
// nil when keysOnly.
func (l *Ledger) scanOrder(ctx context.Context, room string, from, to uint64, keysOnly bool, fn func(k Key, value []byte) (bool, error)) error {
	if from > to {
		return nil
	}
	done := false
	visit := func(key string, value []byte) (bool, error) {
		lam, id, err := parseOrderKey(key)
		if err != nil {
			return false, err
		}
		if lam > to {
			done = true
			return false, nil
		}
		if lam < from {
			return true, nil
		}
		more, err := fn(Key{lam, id}, value)
		done = !more
		return more, err
	}
	if to>>8-from>>8 < keysBucketLimit {
		for b := from >> 8; b <= to>>8 && !done; b++ {
			if err := scanOrderPrefix(ctx, l.ds, orderPrefix(room)+"/"+bucketKey(b<<8), keysOnly, visit); err != nil {
				return err
			}
		}
		return nil
	}
	return scanOrderPrefix(ctx, l.ds, orderPrefix(room), keysOnly, visit)
}

// scanOrderPrefix runs fn over the entries under prefix in key order.
func scanOrderPrefix(ctx context.Context, store ds.Datastore, prefix string, keysOnly bool, fn func(key string, value []byte) (bool, error)) error {
	return runQuery(ctx, store, query.Query{Prefix: prefix, KeysOnly: keysOnly, Orders: []query.Order{query.OrderByKey{}}}, fn)
}

// RawAt returns the signed bytes of the event at k in room without
// re-verifying its signature (they were verified when stored); it does check
// that they hash to k.ID. Whoever receives them must Decode them. It returns
// ErrNotFound if there is no such event.
func (l *Ledger) RawAt(ctx context.Context, room string, k Key) ([]byte, error) {
	b, err := l.ds.Get(ctx, ds.RawKey(orderKey(room, k.Lamport, k.ID)))
	if errors.Is(err, ds.ErrNotFound) {
		return nil, fmt.Errorf("raw %s: %w", k.ID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("raw %s: %w", k.ID, err)
	}
	if len(b) < 8 || ComputeID(b[8:]) != k.ID {
		return nil, fmt.Errorf("event %s: stored bytes do not match the ID", k.ID)
	}
	return b[8:], nil
}

// KeyOf returns the key of stored event id in room, or ErrNotFound.
func (l *Ledger) KeyOf(ctx context.Context, room string, id ID) (Key, error) {
	lam, err := l.storedLamport(ctx, room, id)
	if err != nil {
		return Key{}, fmt.Errorf("key of %s: %w", id, err)
	}
	return Key{lam, id}, nil
}

// IDFromDigest returns the ID whose sha2-256 digest is d.
func IDFromDigest(d [32]byte) ID {
	var b [idLen]byte
	b[0], b[1] = 0x12, sha256.Size
	copy(b[2:], d[:])
	return ID(b[:])
}

// Digest returns the 32-byte sha2-256 digest inside id.
func (id ID) Digest() (d [32]byte) {
	if len(id) == idLen {
		copy(d[:], id[2:])
	}
	return d
}

// KeySet is an immutable snapshot of a room's keys with prefix
// accumulators, so the fingerprint of any range costs two binary searches.
// It is safe for concurrent use.
type KeySet struct {
	keys []Key
	acc  []accumulator // acc[i] covers keys[:i]
}

// NewKeySet indexes keys, which must be sorted and unique.
func NewKeySet(keys []Key) *KeySet {
	s := &KeySet{keys: keys, acc: make([]accumulator, len(keys)+1)}
	for i, k := range keys {
		s.acc[i+1] = s.acc[i]
		accumulate(&s.acc[i+1], k.ID)
	}
	return s
}

// Len returns the number of keys.
func (s *KeySet) Len() int { return len(s.keys) }

// At returns the i-th key.
func (s *KeySet) At(i int) Key { return s.keys[i] }

// Search returns the index of the first key for which ge reports true; ge
// must be monotone over the order.
func (s *KeySet) Search(ge func(Key) bool) int {
	lo, hi := 0, len(s.keys)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if !ge(s.keys[m]) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// Fingerprint returns the fingerprint of keys[i:j].
func (s *KeySet) Fingerprint(i, j int) Fingerprint {
	var a accumulator
	for b := range a.xor {
		a.xor[b] = s.acc[j].xor[b] ^ s.acc[i].xor[b]
	}
	a.sum = subLimbs(s.acc[j].sum, s.acc[i].sum)
	return a.fingerprint(uint64(j - i))
}

// Slice returns keys[i:j]; callers must not modify it.
func (s *KeySet) Slice(i, j int) []Key { return s.keys[i:j] }
