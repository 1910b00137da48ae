package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"
)

// roomState is the in-memory view of a room's heads and summary, loaded
// lazily from the datastore and then kept in step with staged writes.
//
// mu is the room's lock: a writer holds it while it checks and stages
// events (datastore reads included) and hands them to the committer, so
// the room's writes are queued in the order they were staged. It guards
// every field but pending, which the committer's flush goroutine also
// updates and which has its own lock so that an acknowledgement never
// waits for a writer's reads.
type roomState struct {
	name string

	mu     sync.Mutex
	loaded bool       // heads, meta and exactFrom are read from the datastore
	stale  bool       // dropped after a failed write: look the room up again
	hidx   *headIndex // the room's heads, ordered for choosing parents
	// authors holds everyone with an accepted event (authors.go). Only
	// writers holding mu change it, under authMu, which HasAuthor takes
	// alone.
	authMu        sync.Mutex
	authors       map[peer.ID]struct{}
	authorsLoaded bool
	meta          meta
	// recent holds every event staged since the room was loaded whose
	// Lamport clock is within recentLevels of the newest. Together with
	// exactFrom it answers "is this event stored?" for the top of the DAG
	// without a datastore read: below the window, or for events older than
	// the load, the datastore is asked.
	recent    map[ID]uint64
	exactFrom uint64 // recent is complete only for Lamport ≥ exactFrom
	pruneAt   int

	pendMu  sync.Mutex
	pending map[ID]pendingEvent // staged, not yet acknowledged
	settled uint64              // requests acknowledged or lost, for Verify's view
}

type pendingEvent struct {
	lamport uint64
	req     *writeReq
}

func newRoomState(name string) *roomState {
	return &roomState{
		name:    name,
		hidx:    newHeadIndex(),
		authors: make(map[peer.ID]struct{}),
		recent:  make(map[ID]uint64),
		pruneAt: 1024,
		pending: make(map[ID]pendingEvent),
	}
}

// recentLevels is how many Lamport levels below the newest the in-memory
// index covers. Concurrent writers produce events on the same few levels,
// so this covers almost every duplicate check and parent lookup.
const recentLevels = 256

// lockRoom returns room's state, loaded and locked: the caller unlocks
// st.mu. The ledger-wide lock is held only to find the state in the map;
// loading reads the datastore under the room's lock alone.
func (l *Ledger) lockRoom(ctx context.Context, room string) (*roomState, error) {
	for {
		l.mu.Lock()
		st := l.rooms[room]
		if st == nil {
			st = newRoomState(room)
			l.rooms[room] = st
		}
		l.mu.Unlock()
		st.mu.Lock()
		if st.stale {
			st.mu.Unlock()
			continue // dropped meanwhile; the map holds its successor
		}
		if !st.loaded {
			if err := l.load(ctx, st); err != nil {
				st.mu.Unlock()
				return nil, err
			}
		}
		return st, nil
	}
}

// loadedRoom returns room's state if it is in memory, without loading it.
func (l *Ledger) loadedRoom(room string) *roomState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rooms[room]
}

// dropRoom forgets st, so the next lookup reloads the room from the
// datastore, which stays the source of truth. st.mu must be held.
func (l *Ledger) dropRoom(st *roomState) {
	st.stale = true
	st.authMu.Lock()
	st.authorsLoaded = false // staged authors may be lost with the write
	st.authMu.Unlock()
	l.mu.Lock()
	if l.rooms[st.name] == st {
		delete(l.rooms, st.name)
	}
	l.mu.Unlock()
}

// load reads st's summary and heads. st.mu must be held.
func (l *Ledger) load(ctx context.Context, st *roomState) error {
	room := st.name
	var m meta
	b, err := l.ds.Get(ctx, ds.NewKey(metaKey(room)))
	switch {
	case errors.Is(err, ds.ErrNotFound):
	case err != nil:
		return fmt.Errorf("load room %s: %w", room, err)
	default:
		var legacy bool
		if m, legacy, err = unmarshalMeta(b); err != nil {
			return fmt.Errorf("load room %s: %w", room, err)
		}
		if legacy {
			if err := l.migrateMeta(ctx, room, &m); err != nil {
				return err
			}
		}
	}
	hidx, err := l.loadHeads(ctx, room)
	if err != nil {
		return err
	}
	authors, err := l.loadAuthors(ctx, room)
	if err != nil {
		return err
	}
	st.meta, st.hidx = m, hidx
	st.authMu.Lock()
	st.authors, st.authorsLoaded = authors, true
	st.authMu.Unlock()
	st.exactFrom = m.maxLamport + 1
	st.loaded = true
	return nil
}

