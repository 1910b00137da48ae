package node_test

import (
	"crypto/rand"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/ledger"
	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/p2p/ledgersync"
)

// An event whose parent the forwarding peer cannot supply (here a plain
// libp2p peer that does not speak sync) is not left waiting for the
// periodic sync: the repeated ask goes to other members, and one of them
// has the parent.
//
// The nodes run on a simulated network in virtual time (simNet): the
// syncs of meeting end before the parent is stored, and the repair's
// delay is measured exactly.
func TestOrphanRepairAsksOtherMembers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// No second sync after the topic join: it would bring the parent
		// over by itself about when the repair does.
		noSettle := func(o *node.Options) { o.Sync = func(c *ledgersync.Config) { c.Settle = -1 } }
		net := newSimNet(t)
		a, c := net.node(t, noSettle), net.node(t, noSettle)
		connect(t, c, a)
		ctx := t.Context()
		room, err := a.Chat().Join(ctx, "general")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Chat().Join(ctx, "general"); err != nil {
			t.Fatal(err)
		}
		key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		parent, err := ledger.Sign(key, ledger.Draft{Room: room.ID, Kind: ledger.KindMsg, Body: []byte(`{"text":"parent"}`), Time: time.Now(), Lamport: 1})
		if err != nil {
			t.Fatal(err)
		}
		child, err := ledger.Sign(key, ledger.Draft{Room: room.ID, Kind: ledger.KindMsg, Body: []byte(`{"text":"child"}`), Time: time.Now(),
			Lamport: 2, Parents: []ledger.ID{parent.ID()}})
		if err != nil {
			t.Fatal(err)
		}
		raw := rawRoomPeerOn(t, c, room.ID, net.host(t, libp2p.Identity(key)))
		// Let the syncs that joining and connecting start (and their
		// retries after a busy refusal, within 600 ms) end first, so that
		// only the orphan repair can bring the parent over.
		time.Sleep(2 * time.Second)
		synctest.Wait()
		// Only A has the parent; it is stored, not gossiped.
		if added, _, err := a.Chat().Ingest(ctx, room.ID, []*ledger.Event{parent}); err != nil || len(added) != 1 {
			t.Fatalf("ingest parent at A: %v %v", added, err)
		}
		if err := raw.Publish(ctx, child.Raw()); err != nil {
			t.Fatal(err)
		}
		// The periodic sync is 30 s ± 25 %; the repair must be much faster.
		published := time.Now()
		testwait.For(t, 8*time.Second, "child stored at C", func() bool {
			ok, _ := c.Chat().Ledger().Has(ctx, room.ID, child.ID())
			return ok
		}, syncState(a, c))
		t.Logf("child stored at C %s after it was published", time.Since(published))
	})
}
