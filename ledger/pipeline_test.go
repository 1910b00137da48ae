package ledger_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/ledger"
)

// gatedSyncStore is a datastore whose Sync blocks until the test lets it
// go, and fails while failSync is set: it stands in for a slow or broken
// disk.
type gatedSyncStore struct {
	ds.Batching
	entered chan struct{} // receives once per Sync call
	release chan struct{} // each Sync waits for one value, or for free
	free    chan struct{} // closed: Sync no longer waits
	once    sync.Once

	mu        sync.Mutex
	syncs     int
	failSync  error
	failWrite error // while set, batches fail to commit
}

func (s *gatedSyncStore) Batch(ctx context.Context) (ds.Batch, error) {
	b, err := s.Batching.Batch(ctx)
	if err != nil {
		return nil, err
	}
	return &failingBatch{Batch: b, store: s}, nil
}

// failingBatch fails its Commit while its store's failWrite is set.
type failingBatch struct {
	ds.Batch
	store *gatedSyncStore
}

func (b *failingBatch) Commit(ctx context.Context) error {
	b.store.mu.Lock()
	err := b.store.failWrite
	b.store.mu.Unlock()
	if err != nil {
		return err
	}
	return b.Batch.Commit(ctx)
}

func newGatedSyncStore() *gatedSyncStore {
	return &gatedSyncStore{
		Batching: dssync.MutexWrap(ds.NewMapDatastore()),
		entered:  make(chan struct{}, 16),
		release:  make(chan struct{}),
		free:     make(chan struct{}),
	}
}

// unblock lets every Sync through from now on.
func (s *gatedSyncStore) unblock() { s.once.Do(func() { close(s.free) }) }

func (s *gatedSyncStore) Sync(ctx context.Context, _ ds.Key) error {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	select {
	case <-s.release:
	case <-s.free:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.syncs++
	return s.failSync
}

// commitLog records OnApplied and OnCommit calls.
type commitLog struct {
	mu        sync.Mutex
	committed []ledger.ID
	applied   chan ledger.ID
}

func (c *commitLog) options() ledger.Config {
	return ledger.Config{
		OnApplied: func(evs []*ledger.Event) {
			for _, ev := range evs {
				c.applied <- ev.ID()
			}
		},
		OnCommit: func(evs []*ledger.Event) {
			c.mu.Lock()
			defer c.mu.Unlock()
			for _, ev := range evs {
				c.committed = append(c.committed, ev.ID())
			}
		},
	}
}

func (c *commitLog) order() []ledger.ID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]ledger.ID(nil), c.committed...)
}

// openGated opens a ledger on a gated store. Cleanup lets every fsync
// through before closing, so a failing test does not hang in Close.
func openGated(t *testing.T) (*ledger.Ledger, *gatedSyncStore, *commitLog) {
	t.Helper()
	store := newGatedSyncStore()
	log := &commitLog{applied: make(chan ledger.ID, 16)}
	l, err := ledger.Open(context.Background(), store, log.options())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		store.unblock()
		l.Close()
	})
	return l, store, log
}

func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	return testwait.Recv(t, 5*time.Second, what, ch)
}

type appended struct {
	ev  *ledger.Event
	err error
}

func appendAsync(l *ledger.Ledger, key crypto.PrivKey, body string) <-chan appended {
	out := make(chan appended, 1)
	go func() {
		ev, err := l.Append(context.Background(), key, room, ledger.KindMsg, []byte(body), time.Now())
		out <- appended{ev, err}
	}()
	return out
}

