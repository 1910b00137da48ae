package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
)

// Get returns the stored event id of room, or ErrNotFound.
func (l *Ledger) Get(ctx context.Context, room string, id ID) (*Event, error) {
	lam, err := l.storedLamport(ctx, room, id)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", id, err)
	}
	b, err := l.ds.Get(ctx, ds.RawKey(orderKey(room, lam, id)))
	if errors.Is(err, ds.ErrNotFound) {
		return nil, fmt.Errorf("get %s: order index entry missing: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", id, err)
	}
	return loadStored(b, id)
}

// Has reports whether id is stored in room.
func (l *Ledger) Has(ctx context.Context, room string, id ID) (bool, error) {
	_, err := l.storedLamport(ctx, room, id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// storedRaw returns the event bytes of an order-index value (seq | signed
// bytes), checked against the event's ID.
func storedRaw(b []byte, id ID) ([]byte, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("event %s: stored value truncated", id)
	}
	if ComputeID(b[8:]) != id {
		return nil, fmt.Errorf("event %s: stored bytes do not match the ID", id)
	}
	return b[8:], nil
}

// loadStored parses an order-index value for reading. The bytes were
// verified when stored, so the signature is not checked again (Verify
// does that); they must still hash to id and parse.
func loadStored(b []byte, id ID) (*Event, error) {
	raw, err := storedRaw(b, id)
	if err != nil {
		return nil, err
	}
	ev, err := parseTrusted(raw)
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", id, err)
	}
	ev.Seq = binary.BigEndian.Uint64(b)
	return ev, nil
}

// Heads returns room's current heads, sorted.
func (l *Ledger) Heads(ctx context.Context, room string) ([]ID, error) {
	st, err := l.lockRoom(ctx, room)
	if err != nil {
		return nil, err
	}
	defer st.mu.Unlock()
	heads := st.hidx.ids()
	slices.Sort(heads)
	return heads, nil
}

// Count returns how many events room holds (including queued writes).
func (l *Ledger) Count(ctx context.Context, room string) (uint64, error) {
	st, err := l.lockRoom(ctx, room)
	if err != nil {
		return 0, err
	}
	defer st.mu.Unlock()
	return st.meta.count, nil
}

// Rooms lists the rooms that hold at least one event.
func (l *Ledger) Rooms(ctx context.Context) ([]string, error) {
	res, err := l.ds.Query(ctx, query.Query{Prefix: "/rm", KeysOnly: true, Orders: []query.Order{query.OrderByKey{}}})
	if err != nil {
		return nil, fmt.Errorf("list rooms: %w", err)
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, fmt.Errorf("list rooms: %w", err)
	}
	rooms := make([]string, 0, len(entries))
	for _, e := range entries {
		rooms = append(rooms, ds.RawKey(e.Key).BaseNamespace())
	}
	return rooms, nil
}

// History returns up to limit events of room in (Lamport, ID) order, oldest
// first: the newest ones, or with before set, the newest ones that come
// before that event. Two nodes with the same events return the same bytes.
func (l *Ledger) History(ctx context.Context, room string, before ID, limit int) ([]*Event, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []*Event
	collect := func(key string, value []byte) (bool, error) {
		_, id, err := parseOrderKey(key)
		if err != nil {
			return false, err
		}
		ev, err := loadStored(value, id)
		if err != nil {
			return false, err
		}
		out = append(out, ev)
		return len(out) < limit, nil
	}
	if before == "" {
		if err := scan(ctx, l.ds, orderPrefix(room), true, limit, collect); err != nil {
			return nil, fmt.Errorf("history of %s: %w", room, err)
		}
	} else {
		lam, err := l.storedLamport(ctx, room, before)
		if err != nil {
			return nil, fmt.Errorf("history of %s before %s: %w", room, before, err)
		}
		bound := orderKey(room, lam, before)
		for b := lam >> 8; ; b-- {
			more := true
			err := scan(ctx, l.ds, orderPrefix(room)+"/"+bucketKey(b<<8), true, 0, func(key string, value []byte) (bool, error) {
				if key >= bound {
					return true, nil
				}
				var err error
				more, err = collect(key, value)
				return more, err
			})
			if err != nil {
				return nil, fmt.Errorf("history of %s: %w", room, err)
			}
			if !more || b == 0 {
				break
			}
		}
	}
	slices.Reverse(out)
	return out, nil
}

// Since returns up to limit events that arrived after cursor seq (in local
// arrival order), in room, or in every room if room is "". It is how a
// subscriber that reconnects gets exactly what it missed.
func (l *Ledger) Since(ctx context.Context, seq uint64, room string, limit int) ([]*Event, error) {
	last := l.c.numbered.Load()
	var out []*Event
	uncommitted := false
	for b := (seq + 1) >> 8; b <= last>>8 && len(out) < limit && !uncommitted; b++ {
		var refs []string
		err := scan(ctx, l.ds, "/s/"+bucketKey(b<<8), false, 0, func(key string, value []byte) (bool, error) {
			n, err := parseSeqKey(key)
			if err != nil {
				return false, err
			}
			if n <= seq {
				return true, nil
			}
			ref := string(value)
			if room != "" && !strings.HasPrefix(ref, room+"/") {
				return true, nil
			}
			refs = append(refs, ref)
			return len(out)+len(refs) < limit, nil
		})
		if err != nil {
			return nil, fmt.Errorf("events since %d: %w", seq, err)
		}
		for _, ref := range refs {
			_, id, err := parseOrderKey(ref)
			if err != nil {
				return nil, err
			}
			b, err := l.ds.Get(ctx, ds.RawKey("/r/"+ref))
			if errors.Is(err, ds.ErrNotFound) {
				// Only queued, not yet committed: the live feed has it.
				uncommitted = true
				break
			}
			if err != nil {
				return nil, fmt.Errorf("events since %d: %w", seq, err)
			}
			ev, err := loadStored(b, id)
			if err != nil {
				return nil, err
			}
			out = append(out, ev)
		}
	}
	return out, nil
}

// CommittedSeq returns the sequence number of the newest committed event:
// every event up to it is readable, and OnCommit has been or is being
// called for it.
func (l *Ledger) CommittedSeq() uint64 {
	return l.c.done.Load()
}

// scan runs fn over the entries under prefix in key order (descending if
// desc) until fn returns false or an error.
func scan(ctx context.Context, store ds.Datastore, prefix string, desc bool, limit int, fn func(key string, value []byte) (bool, error)) error {
	var order query.Order = query.OrderByKey{}
	if desc {
		order = query.OrderByKeyDescending{}
	}
	return runQuery(ctx, store, query.Query{Prefix: prefix, Orders: []query.Order{order}, Limit: limit}, fn)
}

// runQuery runs q and calls fn for each entry until fn returns false or an
// error, closing the results in every case.
func runQuery(ctx context.Context, store ds.Datastore, q query.Query, fn func(key string, value []byte) (bool, error)) error {
	res, err := store.Query(ctx, q)
	if err != nil {
		return err
	}
	defer res.Close()
	for {
		r, ok := res.NextSync()
		if !ok {
			return nil
		}
		if r.Error != nil {
			return r.Error
		}
		more, err := fn(r.Key, r.Value)
		if err != nil || !more {
			return err
		}
	}
}
