package ledgersync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/ledger"
)

func manual() Config { return Config{Manual: true} }

// TestSyncBothWays: two ledgers with different random parent-closed subsets
// of one DAG converge to the same history.
func TestSyncBothWays(t *testing.T) {
	dag := makeDAG(t, testRoom, 2000, 5, 1)
	a, b := newNode(t, manual()), newNode(t, manual())
	connect(t, a.h, b.h)
	// a: most of the DAG with random holes (the ledger drops what
	// depends on them); b: an older prefix. Then each writes on its own.
	rng := mrand.New(mrand.NewPCG(7, 7))
	var subset []*ledger.Event
	for i, e := range dag[:1850] {
		if i < 1500 || rng.IntN(40) != 0 {
			subset = append(subset, e)
		}
	}
	load(t, a.store, subset)
	load(t, b.store, dag[:1700])
	for n, s := range map[int]*testStore{20: a.store, 30: b.store} {
		key := testKey(t)
		for range n {
			if _, err := s.led.Append(t.Context(), key, testRoom, ledger.KindMsg, []byte("own"), time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	ca, cb := count(t, a.store), count(t, b.store)
	if bytes.Equal(history(t, a.store), history(t, b.store)) {
		t.Fatal("test setup: ledgers already equal")
	}
	ctx := t.Context()
	sb, err := b.sy.Sync(ctx, a.h.ID(), testRoom)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := a.sy.Sync(ctx, b.h.ID(), testRoom)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a had %d, b had %d; b got %d (%d rounds), a got %d (%d rounds)", ca, cb, sb.EventsStored, sb.Rounds, sa.EventsStored, sa.Rounds)
	if sa.EventsStored == 0 || sb.EventsStored == 0 {
		t.Fatal("test setup: want differences both ways")
	}
	ha, hb := history(t, a.store), history(t, b.store)
	if !bytes.Equal(ha, hb) {
		t.Fatalf("histories differ: %d vs %d events", count(t, a.store), count(t, b.store))
	}
	verify(t, a.store)
	verify(t, b.store)
	// Syncing again finds nothing and costs one small round trip.
	again, err := b.sy.Sync(ctx, a.h.ID(), testRoom)
	if err != nil || again.EventsReceived != 0 || again.BytesSent+again.BytesReceived > 200 {
		t.Fatalf("second sync: %+v %v", again, err)
	}
	if a.bad.count(b.h.ID())+b.bad.count(a.h.ID()) != 0 {
		t.Fatal("honest peers reported as misbehaving")
	}
}

// TestSyncSmallDifference: 10 missing of 2,000 (and 3 the other way) costs
// a small fraction of the room's size on the wire.
func TestSyncSmallDifference(t *testing.T) {
	dag := makeDAG(t, testRoom, 2000, 4, 2)
	a, b := newNode(t, manual()), newNode(t, manual())
	connect(t, a.h, b.h)
	load(t, a.store, dag)
	load(t, b.store, dag[:len(dag)-10])
	key := testKey(t)
	for range 3 {
		if _, err := b.store.led.Append(t.Context(), key, testRoom, ledger.KindMsg, []byte("only on b"), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	full := size(dag)
	sb, err := b.sy.Sync(t.Context(), a.h.ID(), testRoom)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := a.sy.Sync(t.Context(), b.h.ID(), testRoom)
	if err != nil {
		t.Fatal(err)
	}
	if sb.EventsStored != 10 || sa.EventsStored != 3 {
		t.Fatalf("stored %d and %d, want 10 and 3", sb.EventsStored, sa.EventsStored)
	}
	for _, st := range []Stats{sb, sa} {
		wire := st.BytesSent + st.BytesReceived
		t.Logf("wire %d bytes in %d rounds (room %d bytes, %.2f%%)", wire, st.Rounds, full, 100*float64(wire)/float64(full))
		if wire > full/10 {
			t.Errorf("wire %d bytes > 10%% of the room (%d)", wire, full)
		}
	}
	if !bytes.Equal(history(t, a.store), history(t, b.store)) {
		t.Fatal("histories differ")
	}
	verify(t, b.store)
}

// TestCatchUp: an empty ledger gets 1,000 events for about their own size.
func TestCatchUp(t *testing.T) {
	dag := makeDAG(t, testRoom, 1000, 3, 3)
	a, b := newNode(t, manual()), newNode(t, manual())
	connect(t, a.h, b.h)
	load(t, a.store, dag)
	st, err := b.sy.Sync(t.Context(), a.h.ID(), testRoom)
	if err != nil {
		t.Fatal(err)
	}
	if st.EventsStored != 1000 || count(t, b.store) != 1000 {
		t.Fatalf("stored %d, count %d", st.EventsStored, count(t, b.store))
	}
	wire, evBytes := st.BytesSent+st.BytesReceived, size(dag)
	t.Logf("wire %d bytes for %d bytes of events (%.3f×), %d rounds", wire, evBytes, float64(wire)/float64(evBytes), st.Rounds)
	if float64(wire) > 1.3*float64(evBytes) {
		t.Fatalf("wire %d > 1.3 × %d", wire, evBytes)
	}
	if !bytes.Equal(history(t, a.store), history(t, b.store)) {
		t.Fatal("histories differ")
	}
	verify(t, b.store)
	if s := b.sy.Status(testRoom); s.EventsFetched != 1000 || s.LastSync.IsZero() || s.LastPeer != a.h.ID() {
		t.Fatalf("status %+v", s)
	}
}

// TestSessionLimit: a session stops at MaxEventsPerSession with what it
// got stored; further sessions finish the job.
func TestSessionLimit(t *testing.T) {
	dag := makeDAG(t, testRoom, 300, 2, 4)
	a := newNode(t, manual())
	b := newNode(t, Config{Manual: true, MaxEventsPerSession: 100, MaxBatch: 50})
	connect(t, a.h, b.h)
	load(t, a.store, dag)
	st, err := b.sy.Sync(t.Context(), a.h.ID(), testRoom)
	if !errors.Is(err, ErrLimit) || st.EventsStored != 100 {
		t.Fatalf("first session: %+v %v", st, err)
	}
	for i := 0; count(t, b.store) < 300; i++ {
		if i > 5 {
			t.Fatalf("not converging: %d", count(t, b.store))
		}
		_, err := b.sy.Sync(t.Context(), a.h.ID(), testRoom)
		switch {
		case errors.Is(err, ErrBusy): // a has not yet seen the last session end
			i--
			testwait.For(t, 5*time.Second, "a to see the last session end", func() bool {
				a.sy.mu.Lock()
				defer a.sy.mu.Unlock()
				return len(a.sy.serving) == 0
			})
		case err != nil && !errors.Is(err, ErrLimit):
			t.Fatal(err)
		}
	}
	verify(t, b.store)
}

// TestAutoSync: peers sync on connection, and Trigger pulls on demand.
func TestAutoSync(t *testing.T) {
	dag := makeDAG(t, testRoom, 200, 2, 5)
	a, b := newNode(t, Config{}), newNode(t, Config{})
	load(t, a.store, dag[:150])
	connect(t, b.h, a.h)
	waitCount(t, b.store, 150)
	load(t, a.store, dag[150:])
	b.sy.Trigger(testRoom, a.h.ID())
	waitCount(t, b.store, 200)
	// Count includes events staged for the next commit group, History
	// only what is written: wait for the last group too.
	testwait.For(t, 5*time.Second, "equal histories", func() bool {
		return bytes.Equal(history(t, a.store), history(t, b.store))
	})
}

// TestRoomUnknown: a peer that has not joined the room says so.
func TestRoomUnknown(t *testing.T) {
	a, b := newNode(t, manual(), "otherroom"), newNode(t, manual())
	connect(t, a.h, b.h)
	if _, err := b.sy.Sync(t.Context(), a.h.ID(), testRoom); !errors.Is(err, ErrRoomUnknown) {
		t.Fatalf("got %v, want ErrRoomUnknown", err)
	}
	if b.bad.count(a.h.ID()) != 0 || a.bad.count(b.h.ID()) != 0 {
		t.Fatal("reported as misbehaving")
	}
}

func TestCloseIdempotent(t *testing.T) {
	a := newNode(t, Config{})
	if err := a.sy.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.sy.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.sy.Sync(context.Background(), a.h.ID(), testRoom); !errors.Is(err, ErrClosed) {
		t.Fatalf("sync after close: %v", err)
	}
}

func waitCount(t *testing.T, s *testStore, n int) {
	t.Helper()
	testwait.For(t, 20*time.Second, fmt.Sprintf("%d events", n), func() bool { return count(t, s) >= n },
		func() string { return fmt.Sprintf("count %d", count(t, s)) })
}

// Peers that served a room come first when picking whom to sync it with,
// and picking reads the known peers while finished sessions record more
// (under -race this caught pickPeers reading the room's map unlocked,
// which a 30-node room under overload turned into a fatal error).
func TestPickPeersKnownFirst(t *testing.T) {
	a := newNode(t, manual(), testRoom)
	var others []peer.ID
	for range 3 {
		b := newNode(t, manual(), testRoom)
		connect(t, a.h, b.h)
		others = append(others, b.h.ID())
	}
	a.sy.mu.Lock()
	a.sy.remember(testRoom, others[2])
	a.sy.mu.Unlock()
	for range 20 {
		if got := a.sy.pickPeers(testRoom, 1); len(got) != 1 || got[0] != others[2] {
			t.Fatalf("pickPeers = %v, want the known peer %s first", got, others[2])
		}
	}
	if got := a.sy.pickPeers(testRoom, 10); len(got) != 3 {
		t.Fatalf("pickPeers(10) = %d peers, want the 3 connected", len(got))
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 2000 {
			a.sy.mu.Lock()
			a.sy.remember(testRoom, peer.ID(fmt.Sprint("p", i%100)))
			a.sy.mu.Unlock()
		}
	})
	for range 2000 {
		a.sy.pickPeers(testRoom, 2)
	}
	wg.Wait()
}
