package p2p

import (
	"crypto/rand"
	"log/slog"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func TestPeerBookBoundedAndPersistent(t *testing.T) {
	ctx := t.Context()
	store := dssync.MutexWrap(ds.NewMapDatastore())
	// An unreadable entry is dropped, not fatal.
	if err := store.Put(ctx, ds.NewKey("not-a-peer-id"), []byte("{")); err != nil {
		t.Fatal(err)
	}
	b, err := openPeerBook(ctx, store, 3, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if has, _ := store.Has(ctx, ds.NewKey("not-a-peer-id")); has {
		t.Error("unreadable entry kept")
	}
	var ids []peer.ID
	for range 6 {
		_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := peer.IDFromPublicKey(pub)
		ids = append(ids, id)
	}
	stranger := ids[5]
	ids = ids[:5]
	addr := ma.StringCast("/ip4/127.0.0.1/tcp/4747")
	start := time.Now()
	for i, id := range ids {
		if err := b.seen(ctx, id, []ma.Multiaddr{addr}, start.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	// Seen without addresses: a known peer's time is refreshed, an unknown
	// one is not added.
	if err := b.seen(ctx, ids[2], nil, start.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := b.seen(ctx, stranger, nil, start.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	b2, err := openPeerBook(ctx, store, 3, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	got := b2.recent(-1)
	want := []peer.ID{ids[2], ids[4], ids[3]}
	if len(got) != len(want) {
		t.Fatalf("reloaded %d peers, want %d: %+v", len(got), len(want), got)
	}
	for i, kp := range got {
		if kp.ID != want[i] || len(kp.Addrs) != 1 || !kp.Addrs[0].Equal(addr) {
			t.Errorf("entry %d: %+v, want %s at %s", i, kp, want[i], addr)
		}
	}
	if n := len(b2.recent(2)); n != 2 {
		t.Errorf("recent(2) returned %d", n)
	}
}
