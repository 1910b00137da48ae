package ledgersync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/parley-chat/parley/ledger"
)

// decodeAll verifies raws with ledger.DecodeBatch (batch verification on
// all cores: Ed25519 dominates catch-up) and returns the events in the
// same order, or the first error.
func decodeAll(raws [][]byte) ([]*ledger.Event, error) {
	evs, errs := ledger.DecodeBatch(raws)
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("event %d of frame: %w", i, err)
		}
	}
	return evs, nil
}

// ingester stores verified events on its own goroutine, so storing one
// batch overlaps with receiving and verifying the next. Events whose
// parents have not arrived yet (they come in a later round) wait in
// deferred and are retried at each flush, within a byte budget: a
// responder may push events whose parents it never sends, and what does
// not fit is dropped without blame (a later session fetches it again if
// it is real).
type ingester struct {
	store  Store
	room   string
	in     chan ingestReq
	done   chan struct{}
	budget int64         // bytes deferred events may hold
	gauge  *atomic.Int64 // the syncer's total of deferred bytes
	// failed is set with err: the requester stops pulling (err itself
	// reaches it through flush).
	failed atomic.Bool

	// owned by the goroutine
	deferred      []*ledger.Event
	deferredBytes int64
	dropped       int // deferred events dropped over budget
	stored        int
	err           error
}

type ingestReq struct {
	evs   []*ledger.Event
	flush chan flushResult // non-nil: retry deferred, then report
}

type flushResult struct {
	stored  int
	dropped int // deferred events dropped over budget, ever
	err     error
}

func newIngester(store Store, room string, budget int64, gauge *atomic.Int64) *ingester {
	g := &ingester{store: store, room: room, in: make(chan ingestReq, 2), done: make(chan struct{}), budget: budget, gauge: gauge}
	go g.run()
	return g
}

func (g *ingester) run() {
	defer close(g.done)
	defer g.release()
	ctx := context.Background()
	for req := range g.in {
		if req.flush != nil {
			g.retry(ctx)
			req.flush <- flushResult{g.stored, g.dropped, g.err}
			g.stored = 0
			continue
		}
		if g.err == nil {
			g.ingest(ctx, req.evs)
		}
	}
}

func (g *ingester) ingest(ctx context.Context, evs []*ledger.Event) int {
	byKey := func(a, b *ledger.Event) int {
		return ledger.Key{Lamport: a.Lamport, ID: a.ID()}.Compare(ledger.Key{Lamport: b.Lamport, ID: b.ID()})
	}
	if !slices.IsSortedFunc(evs, byKey) { // honest responders send them sorted
		slices.SortFunc(evs, byKey)
	}
	added, rejected, err := g.store.Ingest(ctx, g.room, evs)
	g.stored += len(added)
	if err != nil {
		g.err = fmt.Errorf("store synced events: %w", err)
		g.failed.Store(true)
		return len(added)
	}
	for _, r := range rejected {
		if errors.Is(r.Err, ledger.ErrMissingParents) {
			g.hold(r.Event)
			continue
		}
		// An honest peer's ledger never holds an event that does not fit
		// its parents: it came from the peer, so the peer is at fault.
		g.err = fmt.Errorf("%w: event %s: %v", ErrMisbehaving, r.Event.ID(), r.Err)
		g.failed.Store(true)
		return len(added)
	}
	return len(added)
}

// hold defers ev until its parents arrive, if it fits the budget.
func (g *ingester) hold(ev *ledger.Event) {
	n := int64(len(ev.Raw()))
	if g.deferredBytes+n > g.budget {
		g.dropped++
		return
	}
	g.deferred = append(g.deferred, ev)
	g.deferredBytes += n
	g.gauge.Add(n)
}

// release forgets every deferred event (they are retried or dropped).
func (g *ingester) release() []*ledger.Event {
	evs := g.deferred
	g.deferred = nil
	g.gauge.Add(-g.deferredBytes)
	g.deferredBytes = 0
	return evs
}

// retry stores deferred events until no more fit.
func (g *ingester) retry(ctx context.Context) {
	for len(g.deferred) > 0 && g.err == nil {
		if g.ingest(ctx, g.release()) == 0 {
			return
		}
	}
}

// add queues verified events.
func (g *ingester) add(ctx context.Context, evs []*ledger.Event) error {
	select {
	case g.in <- ingestReq{evs: evs}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flush waits until everything queued is stored and reports how many
// events were new since the last flush, and the first error.
func (g *ingester) flush(ctx context.Context) (int, error) {
	r := g.sync(ctx)
	return r.stored, r.err
}

// sync waits until everything queued is stored and returns the
// goroutine's flush result (r.err is ctx's error if ctx ends first).
func (g *ingester) sync(ctx context.Context) flushResult {
	ch := make(chan flushResult, 1)
	select {
	case g.in <- ingestReq{flush: ch}:
	case <-ctx.Done():
		return flushResult{err: ctx.Err()}
	}
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		return flushResult{err: ctx.Err()}
	}
}

// close flushes and stops the goroutine; it returns what the final flush
// stored and how many deferred events were dropped over budget in the
// session. Events still waiting for parents are dropped (a later session
// fetches them again).
func (g *ingester) close(ctx context.Context) (int, int, error) {
	r := g.sync(ctx)
	close(g.in)
	<-g.done
	return r.stored, r.dropped, r.err
}
