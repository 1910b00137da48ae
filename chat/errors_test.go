package chat

import (
	"context"
	"crypto/rand"
	"errors"
	"sync/atomic"
	"testing"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
)

// brokenStore fails every read once broken is set: a disk gone bad.
type brokenStore struct {
	ds.Batching
	broken atomic.Bool
}

var errDisk = errors.New("input/output error")

func (s *brokenStore) Get(ctx context.Context, k ds.Key) ([]byte, error) {
	if s.broken.Load() {
		return nil, errDisk
	}
	return s.Batching.Get(ctx, k)
}

func (s *brokenStore) Query(ctx context.Context, q query.Query) (query.Results, error) {
	if s.broken.Load() {
		return nil, errDisk
	}
	return s.Batching.Query(ctx, q)
}

// A failing store is reported as ErrStorage (JSON-RPC -32010), not as an
// unclassified error, and bad input still gets its own error.
func TestStoreFailureIsErrStorage(t *testing.T) {
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	store := &brokenStore{Batching: dssync.MutexWrap(ds.NewMapDatastore())}
	s, err := New(nil, store, key, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	store.broken.Store(true)
	_, err = s.History(t.Context(), "general", HistoryQuery{})
	if !errors.Is(err, ErrStorage) || !errors.Is(err, errDisk) {
		t.Fatalf("History on a failing store: %v, want ErrStorage wrapping the cause", err)
	}
	if _, err := s.History(t.Context(), "general", HistoryQuery{Before: "bogus"}); !errors.Is(err, ErrBadCursor) {
		t.Fatalf("History with a bad cursor: %v, want ErrBadCursor", err)
	}
}
