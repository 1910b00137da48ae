package ledger

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/crypto"
)

// Options configure a Ledger. The zero value is usable.
type Options struct {
	// Logger receives the ledger's logs; nil means slog.Default().
	Logger *slog.Logger
	// OnCommit, if set, is called from one of the ledger's goroutines with
	// every batch of newly stored events, in arrival (Seq) order, once the
	// batch is stored and, when it holds events of ours, synced. It must
	// not block and must not call back into the ledger's write methods.
	OnCommit func([]*Event)
	// OnApplied, if set, is called from the commit goroutine with our own
	// (Append) events as soon as their batch is applied, before the fsync
	// that makes them durable, in arrival order. It lets the caller publish
	// them without waiting for the disk; Append still returns only after
	// the fsync. It must not block.
	OnApplied func([]*Event)
	// MaxGather bounds how long an fsync waits for the writers the last
	// one acknowledged to send again (see gather): zero means
	// DefaultMaxGather, negative turns the wait off.
	MaxGather time.Duration
}

// DefaultMaxGather is the longest an fsync waits to gather writers. The
// wait is also never longer than the last fsync took, so a writer's
// acknowledgement is delayed by at most one more fsync's time.
const DefaultMaxGather = time.Millisecond

// Ledger stores the hash-linked event DAGs of all rooms in one datastore.
//
// Writes from all goroutines go through one commit goroutine that groups
// whatever is queued into a single datastore batch: concurrent writers share
// one fsync (group commit), and batches land in the order events were
// accepted, so a parent is never on disk after its child. Append returns
// only once its batch is committed and the datastore synced (Datastore.Sync,
// an fsync of Pebble's log): durable (P5). Add (events from peers) returns
// once committed; they become durable with the next synced write.
//
// The fsync runs on a second goroutine, so the next group is written (and
// our events in it published) while the disk syncs the last one: a send
// never waits behind another send's fsync before it reaches the network.
// Right after an fsync, the next one waits a moment (gather) for the
// writers just acknowledged to send again, so that writers that take
// turns with the disk share fsyncs instead of alternating.
// Groups are still acknowledged, and OnCommit called, in order; only a
// failed write is reported at once, possibly before earlier groups have
// their fsync (its events were never stored, so nothing is shown out of
// order).
//
// All methods are safe for concurrent use.
type Ledger struct {
	ds        ds.Batching
	log       *slog.Logger
	onCommit  func([]*Event)
	onApplied func([]*Event)
	maxGather time.Duration

	// Owned by the sync goroutine: what gather expects.
	expect    int           // writers in flight after the last fsync: those it acknowledged and those that queued during it
	lastAck   time.Time     // when the last fsync's group was acknowledged
	lastFsync time.Duration // how long the last fsync took

	mu      sync.Mutex
	rooms   map[string]*roomState
	pending map[ID]*pendingEvent
	queue   []*writeReq // staged, waiting to be written
	applied []*writeReq // written, waiting for the fsync and acknowledgement
	syncing bool        // the sync goroutine holds groups not yet acknowledged
	seq     uint64      // last sequence number handed out (staged)
	done    uint64      // last sequence number committed
	closed  bool

	kick       chan struct{} // something queued
	syncKick   chan struct{} // something applied
	commitDone chan struct{} // closed when the commit goroutine has stopped
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

// roomState is the in-memory view of a room's heads and summary, loaded
// lazily from the datastore and then kept in step with accepted writes.
type roomState struct {
	heads map[ID]uint64 // head ID → Lamport
	meta  meta
	// recent holds every event accepted since the room was loaded whose
	// Lamport clock is within recentLevels of the newest. Together with
	// exactFrom it answers "is this event stored?" for the top of the DAG
	// without a datastore read: below the window, or for events older than
	// the load, the datastore is asked.
	recent    map[ID]uint64
	exactFrom uint64 // recent is complete only for Lamport ≥ exactFrom
	pruneAt   int
}

// recentLevels is how many Lamport levels below the newest the in-memory
// index covers. Concurrent writers produce events on the same few levels,
// so this covers almost every duplicate check and parent lookup.
const recentLevels = 256

// lookupRecent answers from memory whether id (with Lamport lam) is
// stored or queued: known is false when only the datastore can tell.
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

// remember adds an accepted event to the recent index, pruning levels that
// fell out of the window once the map has grown.
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

type pendingEvent struct {
	room    string
	lamport uint64
	req     *writeReq
}

type writeReq struct {
	batch   []op
	events  []*Event
	durable bool       // our own event: fsync before acknowledging (P5)
	done    chan error // buffered, receives exactly once
}

type op struct {
	key   ds.Key
	value []byte // nil means delete
	fresh bool   // a key that did not exist before this write (a new event's head)
}

// Open returns a ledger on store. It reads only the last sequence number,
// never the whole log, so opening is fast whatever the ledger's size.
func Open(ctx context.Context, store ds.Batching, opts Options) (*Ledger, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default().With("subsystem", "ledger")
	}
	l := &Ledger{
		ds:         store,
		log:        log,
		onCommit:   opts.OnCommit,
		onApplied:  opts.OnApplied,
		maxGather:  cmp.Or(opts.MaxGather, DefaultMaxGather),
		rooms:      make(map[string]*roomState),
		pending:    make(map[ID]*pendingEvent),
		kick:       make(chan struct{}, 1),
		syncKick:   make(chan struct{}, 1),
		commitDone: make(chan struct{}),
	}
	seq, err := l.lastSeq(ctx)
	if err != nil {
		return nil, err
	}
	l.seq, l.done = seq, seq
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.wg.Add(2)
	go l.commitLoop()
	go l.syncLoop()
	return l, nil
}

