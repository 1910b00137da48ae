package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Append creates, signs and stores a new event by key in room, with the
// newest of the room's heads as parents (headIndex.choose: ours, and
// others' that have parents; never a stranger's root). It returns once the event is durably
// stored (P5). It holds only room's lock, and the committer writes it
// ahead of bulk ingest (Add) queued in other rooms.
func (l *Ledger) Append(ctx context.Context, key crypto.PrivKey, room, kind string, body []byte, now time.Time) (*Event, error) {
	return l.AppendAfter(ctx, key, room, kind, body, now, nil)
}

// AppendAfter is Append with the parents given: stored events of room,
// not necessarily heads (at most MaxParents; nil means Append's choice).
// chat's bans use it to leave the banned author's newest events out of
// the ban's past.
func (l *Ledger) AppendAfter(ctx context.Context, key crypto.PrivKey, room, kind string, body []byte, now time.Time, after []ID) (*Event, error) {
	if err := ValidRoomID(room); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	if l.isClosed() {
		return nil, ErrClosed
	}
	author, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: author key: %v", ErrInvalidEvent, err)
	}
	st, err := l.lockRoom(ctx, room)
	if err != nil {
		return nil, err
	}
	var parents []ID
	var lamport uint64
	if after != nil {
		parents, lamport, err = l.lamportAfter(ctx, st, after)
		if err != nil {
			st.mu.Unlock()
			return nil, fmt.Errorf("append to %s: %w", room, err)
		}
	} else {
		var pol ParentPolicy
		if l.parents != nil {
			pol = l.parents(room)
		}
		parents, lamport = st.hidx.choose(author, pol)
	}
	st.mu.Unlock()

	// Sign outside the lock so concurrent senders sign on all cores. If
	// another event was staged meanwhile, ours and it become concurrent
	// branches (both valid; the next event merges them).
	ev, err := Sign(key, Draft{Room: room, Kind: kind, Body: body, Time: now, Lamport: lamport, Parents: parents})
	if err != nil {
		return nil, err
	}

	if st, err = l.lockRoom(ctx, room); err != nil {
		return nil, err
	}
	// A failed write in between reloads state from disk; our parents
	// must still be there.
	if err := l.checkParents(ctx, st, ev); err != nil {
		st.mu.Unlock()
		return nil, fmt.Errorf("append to %s: %w", room, err)
	}
	if err := l.judge(ev); err != nil {
		st.mu.Unlock()
		return nil, fmt.Errorf("append to %s: %w", room, err)
	}
	req := &writeReq{st: st, done: make(chan error, 1), durable: true}
	stage(req, st, ev)
	stageMeta(req, st)
	err = l.enqueue(st, req)
	st.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := wait(ctx, req); err != nil {
		return nil, err
	}
	return ev, nil
}

// lamportAfter returns the given parents, sorted and deduplicated, and
// the clock of an event naming them. st.mu must be held.
func (l *Ledger) lamportAfter(ctx context.Context, st *roomState, after []ID) ([]ID, uint64, error) {
	parents := slices.Clone(after)
	slices.Sort(parents)
	parents = slices.Compact(parents)
	if len(parents) > MaxParents {
		return nil, 0, fmt.Errorf("%w: %d parents exceed %d", ErrInvalidEvent, len(parents), MaxParents)
	}
	var lamport uint64
	for _, p := range parents {
		lam, ok, err := l.lamportOf(ctx, st, p)
		if err != nil {
			return nil, 0, err
		}
		if !ok {
			return nil, 0, &MissingParentsError{Missing: []ID{p}}
		}
		lamport = max(lamport, lam)
	}
	return parents, lamport + 1, nil
}

// Rejection says why Add did not store one event.
type Rejection struct {
	Event *Event
	Err   error // ErrWrongRoom, a *MissingParentsError (errors.Is ErrMissingParents), ErrBadParents or ErrRefused
}

