package p2p_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/p2p"
)

// claimingHost is a plain libp2p host on 127.0.0.1 whose identify claims
// to listen only at claim (a port nobody listens on), as a peer steering
// others' redials would.
func claimingHost(t *testing.T, claim ma.Multiaddr) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(),
		libp2p.AddrsFactory(func([]ma.Multiaddr) []ma.Multiaddr { return []ma.Multiaddr{claim} }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// dial connects n to h at h's real listen address.
func dial(t *testing.T, n *p2p.Node, h host.Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := n.Host().Connect(ctx, peer.AddrInfo{ID: h.ID(), Addrs: h.Network().ListenAddresses()}); err != nil {
		t.Fatal(err)
	}
}

// waitJudged waits until n's peer book has decided on at least want
// identify rounds, so that a peer left out is known to be left out.
func waitJudged(t *testing.T, n *p2p.Node, want int64) {
	t.Helper()
	testwait.For(t, 10*time.Second, "peer book decisions", func() bool { return p2p.BookJudged(n) >= want })
}

func knownIDs(n *p2p.Node) []peer.ID {
	var ids []peer.ID
	for _, kp := range n.KnownPeers() {
		ids = append(ids, kp.ID)
	}
	return ids
}

// A stranger that dials a node and claims listen addresses through
// identify is not remembered (before, the node redialled the claimed
// addresses after every restart); peers the node dialled are, at the
// address it reached them at and not their claim, at most two per
// address group. All hosts are on 127.0.0.1, so the node runs with
// RememberPrivateAddrs; without it nothing on loopback is kept.
func TestPeerBookRemembersOnlyDialledAddresses(t *testing.T) {
	claim := ma.StringCast("/ip4/127.0.0.1/tcp/9")
	cfg := testConfig()
	cfg.Datastore = dssync.MutexWrap(ds.NewMapDatastore())
	cfg.RememberPrivateAddrs = true
	n := newNode(t, cfg)

	attacker := claimingHost(t, claim)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := attacker.Connect(ctx, peer.AddrInfo{ID: n.Self(), Addrs: n.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	waitJudged(t, n, 1)
	if slices.Contains(knownIDs(n), attacker.ID()) {
		t.Fatalf("inbound peer remembered: %+v", n.KnownPeers())
	}

	var honest []host.Host
	for i := range 3 {
		h := claimingHost(t, claim)
		honest = append(honest, h)
		dial(t, n, h)
		waitJudged(t, n, int64(2+i))
	}
	known := n.KnownPeers()
	if ids := knownIDs(n); len(ids) != 2 || !slices.Contains(ids, honest[0].ID()) || !slices.Contains(ids, honest[1].ID()) {
		t.Fatalf("remembered %v, want the first two dialled peers (%s, %s) and not the third of their group",
			ids, honest[0].ID(), honest[1].ID())
	}
	for _, kp := range known {
		conns := n.Host().Network().ConnsToPeer(kp.ID)
		if len(conns) == 0 {
			t.Fatalf("no connection to %s", kp.ID)
		}
		if len(kp.Addrs) != 1 || !kp.Addrs[0].Equal(conns[0].RemoteMultiaddr()) || kp.Addrs[0].Equal(claim) {
			t.Errorf("%s remembered at %v, want the dialled address %s", kp.ID, kp.Addrs, conns[0].RemoteMultiaddr())
		}
	}

	// Without the flag a loopback address is private: not kept.
	cfg2 := testConfig()
	cfg2.Datastore = dssync.MutexWrap(ds.NewMapDatastore())
	plain := newNode(t, cfg2)
	dial(t, plain, honest[0])
	waitJudged(t, plain, 1)
	if ids := knownIDs(plain); len(ids) != 0 {
		t.Errorf("remembered %v at a loopback address without RememberPrivateAddrs", ids)
	}
}

// A node upgraded from a peer list of the earlier format (addresses the
// peers claimed) and started without --peer still rejoins: it dials the
// old records once, stores in the new format those it reaches (their
// outbound identify confirms them), and then deletes the others.
func TestPeerBookUpgradeReconnects(t *testing.T) {
	store := dssync.MutexWrap(ds.NewMapDatastore())
	live := claimingHost(t, ma.StringCast("/ip4/127.0.0.1/tcp/9"))
	dead := newKey(t)
	deadID, _ := peer.IDFromPrivateKey(dead)
	putOld := func(id peer.ID, addrs ...ma.Multiaddr) {
		var ss []string
		for _, a := range addrs {
			ss = append(ss, a.String())
		}
		v, _ := json.Marshal(map[string]any{"addrs": ss, "lastSeen": time.Now()})
		if err := store.Put(t.Context(), ds.NewKey(id.String()), v); err != nil {
			t.Fatal(err)
		}
	}
	putOld(live.ID(), live.Network().ListenAddresses()...)
	putOld(deadID, ma.StringCast("/ip4/127.0.0.1/tcp/1"))

	cfg := testConfig()
	cfg.Datastore = store
	cfg.RememberPrivateAddrs = true // everyone is on 127.0.0.1
	n := newNode(t, cfg)
	testwait.For(t, 10*time.Second, "old records upgraded", func() bool {
		gone, _ := store.Has(t.Context(), ds.NewKey(deadID.String()))
		return !gone && slices.Contains(knownIDs(n), live.ID())
	})
	if n.Host().Network().Connectedness(live.ID()) != network.Connected {
		t.Fatal("not connected to the peer of the old list")
	}
	v, err := store.Get(t.Context(), ds.NewKey(live.ID().String()))
	if err != nil || !strings.Contains(string(v), `"v":2`) {
		t.Fatalf("reached peer stored as %s (%v), want the new format", v, err)
	}
	if ids := knownIDs(n); len(ids) != 1 {
		t.Fatalf("known peers %v, want only the one reached", ids)
	}
}
