package chat

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/ledger"
)

// rejections counts MessageRejected by reason.
type rejections struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *rejections) MessageSent()           {}
func (r *rejections) MessageReceived()       {}
func (r *rejections) OrphansHeld(int, int64) {}
func (r *rejections) MessageRejected(reason string) {
	r.mu.Lock()
	r.n[reason]++
	r.mu.Unlock()
}

// A burst delivered children first (pubsub validates on several workers,
// so bursts arrive shuffled) is stored whole, without parking anything as
// an orphan.
func TestStoreBatchParentsFirst(t *testing.T) {
	rej := &rejections{n: map[string]int{}}
	s := localService(t, Config{Metrics: rej})
	room := PublicRoomID("burst")
	var batch []inbound
	for _, ev := range chain(t, room, 50) {
		batch = append(batch, inbound{ev: ev})
	}
	slices.Reverse(batch)
	j := &joined{Room: Room{ID: room}, orph: &orphans{pool: s.orph, room: room}}
	s.storeBatch(t.Context(), j, batch)
	if n, err := s.led.Count(t.Context(), room); err != nil || n != 50 {
		t.Fatalf("stored %d events (err %v), want 50", n, err)
	}
	if got := rej.n[RejectMissingParents]; got != 0 {
		t.Fatalf("%d events parked as orphans, want 0", got)
	}
}

