package chat

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/ledger"
)

// The set keeps the newest recentCommitted IDs and forgets the oldest.
func TestCommittedIDsBounded(t *testing.T) {
	c := newCommittedIDs()
	id := func(i int) ledger.ID { return ledger.ID(fmt.Sprint("id-", i)) }
	for i := range recentCommitted + 10 {
		c.add(id(i))
	}
	c.add(id(recentCommitted + 5)) // a repeat takes no slot
	if len(c.set) != recentCommitted || len(c.ring) != recentCommitted {
		t.Fatalf("holds %d (ring %d), want %d", len(c.set), len(c.ring), recentCommitted)
	}
	for i := range 10 {
		if c.has(id(i)) {
			t.Fatalf("oldest ID %d kept", i)
		}
	}
	for i := 10; i < recentCommitted+10; i++ {
		if !c.has(id(i)) {
			t.Fatalf("ID %d forgotten", i)
		}
	}
	var none *committedIDs
	none.add(id(1))
	if none.has(id(1)) {
		t.Fatal("a nil set holds an ID")
	}
}

// gatedStore counts datastore reads and, while gate is set, holds every
// batch commit (the ledger's write of a group) until gate is closed:
// events the ledger staged stay uncommitted for as long as the test
// wants.
type gatedStore struct {
	ds.Batching
	reads atomic.Int64
	mu    sync.Mutex
	gate  chan struct{}
}

func (g *gatedStore) Get(ctx context.Context, k ds.Key) ([]byte, error) {
	g.reads.Add(1)
	return g.Batching.Get(ctx, k)
}

func (g *gatedStore) Has(ctx context.Context, k ds.Key) (bool, error) {
	g.reads.Add(1)
	return g.Batching.Has(ctx, k)
}

func (g *gatedStore) Batch(ctx context.Context) (ds.Batch, error) {
	b, err := g.Batching.Batch(ctx)
	return gatedBatch{b, g}, err
}

func (g *gatedStore) hold() chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate = make(chan struct{})
	return g.gate
}

type gatedBatch struct {
	ds.Batch
	g *gatedStore
}

func (b gatedBatch) Commit(ctx context.Context) error {
	b.g.mu.Lock()
	gate := b.g.gate
	b.g.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return b.Batch.Commit(ctx)
}

// signed signs an event of room by key with the given parents (a root
// without); each call's body differs, so no two are the same event.
func signed(t *testing.T, key crypto.PrivKey, room string, lamport uint64, parents ...ledger.ID) *ledger.Event {
	t.Helper()
	ev, err := ledger.Sign(key, ledger.Draft{Room: room, Kind: ledger.KindMsg, Body: fmt.Appendf(nil, `{"text":"%d"}`, signedSeq.Add(1)),
		Time: time.Now(), Lamport: lamport, Parents: parents})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

var signedSeq atomic.Int64

// The validator finds a parent committed a moment ago in memory, with no
// datastore read; a parent the ledger has staged but not yet written is
// still missing (the child waits as an orphan, as it did when every
// parent was asked of the datastore: the write may yet fail), and once
// the write lands its next child is accepted.
func TestParentLookupMemoryFirst(t *testing.T) {
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	self, _ := peer.IDFromPrivateKey(key)
	store := &gatedStore{Batching: dssync.MutexWrap(ds.NewMapDatastore())}
	s, err := New(loopNet{self}, store, key, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	r, err := s.Join(ctx, "open")
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	j := s.rooms[r.ID]
	s.mu.Unlock()
	validate := s.validator(j)
	author, _, _ := crypto.GenerateEd25519Key(rand.Reader)

	// Committed a moment ago: found without reading the datastore.
	parent := signed(t, author, r.ID, 1)
	if _, rej, err := s.led.Add(ctx, r.ID, parent); err != nil || len(rej) > 0 {
		t.Fatalf("add parent: %v %v", err, rej)
	}
	reads := store.reads.Load()
	if _, verdict, err := validate(ctx, "forwarder", signed(t, author, r.ID, 2, parent.ID()).Raw()); verdict != Accept {
		t.Fatalf("child of a committed parent: %v, %v; want accept", verdict, err)
	}
	if n := store.reads.Load() - reads; n != 0 {
		t.Fatalf("validating a child of a parent just committed read the datastore %d times; want 0", n)
	}

	// Staged, not committed: missing, as before.
	gate := store.hold()
	release := sync.OnceFunc(func() { close(gate) })
	defer release() // before Close, should a check fail while the write is held
	staged := signed(t, author, r.ID, 1)
	added := make(chan error, 1)
	go func() {
		_, _, err := s.led.Add(context.Background(), r.ID, staged)
		added <- err
	}()
	testwait.For(t, 5*time.Second, "the parent staged", func() bool {
		ok, _ := s.led.Stored(ctx, r.ID, staged.ID(), 1)
		return ok
	})
	if _, verdict, err := validate(ctx, "forwarder", signed(t, author, r.ID, 2, staged.ID()).Raw()); verdict != Ignore || !errors.Is(err, errOrphan) {
		t.Fatalf("child of a staged, uncommitted parent: %v, %v; want ignored as an orphan", verdict, err)
	}
	release()
	if err := testwait.Recv(t, 5*time.Second, "the parent's write", added); err != nil {
		t.Fatal(err)
	}
	if _, verdict, err := validate(ctx, "forwarder", signed(t, author, r.ID, 2, staged.ID()).Raw()); verdict != Accept {
		t.Fatalf("child of the parent once committed: %v, %v; want accept", verdict, err)
	}
}