// Close flushes queued writes, stops the commit and sync goroutines and
// waits for them.
// It does not close the datastore, which the caller owns. Close is
// idempotent.
func (l *Ledger) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.cancel()
	l.wg.Wait()
	return nil
}

func (l *Ledger) lastSeq(ctx context.Context) (uint64, error) {
	res, err := l.ds.Query(ctx, query.Query{Prefix: "/s", KeysOnly: true, Limit: 1,
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

// room returns the state of room, loading it if needed. l.mu must be held.
func (l *Ledger) room(ctx context.Context, room string) (*roomState, error) {
	if st := l.rooms[room]; st != nil {
		return st, nil
	}
	st := &roomState{heads: make(map[ID]uint64), recent: make(map[ID]uint64), pruneAt: 1024}
	b, err := l.ds.Get(ctx, ds.NewKey(metaKey(room)))
	switch {
	case errors.Is(err, ds.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("load room %s: %w", room, err)
	default:
		if st.meta, err = unmarshalMeta(b); err != nil {
			return nil, fmt.Errorf("load room %s: %w", room, err)
		}
	}
	heads, err := l.readHeads(ctx, room)
	if err != nil {
		return nil, err
	}
	for _, h := range heads {
		lam, err := l.storedLamport(ctx, room, h)
		if err != nil {
			return nil, fmt.Errorf("load room %s: head %s: %w", room, h, err)
		}
		st.heads[h] = lam
	}
	st.exactFrom = st.meta.maxLamport + 1
	l.rooms[room] = st
	return st, nil
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

// lamportOf finds id among pending and committed events. l.mu must be held.
func (l *Ledger) lamportOf(ctx context.Context, room string, st *roomState, id ID) (uint64, bool, error) {
	if lam, ok := l.lamportInMemory(room, st, id); ok {
		return lam, true, nil
	}
	lam, err := l.storedLamport(ctx, room, id)
	if errors.Is(err, ErrNotFound) {
		return 0, false, nil
	}
	return lam, err == nil, err
}

// lamportInMemory finds id among room's heads, recent events and queued
// writes; st may be nil (room not loaded). l.mu must be held.
func (l *Ledger) lamportInMemory(room string, st *roomState, id ID) (uint64, bool) {
	if st != nil {
		if lam, ok := st.heads[id]; ok {
			return lam, true
		}
		if lam, ok := st.recent[id]; ok {
			return lam, true
		}
	}
	if p := l.pending[id]; p != nil && p.room == room {
		return p.lamport, true
	}
	return 0, false
}

// Append creates, signs and stores a new event by key in room, with the
// room's current heads as parents. It returns once the event is committed.
func (l *Ledger) Append(ctx context.Context, key crypto.PrivKey, room, kind string, body []byte, now time.Time) (*Event, error) {
	if err := ValidRoomID(room); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	st, err := l.room(ctx, room)
	if err != nil {
		l.mu.Unlock()
		return nil, err
	}
	parents, lamport := chooseParents(st.heads)
	l.mu.Unlock()

	// Sign outside the lock so concurrent senders sign on all cores. If
	// another event was staged meanwhile, ours and it become concurrent
	// branches (both valid; the next event merges them).
	ev, err := Sign(key, Draft{Room: room, Kind: kind, Body: body, Time: now, Lamport: lamport, Parents: parents})
	if err != nil {
		return nil, err
	}

	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	if st, err = l.room(ctx, room); err != nil {
		l.mu.Unlock()
		return nil, err
	}
	// A failed commit in between reloads state from disk; our parents
	// must still be there.
	if err := l.checkParents(ctx, room, st, ev); err != nil {
		l.mu.Unlock()
		return nil, fmt.Errorf("append to %s: %w", room, err)
	}
	req := &writeReq{done: make(chan error, 1), durable: true}
	l.stage(req, st, ev)
	stageMeta(req, room, st)
	l.enqueue(req)
	l.mu.Unlock()
	if err := l.wait(ctx, req); err != nil {
		return nil, err
	}
	return ev, nil
}

// chooseParents picks the parents of a new event: every head when they fit
// in MaxParents, else the newest head (to keep the clock moving) and the
// oldest others (so stragglers get merged first).
func chooseParents(heads map[ID]uint64) ([]ID, uint64) {
	type h struct {
		id  ID
		lam uint64
	}
	all := make([]h, 0, len(heads))
	for id, lam := range heads {
		all = append(all, h{id, lam})
	}
	slices.SortFunc(all, func(a, b h) int {
		if a.lam != b.lam {
			return cmpU64(a.lam, b.lam)
		}
		return cmpID(a.id, b.id)
	})
	if len(all) > MaxParents {
		all = append(all[:MaxParents-1], all[len(all)-1])
	}
	var maxLam uint64
	parents := make([]ID, len(all))
	for i, x := range all {
		parents[i] = x.id
		maxLam = max(maxLam, x.lam)
	}
	return parents, maxLam + 1
}

// Rejection says why Add did not store one event.
type Rejection struct {
	Event *Event
	Err   error // ErrWrongRoom, a *MissingParentsError (errors.Is ErrMissingParents) or ErrBadParents
}

// Add stores events received from others (already decoded and verified by
// Decode) in room. Within one call parents may come before their children.
// It returns the events that were new, in the order stored, and for each
// event that could not be stored, why; events already stored are skipped
// silently. err is non-nil only when the store itself failed, and then
// nothing of this call is stored.
func (l *Ledger) Add(ctx context.Context, room string, evs ...*Event) (added []*Event, rejected []Rejection, err error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, nil, ErrClosed
	}
	st, err := l.room(ctx, room)
	if err != nil {
		l.mu.Unlock()
		return nil, nil, err
	}
	req := &writeReq{done: make(chan error, 1)}
	var waitFor []*writeReq
	var fatal error
	for _, ev := range evs {
		if ev.Room != room {
			rejected = append(rejected, Rejection{ev, fmt.Errorf("event %s for room %s offered to %s: %w", ev.ID(), ev.Room, room, ErrWrongRoom)})
			continue
		}
		if p := l.pending[ev.ID()]; p != nil {
			if p.req != req {
				waitFor = append(waitFor, p.req)
			}
			continue
		}
		stored, err := l.stored(ctx, room, st, ev.ID(), ev.Lamport)
		if err != nil {
			fatal = fmt.Errorf("add to %s: %w", room, err)
			break
		}
		if stored {
			continue
		}
		if err := l.checkParents(ctx, room, st, ev); err != nil {
			if !errors.Is(err, ErrMissingParents) && !errors.Is(err, ErrBadParents) {
				fatal = fmt.Errorf("add to %s: %w", room, err)
				break
			}
			rejected = append(rejected, Rejection{ev, err})
			continue
		}
		l.stage(req, st, ev)
	}
	if len(req.events) > 0 {
		stageMeta(req, room, st)
		l.enqueue(req)
	}
	l.mu.Unlock()
	if len(req.events) > 0 {
		if err := l.wait(ctx, req); err != nil {
			return nil, nil, err
		}
	}
	for _, w := range waitFor {
		if err := l.wait(ctx, w); err != nil {
			return req.events, rejected, err
		}
	}
	return req.events, rejected, fatal
}

// Stored reports whether the event id, with Lamport clock lamport, is
// already stored or queued in room. Gossip asks before a copy can spend
// its author's rate allowance. The top of the DAG, where almost every
// gossiped event lands, is answered from memory under the ledger's lock;
// anything else (an old event, a room not loaded) is read from the
// datastore without holding it, so a gossip validator never waits behind
// a write's lookups. An event committed during that read may be reported
// as not stored; Add still skips it.
func (l *Ledger) Stored(ctx context.Context, room string, id ID, lamport uint64) (bool, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false, ErrClosed
	}
	stored, known := l.storedInMemory(room, l.rooms[room], id, lamport)
	l.mu.Unlock()
	if known {
		return stored, nil
	}
	return l.storedOnDisk(ctx, room, id)
}

// stored finds id (with Lamport clock lam) among accepted events: in
// memory for the top of the DAG, in the datastore below. l.mu must be
// held.
func (l *Ledger) stored(ctx context.Context, room string, st *roomState, id ID, lam uint64) (bool, error) {
	if stored, known := l.storedInMemory(room, st, id, lam); known {
		return stored, nil
	}
	return l.storedOnDisk(ctx, room, id)
}

// storedInMemory answers from memory whether id (with Lamport clock lam)
// is stored or queued in room; known is false when only the datastore
// can tell. st may be nil (room not loaded). l.mu must be held.
func (l *Ledger) storedInMemory(room string, st *roomState, id ID, lam uint64) (stored, known bool) {
	if st != nil {
		if stored, known := st.lookupRecent(id, lam); known {
			return stored, true
		}
	}
	_, ok := l.lamportInMemory(room, st, id)
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

// checkParents enforces that ev's parents are stored (or queued) in the
// same room and that its Lamport clock is exactly one more than theirs.
func (l *Ledger) checkParents(ctx context.Context, room string, st *roomState, ev *Event) error {
	var maxLam uint64
	var missing []ID
	for _, p := range ev.Parents {
		lam, ok, err := l.lamportOf(ctx, room, st, p)
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

// stage adds ev's writes to req and applies them to the in-memory state.
// l.mu must be held.
func (l *Ledger) stage(req *writeReq, st *roomState, ev *Event) {
	room, id := ev.Room, ev.ID()
	// One text form of the ID for all of the event's keys, kept on the
	// event for the feed's Message.
	text := id.String()
	ev.idText = text
	suffix := room + "/o/" + splitNum(ev.Lamport) + "/" + text
	l.seq++
	ev.Seq = l.seq
	val := make([]byte, 8, 8+len(ev.raw))
	binary.BigEndian.PutUint64(val, ev.Seq)
	val = append(val, ev.raw...)
	// Room for every op below at once, not a regrowth per head.
	req.batch = slices.Grow(req.batch, 6+len(ev.Parents))
	req.batch = append(req.batch,
		op{key: ds.RawKey("/r/" + suffix), value: val},
		op{key: ds.RawKey("/r/" + room + "/e/" + text), value: u64(ev.Lamport)},
		op{key: ds.RawKey(seqKey(ev.Seq)), value: []byte(suffix)},
	)
	if st.meta.count == 0 {
		req.batch = append(req.batch, op{key: ds.RawKey(roomListKey(room)), value: []byte{}})
	}
	for _, p := range ev.Parents {
		if _, ok := st.heads[p]; ok {
			delete(st.heads, p)
			req.batch = append(req.batch, op{key: ds.RawKey(headKey(room, p)), value: nil})
		}
	}
	st.heads[id] = ev.Lamport
	req.batch = append(req.batch, op{key: ds.RawKey("/r/" + room + "/h/" + text), value: []byte{}, fresh: true})
	st.meta.count++
	st.meta.maxLamport = max(st.meta.maxLamport, ev.Lamport)
	st.remember(id, ev.Lamport)
	accumulate(&st.meta.acc, id)
	req.events = append(req.events, ev)
	l.pending[id] = &pendingEvent{room: room, lamport: ev.Lamport, req: req}
}

// stageMeta adds the room's summary, as it stands after the events staged
// into req, to req: once per request, not once per event.
func stageMeta(req *writeReq, room string, st *roomState) {
	req.batch = append(req.batch, op{key: ds.RawKey(metaKey(room)), value: st.meta.marshal()})
}

func accumulate(acc *[32]byte, id ID) {
	h := sha256.Sum256([]byte(id))
	for i := range acc {
		acc[i] ^= h[i]
	}
}

// enqueue hands req to the commit goroutine. l.mu must be held.
func (l *Ledger) enqueue(req *writeReq) {
	l.queue = append(l.queue, req)
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// wait blocks until req is committed. If ctx ends first the write may still
// land; the caller only learns it is not confirmed.
func (l *Ledger) wait(ctx context.Context, req *writeReq) error {
	select {
	case err := <-req.done:
		req.done <- err // let other waiters (duplicate Adds) see it too
		return err
	case <-ctx.Done():
		return fmt.Errorf("waiting for commit: %w", ctx.Err())
	}
}

func (l *Ledger) commitLoop() {
	defer l.wg.Done()
	defer close(l.commitDone)
	for {
		select {
		case <-l.kick:
		case <-l.ctx.Done():
			// Flush what was accepted before Close, then stop.
			l.commitQueued()
			return
		}
		l.commitQueued()
	}
}

// commitQueued writes everything queued as one batch and hands it to the
// sync goroutine, or acknowledges it at once when it needs no fsync and no
// earlier group is still waiting for one.
func (l *Ledger) commitQueued() {
	l.mu.Lock()
	reqs := l.queue
	l.queue = nil
	l.mu.Unlock()
	if len(reqs) == 0 {
		return
	}
	if err := l.write(reqs); err != nil {
		l.failed(reqs, err)
		return
	}
	l.mu.Lock()
	if ownWriters(reqs) == 0 && len(l.applied) == 0 && !l.syncing {
		l.mu.Unlock()
		l.finish(reqs, nil) // events of peers only: nothing to wait for
		return
	}
	l.applied = append(l.applied, reqs...)
	l.mu.Unlock()
	select {
	case l.syncKick <- struct{}{}:
	default:
	}
}

// failed reports a write error to reqs and to everything queued since,
// which was staged on top of them, and reloads room state from the
// datastore, which stays the source of truth.
func (l *Ledger) failed(reqs []*writeReq, err error) {
	l.mu.Lock()
	l.log.Error("ledger commit failed", "events", countEvents(reqs), "err", err)
	reqs = append(reqs, l.queue...)
	l.queue = nil
	for _, r := range reqs {
		for _, ev := range r.events {
			delete(l.pending, ev.ID())
		}
	}
	l.rooms = make(map[string]*roomState)
	if seq, serr := l.lastSeq(context.Background()); serr == nil {
		// Groups written before this one may still await their fsync:
		// they are stored, and done catches up when they are acknowledged.
		l.seq, l.done = seq, min(l.done, seq)
	}
	l.mu.Unlock()
	for _, r := range reqs {
		r.done <- fmt.Errorf("store events: %w", err)
	}
}

// syncLoop syncs written groups that hold events of ours and acknowledges
// them in order, until the commit goroutine has stopped and nothing is
// left.
func (l *Ledger) syncLoop() {
	defer l.wg.Done()
	for {
		select {
		case <-l.syncKick:
			l.gather()
			l.syncApplied()
		case <-l.commitDone:
			l.syncApplied()
			return
		}
	}
}

// syncApplied makes everything written so far durable with one fsync when
// any of it is ours, then acknowledges it. A failed fsync is reported to
// the writers, but the events are stored and readable all the same.
func (l *Ledger) syncApplied() {
	l.mu.Lock()
	reqs := l.applied
	l.applied = nil
	l.syncing = len(reqs) > 0
	l.mu.Unlock()
	if len(reqs) == 0 {
		return
	}
	var err error
	// One fsync for the whole group, and only when it holds an event of
	// ours: those are acknowledged as durable (P5). Events from peers ride
	// along unsynced; a power cut may lose the newest of them, and sync
	// fetches them again. The store's log is sequential, so a synced write
	// also makes everything before it durable: a child never outlives its
	// parent.
	own := ownWriters(reqs)
	if own > 0 {
		t0 := time.Now()
		if serr := l.ds.Sync(context.Background(), ds.NewKey("/")); serr != nil {
			err = fmt.Errorf("sync to disk: %w", serr)
			l.log.Error("ledger sync failed", "events", countEvents(reqs), "err", serr)
		}
		l.lastFsync = time.Since(t0)
		// Counted before the acknowledgement, so that a writer it
		// releases and that sends again at once is not counted twice.
		l.mu.Lock()
		l.expect = own + ownWriters(l.applied)
		l.mu.Unlock()
	}
	l.finish(reqs, err)
	if own > 0 {
		l.lastAck = time.Now() // the sync goroutine's own field
	}
	l.mu.Lock()
	l.syncing = false
	l.mu.Unlock()
}

// gather delays an fsync until the writers the last fsync acknowledged
// have sent again, or for at most min(maxGather, the last fsync's time).
//
// Without it, writers that each wait for their acknowledgement before
// sending again (RPC clients, a pool of senders) split into two groups
// that take turns: the ones acknowledged come back while the others'
// fsync runs, so every fsync serves only part of them. Each fsync also
// costs CPU (~160 µs of system time here, docs/BENCHMARKS.md). A writer
// on its own is never delayed: it is the only one expected, and it is
// here. Neither is a send after a quiet
// spell: the wait applies only right after an acknowledgement.
func (l *Ledger) gather() {
	wait := min(l.maxGather, l.lastFsync)
	if wait <= 0 || l.expect <= 1 || time.Since(l.lastAck) > wait {
		return
	}
	var timer *time.Timer
	for {
		l.mu.Lock()
		n := ownWriters(l.applied)
		l.mu.Unlock()
		if n == 0 || n >= l.expect {
			return // events of peers only need no fsync; or all are here
		}
		if timer == nil {
			timer = time.NewTimer(wait - time.Since(l.lastAck))
			defer timer.Stop()
		}
		select {
		case <-l.syncKick:
		case <-timer.C:
			return
		case <-l.commitDone:
			return
		}
	}
}

// finish acknowledges written groups: they leave the pending index, done
// moves past them, OnCommit sees their events and each writer gets err.
func (l *Ledger) finish(reqs []*writeReq, err error) {
	l.mu.Lock()
	for _, r := range reqs {
		for _, ev := range r.events {
			delete(l.pending, ev.ID())
			l.done = max(l.done, ev.Seq)
		}
	}
	l.mu.Unlock()
	if l.onCommit != nil {
		var evs []*Event
		for _, r := range reqs {
			evs = append(evs, r.events...)
		}
		l.onCommit(evs)
	}
	for _, r := range reqs {
		// After a failed fsync only our own events' writers hear of it:
		// peers' events asked for none, and they are stored.
		if err != nil && r.durable {
			r.done <- fmt.Errorf("store events: %w: %w", ErrNotDurable, err)
		} else {
			r.done <- nil
		}
	}
}

// ownWriters counts the requests of reqs that wait for an fsync: one per
// Append call.
func ownWriters(reqs []*writeReq) int {
	n := 0
	for _, r := range reqs {
		if r.durable {
			n++
		}
	}
	return n
}

func countEvents(reqs []*writeReq) int {
	n := 0
	for _, r := range reqs {
		n += len(r.events)
	}
	return n
}

// write applies a group to the datastore as one batch, unsynced, and
// hands our own events in it to OnApplied.
func (l *Ledger) write(reqs []*writeReq) error {
	ctx := context.Background()
	b, err := l.ds.Batch(ctx)
	if err != nil {
		return err
	}
	for _, o := range collapse(reqs) {
		if o.value == nil {
			err = b.Delete(ctx, o.key)
		} else {
			err = b.Put(ctx, o.key, o.value)
		}
		if err != nil {
			return err
		}
	}
	if err := b.Commit(ctx); err != nil {
		return err
	}
	if l.onApplied != nil && ownWriters(reqs) > 0 {
		var own []*Event
		for _, r := range reqs {
			if r.durable {
				own = append(own, r.events...)
			}
		}
		l.onApplied(own)
	}
	return nil
}

// collapse merges the writes of a group into their net effect, in order:
// a key written several times (a room's summary) is written once, with its
// last value, and a fresh key (the head of a new event) that is deleted
// again within the group is neither written nor deleted. This keeps
// Pebble's write and compaction work per event low when a batch holds a
// long chain, as catch-up does.
func collapse(reqs []*writeReq) []op {
	if len(reqs) == 1 && len(reqs[0].events) == 1 {
		// One event's ops touch distinct keys (its own, its parents'
		// heads, the room's summary): nothing to merge. The common case
		// at chat rates, so it skips building the map.
		return reqs[0].batch
	}
	n := 0
	for _, r := range reqs {
		n += len(r.batch)
	}
	last := make(map[ds.Key]int, n) // key → index of its live op in all
	all := make([]op, 0, n)
	for _, r := range reqs {
		for _, o := range r.batch {
			i, seen := last[o.key]
			if seen {
				if o.value == nil && all[i].fresh {
					all[i].key = ds.Key{} // created and superseded here: drop both
					delete(last, o.key)
					continue
				}
				all[i].key = ds.Key{}
			}
			last[o.key] = len(all)
			all = append(all, o)
		}
	}
	out := all[:0]
	for _, o := range all {
		if o.key != (ds.Key{}) {
			out = append(out, o)
		}
	}
	return out
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpID(a, b ID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
