package node_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/p2p"
	"github.com/parley-chat/parley/p2p/ledgersync"
)

// fastDiscovery shortens p2p's discovery timers, and adds extra settings.
func fastDiscovery(extra ...func(*p2p.Config)) func(*node.Options) {
	return func(o *node.Options) {
		o.P2P = func(c *p2p.Config) {
			c.BootstrapBackoffMin = 100 * time.Millisecond
			c.BootstrapBackoffMax = 2 * time.Second
			c.DiscoveryBackoffMin = 200 * time.Millisecond
			c.DiscoveryBackoffMax = 2 * time.Second
			for _, f := range extra {
				f(c)
			}
		}
	}
}

// startBootstrap runs a bootstrap node (no chat) on loopback. The
// p2p.Config.Bootstrap line is the node glue that may already be in node.New.
func startBootstrap(t *testing.T) (*node.Node, []string) {
	t.Helper()
	b := startNode(t, "", fastDiscovery(func(c *p2p.Config) { c.Bootstrap = true }), func(o *node.Options) {
		o.Bootstrap = true
	})
	if b.Chat() != nil {
		t.Fatal("bootstrap node runs chat")
	}
	info, err := b.Info(t.Context())
	if err != nil || len(info.Addrs) == 0 {
		t.Fatalf("bootstrap node_info: %+v, %v", info, err)
	}
	return b, info.Addrs
}

// withPeers sets the bootstrap peers of a user node.
func withPeers(addrs []string) func(*node.Options) {
	return func(o *node.Options) { o.Config.Peers = addrs }
}

// requireSync fails the test when n does not serve the ledger sync
// protocol: members that connect after joining a room lost each other's
// join events (gossip is not replayed), so their messages wait as orphans
// until sync fetches the missing parents.
func requireSync(t *testing.T, n *node.Node) {
	t.Helper()
	if !slices.Contains(n.P2P().Host().Mux().Protocols(), protocol.ID(ledgersync.ProtocolID)) {
		t.Fatalf("node does not serve %s; message delivery after a late meeting depends on it", ledgersync.ProtocolID)
	}
}

// topicPeers lists the peers n's pubsub sees in room's topic.
func topicPeers(n *node.Node, roomID string) []peer.ID {
	return n.P2P().PubSub().ListPeers(chat.TopicName(roomID))
}

// One bootstrap node and five users that know only its address: they join
// the same room, find each other through the DHT (no test code connects
// users), and every message reaches every user.
func TestFiveUsersFindEachOtherThroughBootstrap(t *testing.T) {
	_, bootAddrs := startBootstrap(t)
	ctx := t.Context()
	users := make([]*node.Node, 5)
	var roomID string
	for i := range users {
		users[i] = startNode(t, "", fastDiscovery(), withPeers(bootAddrs))
		r, err := users[i].Chat().Join(ctx, "general")
		if err != nil {
			t.Fatal(err)
		}
		roomID = r.ID
	}
	for i, u := range users {
		testwait.For(t, 30*time.Second, fmt.Sprintf("user %d connected to and in the room with the other users", i), func() bool {
			tp := topicPeers(u, roomID)
			for j, o := range users {
				if j == i {
					continue
				}
				id := o.P2P().Self()
				if u.P2P().Host().Network().Connectedness(id) != network.Connected || !slices.Contains(tp, id) {
					return false
				}
			}
			return true
		})
	}
	requireSync(t, users[0])
	for i, u := range users {
		if _, err := u.Chat().Send(ctx, "general", fmt.Sprintf("hello from user %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i, u := range users {
		testwait.For(t, 30*time.Second, fmt.Sprintf("every message at user %d", i), func() bool {
			h := history(t, u, "general")
			for j := range users {
				if !hasText(h, fmt.Sprintf("hello from user %d", j)) {
					return false
				}
			}
			return true
		})
	}
}

// A user that knew the others restarts with no bootstrap peer at all: it
// reconnects to the peers it remembered (p2p.Config.Datastore, which
// node.New is to fill with its datastore under /peers) and chats again.
func TestRestartReconnectsToKnownPeers(t *testing.T) {
	_, bootAddrs := startBootstrap(t)
	ctx := t.Context()
	store := dssync.MutexWrap(ds.NewMapDatastore())
	remember := func(c *p2p.Config) {
		c.Datastore = namespace.Wrap(store, ds.NewKey("/peers"))
		c.RememberPrivateAddrs = true // everyone is on 127.0.0.1
	}
	withStore := func(o *node.Options) { o.Datastore = store }

	b := startNode(t, "", fastDiscovery(), withPeers(bootAddrs))
	room, err := b.Chat().Join(ctx, "general")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a := startNode(t, dir, fastDiscovery(remember), withStore, withPeers(bootAddrs))
	// A meets B before joining, so that B gets A's join event by gossip
	// (this test must not depend on ledger sync).
	connect(t, a, b)
	testwait.For(t, 10*time.Second, "A to see B in the room's topic", func() bool {
		return slices.Contains(topicPeers(a, room.ID), b.P2P().Self())
	})
	if _, err := a.Chat().Join(ctx, "general"); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "B to see A in the room's topic", func() bool {
		return slices.Contains(topicPeers(b, room.ID), a.P2P().Self())
	})
	if _, err := a.Chat().Send(ctx, "general", "before restart"); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 20*time.Second, "A's first message at B", func() bool { return hasText(history(t, b, "general"), "before restart") })
	testwait.For(t, 10*time.Second, "A remembers B", func() bool {
		return slices.ContainsFunc(a.P2P().KnownPeers(), func(kp p2p.KnownPeer) bool { return kp.ID == b.P2P().Self() })
	})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	a2 := startNode(t, dir, fastDiscovery(remember), withStore) // no --peer, no config peers
	testwait.For(t, 20*time.Second, "A back in the room with B", func() bool {
		return slices.Contains(topicPeers(a2, room.ID), b.P2P().Self()) &&
			slices.Contains(topicPeers(b, room.ID), a2.P2P().Self())
	})
	if _, err := a2.Chat().Send(ctx, "general", "back again"); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 20*time.Second, "A's message at B", func() bool { return hasText(history(t, b, "general"), "back again") })
	// B's events have B's join as an ancestor, which A never got by gossip
	// (B joined first): A needs sync to accept them.
	requireSync(t, a2)
	if _, err := b.Chat().Send(ctx, "general", "welcome back"); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 20*time.Second, "B's message at A", func() bool { return hasText(history(t, a2, "general"), "welcome back") })
}