// A send is written and handed to OnApplied (which publishes it) while the
// previous send's fsync is still running; both are acknowledged only after
// an fsync that covers them, in order.
func TestNextGroupWrittenDuringFsync(t *testing.T) {
	l, store, log := openGated(t)
	key := newKey(t)

	first := appendAsync(l, key, "first")
	idA := waitFor(t, log.applied, "the first event to be applied")
	waitFor(t, store.entered, "the first fsync")

	second := appendAsync(l, key, "second")
	idB := waitFor(t, log.applied, "the second event to be applied during the first fsync")
	select {
	case r := <-first:
		t.Fatalf("first send acknowledged before its fsync finished: %v", r.err)
	case r := <-second:
		t.Fatalf("second send acknowledged before any fsync covering it: %v", r.err)
	default:
	}
	if got := log.order(); len(got) != 0 {
		t.Fatalf("OnCommit saw %v before any fsync finished", got)
	}

	store.release <- struct{}{} // the first fsync ends
	a := waitFor(t, first, "the first acknowledgement")
	if a.err != nil || a.ev.ID() != idA {
		t.Fatalf("first send: %v", a.err)
	}
	select {
	case r := <-second:
		t.Fatalf("second send acknowledged without an fsync after its write: %v", r.err)
	case <-time.After(50 * time.Millisecond):
	}
	waitFor(t, store.entered, "the second fsync")
	store.release <- struct{}{}
	b := waitFor(t, second, "the second acknowledgement")
	if b.err != nil || b.ev.ID() != idB {
		t.Fatalf("second send: %v", b.err)
	}
	if got := log.order(); len(got) != 2 || got[0] != idA || got[1] != idB {
		t.Fatalf("OnCommit order %v, want [%s %s]", got, idA, idB)
	}
}

// An event from a peer needs no fsync, but it is not acknowledged (nor
// shown by OnCommit) ahead of an earlier send still waiting for its fsync.
func TestPeerEventWaitsForEarlierFsync(t *testing.T) {
	l, store, log := openGated(t)

	own := appendAsync(l, newKey(t), "own")
	idA := waitFor(t, log.applied, "our event to be applied")
	waitFor(t, store.entered, "its fsync")

	peerEv, err := ledger.Sign(newKey(t), ledger.Draft{Room: room, Kind: ledger.KindMsg, Body: []byte("peer"), Time: time.Now(), Lamport: 2, Parents: []ledger.ID{idA}})
	if err != nil {
		t.Fatal(err)
	}
	added := make(chan error, 1)
	go func() {
		got, _, err := l.Add(context.Background(), room, peerEv)
		if err == nil && len(got) != 1 {
			err = errors.New("peer event not added")
		}
		added <- err
	}()
	select {
	case err := <-added:
		t.Fatalf("peer event acknowledged ahead of the pending fsync: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	store.unblock()
	if r := waitFor(t, own, "our acknowledgement"); r.err != nil {
		t.Fatal(r.err)
	}
	if err := waitFor(t, added, "the peer event's acknowledgement"); err != nil {
		t.Fatal(err)
	}
	if got := log.order(); len(got) != 2 || got[0] != idA || got[1] != peerEv.ID() {
		t.Fatalf("OnCommit order %v, want ours then the peer's", got)
	}
}

// A write that fails while an earlier send waits for its fsync fails only
// itself (its writer hears at once); the earlier send is still
// acknowledged and shown, and the next send builds on it.
func TestWriteFailsDuringEarlierFsync(t *testing.T) {
	l, store, log := openGated(t)
	key := newKey(t)
	ctx := context.Background()

	first := appendAsync(l, key, "first")
	idA := waitFor(t, log.applied, "the first event to be applied")
	waitFor(t, store.entered, "the first fsync")

	diskErr := errors.New("write refused")
	store.mu.Lock()
	store.failWrite = diskErr
	store.mu.Unlock()
	if r := waitFor(t, appendAsync(l, key, "lost"), "the failed write's answer"); !errors.Is(r.err, diskErr) {
		t.Fatalf("send whose write failed: %v, want the write's error", r.err)
	}
	store.mu.Lock()
	store.failWrite = nil
	store.mu.Unlock()

	store.unblock()
	if a := waitFor(t, first, "the first acknowledgement"); a.err != nil || a.ev.ID() != idA {
		t.Fatalf("first send, written before the failure: %v", a.err)
	}
	c, err := l.Append(ctx, key, room, ledger.KindMsg, []byte("after"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Parents) != 1 || c.Parents[0] != idA {
		t.Fatalf("next send's parents %v, want [%s]", c.Parents, idA)
	}
	if got := log.order(); len(got) != 2 || got[0] != idA || got[1] != c.ID() {
		t.Fatalf("OnCommit order %v, want [%s %s]", got, idA, c.ID())
	}
	if n, err := l.Count(ctx, room); err != nil || n != 2 {
		t.Fatalf("%d events stored (%v), want 2", n, err)
	}
	if seq := l.CommittedSeq(); seq != c.Seq || seq != 2 {
		t.Fatalf("committed seq %d (last event %d), want 2", seq, c.Seq)
	}
}