// A copy of an event that arrives again after gossipsub forgot it (its
// seen window is 30 s) is stored and shown once: the ledger skips events
// it has, and the feed only carries what was newly stored. With 300
// events in between, the copy is below the ledger's in-memory window of
// recent levels, so the datastore answers.
func TestLateCopyStoredOnce(t *testing.T) {
	for _, between := range []int{1, 300} {
		t.Run(fmt.Sprint(between, " between"), func(t *testing.T) {
			s := localService(t, Config{})
			room := PublicRoomID("late")
			sub, err := s.Subscribe(t.Context(), Filter{})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			evs := chain(t, room, between+1)
			j := &joined{Room: Room{ID: room}, orph: &orphans{pool: s.orph, room: room}}
			for _, ev := range evs {
				s.storeBatch(t.Context(), j, []inbound{{ev: ev}})
			}
			s.storeBatch(t.Context(), j, []inbound{{ev: evs[0]}}) // the late copy
			if n, err := s.led.Count(t.Context(), room); err != nil || n != uint64(len(evs)) {
				t.Fatalf("stored %d events (err %v), want %d", n, err, len(evs))
			}
			seen := map[string]int{}
			for len(seen) < len(evs) {
				select {
				case m := <-sub.C():
					if seen[m.Text]++; seen[m.Text] > 1 {
						t.Fatalf("message %q shown twice", m.Text)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("feed after 5 s: %d of %d messages", len(seen), len(evs))
				}
			}
			select {
			case m := <-sub.C():
				t.Fatalf("feed shows %q again", m.Text)
			case <-time.After(100 * time.Millisecond):
			}
		})
	}
}

// chain signs n messages "0", "1", … by one new author in room, each the
// parent of the next.
func chain(t *testing.T, room string, n int) []*ledger.Event {
	t.Helper()
	author, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	var parents []ledger.ID
	var evs []*ledger.Event
	for i := range n {
		ev, err := ledger.Sign(author, ledger.Draft{Room: room, Kind: ledger.KindMsg,
			Body: []byte(fmt.Sprintf(`{"text":"%d"}`, i)), Time: time.Now(), Lamport: uint64(i + 1), Parents: parents})
		if err != nil {
			t.Fatal(err)
		}
		parents = []ledger.ID{ev.ID()}
		evs = append(evs, ev)
	}
	return evs
}

// Late copies of stored events (gossip's seen window passed, or sync
// brought them first) are ignored before the author's rate limit: they do
// not use up the allowance of an author who is still talking.
func TestLateCopiesSpareAuthorAllowance(t *testing.T) {
	s := localService(t, Config{Limits: Limits{AuthorRate: 0.001, AuthorBurst: 3}})
	room := PublicRoomID("late")
	evs := chain(t, room, 3)
	j := &joined{Room: Room{ID: room}, orph: &orphans{pool: s.orph, room: room}}
	s.storeBatch(t.Context(), j, []inbound{{ev: evs[0]}, {ev: evs[1]}})

	validate := s.validator(&joined{Room: Room{ID: room}, orph: &orphans{pool: s.orph, room: room}})
	other := peer.ID("forwarder")
	for range 10 {
		for _, ev := range evs[:2] {
			_, verdict, err := validate(t.Context(), other, ev.Raw())
			if verdict != Ignore || !errors.Is(err, errStored) {
				t.Fatalf("late copy of a stored event: %v, err %v; want ignore as stored", verdict, err)
			}
		}
	}
	// The author's three tokens are all still there.
	v, verdict, err := validate(t.Context(), other, evs[2].Raw())
	if verdict != Accept || err != nil {
		t.Fatalf("the author's next event after 20 late copies: %v, err %v; want accept", verdict, err)
	}
	if got, ok := v.(*ledger.Event); !ok || got.ID() != evs[2].ID() {
		t.Fatalf("validator returned %v, want the event", v)
	}
}

// A chain of orphans comes out whole when its root's parent is stored,
// parents before children, so one ledger write takes it; a child still
// missing another parent stays held.
func TestOrphanChainReleasedWhole(t *testing.T) {
	evs := chain(t, PublicRoomID("orphans"), 5)
	o := &orphans{pool: newOrphanPool(DefaultOrphanLimits(), time.Now), room: evs[0].Room}
	for i := 4; i >= 1; i-- { // children first, as a faster path delivers them
		o.add(evs[i], []ledger.ID{evs[i-1].ID()}, "", "")
	}
	other := chain(t, PublicRoomID("orphans"), 1)[0]
	o.add(evs[4], nil, "", "") // already held: no change
	got := o.releaseChildren(evs[:1])
	if len(got) != 4 {
		t.Fatalf("released %d events, want the chain of 4", len(got))
	}
	for i, ev := range got {
		if ev.ID() != evs[i+1].ID() {
			t.Fatalf("released event %d is Lamport %d, want %d (parents first)", i, ev.Lamport, evs[i+1].Lamport)
		}
	}
	if o.len() != 0 {
		t.Fatalf("%d events still held", o.len())
	}

	// Two missing parents: the chain's release does not free it.
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	two, err := ledger.Sign(key, ledger.Draft{Room: evs[0].Room, Kind: ledger.KindMsg, Body: []byte(`{"text":"two"}`),
		Time: time.Now(), Lamport: 6, Parents: []ledger.ID{evs[4].ID(), other.ID()}})
	if err != nil {
		t.Fatal(err)
	}
	o.add(evs[4], []ledger.ID{evs[3].ID()}, "", "")
	o.add(two, []ledger.ID{evs[4].ID(), other.ID()}, "", "")
	if got := o.releaseChildren(evs[3:4]); len(got) != 1 || got[0].ID() != evs[4].ID() {
		t.Fatalf("released %v, want only the event whose one parent was stored", got)
	}
	if !o.has(two.ID()) {
		t.Fatal("an event still missing a parent was released")
	}
}

// A chain longer than one write, all of it parked behind its missing root,
// is stored whole (in writes of at most ingestBatch) once the root comes.
func TestLongOrphanChainStored(t *testing.T) {
	s := localService(t, Config{})
	room := PublicRoomID("chain")
	evs := chain(t, room, ingestBatch+200)
	j := &joined{Room: Room{ID: room}, orph: &orphans{pool: s.orph, room: room}}
	var kids []inbound
	for _, ev := range slices.Backward(evs[1:]) {
		kids = append(kids, inbound{ev: ev})
	}
	s.storeBatch(t.Context(), j, kids)
	if n := j.orph.len(); n != len(evs)-1 {
		t.Fatalf("%d orphans held, want %d", n, len(evs)-1)
	}
	s.storeBatch(t.Context(), j, []inbound{{ev: evs[0]}})
	if n, err := s.led.Count(t.Context(), room); err != nil || n != uint64(len(evs)) {
		t.Fatalf("stored %d events (err %v), want %d", n, err, len(evs))
	}
	if n := j.orph.len(); n != 0 {
		t.Fatalf("%d orphans still held", n)
	}
}

// Sync's Ingest releases a long parked chain the same way: whole, in
// writes of at most ingestBatch events (3 puts each: the event and its two
// indexes), and the events it returns are all that were new.
func TestIngestReleasesLongChain(t *testing.T) {
	store := &batchCounter{Batching: dssync.MutexWrap(ds.NewMapDatastore())}
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	s, err := New(nil, store, key, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	room := PublicRoomID("chain")
	evs := chain(t, room, 2*ingestBatch+100)
	j := &joined{Room: Room{ID: room}, orph: &orphans{pool: s.orph, room: room}}
	s.mu.Lock()
	s.rooms[room] = j // joined without a topic: no network here
	s.mu.Unlock()
	t.Cleanup(func() { // before Close, which would leave its topic
		s.mu.Lock()
		delete(s.rooms, room)
		s.mu.Unlock()
	})
	var kids []inbound
	for _, ev := range evs[1:] {
		kids = append(kids, inbound{ev: ev})
	}
	s.storeBatch(t.Context(), j, kids)
	if n := j.orph.len(); n != len(evs)-1 {
		t.Fatalf("%d orphans held, want %d", n, len(evs)-1)
	}
	added, rejected, err := s.Ingest(t.Context(), room, evs[:1])
	if err != nil || len(rejected) != 0 || len(added) != len(evs) {
		t.Fatalf("Ingest: %d added, %v rejected, err %v; want %d added", len(added), rejected, err, len(evs))
	}
	if n, err := s.led.Count(t.Context(), room); err != nil || n != uint64(len(evs)) {
		t.Fatalf("stored %d events (err %v), want %d", n, err, len(evs))
	}
	if n := j.orph.len(); n != 0 {
		t.Fatalf("%d orphans still held", n)
	}
	if most := store.most.Load(); most > 3*ingestBatch+16 {
		t.Fatalf("one write put %d keys: more than %d events at once", most, ingestBatch)
	}
}

// batchCounter is a datastore that records the most puts one batch
// committed.
type batchCounter struct {
	ds.Batching
	most atomic.Int64
}

func (b *batchCounter) Batch(ctx context.Context) (ds.Batch, error) {
	inner, err := b.Batching.Batch(ctx)
	if err != nil {
		return nil, err
	}
	return &countingBatch{Batch: inner, of: b}, nil
}

type countingBatch struct {
	ds.Batch
	of   *batchCounter
	puts int64
}

func (c *countingBatch) Put(ctx context.Context, k ds.Key, v []byte) error {
	c.puts++
	return c.Batch.Put(ctx, k, v)
}

func (c *countingBatch) Commit(ctx context.Context) error {
	for m := c.of.most.Load(); c.puts > m && !c.of.most.CompareAndSwap(m, c.puts); m = c.of.most.Load() {
	}
	return c.Batch.Commit(ctx)
}

// localService is a Service on an in-memory store with no network: enough
// for what gossip hands to the validator and the ingest worker. Closed at
// the end of the test.
func localService(t testing.TB, cfg Config) *Service {
	t.Helper()
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	s, err := New(nil, dssync.MutexWrap(ds.NewMapDatastore()), key, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Gossip is queued from pubsub's validation workers, which must not wait:
// past the room's queue limit an event is dropped and counted, and the
// room is synced, first with the forwarding peer and then with any
// members, until the newest dropped event is stored; the next overflow
// asks again.
func TestFullQueueDropsAndAsksForSync(t *testing.T) {
	rej := &rejections{n: map[string]int{}}
	type ask struct {
		room string
		p    peer.ID
	}
	asks := make(chan ask, 10)
	s := localService(t, Config{Metrics: rej, OnMissing: func(room string, p peer.ID) { asks <- ask{room, p} }})
	room := PublicRoomID("full")
	j := &joined{Room: Room{ID: room}, in: newRoomQueue[inbound](2), orph: &orphans{pool: s.orph, room: room}}
	evs := chain(t, room, 5)
	const from = peer.ID("forwarder")
	for _, ev := range evs {
		if !j.in.tryPush(inbound{ev, from}) {
			s.dropped(t.Context(), j, ev, from)
		}
	}
	if got := len(j.in.take(0)); got != 2 {
		t.Fatalf("queued %d events, want the limit, 2", got)
	}
	rej.mu.Lock()
	dropped := rej.n[RejectQueueFull]
	rej.mu.Unlock()
	if dropped != 3 {
		t.Fatalf("counted %d dropped events, want 3", dropped)
	}
	next := func(what string) ask {
		t.Helper()
		select {
		case a := <-asks:
			return a
		case <-time.After(10 * time.Second):
			t.Fatalf("no sync asked: %s", what)
		}
		return ask{}
	}
	if a := next("first"); a.room != room || a.p != from {
		t.Fatalf("first sync of %s with %q, want %s with the forwarder %q", a.room, a.p, room, from)
	}
	if a := next("while still missing"); a.room != room || a.p != "" {
		t.Fatalf("second sync of %s with %q, want %s with any members", a.room, a.p, room)
	}
	// The sync brings them: no more asks.
	if _, _, err := s.led.Add(t.Context(), room, evs...); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-asks:
		t.Fatalf("a sync asked after the dropped events were stored: %v", a)
	case <-time.After(8 * missingGrace):
	}
	if !j.in.tryPush(inbound{evs[0], from}) || !j.in.tryPush(inbound{evs[1], from}) || j.in.tryPush(inbound{evs[2], from}) {
		t.Fatal("tryPush does not take exactly the limit once drained")
	}
	later := chain(t, room, 1)[0] // another event, not stored
	s.dropped(t.Context(), j, later, from)
	if a := next("for a later overflow"); a.p != from {
		t.Fatalf("later overflow: sync with %q, want the forwarder", a.p)
	}
}