func (l *Ledger) readHeads(ctx context.Context, room string) ([]ID, error) {
	res, err := l.ds.Query(ctx, query.Query{Prefix: roomPrefix(room) + "/h", KeysOnly: true,
		Orders: []query.Order{query.OrderByKey{}}})
	if err != nil {
		return nil, fmt.Errorf("read heads of %s: %w", room, err)
	}
	entries, err := res.Rest()
	if err != nil {
		return nil, fmt.Errorf("read heads of %s: %w", room, err)
	}
	heads := make([]ID, 0, len(entries))
	for _, e := range entries {
		id, err := ParseID(ds.RawKey(e.Key).BaseNamespace())
		if err != nil {
			return nil, fmt.Errorf("read heads of %s: %w", room, err)
		}
		heads = append(heads, id)
	}
	return heads, nil
}

// storedLamport returns the Lamport clock of a committed event.
func (l *Ledger) storedLamport(ctx context.Context, room string, id ID) (uint64, error) {
	b, err := l.ds.Get(ctx, ds.NewKey(idKey(room, id)))
	if errors.Is(err, ds.ErrNotFound) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("index entry of %s: %d bytes, want 8", id, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// lookupRecent answers from memory whether id (with Lamport lam) is
// stored or staged: known is false when only the datastore can tell.
// st.mu must be held.
func (st *roomState) lookupRecent(id ID, lam uint64) (stored, known bool) {
	if lam > st.meta.maxLamport {
		return false, true // nothing newer than the newest exists
	}
	low := st.exactFrom
	if st.meta.maxLamport > recentLevels {
		low = max(low, st.meta.maxLamport-recentLevels)
	}
	if lam < low {
		return false, false
	}
	_, ok := st.recent[id]
	return ok, true
}

// remember adds a staged event to the recent index, pruning levels that
// fell out of the window once the map has grown. st.mu must be held.
func (st *roomState) remember(id ID, lam uint64) {
	st.recent[id] = lam
	if len(st.recent) < st.pruneAt {
		return
	}
	if st.meta.maxLamport > recentLevels {
		low := st.meta.maxLamport - recentLevels
		for k, v := range st.recent {
			if v < low {
				delete(st.recent, k)
			}
		}
	}
	st.pruneAt = 2*len(st.recent) + 1024
}

// lamportInMemory finds id among the room's heads, recent events and
// staged writes. st.mu must be held.
func (st *roomState) lamportInMemory(id ID) (uint64, bool) {
	if lam, ok := st.hidx.lamport(id); ok {
		return lam, true
	}
	if lam, ok := st.recent[id]; ok {
		return lam, true
	}
	if p, ok := st.pendingOf(id); ok {
		return p.lamport, true
	}
	return 0, false
}

func (st *roomState) pendingOf(id ID) (pendingEvent, bool) {
	st.pendMu.Lock()
	defer st.pendMu.Unlock()
	p, ok := st.pending[id]
	return p, ok
}

// quiet reports how many requests have settled and whether none is in
// flight.
func (st *roomState) quiet() (uint64, bool) {
	st.pendMu.Lock()
	defer st.pendMu.Unlock()
	return st.settled, len(st.pending) == 0
}

func (st *roomState) addPending(id ID, p pendingEvent) {
	st.pendMu.Lock()
	st.pending[id] = p
	st.pendMu.Unlock()
}

// donePending removes r's events from the staged index once they are
// acknowledged or lost.
func (st *roomState) donePending(r *writeReq) {
	st.pendMu.Lock()
	for _, ev := range r.events {
		delete(st.pending, ev.ID())
	}
	st.settled++
	st.pendMu.Unlock()
}

// lamportOf finds id among staged and committed events. st.mu must be
// held.
func (l *Ledger) lamportOf(ctx context.Context, st *roomState, id ID) (uint64, bool, error) {
	if lam, ok := st.lamportInMemory(id); ok {
		return lam, true, nil
	}
	lam, err := l.storedLamport(ctx, st.name, id)
	if errors.Is(err, ErrNotFound) {
		return 0, false, nil
	}
	return lam, err == nil, err
}
