package ledger

import (
	"context"
	"fmt"
	"time"

	ds "github.com/ipfs/go-datastore"
)

// flushLoop makes written groups that hold events of ours durable and
// acknowledges every written group in order, until the commit goroutine
// has stopped and nothing is left.
func (c *committer) flushLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.flushKick:
			c.gather()
			c.flushWritten()
		case <-c.commitDone:
			c.flushWritten()
			return
		}
	}
}

// flushWritten makes everything written so far durable with one fsync
// when any of it is ours, then acknowledges it. A failed fsync is
// reported to our writers, but the events are stored and readable all the
// same.
func (c *committer) flushWritten() {
	c.mu.Lock()
	reqs := c.written
	c.written = nil
	c.mu.Unlock()
	if len(reqs) == 0 {
		return
	}
	var err error
	// One fsync for the whole group, and only when it holds an event of
	// ours: those are acknowledged as durable (P5). Events from peers ride
	// along unflushed; a power cut may lose the newest of them, and sync
	// fetches them again. The store's log is sequential, so a flushed write
	// also makes everything before it durable: a child never outlives its
	// parent.
	own := ownWriters(reqs)
	if own > 0 {
		t0 := time.Now()
		if serr := c.store.Sync(context.Background(), ds.NewKey("/")); serr != nil {
			err = fmt.Errorf("flush to disk: %w", serr)
			c.log.Error("ledger flush failed", "events", countEvents(reqs), "err", serr)
		}
		took := time.Since(t0)
		// Counted before the acknowledgement, so that a writer it
		// releases and that sends again at once is not counted twice.
		c.mu.Lock()
		c.expect = own + ownWriters(c.written)
		c.ownWritten -= own
		c.flushes++
		c.fsyncTook = took
		c.mu.Unlock()
		select {
		case c.flushed <- struct{}{}:
		default:
		}
	}
	c.finish(reqs, err)
	if own > 0 {
		c.lastAck = time.Now()
	}
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
// here. Neither is a send after a quiet spell: the wait applies only
// right after an acknowledgement.
func (c *committer) gather() {
	c.mu.Lock()
	wait := min(c.maxGather, c.fsyncTook)
	c.mu.Unlock()
	if wait <= 0 || c.expect <= 1 || time.Since(c.lastAck) > wait {
		return
	}
	var timer *time.Timer
	for {
		c.mu.Lock()
		n := ownWriters(c.written)
		c.mu.Unlock()
		if n == 0 || n >= c.expect {
			return // events of peers only need no fsync; or all are here
		}
		if timer == nil {
			timer = time.NewTimer(wait - time.Since(c.lastAck))
			defer timer.Stop()
		}
		select {
		case <-c.flushKick:
		case <-timer.C:
			return
		case <-c.commitDone:
			return
		}
	}
}

// finish acknowledges written groups: they leave their rooms' staged
// index, done moves past them, OnCommit sees their events and each writer
// gets err.
func (c *committer) finish(reqs []*writeReq, err error) {
	for _, r := range reqs {
		r.st.donePending(r)
	}
	if n := len(reqs[len(reqs)-1].events); n > 0 {
		// Groups are numbered in order, so the last event is the newest.
		c.done.Store(max(c.done.Load(), reqs[len(reqs)-1].events[n-1].Seq))
	}
	if c.onCommit != nil {
		var evs []*Event
		for _, r := range reqs {
			evs = append(evs, r.events...)
		}
		c.onCommit(evs)
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
