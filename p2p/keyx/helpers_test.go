package keyx

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
)

// newHost starts a real libp2p host on 127.0.0.1 with identity key (a
// fresh one if nil), closed when the test ends.
func newHost(t testing.TB, key crypto.PrivKey) host.Host {
	t.Helper()
	if key == nil {
		key = newKey(t)
	}
	h, err := libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.DisableRelay(),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func newKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// bundleOf signs a bundle of key's peer with seq, valid from created for
// lifetime.
func bundleOf(t testing.TB, key crypto.PrivKey, seq uint64, created time.Time, lifetime time.Duration) *e2ee.SignedBundle {
	t.Helper()
	kp, err := e2ee.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e2ee.SignBundle(key, e2ee.Bundle{Peer: id, PublicKey: kp.PublicKey(), Seq: seq, Created: created, Expires: created.Add(lifetime)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func connectHosts(t testing.TB, a, b host.Host) {
	t.Helper()
	if err := a.Connect(t.Context(), peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
}
