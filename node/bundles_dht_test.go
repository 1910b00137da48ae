package node_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/internal/testwait"
)

// The DHT of every node, a bootstrap node's too, stores key bundles under
// /parley-keys/<peer> (the node registers e2ee's validator with p2p): a
// valid bundle put by a user node is got from the bootstrap node; a
// bundle under another peer's key, an expired one and an older seq are
// refused, and the stored record stays the valid one.
func TestDHTKeyBundleNamespace(t *testing.T) {
	server, _ := startBootstrap(t)
	client := startNode(t, "")
	connect(t, client, server)
	testwait.For(t, 10*time.Second, "the client routes to the bootstrap node", func() bool {
		return client.P2P().DHT().RoutingTable().Find(server.P2P().Self()) != ""
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	put := func(key string, b []byte) error { return client.P2P().DHT().PutValue(ctx, key, b) }

	key := genKey(t)
	id, _ := peer.IDFromPrivateKey(key)
	good := sign(t, key, 2, time.Now(), time.Hour)
	if err := put(e2ee.BundleKey(id), good.Raw()); err != nil {
		t.Fatalf("put a valid bundle: %v", err)
	}
	got, err := server.P2P().DHT().GetValue(ctx, e2ee.BundleKey(id))
	if err != nil || string(got) != string(good.Raw()) {
		t.Fatalf("get: %v", err)
	}

	if err := put(e2ee.BundleKey(id), sign(t, genKey(t), 5, time.Now(), time.Hour).Raw()); !errors.Is(err, e2ee.ErrBadSignature) {
		t.Fatalf("put another peer's bundle under id: %v, want ErrBadSignature", err)
	}
	if err := put(e2ee.BundleKey(id), sign(t, key, 3, time.Now().Add(-2*time.Hour), time.Hour).Raw()); !errors.Is(err, e2ee.ErrExpired) {
		t.Fatalf("put an expired bundle: %v, want ErrExpired", err)
	}
	if err := put(e2ee.BundleKey(id), sign(t, key, 1, time.Now(), time.Hour).Raw()); err == nil {
		t.Fatal("put an older seq over a newer one")
	}
	got, err = server.P2P().DHT().GetValue(ctx, e2ee.BundleKey(id))
	if err != nil || string(got) != string(good.Raw()) {
		t.Fatalf("stored record changed: %v", err)
	}
}
