package ledger

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// gatedStore holds every query of one key prefix until release is closed,
// standing in for a slow room load (a big heads read, a first load's
// full key scan after an upgrade).
type gatedStore struct {
	ds.Batching
	prefix  string
	entered chan struct{}
	once    sync.Once
	release chan struct{}
}

func (g *gatedStore) Query(ctx context.Context, q query.Query) (query.Results, error) {
	if q.Prefix == g.prefix {
		g.once.Do(func() { close(g.entered) })
		<-g.release
	}
	return g.Batching.Query(ctx, q)
}

// within fails the test unless fn returns within a second: a gossip
// validation worker must not wait for a room's lock.
func within[T any](t *testing.T, what string, fn func() (T, error)) T {
	t.Helper()
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := fn()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("%s: %v", what, r.err)
		}
		return r.v
	case <-time.After(time.Second):
		t.Fatalf("%s blocked behind the room's lock", what)
	}
	panic("unreachable")
}

// TestValidatorQueriesDoNotWaitForRoom: Stored and HasAuthor, which gossip
// calls on its validation workers, answer correctly and at once while the
// room is loading or a writer holds its lock, and HasAuthor does not load
// a room.
func TestValidatorQueriesDoNotWaitForRoom(t *testing.T) {
	ctx := context.Background()
	const room = "validroom"
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	author, _ := peer.IDFromPrivateKey(key)
	stranger := peer.ID("stranger")
	mem := dssync.MutexWrap(ds.NewMapDatastore())
	l, err := Open(ctx, mem, Config{})
	if err != nil {
		t.Fatal(err)
	}
	var evs []*Event
	for range 3 {
		ev, err := l.Append(ctx, key, room, KindMsg, []byte("m"), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	old, top := evs[0], evs[2]
	unknown := ComputeID([]byte("never stored"))

	check := func(t *testing.T, l *Ledger) {
		t.Helper()
		for _, c := range []struct {
			id   ID
			lam  uint64
			want bool
		}{{old.ID(), old.Lamport, true}, {top.ID(), top.Lamport, true}, {unknown, 2, false}, {unknown, 99, false}} {
			got := within(t, "Stored", func() (bool, error) { return l.Stored(ctx, room, c.id, c.lam) })
			if got != c.want {
				t.Errorf("Stored(%s, %d) = %v, want %v", c.id, c.lam, got, c.want)
			}
		}
		if !within(t, "HasAuthor", func() (bool, error) { return l.HasAuthor(ctx, room, author) }) {
			t.Error("HasAuthor: the room's author is not known")
		}
		if within(t, "HasAuthor", func() (bool, error) { return l.HasAuthor(ctx, room, stranger) }) {
			t.Error("HasAuthor: a stranger is known")
		}
	}

	t.Run("not loaded", func(t *testing.T) {
		l, err := Open(ctx, mem, Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		check(t, l)
		if l.loadedRoom(room) != nil {
			t.Fatal("a validator query loaded the room")
		}
	})

	t.Run("loading", func(t *testing.T) {
		g := &gatedStore{Batching: mem, prefix: roomPrefix(room) + "/h",
			entered: make(chan struct{}), release: make(chan struct{})}
		l, err := Open(ctx, g, Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		var once sync.Once
		release := func() { once.Do(func() { close(g.release) }) }
		defer release() // before Close, if a check failed
		loaded := make(chan error, 1)
		go func() {
			_, err := l.Summary(ctx, room) // loads the room under its lock
			loaded <- err
		}()
		<-g.entered
		check(t, l)
		release()
		if err := <-loaded; err != nil {
			t.Fatal(err)
		}
		check(t, l) // and from memory once loaded
	})

	t.Run("writer holds the lock", func(t *testing.T) {
		l, err := Open(ctx, mem, Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		st, err := l.lockRoom(ctx, room) // as an Add reading parents does
		if err != nil {
			t.Fatal(err)
		}
		defer st.mu.Unlock()
		check(t, l)
	})
}
