package ledger

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
)

// Ledger stores the hash-linked event DAGs of all rooms in one datastore.
//
// Each room has its own lock (roomState): a writer checks and stages its
// events under it, datastore reads included, so a catch-up of one room
// never holds up writes to another. The ledger-wide lock guards only the
// map of rooms.
//
// Staged writes go to one committer (commit.go, flush.go), which writes
// them in groups, one datastore batch each, on its commit goroutine:
// concurrent writers share one fsync (group commit), and each room's
// writes land in the order they were staged, so a parent is never on disk
// after its child. A group takes every queued Append first (local sends
// have priority) and then the queued Adds of the rooms in turn, so every
// room gets a share of every group. While our own events await their
// fsync, a group of only Adds waits for it (one fsync at most), so that
// the fsync of a send does not also flush a catch-up's batch (Pebble has
// one log for all rooms). Append returns only once its group is
// written and the datastore flushed (Datastore.Sync, an fsync of Pebble's
// log): durable (P5). Add (events from peers) returns once written; they
// become durable with the next flushed write.
//
// The fsync runs on the committer's second goroutine, so the next group is
// written (and our events in it published) while the disk flushes the
// last one: a send never waits behind another send's fsync before it
// reaches the network. Groups are acknowledged, and OnCommit called, in
// order; only a failed write is reported at once, possibly before earlier
// groups have their fsync (its events were never stored, so nothing is
// shown out of order).
//
// All methods are safe for concurrent use.
type Ledger struct {
	ds  ds.Batching
	log *slog.Logger
	c   *committer
	// check and parents are Config.Check and Config.Parents (nil: none).
	check   func(*Event) error
	parents func(room string) ParentPolicy

	mu     sync.Mutex
	rooms  map[string]*roomState // created on first use, loaded under their own lock
	closed bool
}

// Open returns a ledger on store. It reads only the last sequence number,
// never the whole log, so opening is fast whatever the ledger's size. It
// starts the committer's two goroutines; Close stops them.
func Open(ctx context.Context, store ds.Batching, cfg Config) (*Ledger, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ledger: config: %w", err)
	}
	l := &Ledger{
		ds:    store,
		log:   cfg.Logger.With("subsystem", "ledger"),
		rooms: make(map[string]*roomState),
		check: cfg.Check, parents: cfg.Parents,
	}
	seq, err := lastSeq(ctx, store)
	if err != nil {
		return nil, err
	}
	l.c = newCommitter(store, l.log, cfg, l.dropRoom)
	l.c.start(seq)
	return l, nil
}

// Close writes what was staged before it, stops the committer and waits
// for its goroutines; writes after it fail with ErrClosed. It does not
// close the datastore, which the caller owns. Close is idempotent.
func (l *Ledger) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.c.close()
	return nil
}

func (l *Ledger) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// lastSeq reads the newest sequence number in store.
func lastSeq(ctx context.Context, store ds.Datastore) (uint64, error) {
	res, err := store.Query(ctx, query.Query{Prefix: "/s", KeysOnly: true, Limit: 1,
		Orders: []query.Order{query.OrderByKeyDescending{}}})
	if err != nil {
		return 0, fmt.Errorf("read last sequence: %w", err)
	}
	defer res.Close()
	r, ok := res.NextSync()
	if !ok {
		return 0, nil
	}
	if r.Error != nil {
		return 0, fmt.Errorf("read last sequence: %w", r.Error)
	}
	return parseSeqKey(r.Key)
}
