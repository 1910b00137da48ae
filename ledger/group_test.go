package ledger_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/parley-chat/parley/ledger"
)

// slowSync is a datastore whose Sync takes as long as a slow disk's fsync.
type slowSync struct {
	ds.Batching
	syncs atomic.Int64
}

func (s *slowSync) Sync(ctx context.Context, k ds.Key) error {
	s.syncs.Add(1)
	time.Sleep(4 * time.Millisecond)
	return s.Batching.Sync(ctx, k)
}

// Concurrent writers share fsyncs: with 8 writers appending in a loop,
// each group holds about all of them. Without holding a group open for
// the writers the last one released, they split into two alternating
// groups of about 4, and every append waited for two fsyncs.
func TestConcurrentAppendsShareSyncs(t *testing.T) {
	store := &slowSync{Batching: dssync.MutexWrap(ds.NewMapDatastore())}
	l, err := ledger.Open(t.Context(), store, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const writers, each = 8, 40
	key := newKey(t)
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				if _, err := l.Append(t.Context(), key, room, ledger.KindMsg, []byte(`{"text":"x"}`), time.Now()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	n := store.syncs.Load()
	perSync := float64(writers*each) / float64(n)
	t.Logf("%d appends, %d syncs, %.1f appends per sync", writers*each, n, perSync)
	if perSync < 5 {
		t.Fatalf("%.1f appends per sync with %d concurrent writers, want at least 5", perSync, writers)
	}
}
