package ledger

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	ds "github.com/ipfs/go-datastore"
)

// committer writes staged requests to the datastore and acknowledges
// them. It alone touches its queue and the flush state: writers hand it
// requests with enqueue; its commit goroutine (commitLoop) forms groups
// and writes each as one batch; its flush goroutine (flushLoop, flush.go)
// makes them durable and acknowledges them in order.
type committer struct {
	store     ds.Batching
	log       *slog.Logger
	onCommit  func([]*Event)
	onApplied func([]*Event)
	maxGather time.Duration
	maxGroup  int
	// drop forgets a room whose staged state included a lost write; it is
	// called with the room's lock held.
	drop func(*roomState)

	mu      sync.Mutex
	queued  map[string][]*writeReq // per room, in the order staged
	turns   []string               // rooms with queued requests, next to serve first
	written []*writeReq            // written, waiting for the flush and acknowledgement
	closed  bool
	// For yieldToFlush and gather: Appends queued, Appends written and
	// not yet flushed, fsyncs finished and how long the last one took
	// (written only by the flush goroutine).
	ownQueued, ownWritten int
	flushes               uint64
	fsyncTook             time.Duration

	// Owned by the commit goroutine.
	seq       uint64 // last sequence number handed out
	localTurn bool   // the last group held only Appends while Adds waited

	// Owned by the flush goroutine: what gather expects.
	expect  int       // writers in flight after the last fsync: those it acknowledged and those that queued during it
	lastAck time.Time // when the last fsync's group was acknowledged

	numbered atomic.Uint64 // seq, published by the commit goroutine for Since
	done     atomic.Uint64 // last sequence number acknowledged; written by the flush goroutine

	kick       chan struct{} // something queued
	flushKick  chan struct{} // something written
	flushed    chan struct{} // an fsync finished
	commitDone chan struct{} // closed when the commit goroutine has stopped
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

// writeReq is one Append or Add call's staged events and their writes.
type writeReq struct {
	st      *roomState // the room state they were staged on
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

func newCommitter(store ds.Batching, log *slog.Logger, cfg Config, drop func(*roomState)) *committer {
	return &committer{
		store:      store,
		log:        log,
		onCommit:   cfg.OnCommit,
		onApplied:  cfg.OnApplied,
		maxGather:  cfg.MaxGather,
		maxGroup:   cfg.MaxGroupEvents,
		drop:       drop,
		queued:     make(map[string][]*writeReq),
		kick:       make(chan struct{}, 1),
		flushKick:  make(chan struct{}, 1),
		flushed:    make(chan struct{}, 1),
		commitDone: make(chan struct{}),
	}
}

// start runs the commit and flush goroutines, numbering events after seq.
func (c *committer) start(seq uint64) {
	c.seq = seq
	c.numbered.Store(seq)
	c.done.Store(seq)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(2)
	go c.commitLoop()
	go c.flushLoop()
}

// close refuses new requests, writes and acknowledges the queued ones,
// and waits for both goroutines. It is idempotent.
func (c *committer) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
}

// enqueue queues req behind the earlier requests of its room. The
// caller holds req.st.mu, so a room's requests queue in staging order.
func (c *committer) enqueue(req *writeReq) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	room := req.st.name
	q := c.queued[room]
	if len(q) == 0 {
		c.turns = append(c.turns, room)
	}
	c.queued[room] = append(q, req)
	if req.durable {
		c.ownQueued++
	}
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return nil
}

// take removes the next group from the queue. Appends come first: when
// any room's next request is an Append, the group is every such Append
// (each room's leading ones), so a send never waits for a catch-up's
// batch to be written. Otherwise, and always right after such a group
// while Adds wait (so that a stream of sends cannot starve them), the
// group takes one request per room in turn, round-robin, until it holds
// maxGroup events; one request larger than that goes alone. A room's
// requests are taken in order, so its parents are written before their
// children.
func (c *committer) take() []*writeReq {
	c.mu.Lock()
	defer c.mu.Unlock()
	var group []*writeReq
	if !c.localTurn {
		for _, room := range c.turns {
			q := c.queued[room]
			n := 0
			for n < len(q) && q[n].durable {
				n++
			}
			group = append(group, q[:n]...)
			c.queued[room] = q[n:]
		}
		if len(group) > 0 {
			c.ownQueued -= len(group)
			c.turns = slices.DeleteFunc(c.turns, func(room string) bool {
				if len(c.queued[room]) == 0 {
					delete(c.queued, room)
					return true
				}
				return false
			})
			c.localTurn = len(c.turns) > 0
			return group
		}
	}
	c.localTurn = false
	events := 0
	for len(c.turns) > 0 {
		room := c.turns[0]
		q := c.queued[room]
		if len(group) > 0 && events+len(q[0].events) > c.maxGroup {
			break
		}
		group = append(group, q[0])
		events += len(q[0].events)
		if q[0].durable {
			c.ownQueued--
		}
		c.turns = c.turns[1:]
		if len(q) > 1 {
			c.queued[room] = q[1:]
			c.turns = append(c.turns, room)
		} else {
			delete(c.queued, room)
		}
	}
	return group
}

