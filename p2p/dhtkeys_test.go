package p2p_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/internal/testwait"
)

func signedBundle(t *testing.T, key crypto.PrivKey, seq uint64, created time.Time) *e2ee.SignedBundle {
	t.Helper()
	kp, err := e2ee.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(key)
	b, err := e2ee.SignBundle(key, e2ee.Bundle{Peer: id, PublicKey: kp.PublicKey(), Seq: seq, Created: created, Expires: created.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The DHT stores key bundles under /parley-keys/<peer> on every node (the
// validator is registered in newDHT): a valid bundle put by one node is
// got by another; a bundle under another peer's key, an expired one and
// an older seq are refused, and the stored record stays the valid one.
func TestDHTKeyBundleNamespace(t *testing.T) {
	server := newNode(t, testConfig())
	client := newNode(t, testConfig())
	connect(t, client, server)
	testwait.For(t, 10*time.Second, "routing tables filled", func() bool {
		return server.DHT().RoutingTable().Size() > 0 && client.DHT().RoutingTable().Size() > 0
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	key := newKey(t)
	id, _ := peer.IDFromPrivateKey(key)
	good := signedBundle(t, key, 2, time.Now())
	if err := client.DHT().PutValue(ctx, e2ee.BundleKey(id), good.Raw()); err != nil {
		t.Fatalf("put a valid bundle: %v", err)
	}
	got, err := server.DHT().GetValue(ctx, e2ee.BundleKey(id))
	if err != nil || string(got) != string(good.Raw()) {
		t.Fatalf("get: %v", err)
	}

	other := newKey(t)
	if err := client.DHT().PutValue(ctx, e2ee.BundleKey(id), signedBundle(t, other, 5, time.Now()).Raw()); !errors.Is(err, e2ee.ErrBadSignature) {
		t.Fatalf("put another peer's bundle under id: %v, want ErrBadSignature", err)
	}
	if err := client.DHT().PutValue(ctx, e2ee.BundleKey(id), signedBundle(t, key, 3, time.Now().Add(-2*time.Hour)).Raw()); !errors.Is(err, e2ee.ErrExpired) {
		t.Fatalf("put an expired bundle: %v, want ErrExpired", err)
	}
	if err := client.DHT().PutValue(ctx, e2ee.BundleKey(id), signedBundle(t, key, 1, time.Now()).Raw()); err == nil {
		t.Fatal("put an older seq over a newer one")
	}
	got, err = server.DHT().GetValue(ctx, e2ee.BundleKey(id))
	if err != nil || string(got) != string(good.Raw()) {
		t.Fatalf("stored record changed: %v", err)
	}
}