// Add stores events received from others (already decoded and verified by
// Decode) in room. Within one call parents may come before their children.
// It returns the events that were new, in the order stored, and for each
// event that could not be stored, why; events already stored are skipped
// silently. err is non-nil only when the store itself failed, and then
// nothing of this call is stored. It holds only room's lock, also while
// it reads the datastore, and its events are written as one unit, in turn
// with other rooms' and after queued Appends.
func (l *Ledger) Add(ctx context.Context, room string, evs ...*Event) (added []*Event, rejected []Rejection, err error) {
	if l.isClosed() {
		return nil, nil, ErrClosed
	}
	st, err := l.lockRoom(ctx, room)
	if err != nil {
		return nil, nil, err
	}
	req := &writeReq{st: st, done: make(chan error, 1)}
	var waitFor []*writeReq
	var fatal error
	for _, ev := range evs {
		if ev.Room != room {
			rejected = append(rejected, Rejection{ev, fmt.Errorf("event %s for room %s offered to %s: %w", ev.ID(), ev.Room, room, ErrWrongRoom)})
			continue
		}
		if p, ok := st.pendingOf(ev.ID()); ok {
			if p.req != req {
				waitFor = append(waitFor, p.req)
			}
			continue
		}
		stored, err := l.stored(ctx, st, ev.ID(), ev.Lamport)
		if err != nil {
			fatal = fmt.Errorf("add to %s: %w", room, err)
			break
		}
		if stored {
			continue
		}
		if err := l.checkParents(ctx, st, ev); err != nil {
			if !errors.Is(err, ErrMissingParents) && !errors.Is(err, ErrBadParents) {
				fatal = fmt.Errorf("add to %s: %w", room, err)
				break
			}
			rejected = append(rejected, Rejection{ev, err})
			continue
		}
		if err := l.judge(ev); err != nil {
			rejected = append(rejected, Rejection{ev, err})
			continue
		}
		stage(req, st, ev)
	}
	if len(req.events) > 0 {
		stageMeta(req, st)
		if err := l.enqueue(st, req); err != nil {
			st.mu.Unlock()
			return nil, nil, err
		}
	}
	st.mu.Unlock()
	if len(req.events) > 0 {
		if err := wait(ctx, req); err != nil {
			return nil, nil, err
		}
	}
	for _, w := range waitFor {
		if err := wait(ctx, w); err != nil {
			return req.events, rejected, err
		}
	}
	return req.events, rejected, fatal
}

// enqueue hands req, staged on st, to the committer. When the committer
// has closed, st is dropped: it holds req's events, which will never be
// written. st.mu must be held.
func (l *Ledger) enqueue(st *roomState, req *writeReq) error {
	if err := l.c.enqueue(req); err != nil {
		st.donePending(req)
		l.dropRoom(st)
		req.done <- err // for Adds that found its events staged
		return err
	}
	return nil
}

// Stored reports whether the event id, with Lamport clock lamport, is
// already stored or queued in room. Gossip asks before a copy can spend
// its author's rate allowance, on a validation worker (one per core), so
// Stored never waits for the room's lock: a load or an Add holding it
// through datastore reads would stall validation. The top of the DAG,
// where almost every gossiped event lands, is answered from memory when
// the lock is free; anything else (an old event, a room not loaded or
// busy) from the staged index and the datastore, without loading the
// room. An event committed during that read may be reported as not
// stored; Add still skips it.
func (l *Ledger) Stored(ctx context.Context, room string, id ID, lamport uint64) (bool, error) {
	if l.isClosed() {
		return false, ErrClosed
	}
	st := l.loadedRoom(room)
	if st != nil && st.mu.TryLock() {
		var stored, known bool
		if st.loaded && !st.stale {
			stored, known = st.storedInMemory(id, lamport)
		}
		st.mu.Unlock()
		if known {
			return stored, nil
		}
	}
	// Checked before the datastore: an event acknowledged meanwhile
	// leaves the staged index only after it was written.
	if st != nil {
		if _, ok := st.pendingOf(id); ok {
			return true, nil
		}
	}
	return l.storedOnDisk(ctx, room, id)
}

// stored finds id (with Lamport clock lam) among accepted events: in
// memory for the top of the DAG, in the datastore below. st.mu must be
// held.
func (l *Ledger) stored(ctx context.Context, st *roomState, id ID, lam uint64) (bool, error) {
	if stored, known := st.storedInMemory(id, lam); known {
		return stored, nil
	}
	return l.storedOnDisk(ctx, st.name, id)
}

