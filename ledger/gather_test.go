package ledger_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/parley-chat/parley/ledger"
)

// slowSyncStore is a datastore whose Sync takes a fixed time, like a
// disk's fsync, and is counted.
type slowSyncStore struct {
	ds.Batching
	delay time.Duration
	syncs atomic.Int64
}

func (s *slowSyncStore) Sync(context.Context, ds.Key) error {
	s.syncs.Add(1)
	time.Sleep(s.delay)
	return nil
}

// appendLoops runs writers goroutines that each append n events one
// after the other, as RPC clients or a pool of senders do, and returns
// how long they took.
func appendLoops(t *testing.T, l *ledger.Ledger, writers, n int) time.Duration {
	t.Helper()
	ctx := context.Background()
	key := newKey(t)
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := range writers {
		wg.Go(func() {
			for i := range n {
				if _, err := l.Append(ctx, key, room, ledger.KindMsg, fmt.Appendf(nil, "w%d m%d", w, i), time.Now()); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(t0)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return el
}

// Writers that each wait for their acknowledgement before sending again
// share fsyncs: one fsync serves all of them, instead of two groups
// taking turns (each fsync serving those that came back while the other
// group's ran). Without gathering this store saw about one fsync per
// four appends (MaxGather -1; checked).
func TestFsyncGathersWaitingWriters(t *testing.T) {
	const writers, n = 8, 40
	store := &slowSyncStore{Batching: dssync.MutexWrap(ds.NewMapDatastore()), delay: 2 * time.Millisecond}
	// MaxGather far above the fsync's time: the wait is then bounded by
	// the last fsync (2 ms), which a slow (race-enabled, loaded) machine
	// needs to gather the writers.
	l, err := ledger.Open(context.Background(), store, ledger.Config{MaxGather: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendLoops(t, l, writers, n)
	syncs := store.syncs.Load()
	t.Logf("%d appends by %d writers took %d fsyncs", writers*n, writers, syncs)
	// All 8 in every group would be 40 fsyncs; taking turns, about 80.
	if limit := int64(writers * n / 5); syncs > limit {
		t.Fatalf("%d fsyncs for %d appends by %d writers, want at most %d: the writers do not share them", syncs, writers*n, writers, limit)
	}
}

// A writer on its own never waits for others: each of its appends costs
// one fsync, not one plus a gather. In a synctest bubble the fsyncs take
// virtual time alone, so the bound holds exactly on a loaded machine
// (it failed there by wall clock: 342 ms against 300).
func TestFsyncLoneWriterNotDelayed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 20
		const fsync = 10 * time.Millisecond
		store := &slowSyncStore{Batching: dssync.MutexWrap(ds.NewMapDatastore()), delay: fsync}
		l, err := ledger.Open(context.Background(), store, ledger.Config{MaxGather: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		el := appendLoops(t, l, 1, n)
		if got := store.syncs.Load(); got != n {
			t.Fatalf("%d fsyncs for %d appends by one writer, want one each", got, n)
		}
		// A wait for a second writer would add up to one more fsync's
		// time to every append (2n fsync times); n fsyncs is well below
		// 1.5n.
		if limit := n * fsync * 3 / 2; el > limit {
			t.Fatalf("%d appends by one writer took %v with %v fsyncs, want under %v: it waited for writers that do not exist", n, el, fsync, limit)
		}
		t.Logf("%d appends took %v of virtual time", n, el)
	})
}