func (c *committer) commitLoop() {
	defer c.wg.Done()
	defer close(c.commitDone)
	for {
		select {
		case <-c.kick:
		case <-c.ctx.Done():
			// Write what was queued before close, then stop.
			for c.commitNext() {
			}
			return
		}
		for c.commitNext() {
		}
	}
}

// commitNext writes the next group as one batch and hands it to the
// flush goroutine. It reports false when nothing was queued.
func (c *committer) commitNext() bool {
	c.yieldToFlush()
	group := c.take()
	if len(group) == 0 {
		return false
	}
	before := c.seq
	c.number(group)
	if err := c.write(group); err != nil {
		c.failed(group, before, err)
		return true
	}
	c.numbered.Store(c.seq)
	c.mu.Lock()
	c.written = append(c.written, group...)
	c.ownWritten += ownWriters(group)
	c.mu.Unlock()
	select {
	case c.flushKick <- struct{}{}:
	default:
	}
	return true
}

// yieldToFlush holds the next group back while it would hold only bulk
// writes (Adds) and our own events written before it still await their
// fsync. Pebble has one log for all rooms, and its fsync flushes whatever
// is in the log when it runs: a catch-up's batch written just before it
// (a few hundred KiB) would be flushed too and make the send wait for
// it. The hold lasts until one fsync has finished, and never longer than
// the last fsync took, so a stream of sends delays each bulk group by
// about one fsync and never starves it, and a stalled disk does not stop
// ingest; it ends at once when an Append is queued (take serves that
// first) or the committer closes.
func (c *committer) yieldToFlush() {
	c.mu.Lock()
	hold := c.ownWritten > 0 && c.ownQueued == 0 && len(c.turns) > 0 && c.fsyncTook > 0
	gen, limit := c.flushes, c.fsyncTook
	c.mu.Unlock()
	if !hold {
		return
	}
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for hold {
		select {
		case <-c.flushed:
		case <-c.kick: // the loop in commitLoop takes whatever was queued
		case <-timer.C:
			return
		case <-c.ctx.Done():
			return
		}
		c.mu.Lock()
		hold = c.flushes == gen && c.ownQueued == 0 && c.ownWritten > 0
		c.mu.Unlock()
	}
}

// number gives the group's events their sequence numbers, in group
// order, and adds the writes that carry them: the order-index entry
// (seq | signed bytes) and the arrival cursor.
func (c *committer) number(group []*writeReq) {
	for _, r := range group {
		for _, ev := range r.events {
			c.seq++
			ev.Seq = c.seq
			suffix := orderSuffixText(ev.Room, ev.Lamport, ev.idText)
			val := make([]byte, 8, 8+len(ev.raw))
			binary.BigEndian.PutUint64(val, ev.Seq)
			val = append(val, ev.raw...)
			r.batch = append(r.batch,
				op{key: ds.RawKey("/r/" + suffix), value: val},
				op{key: ds.RawKey(seqKey(ev.Seq)), value: []byte(suffix)},
			)
		}
	}
}

// write applies a group to the datastore as one batch, unflushed, and
// hands our own events in it to OnApplied.
func (c *committer) write(group []*writeReq) error {
	ctx := context.Background()
	b, err := c.store.Batch(ctx)
	if err != nil {
		return err
	}
	for _, o := range collapse(group) {
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
	if c.onApplied != nil && ownWriters(group) > 0 {
		var own []*Event
		for _, r := range group {
			if r.durable {
				own = append(own, r.events...)
			}
		}
		c.onApplied(own)
	}
	return nil
}

// failed reports a write error to the group and to the requests queued
// since in its rooms, which were staged on top of it, and drops those
// rooms' state so that they are reloaded from the datastore, which stays
// the source of truth. Other rooms' queued requests are untouched.
func (c *committer) failed(group []*writeReq, before uint64, err error) {
	c.log.Error("ledger commit failed", "events", countEvents(group), "err", err)
	lost := group
	var rooms []*roomState
	for _, r := range group {
		if !slices.Contains(rooms, r.st) {
			rooms = append(rooms, r.st)
		}
	}
	for _, st := range rooms {
		// Under the room's lock no writer is staging on st, so every
		// request staged on it is in the group, queued, or written
		// earlier (and stored).
		st.mu.Lock()
		lost = append(lost, c.unqueue(st)...)
		c.drop(st)
		st.mu.Unlock()
	}
	// Groups written before this one may still await their flush: they
	// are stored, and done catches up when they are acknowledged.
	c.seq = before
	if seq, serr := lastSeq(context.Background(), c.store); serr == nil {
		c.seq = max(seq, before)
	}
	c.numbered.Store(c.seq)
	for _, r := range lost {
		r.st.donePending(r)
		r.done <- fmt.Errorf("store events: %w", err)
	}
}

// unqueue removes and returns the queued requests staged on st.
func (c *committer) unqueue(st *roomState) []*writeReq {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*writeReq
	q := slices.DeleteFunc(c.queued[st.name], func(r *writeReq) bool {
		if r.st == st {
			if r.durable {
				c.ownQueued--
			}
			out = append(out, r)
			return true
		}
		return false
	})
	if len(q) == 0 {
		delete(c.queued, st.name)
		c.turns = slices.DeleteFunc(c.turns, func(room string) bool { return room == st.name })
	} else {
		c.queued[st.name] = q
	}
	return out
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
