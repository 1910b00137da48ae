package ledgersync

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/ledger"
)

const testRoom = "room1"

// testStore is a real ledger on an in-memory datastore; Ingest is the
// ledger's own Add.
type testStore struct {
	led   *ledger.Ledger
	mu    sync.Mutex // guards rooms, which setRooms changes under running syncers
	rooms []string
}

func (s *testStore) Rooms(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rooms), nil
}

// setRooms joins exactly rooms (leaving the others).
func (s *testStore) setRooms(rooms ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rooms = rooms
}

func (s *testStore) Ledger() *ledger.Ledger { return s.led }
func (s *testStore) Ingest(ctx context.Context, room string, evs []*ledger.Event) ([]*ledger.Event, []ledger.Rejection, error) {
	return s.led.Add(ctx, room, evs...)
}

func newStore(t testing.TB, rooms ...string) *testStore {
	t.Helper()
	return newStoreOn(t, dssync.MutexWrap(ds.NewMapDatastore()), rooms...)
}

// newStoreOn opens a ledger on d (closed with the test when it is an
// io.Closer).
func newStoreOn(t testing.TB, d ds.Batching, rooms ...string) *testStore {
	t.Helper()
	if len(rooms) == 0 {
		rooms = []string{testRoom}
	}
	l, err := ledger.Open(context.Background(), d, ledger.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.Close()
		if c, ok := d.(interface{ Close() error }); ok {
			c.Close()
		}
	})
	return &testStore{led: l, rooms: rooms}
}

// newPebbleStore is newStore on Pebble with synced writes, as the node
// opens it.
func newPebbleStore(t testing.TB, rooms ...string) *testStore {
	t.Helper()
	d, err := store.OpenPebble(t.TempDir()) // as the node opens it
	if err != nil {
		t.Fatal(err)
	}
	return newStoreOn(t, d, rooms...)
}

func newHost(t testing.TB) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(),
		libp2p.NoTransports, libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

type node struct {
	h     host.Host
	store *testStore
	sy    *Syncer
	bad   *misbehaviour
}

type misbehaviour struct {
	mu   sync.Mutex
	errs map[peer.ID][]error
}

func (m *misbehaviour) report(p peer.ID, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.errs[p] = append(m.errs[p], err)
}

func (m *misbehaviour) count(p peer.ID) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.errs[p])
}

func newNode(t testing.TB, cfg Config, rooms ...string) *node {
	t.Helper()
	return newNodeOn(t, cfg, newStore(t, rooms...))
}

func newNodeOn(t testing.TB, cfg Config, store *testStore) *node {
	t.Helper()
	return newNodeWith(t, cfg, store, newHost(t))
}

// newNodeWith is newNodeOn on a host built by the caller (a mocknet peer,
// say).
func newNodeWith(t testing.TB, cfg Config, store *testStore, h host.Host) *node {
	t.Helper()
	n := &node{h: h, store: store, bad: &misbehaviour{errs: map[peer.ID][]error{}}}
	if cfg.OnMisbehave == nil {
		cfg.OnMisbehave = n.bad.report
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	sy, err := New(n.h, n.store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sy.Close() })
	n.sy = sy
	return n
}

func connect(t testing.TB, a, b host.Host) {
	t.Helper()
	if err := a.Connect(context.Background(), peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

// makeDAG signs n events of room by several authors, each writing on its
// own view of the room and merging others' heads now and then, so the DAG
// has concurrent branches and equal Lamport clocks.
func makeDAG(t testing.TB, room string, n, authors int, seed uint64) []*ledger.Event {
	t.Helper()
	rng := mrand.New(mrand.NewPCG(seed, 1))
	keys := make([]crypto.PrivKey, authors)
	for i := range keys {
		k, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
	}
	lam := map[ledger.ID]uint64{}
	views := make([][]ledger.ID, authors)
	out := make([]*ledger.Event, 0, n)
	for i := range n {
		a := rng.IntN(authors)
		if rng.IntN(3) == 0 {
			o := rng.IntN(authors)
			views[a] = append(views[a], views[o]...)
			slices.Sort(views[a])
			views[a] = slices.Compact(views[a])
		}
		parents := views[a]
		if len(parents) > ledger.MaxParents {
			parents = parents[len(parents)-ledger.MaxParents:]
		}
		var l uint64
		for _, p := range parents {
			l = max(l, lam[p])
		}
		ev, err := ledger.Sign(keys[a], ledger.Draft{Room: room, Kind: ledger.KindMsg,
			Body: fmt.Appendf(nil, "message %d from author %d", i, a), Time: time.UnixMilli(1700000000000 + int64(i)), Lamport: l + 1, Parents: parents})
		if err != nil {
			t.Fatal(err)
		}
		lam[ev.ID()] = ev.Lamport
		views[a] = []ledger.ID{ev.ID()}
		out = append(out, ev)
	}
	slices.SortFunc(out, func(x, y *ledger.Event) int {
		return ledger.Key{Lamport: x.Lamport, ID: x.ID()}.Compare(ledger.Key{Lamport: y.Lamport, ID: y.ID()})
	})
	return out
}

// load adds evs (sorted parents first) to s; events whose parents are
// absent are rejected by the ledger, which keeps the set closed.
func load(t testing.TB, s *testStore, evs []*ledger.Event) {
	t.Helper()
	for len(evs) > 0 {
		n := min(len(evs), 1000)
		if _, _, err := s.led.Add(context.Background(), testRoom, evs[:n]...); err != nil {
			t.Fatal(err)
		}
		evs = evs[n:]
	}
}

func count(t testing.TB, s *testStore) int {
	t.Helper()
	n, err := s.led.Count(context.Background(), testRoom)
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

// history returns the room's whole history as one byte string.
func history(t testing.TB, s *testStore) []byte {
	t.Helper()
	evs, err := s.led.History(context.Background(), testRoom, "", 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, e := range evs {
		b.Write(e.Raw())
	}
	return b.Bytes()
}

func verify(t testing.TB, s *testStore) {
	t.Helper()
	rep, err := s.led.Verify(context.Background(), testRoom)
	if err != nil || !rep.OK {
		t.Fatalf("verify: %v %+v", err, rep.Problems)
	}
}

func size(evs []*ledger.Event) int {
	n := 0
	for _, e := range evs {
		n += len(e.Raw())
	}
	return n
}

func testKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// openSession opens a sync stream from m to p as a raw requester: a Hello
// for the test room claiming one event, then the responder's first answer
// read up to its End. The stream is reset when the test ends.
func openSession(t *testing.T, m host.Host, p peer.ID, timeout time.Duration) (network.Stream, *conn) {
	t.Helper()
	s, err := m.NewStream(t.Context(), p, ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Reset() })
	c := newConn(s, timeout)
	if err := c.send(&frame{typ: frameHello, room: testRoom, fp: fp16{count: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := c.flush(); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := c.next()
		if err != nil {
			t.Fatal(err)
		}
		if f.typ == frameEnd {
			return s, c
		}
	}
}
