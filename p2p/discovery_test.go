package p2p_test

import (
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/p2p"
)

// fastDiscovery shortens the discovery and bootstrap timers for tests.
func fastDiscovery(cfg *p2p.Config) {
	cfg.DiscoveryBackoffMin = 200 * time.Millisecond
	cfg.DiscoveryBackoffMax = 2 * time.Second
	cfg.BootstrapBackoffMin = 100 * time.Millisecond
	cfg.BootstrapBackoffMax = 2 * time.Second
	cfg.RelayRetry = 500 * time.Millisecond
}

// bootstrapNode starts a bootstrap node (DHT server, relay and AutoNAT
// services) on loopback.
func bootstrapNode(t *testing.T) *p2p.Node {
	t.Helper()
	cfg := testConfigMode(p2p.DHTModeAuto)
	cfg.Bootstrap = true
	fastDiscovery(&cfg)
	return newNode(t, cfg)
}

// userConfig is a user node (DHT auto mode) that knows only boot.
func userConfig(boot *p2p.Node) p2p.Config {
	cfg := testConfigMode(p2p.DHTModeAuto)
	cfg.BootstrapPeers = boot.Addrs()
	fastDiscovery(&cfg)
	return cfg
}

func isCircuit(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// Three user nodes that know only the bootstrap node find each other by
// DHT rendezvous on the topic name, and chat.
func TestRoomRendezvousThroughBootstrap(t *testing.T) {
	boot := bootstrapNode(t)
	if boot.Reachability() != p2p.ReachabilityPublic {
		t.Errorf("bootstrap node reachability %q, want public", boot.Reachability())
	}
	var (
		users  []*p2p.Node
		topics []p2p.Topic
		boxes  []*inbox
	)
	for range 3 {
		u := newNode(t, userConfig(boot))
		tp, box := join(t, u, room, "")
		users, topics, boxes = append(users, u), append(topics, tp), append(boxes, box)
	}
	for i, tp := range topics {
		var others []peer.ID
		for j, u := range users {
			if j != i {
				others = append(others, u.Self())
			}
		}
		testwait.For(t, 20*time.Second, fmt.Sprintf("user %d to find the others", i), func() bool {
			got := tp.Peers()
			return !slices.ContainsFunc(others, func(p peer.ID) bool { return !slices.Contains(got, p) })
		})
	}
	for i, tp := range topics {
		if err := tp.Publish(t.Context(), fmt.Appendf(nil, "hello from %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	testwait.For(t, 15*time.Second, "every message everywhere", func() bool {
		for j, b := range boxes {
			for i := range topics {
				want := 1
				if i == j {
					want = 0 // a node's own messages are not delivered back to it
				}
				if b.count(fmt.Sprintf("hello from %d", i)) != want {
					return false
				}
			}
		}
		return true
	})
	if r := users[0].Reachability(); r == p2p.ReachabilityPublic {
		t.Errorf("user node on loopback claims public reachability")
	}
}

// noDirect is a connection gater that refuses every direct (non-relayed)
// connection to or from one peer.
type noDirect struct{ other peer.ID }

func (g noDirect) InterceptPeerDial(peer.ID) bool { return true }
func (g noDirect) InterceptAddrDial(p peer.ID, a ma.Multiaddr) bool {
	return p != g.other || isCircuit(a)
}
func (g noDirect) InterceptAccept(network.ConnMultiaddrs) bool { return true }
func (g noDirect) InterceptSecured(_ network.Direction, p peer.ID, c network.ConnMultiaddrs) bool {
	return p != g.other || isCircuit(c.RemoteMultiaddr())
}
func (g noDirect) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// Two nodes "behind NAT" (reachability forced private) that cannot connect
// directly (A's gater refuses every direct connection with B; on loopback
// hole punching cannot help either) still find each other through the
// bootstrap node and chat over a circuit relay v2 connection through it.
// The circuit is not "limited", so gossipsub uses it.
func TestRelayedRoom(t *testing.T) {
	boot := bootstrapNode(t)
	keyB := newKey(t)
	idB, err := peer.IDFromPrivateKey(keyB)
	if err != nil {
		t.Fatal(err)
	}
	cfgA := userConfig(boot)
	cfgA.ForceReachability = p2p.ReachabilityPrivate
	cfgA.ConnectionGater = noDirect{other: idB}
	a := newNode(t, cfgA)
	cfgB := userConfig(boot)
	cfgB.ForceReachability = p2p.ReachabilityPrivate
	b := newNodeWithKey(t, keyB, cfgB)

	if a.Reachability() != p2p.ReachabilityPrivate {
		t.Errorf("A's reachability %q, want private", a.Reachability())
	}
	ta, boxA := join(t, a, room, "")
	tb, boxB := join(t, b, room, "")
	waitTopicPeers(t, ta, b.Self())
	waitTopicPeers(t, tb, a.Self())

	conns := a.Host().Network().ConnsToPeer(b.Self())
	if len(conns) == 0 {
		t.Fatal("A and B are not connected")
	}
	for _, c := range conns {
		if !isCircuit(c.RemoteMultiaddr()) {
			t.Fatalf("A has a direct connection to B (%s) despite the gater", c.RemoteMultiaddr())
		}
		if c.Stat().Limited {
			t.Errorf("the relayed connection is limited; gossipsub would not use it")
		}
	}
	if err := ta.Publish(t.Context(), []byte("from A via relay")); err != nil {
		t.Fatal(err)
	}
	if err := tb.Publish(t.Context(), []byte("from B via relay")); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 15*time.Second, "messages across the relay", func() bool {
		return boxB.count("from A via relay") == 1 && boxA.count("from B via relay") == 1
	})
}

// A node with a peer list remembers the peers it met; started again on the
// same datastore with no bootstrap peer, it reconnects to them by itself
// and chats again.
func TestKnownPeersReconnectAfterRestart(t *testing.T) {
	store := dssync.MutexWrap(ds.NewMapDatastore())
	boot := bootstrapNode(t)
	b := newNode(t, userConfig(boot))
	tb, boxB := join(t, b, room, "")

	keyA := newKey(t)
	cfgA := userConfig(boot)
	cfgA.Datastore = store
	cfgA.RememberPrivateAddrs = true // everyone is on 127.0.0.1
	a := newNodeWithKey(t, keyA, cfgA)
	// A dials B itself: the peer book keeps only peers it dialled, and B's
	// own room search could otherwise reach A first.
	connect(t, a, b)
	ta, _ := join(t, a, room, "")
	waitTopicPeers(t, ta, b.Self())
	testwait.For(t, 10*time.Second, "A to remember B and the bootstrap node", func() bool {
		var ids []peer.ID
		for _, kp := range a.KnownPeers() {
			ids = append(ids, kp.ID)
		}
		return slices.Contains(ids, b.Self()) && slices.Contains(ids, boot.Self())
	})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	cfgA = testConfigMode(p2p.DHTModeAuto) // no bootstrap peer this time
	fastDiscovery(&cfgA)
	cfgA.Datastore = store
	cfgA.RememberPrivateAddrs = true
	a2 := newNodeWithKey(t, keyA, cfgA)
	ta2, boxA2 := join(t, a2, room, "")
	waitTopicPeers(t, ta2, b.Self())
	waitTopicPeers(t, tb, a2.Self())
	if err := ta2.Publish(t.Context(), []byte("back again")); err != nil {
		t.Fatal(err)
	}
	if err := tb.Publish(t.Context(), []byte("welcome back")); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 15*time.Second, "chat after restart", func() bool {
		return boxB.count("back again") == 1 && boxA2.count("welcome back") == 1
	})
}

