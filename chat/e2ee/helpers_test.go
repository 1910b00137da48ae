package e2ee

import (
	"crypto/ed25519"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// t0 is the fixed "now" of the tests and vectors.
var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// person is a test member: a deterministic identity, KEM key pair and
// bundle, all from one byte.
type person struct {
	key    crypto.PrivKey
	id     peer.ID
	kp     *KeyPair
	bundle *SignedBundle
}

func seed(label string, n byte) []byte {
	s := sha256.Sum256([]byte{n})
	s = sha256.Sum256(append([]byte(label), s[:]...))
	return s[:]
}

func identity(t testing.TB, n byte) (crypto.PrivKey, peer.ID) {
	t.Helper()
	key, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed("identity", n)))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, id
}

func newPerson(t testing.TB, n byte) *person {
	t.Helper()
	key, id := identity(t, n)
	kp, err := NewKeyPair(seed("kem", n))
	if err != nil {
		t.Fatal(err)
	}
	b, err := SignBundle(key, Bundle{Peer: id, PublicKey: kp.PublicKey(), Seq: 1,
		Created: t0.Add(-time.Hour), Expires: t0.Add(7 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return &person{key: key, id: id, kp: kp, bundle: b}
}

func testEpoch() Epoch {
	id := sha256.Sum256([]byte("epoch event"))
	return Epoch{Room: "privroom1", ID: append([]byte{0x12, 0x20}, id[:]...)} // a sha2-256 multihash, like a ledger ID
}

func fixedSecret() []byte { return seed("epoch secret", 0) }