// storedInMemory answers from memory whether id (with Lamport clock lam)
// is stored or staged in the room; known is false when only the
// datastore can tell. st.mu must be held.
func (st *roomState) storedInMemory(id ID, lam uint64) (stored, known bool) {
	if stored, known := st.lookupRecent(id, lam); known {
		return stored, true
	}
	_, ok := st.lamportInMemory(id)
	return ok, ok
}

// storedOnDisk reports whether id is stored in room's datastore records.
func (l *Ledger) storedOnDisk(ctx context.Context, room string, id ID) (bool, error) {
	_, err := l.storedLamport(ctx, room, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("look up %s in %s: %w", id, room, err)
	}
	return true, nil
}

// judge applies Config.Check to ev, whose parents are present. The
// room's lock must be held.
func (l *Ledger) judge(ev *Event) error {
	if l.check == nil {
		return nil
	}
	if err := l.check(ev); err != nil {
		return fmt.Errorf("event %s: %w: %w", ev.ID(), ErrRefused, err)
	}
	return nil
}

// checkParents enforces that ev's parents are stored (or staged) in the
// same room and that its Lamport clock is exactly one more than theirs.
// st.mu must be held.
func (l *Ledger) checkParents(ctx context.Context, st *roomState, ev *Event) error {
	var maxLam uint64
	var missing []ID
	for _, p := range ev.Parents {
		lam, ok, err := l.lamportOf(ctx, st, p)
		if err != nil {
			return err
		}
		if !ok {
			missing = append(missing, p)
			continue
		}
		maxLam = max(maxLam, lam)
	}
	if len(missing) > 0 {
		return &MissingParentsError{Event: ev.ID(), Missing: missing}
	}
	if ev.Lamport != maxLam+1 {
		return fmt.Errorf("event %s: lamport %d, parents say %d: %w", ev.ID(), ev.Lamport, maxLam+1, ErrBadParents)
	}
	return nil
}

// stage adds ev's writes to req and applies them to the room's in-memory
// state. The order index and arrival cursor, which need the event's
// sequence number, are added by the committer when it takes req into a
// group (committer.number). st.mu must be held.
func stage(req *writeReq, st *roomState, ev *Event) {
	room, id := ev.Room, ev.ID()
	// One text form of the ID for all of the event's keys, kept on the
	// event for the feed's Message.
	text := id.String()
	ev.idText = text
	// Room for every op below and the committer's two, not a regrowth per
	// head.
	req.batch = slices.Grow(req.batch, 7+len(ev.Parents))
	req.batch = append(req.batch, op{key: ds.RawKey(idKeyText(room, text)), value: u64(ev.Lamport)})
	if st.meta.count == 0 {
		req.batch = append(req.batch, op{key: ds.RawKey(roomListKey(room)), value: []byte{}})
	}
	for _, p := range ev.Parents {
		if st.hidx.remove(p) {
			req.batch = append(req.batch, op{key: ds.RawKey(headKey(room, p)), value: nil})
		}
	}
	st.hidx.add(id, ev.Lamport, ev.Author)
	req.batch = append(req.batch, op{key: ds.RawKey(headKeyText(room, text)), value: headValue(ev.Lamport, ev.Author), fresh: true})
	stageAuthor(req, st, ev)
	st.meta.count++
	st.meta.maxLamport = max(st.meta.maxLamport, ev.Lamport)
	st.remember(id, ev.Lamport)
	accumulate(&st.meta.acc, id)
	req.events = append(req.events, ev)
	st.addPending(id, pendingEvent{lamport: ev.Lamport, req: req})
}

// stageMeta adds the room's summary, as it stands after the events staged
// into req, to req: once per request, not once per event.
func stageMeta(req *writeReq, st *roomState) {
	req.batch = append(req.batch, op{key: ds.RawKey(metaKey(st.name)), value: st.meta.marshal()})
}

// wait blocks until req is committed. If ctx ends first the write may still
// land; the caller only learns it is not confirmed.
func wait(ctx context.Context, req *writeReq) error {
	select {
	case err := <-req.done:
		req.done <- err // let other waiters (duplicate Adds) see it too
		return err
	case <-ctx.Done():
		return fmt.Errorf("waiting for commit: %w", ctx.Err())
	}
}