// newNodeWithKey is newNode with a given identity.
func newNodeWithKey(t *testing.T, key crypto.PrivKey, cfg p2p.Config) *p2p.Node {
	t.Helper()
	n, err := p2p.New(t.Context(), key, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return n
}

// freeTCPPort returns a loopback TCP port that was free a moment ago.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// A private user node whose bootstrap node is down when it starts gets a
// relay reservation there once the bootstrap node is up, retrying after
// Config.RelayRetry (500 ms here) rather than go-libp2p's 30 s, and is then
// reachable through the relay. (It takes ~5 s: the node's own bootstrap
// redial backoff and the swarm's dial backoff on the closed port.)
func TestRelayReservationAfterBootstrapReturns(t *testing.T) {
	keyBoot := newKey(t)
	idBoot, err := peer.IDFromPrivateKey(keyBoot)
	if err != nil {
		t.Fatal(err)
	}
	bootAddr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freeTCPPort(t))

	cfgA := testConfigMode(p2p.DHTModeAuto)
	cfgA.BootstrapPeers = []string{bootAddr + "/p2p/" + idBoot.String()}
	cfgA.ForceReachability = p2p.ReachabilityPrivate
	fastDiscovery(&cfgA)
	a := newNode(t, cfgA)
	// AutoRelay asks for its static relays as soon as the node is private,
	// and the dial to the closed port is refused at once; the swarm then
	// backs off from that address, which shows the first attempt failed.
	bootMA, err := ma.NewMultiaddr(bootAddr)
	if err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "A's first dial to the bootstrap node to fail", func() bool {
		return a.Host().Network().(*swarm.Swarm).Backoff().Backoff(idBoot, bootMA)
	})

	cfgBoot := testConfigMode(p2p.DHTModeAuto)
	cfgBoot.Bootstrap = true
	cfgBoot.ListenAddrs = []string{bootAddr}
	fastDiscovery(&cfgBoot)
	newNodeWithKey(t, keyBoot, cfgBoot)

	// B has no relay of its own (reachability unknown: no AutoRelay), so
	// a circuit to A through the bootstrap node exists only once A holds
	// a reservation there.
	b := newNode(t, testConfigMode(p2p.DHTModeAuto))
	circuit := bootAddr + "/p2p/" + idBoot.String() + "/p2p-circuit/p2p/" + a.Self().String()
	var lastErr error
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last circuit dial: %v", lastErr)
		}
	})
	testwait.For(t, 15*time.Second, "a circuit to A through the returned bootstrap node", func() bool {
		// Each failed circuit dial puts the address in the swarm's dial
		// backoff (5 s and more); the test polls faster than that.
		b.Host().Network().(*swarm.Swarm).Backoff().Clear(a.Self())
		lastErr = b.Connect(t.Context(), circuit)
		return lastErr == nil
	})
	for _, c := range b.Host().Network().ConnsToPeer(a.Self()) {
		if !isCircuit(c.RemoteMultiaddr()) {
			t.Errorf("B reached A directly (%s), not through the relay", c.RemoteMultiaddr())
		}
	}
}
