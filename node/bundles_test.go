package node_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/p2p/keyx"
)

// Two nodes exchange bundles as soon as they connect: each book holds the
// other's current bundle without any lookup.
func TestBundlesExchangedOnConnect(t *testing.T) {
	a, b := startNode(t, ""), startNode(t, "")
	connect(t, a, b)
	testwait.For(t, 10*time.Second, "bundles exchanged on connect", func() bool {
		x, err1 := a.BookedBundle(b.P2P().Self())
		y, err2 := b.BookedBundle(a.P2P().Self())
		return err1 == nil && err2 == nil && x.Hash() == b.OwnBundle().Hash() && y.Hash() == a.OwnBundle().Hash()
	})
	if s := a.OwnBundle(); s.Seq != 1 || s.Expires.Sub(s.Created) != e2ee.MaxBundleLifetime {
		t.Fatalf("first bundle: seq %d, lifetime %v", s.Seq, s.Expires.Sub(s.Created))
	}
}

// Three nodes: A and C know only the bootstrap node B. C gets A's bundle
// from the DHT, where A published it, without ever connecting to A.
func TestBundleFromDHTWithoutConnecting(t *testing.T) {
	boot, bootAddrs := startBootstrap(t)
	retry := func(o *node.Options) {
		o.Bundles = func(c *node.BundleConfig) { c.RetryMin, c.RetryMax = 100*time.Millisecond, time.Second }
	}
	a := startNode(t, "", fastDiscovery(), withPeers(bootAddrs), retry)
	c := startNode(t, "", fastDiscovery(), withPeers(bootAddrs), retry)
	aID := a.P2P().Self()
	var metA atomic.Bool
	c.P2P().Host().Network().Notify(&network.NotifyBundle{ConnectedF: func(_ network.Network, conn network.Conn) {
		if conn.RemotePeer() == aID {
			metA.Store(true)
		}
	}})
	var got *e2ee.SignedBundle
	testwait.For(t, 30*time.Second, "C finds A's bundle in the DHT", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		s, err := c.Bundle(ctx, aID)
		got = s
		return err == nil
	})
	if got.Hash() != a.OwnBundle().Hash() {
		t.Fatalf("C got seq %d, A publishes seq %d", got.Seq, a.OwnBundle().Seq)
	}
	if metA.Load() || c.P2P().Host().Network().Connectedness(aID) == network.Connected {
		t.Fatal("C connected to A: the bundle may not have come from the DHT")
	}
	if s, err := c.BookedBundle(aID); err != nil || s.Hash() != got.Hash() {
		t.Fatalf("C's book after the lookup: %v", err)
	}

	// A rotates: the DHT gets seq 2 without waiting for the republish
	// period, and C's book moves to it.
	rotated, err := a.RotateBundle()
	if err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 30*time.Second, "C finds A's rotated bundle in the DHT", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		s, err := c.RefreshBundle(ctx, aID)
		return err == nil && s.Hash() == rotated.Hash()
	})
	if metA.Load() {
		t.Fatal("C connected to A")
	}

	// The bootstrap node has no bundle and does not speak the protocol.
	if boot.OwnBundle() != nil {
		t.Fatal("bootstrap node has a bundle")
	}
	if _, err := boot.Bundle(t.Context(), aID); !errors.Is(err, node.ErrNoKeys) {
		t.Fatalf("bootstrap node lookup: %v, want ErrNoKeys", err)
	}
	if slices.Contains(boot.P2P().Host().Mux().Protocols(), protocol.ID(keyx.ProtocolID)) {
		t.Fatal("bootstrap node serves the keys protocol")
	}
}

// A restart keeps this node's seq and key pairs and the book: a rotated
// bundle stays current, and a peer's bundle is still known (the rollback
// floor) before any connection.
func TestBundlesSurviveRestart(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	a, b := startNode(t, dirA), startNode(t, dirB)
	first := a.OwnBundle()
	rotated, err := a.RotateBundle()
	if err != nil || rotated.Seq != first.Seq+1 {
		t.Fatalf("rotate: %v, seq %d after %d", err, rotated.Seq, first.Seq)
	}
	connect(t, b, a)
	testwait.For(t, 10*time.Second, "B books A's rotated bundle", func() bool {
		s, err := b.BookedBundle(a.P2P().Self())
		return err == nil && s.Hash() == rotated.Hash()
	})
	aID := a.P2P().Self()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	a2, b2 := startNode(t, dirA), startNode(t, dirB)
	if got := a2.OwnBundle(); got.Hash() != rotated.Hash() {
		t.Fatalf("after restart A's bundle is seq %d, want seq %d unchanged", got.Seq, rotated.Seq)
	}
	for _, s := range []*e2ee.SignedBundle{first, rotated} {
		if _, _, err := a2.OwnKeyPair(s.Hash()); err != nil {
			t.Fatalf("key pair of seq %d lost in the restart: %v", s.Seq, err)
		}
	}
	if s, err := b2.BookedBundle(aID); err != nil || s.Hash() != rotated.Hash() {
		t.Fatalf("B's book after restart: %v", err)
	}
	again, err := a2.RotateBundle()
	if err != nil || again.Seq != rotated.Seq+1 {
		t.Fatalf("rotate after restart: %v, seq %d", err, again.Seq)
	}
}

// firstAddr returns n's first listen address as a multiaddr.
func firstAddr(t *testing.T, n *node.Node) ma.Multiaddr {
	t.Helper()
	info, err := n.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	m, err := ma.NewMultiaddr(info.Addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func addrInfo(t *testing.T, n *node.Node) peer.AddrInfo {
	t.Helper()
	ai, err := peer.AddrInfoFromP2pAddr(firstAddr(t, n))
	if err != nil {
		t.Fatal(err)
	}
	return *ai
}
