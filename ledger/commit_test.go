package ledger_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/parley-chat/parley/ledger"
)

// failingSyncStore is a datastore whose Sync fails while err is set: a
// disk that takes writes but cannot flush them.
type failingSyncStore struct {
	ds.Batching
	mu      sync.Mutex
	err     error
	gate    chan struct{} // if set, Sync waits for it to close
	entered chan struct{} // if set, receives when a Sync starts
}

func (s *failingSyncStore) Sync(context.Context, ds.Key) error {
	s.mu.Lock()
	gate, entered := s.gate, s.entered
	s.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if gate != nil {
		<-gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *failingSyncStore) fail(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

// A failed fsync is reported to the sender, but the event it followed is
// stored, readable and shown (OnCommit), the next send builds on it, and
// the committed sequence covers only events OnCommit saw.
func TestFailedFsyncReported(t *testing.T) {
	store := &failingSyncStore{Batching: dssync.MutexWrap(ds.NewMapDatastore())}
	var mu sync.Mutex
	var shown []ledger.ID
	l, err := ledger.Open(context.Background(), store, ledger.Config{OnCommit: func(evs []*ledger.Event) {
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range evs {
			shown = append(shown, ev.ID())
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	key := newKey(t)

	diskErr := errors.New("disk on fire")
	store.fail(diskErr)
	_, err = l.Append(ctx, key, room, ledger.KindMsg, []byte("unsynced"), time.Now())
	if !errors.Is(err, diskErr) || !errors.Is(err, ledger.ErrNotDurable) {
		t.Fatalf("Append with a failing fsync: err %v, want ErrNotDurable and the fsync's error", err)
	}
	heads, err := l.Heads(ctx, room)
	if err != nil || len(heads) != 1 {
		t.Fatalf("heads after the failed fsync: %v %v, want the written event", heads, err)
	}
	written := heads[0]

	store.fail(nil)
	ev, err := l.Append(ctx, key, room, ledger.KindMsg, []byte("synced"), time.Now())
	if err != nil {
		t.Fatalf("Append after the disk recovered: %v", err)
	}
	if len(ev.Parents) != 1 || ev.Parents[0] != written {
		t.Fatalf("next event's parents %v, want [%s]", ev.Parents, written)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(shown) != 2 || shown[0] != written || shown[1] != ev.ID() {
		t.Fatalf("OnCommit saw %v, want [%s %s]", shown, written, ev.ID())
	}
	if got := l.CommittedSeq(); got != ev.Seq {
		t.Fatalf("CommittedSeq %d, want %d", got, ev.Seq)
	}
}

// A failed fsync fails only our own writes: a peer's event that waited
// for the same fsync asked for none, is stored, and its Add succeeds (so
// orphans waiting for it are released).
func TestFailedFsyncSparesPeerEvents(t *testing.T) {
	gate, entered := make(chan struct{}), make(chan struct{}, 4)
	store := &failingSyncStore{Batching: dssync.MutexWrap(ds.NewMapDatastore()), gate: gate, entered: entered}
	var ownWritten atomic.Int64
	l, err := ledger.Open(context.Background(), store, ledger.Config{
		OnApplied: func(evs []*ledger.Event) { ownWritten.Add(int64(len(evs))) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	defer func() {
		select {
		case <-gate:
		default:
			close(gate)
		}
	}()
	ctx := context.Background()
	key := newKey(t)

	first := make(chan error, 1)
	go func() {
		_, err := l.Append(ctx, key, room, ledger.KindMsg, []byte("first"), time.Now())
		first <- err
	}()
	<-entered // the flush goroutine is in the first group's fsync
	heads, err := l.Heads(ctx, room)
	if err != nil || len(heads) != 1 {
		t.Fatalf("heads %v %v", heads, err)
	}
	peerEv, err := ledger.Sign(newKey(t), ledger.Draft{Room: room, Kind: ledger.KindMsg, Body: []byte("peer"), Time: time.Now(), Lamport: 2, Parents: heads})
	if err != nil {
		t.Fatal(err)
	}
	own, peer := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := l.Append(ctx, key, room, ledger.KindMsg, []byte("second"), time.Now())
		own <- err
	}()
	go func() {
		added, _, err := l.Add(ctx, room, peerEv)
		if err == nil && len(added) != 1 {
			err = errors.New("peer event not added")
		}
		peer <- err
	}()
	// Both written while the first fsync holds: they wait for the next
	// one together, whatever groups the commit goroutine made of them.
	peerKey := ds.NewKey("/r/" + room + "/e/" + peerEv.ID().String())
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if has, _ := store.Has(ctx, peerKey); has && ownWritten.Load() == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second send and the peer event were not written during the first fsync")
		}
	}
	diskErr := errors.New("disk on fire")
	store.fail(diskErr)
	close(gate)
	if err := <-first; !errors.Is(err, diskErr) {
		t.Fatalf("first Append: %v, want the fsync's error", err)
	}
	if err := <-own; !errors.Is(err, diskErr) {
		t.Fatalf("second Append: %v, want the fsync's error", err)
	}
	if err := <-peer; err != nil {
		t.Fatalf("peer Add in a group whose fsync failed: %v, want success (it is stored)", err)
	}
	if ok, err := l.Stored(ctx, room, peerEv.ID(), peerEv.Lamport); err != nil || !ok {
		t.Fatalf("peer event stored %v, %v", ok, err)
	}
}
