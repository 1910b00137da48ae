package node_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/rpc/api"
	"github.com/parley-chat/parley/rpc/client"
)

// fastInbox shortens the DM inbox's timers.
func fastInbox(o *node.Options) {
	o.DMInbox = node.DMInboxConfig{Interval: 2 * time.Second, RetryMin: 100 * time.Millisecond}
}

// The must-show of direct messages to an offline peer, on real hosts on
// 127.0.0.1 with a bootstrap node S as the DHT: B runs, publishes its
// bundle, stops. A's dm_send to B succeeds while B is offline (B's bundle
// comes from the DHT; the conversation waits in A's outbox, its inbox
// key advertised). B restarts from the same data directory; its inbox
// search finds A in the DHT and connects, A pushes the conversation on
// that connection (B's inbox request, answered too, finds it taken), B
// syncs it from A and reads the message over RPC; its reply reaches A. C, a user node connected to A (and to B
// once B is back) throughout, has no such conversation over RPC, and
// its data directory does not hold the message's random marker.
func TestDirectMessageToOfflinePeer(t *testing.T) {
	ctx := t.Context()
	s, boot := startBootstrap(t)
	dirA, dirB, dirC := t.TempDir(), t.TempDir(), t.TempDir()
	opts := []func(*node.Options){fastDiscovery(), withPeers(boot), fastInbox}

	b := startNode(t, dirB, opts...)
	idB := b.Chat().Self()
	testwait.For(t, 30*time.Second, "B's bundle is in the DHT", func() bool {
		gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		raw, err := s.P2P().DHT().GetValue(gctx, e2ee.BundleKey(idB))
		return err == nil && len(raw) > 0
	})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	a := startNode(t, dirA, opts...)
	c := startNode(t, dirC, opts...)
	connect(t, c, a)
	testwait.For(t, 10*time.Second, "A routes to the bootstrap node", func() bool {
		return a.P2P().DHT().RoutingTable().Find(s.P2P().Self()) != ""
	})
	ra, rc := rpcAt(t, dirA), rpcAt(t, dirC)
	idA := a.Chat().Self().String()
	marker := randomMarker()
	var sent api.Message
	if err := ra.Call(ctx, "dm_send", []any{idB.String(), marker}, &sent); err != nil {
		t.Fatalf("dm_send to an offline peer: %v", err)
	}
	if sent.Text != marker {
		t.Fatalf("dm_send answered %+v", sent)
	}
	if pend, err := a.Chat().PendingDMs(ctx); err != nil || len(pend) != 1 || pend[0].To != idB {
		t.Fatalf("A's outbox: %+v %v", pend, err)
	}

	restart := time.Now()
	b = startNode(t, dirB, opts...) // same identity, keyring and datastore
	connect(t, c, b)
	rb := rpcAt(t, dirB)
	dm := func(cl *client.Client, with string) []string {
		var msgs []api.Message
		if err := cl.Call(ctx, "dm_history", []any{with}, &msgs); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range msgs {
			out = append(out, m.Text)
		}
		return out
	}
	testwait.For(t, 60*time.Second, "B reads the DM sent while it was offline", func() bool {
		return slices.Equal(dm(rb, idA), []string{marker})
	}, syncState(a, b, c))
	t.Logf("B read the DM %s after its restart", time.Since(restart).Round(time.Millisecond))
	if err := rb.Call(ctx, "dm_send", []any{idA, "back"}, nil); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 30*time.Second, "A reads B's reply", func() bool {
		return slices.Equal(dm(ra, idB.String()), []string{marker, "back"})
	}, syncState(a, b, c))
	testwait.For(t, 10*time.Second, "A's outbox empties once B answered", func() bool {
		pend, err := a.Chat().PendingDMs(ctx)
		return err == nil && len(pend) == 0
	})

	var rooms []api.Room
	if err := rc.Call(ctx, "room_list", nil, &rooms); err != nil || len(rooms) != 0 {
		t.Fatalf("C's room_list: %+v %v", rooms, err)
	}
	if got := dm(rc, idA); len(got) != 0 {
		t.Fatalf("C reads %q", got)
	}
	if got := dm(rc, idB.String()); len(got) != 0 {
		t.Fatalf("C reads %q", got)
	}
	c.Close()
	if scanDir(t, dirC, []byte(marker)) {
		t.Fatal("C's data directory holds the marker")
	}
}
