package node_test

import (
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/ledger"
	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/p2p/ledgersync"
)

// sendN sends n messages from nd with a few concurrent senders.
func sendN(t *testing.T, nd *node.Node, prefix string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	per := n / 4
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if _, err := nd.Chat().Send(t.Context(), "general", fmt.Sprintf("%s w%d #%d", prefix, w, i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// converged waits until every node holds the same history of want messages.
func converged(t *testing.T, timeout time.Duration, want int, nodes ...*node.Node) {
	t.Helper()
	start := time.Now()
	testwait.For(t, timeout, fmt.Sprintf("%d nodes converging on %d messages", len(nodes), want), func() bool {
		first := allIDsIn(t, nodes[0], "general")
		if len(first) != want {
			return false
		}
		for _, n := range nodes[1:] {
			if !slices.Equal(allIDsIn(t, n, "general"), first) {
				return false
			}
		}
		return true
	}, syncState(nodes...))
	t.Logf("converged on %d messages in %s", want, time.Since(start).Round(time.Millisecond))
}

func allIDsIn(t *testing.T, nd *node.Node, room string) []string {
	var out []string
	before := ""
	for {
		page, err := nd.Chat().History(t.Context(), room, chat.HistoryQuery{Limit: 1000, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		out = append(ids(page), out...)
		if len(page) < 1000 {
			return out
		}
		before = page[0].ID
	}
}

func joinAll(t *testing.T, nodes ...*node.Node) {
	t.Helper()
	for _, n := range nodes {
		if _, err := n.Chat().Join(t.Context(), "general"); err != nil {
			t.Fatal(err)
		}
	}
}

// C stops; A and B exchange 1,000 messages; C starts again on its data dir
// and converges to the identical history within seconds.
func TestOfflineCatchUp(t *testing.T) {
	a, b := startNode(t, ""), startNode(t, "")
	cdir := t.TempDir()
	c := startNode(t, cdir)
	connect(t, a, b)
	connect(t, c, b)
	joinAll(t, a, b, c)
	sendN(t, a, "before", 4)
	converged(t, 20*time.Second, 4, a, b, c)

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, n := range []*node.Node{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); sendN(t, n, "offline", 500) }()
	}
	wg.Wait()
	converged(t, 30*time.Second, 1004, a, b)

	c = startNode(t, cdir) // rooms are remembered; no join needed
	connect(t, c, b)
	start := time.Now()
	converged(t, 15*time.Second, 1004, a, b, c)
	t.Logf("C caught up on 1,000 messages in %s", time.Since(start).Round(time.Millisecond))
}

// Two groups write while cut off from each other, then connect: every node
// ends with the identical union.
func TestPartitionHeals(t *testing.T) {
	a, b, c, d := startNode(t, ""), startNode(t, ""), startNode(t, ""), startNode(t, "")
	connect(t, a, b)
	connect(t, c, d)
	joinAll(t, a, b, c, d)
	var wg sync.WaitGroup
	for i, n := range []*node.Node{a, b, c, d} {
		wg.Add(1)
		go func() { defer wg.Done(); sendN(t, n, fmt.Sprintf("side%d", i), 100) }()
	}
	wg.Wait()
	converged(t, 20*time.Second, 200, a, b)
	converged(t, 20*time.Second, 200, c, d)

	connect(t, b, c) // heal
	converged(t, 20*time.Second, 400, a, b, c, d)
	for _, n := range []*node.Node{a, b, c, d} {
		if rep, err := n.Chat().Verify(t.Context(), ""); err != nil || !rep.OK {
			t.Fatalf("verify: %+v %v", rep, err)
		}
	}
}

// A node that joins a room with a long history gets all of it.
func TestJoinGetsLongHistory(t *testing.T) {
	a, b := startNode(t, ""), startNode(t, "")
	connect(t, a, b)
	joinAll(t, a, b)
	sendN(t, a, "history", 2000)
	converged(t, 30*time.Second, 2000, a, b)

	late := startNode(t, "")
	connect(t, late, b)
	joinAll(t, late)
	converged(t, 20*time.Second, 2000, a, b, late)
}

// An event a neighbour learns just after meeting us without gossiping it
// on (in real rooms: forwarded before its mesh grafted us; here: stored as
// sync stores events) reaches us by the second sync that follows a topic
// join, not only by the periodic sync, which is off here. The nodes run on
// a simulated network in virtual time (simNet), so the event is
// stored exactly when wanted: after the syncs of meeting and joining have
// ended, shortly before the second sync.
func TestSyncAfterMeshForms(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const settle = 3 * time.Second
		noPeriodic := func(o *node.Options) {
			o.Sync = func(c *ledgersync.Config) { c.Interval, c.Settle = -1, settle }
		}
		net := newSimNet(t)
		b, c := net.node(t, noPeriodic), net.node(t, noPeriodic)
		connect(t, c, b)
		joinAll(t, b, c)
		joined := time.Now()
		ctx := t.Context()
		rooms, err := b.Chat().Rooms(ctx)
		if err != nil || len(rooms) != 1 {
			t.Fatalf("rooms: %v %v", rooms, err)
		}
		room := rooms[0]
		synced := func(n *node.Node) bool {
			info, err := n.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, rs := range info.Sync {
				if rs.Room == room.ID {
					return rs.LastSync != "" && !rs.InProgress
				}
			}
			return false
		}
		testwait.For(t, settle/2, "the syncs of the topic join", func() bool { return synced(b) && synced(c) }, syncState(b, c))
		t.Logf("first syncs done %s after joining", time.Since(joined))
		// Several syncs start on meeting (identification, join, topic
		// join); one refused as busy is retried within 600 ms. Store the
		// event once they have all ended, just before the second sync.
		time.Sleep(settle - 100*time.Millisecond - time.Since(joined))
		synctest.Wait()
		if !synced(b) || !synced(c) {
			t.Fatalf("a sync still runs %s after joining", time.Since(joined))
		}

		key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		ev, err := ledger.Sign(key, ledger.Draft{Room: room.ID, Kind: ledger.KindMsg, Body: []byte(`{"text":"late"}`), Time: time.Now(), Lamport: 1})
		if err != nil {
			t.Fatal(err)
		}
		if added, _, err := b.Chat().Ingest(ctx, room.ID, []*ledger.Event{ev}); err != nil || len(added) != 1 {
			t.Fatalf("ingest at B: %v %v", added, err)
		}
		atC := func() bool {
			ok, err := c.Chat().Ledger().Has(ctx, room.ID, ev.ID())
			return err == nil && ok
		}
		testwait.For(t, 15*time.Second, "the event at C", atC, syncState(b, c))
		if at := time.Since(joined); at < settle {
			t.Fatalf("the event reached C %s after joining, before the second sync at %s", at, settle)
		}
		t.Logf("event at C %s after joining", time.Since(joined))
	})
}
