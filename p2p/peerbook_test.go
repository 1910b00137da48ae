package p2p

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func newPeerIDs(t *testing.T, n int) []peer.ID {
	t.Helper()
	var ids []peer.ID
	for range n {
		_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := peer.IDFromPublicKey(pub)
		ids = append(ids, id)
	}
	return ids
}

func openTestBook(t *testing.T, store ds.Batching, max int, allowPrivate bool) *peerBook {
	t.Helper()
	b, err := openPeerBook(t.Context(), store, max, allowPrivate, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func has(b *peerBook, id peer.ID) bool {
	for _, kp := range b.recent(-1) {
		if kp.ID == id {
			return true
		}
	}
	return false
}

// publicAddr returns a public TCP address in the i-th /16 of 85.0.0.0/8
// (not a legacy /8, so each /16 is its own diversity group).
func publicAddr(i, host int) ma.Multiaddr {
	return ma.StringCast(fmt.Sprintf("/ip4/85.%d.0.%d/tcp/4747", i, host))
}

func TestPeerBookBoundedAndPersistent(t *testing.T) {
	ctx := t.Context()
	store := dssync.MutexWrap(ds.NewMapDatastore())
	// An unreadable entry is dropped, not fatal.
	if err := store.Put(ctx, ds.NewKey("not-a-peer-id"), []byte("{")); err != nil {
		t.Fatal(err)
	}
	b := openTestBook(t, store, 3, false)
	if has, _ := store.Has(ctx, ds.NewKey("not-a-peer-id")); has {
		t.Error("unreadable entry kept")
	}
	ids := newPeerIDs(t, 6)
	stranger := ids[5]
	ids = ids[:5]
	start := time.Now()
	for i, id := range ids {
		if _, err := b.dialled(ctx, id, publicAddr(i, 1), start.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	// Seen again (a disconnect): a known peer's time is refreshed, an
	// unknown one is not added.
	if err := b.seen(ctx, ids[2], start.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := b.seen(ctx, stranger, start.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	got := openTestBook(t, store, 3, false).recent(-1)
	want := []int{2, 4, 3}
	if len(got) != len(want) {
		t.Fatalf("reloaded %d peers, want %d: %+v", len(got), len(want), got)
	}
	for i, kp := range got {
		w := want[i]
		if kp.ID != ids[w] || len(kp.Addrs) != 1 || !kp.Addrs[0].Equal(publicAddr(w, 1)) {
			t.Errorf("entry %d: %+v, want %s at %s", i, kp, ids[w], publicAddr(w, 1))
		}
	}
	if n := len(b.recent(2)); n != 2 {
		t.Errorf("recent(2) returned %d", n)
	}
}

// The book's admission rules, one at a time; the real-host side (inbound
// peers and identify claims) is TestPeerBookRemembersOnlyDialledAddresses.
func TestPeerBookRules(t *testing.T) {
	ctx := t.Context()
	now := time.Now()
	loopback := ma.StringCast("/ip4/127.0.0.1/tcp/4747")
	lanAddr := ma.StringCast("/ip4/192.168.1.7/udp/4747/quic-v1")

	t.Run("private addresses need the flag", func(t *testing.T) {
		ids := newPeerIDs(t, 2)
		b := openTestBook(t, dssync.MutexWrap(ds.NewMapDatastore()), 10, false)
		for _, a := range []ma.Multiaddr{loopback, lanAddr, ma.StringCast("/ip4/10.1.2.3/tcp/1"), ma.StringCast("/ip6/fe80::1/tcp/1")} {
			if ok, _ := b.dialled(ctx, ids[0], a, now); ok || has(b, ids[0]) {
				t.Errorf("remembered at %s without RememberPrivateAddrs", a)
			}
		}
		flagged := openTestBook(t, dssync.MutexWrap(ds.NewMapDatastore()), 10, true)
		if ok, _ := flagged.dialled(ctx, ids[1], loopback, now); !ok || !has(flagged, ids[1]) {
			t.Error("not remembered at loopback with RememberPrivateAddrs")
		}
	})

	t.Run("mDNS finds may be private", func(t *testing.T) {
		ids := newPeerIDs(t, 2)
		b := openTestBook(t, dssync.MutexWrap(ds.NewMapDatastore()), 10, false)
		b.foundOnLAN(ids[0], now)
		if ok, _ := b.dialled(ctx, ids[0], lanAddr, now.Add(time.Second)); !ok {
			t.Error("peer found by mDNS not remembered at its LAN address")
		}
		b.foundOnLAN(ids[1], now)
		if ok, _ := b.dialled(ctx, ids[1], lanAddr, now.Add(lanTTL+time.Second)); ok {
			t.Error("an expired mDNS find still admits a private address")
		}
		for _, id := range newPeerIDs(t, maxLANFinds+10) {
			b.foundOnLAN(id, now)
		}
		if len(b.lan) > maxLANFinds {
			t.Errorf("%d mDNS finds kept, bound %d", len(b.lan), maxLANFinds)
		}
	})

	t.Run("two per group", func(t *testing.T) {
		ids := newPeerIDs(t, 4)
		b := openTestBook(t, dssync.MutexWrap(ds.NewMapDatastore()), 10, false)
		for i, id := range ids[:3] {
			ok, err := b.dialled(ctx, id, publicAddr(1, i+1), now.Add(time.Duration(i)*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if ok != (i < maxPerGroup) {
				t.Errorf("peer %d of one /16: remembered %v", i+1, ok)
			}
		}
		if has(b, ids[2]) {
			t.Error("third peer of one group remembered")
		}
		// Another /16 is another group.
		if ok, _ := b.dialled(ctx, ids[2], publicAddr(2, 1), now); !ok {
			t.Error("peer in a second group refused")
		}
		// A group member gone quiet for a day makes room.
		later := now.Add(groupStaleAfter + time.Minute)
		if ok, _ := b.dialled(ctx, ids[3], publicAddr(1, 9), later); !ok {
			t.Error("full group with a stale member refused a new peer")
		}
		if has(b, ids[0]) || !has(b, ids[1]) {
			t.Errorf("want the stalest member (peer 1) replaced: %+v", b.recent(-1))
		}
		// A relayed address counts in the relay's group.
		relayed := ma.StringCast(fmt.Sprintf("/ip4/85.2.0.5/tcp/4747/p2p/%s/p2p-circuit", ids[0]))
		if g1, _ := groupOf(relayed); string(g1) != mustGroup(t, publicAddr(2, 1)) {
			t.Errorf("relayed address group %q", g1)
		}
	})

	t.Run("IPv6 of no known ASN groups by /32", func(t *testing.T) {
		a := mustGroup(t, ma.StringCast("/ip6/fd00:1::1/tcp/1"))
		b := mustGroup(t, ma.StringCast("/ip6/fd00:2::1/tcp/1"))
		c := mustGroup(t, ma.StringCast("/ip6/fd00:1:ffff::1/tcp/1"))
		if a == b || a != c {
			t.Errorf("groups %q %q %q: want /32 prefixes", a, b, c)
		}
	})

	t.Run("records of earlier versions are kept aside for one attempt", func(t *testing.T) {
		ids := newPeerIDs(t, 3)
		store := dssync.MutexWrap(ds.NewMapDatastore())
		put := func(id peer.ID, addr string) []byte {
			old, _ := json.Marshal(map[string]any{"addrs": []string{addr}, "lastSeen": now})
			if err := store.Put(ctx, peerKey(id), old); err != nil {
				t.Fatal(err)
			}
			return old
		}
		put(ids[0], publicAddr(1, 1).String())
		put(ids[1], publicAddr(2, 1).String())
		put(ids[2], "/ip4/192.168.1.7/tcp/4747") // a claimed private address: never dialled
		b := openTestBook(t, store, 10, false)
		if has(b, ids[0]) || has(b, ids[1]) {
			t.Error("record without a version loaded into the book")
		}
		if got := b.legacyPeers(10); len(got) != 2 {
			t.Errorf("legacy peers %+v, want the two at public addresses", got)
		}
		if ok, _ := store.Has(ctx, peerKey(ids[0])); !ok {
			t.Error("record without a version deleted before the reconnect attempt")
		}
		// The attempt reaches ids[0] (its outbound identify stores it in
		// this format); the rest go when it ends.
		if ok, err := b.dialled(ctx, ids[0], publicAddr(1, 1), now); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if err := b.dropLegacy(ctx); err != nil {
			t.Fatal(err)
		}
		v, err := store.Get(ctx, peerKey(ids[0]))
		if err != nil || !bytes.Contains(v, []byte(`"v":2`)) {
			t.Errorf("confirmed peer stored as %s (%v), want the new format", v, err)
		}
		for _, id := range ids[1:] {
			if ok, _ := store.Has(ctx, peerKey(id)); ok {
				t.Errorf("unconfirmed old record %s kept after the attempt", id)
			}
		}
		if len(b.legacyPeers(10)) != 0 || !has(openTestBook(t, store, 10, false), ids[0]) {
			t.Error("after the attempt: want no legacy peers and the confirmed one in the book")
		}
	})
}

func mustGroup(t *testing.T, a ma.Multiaddr) string {
	t.Helper()
	g, ok := groupOf(a)
	if !ok {
		t.Fatalf("no group for %s", a)
	}
	return string(g)
}
