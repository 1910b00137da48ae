package ledger_test

import (
	"context"
	"errors"
	"sync"
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
	mu  sync.Mutex
	err error
}

func (s *failingSyncStore) Sync(context.Context, ds.Key) error {
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
	l, err := ledger.Open(context.Background(), store, ledger.Options{OnCommit: func(evs []*ledger.Event) {
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
	if !errors.Is(err, diskErr) {
		t.Fatalf("Append with a failing fsync: err %v, want the fsync's error", err)
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
