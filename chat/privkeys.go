package chat

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parley-chat/parley/chat/e2ee"
)

// Keys is the key material private rooms need, declared here where it is
// used; node satisfies it. Implementations must be safe for concurrent
// use.
type Keys interface {
	// OwnBundle returns this node's current signed bundle, the one new
	// epoch secrets and invite proofs are sealed to.
	OwnBundle() *e2ee.SignedBundle
	// OwnKeyPair returns the key pair of this node's bundle whose hash is
	// h, with that bundle, while it is held (a bundle rotated away from
	// still opens what was sealed to it).
	OwnKeyPair(h [e2ee.HashSize]byte) (*e2ee.KeyPair, *e2ee.SignedBundle, error)
	// Bundle returns peer p's current bundle, valid now and not a
	// rollback of one seen before (fetched from p if need be).
	Bundle(ctx context.Context, p peer.ID) (*e2ee.SignedBundle, error)
	// DataKey is the node's local data key (32 bytes): what it keeps of
	// private rooms on disk (plaintext, chain state) is encrypted under
	// it. The caller does not modify it.
	DataKey() []byte
}

// Datastore layout of private rooms, under chat's namespace, every value
// sealed under the local data key with its key as associated data:
//
//	/private/<room>/plain/<event ID>          inner kind and body of a decrypted enc event
//	/private/<room>/chain/<epoch ID>/<author> a chain's state (e2ee.Chain.MarshalState)
//	/private/<room>/name                      the room's name, as last decrypted
var privPrefix = ds.NewKey("/private")

func plainKey(room string, id fmt.Stringer) ds.Key {
	return privPrefix.ChildString(room).ChildString("plain").ChildString(id.String())
}

func chainPrefix(room string, epoch fmt.Stringer) ds.Key {
	return privPrefix.ChildString(room).ChildString("chain").ChildString(epoch.String())
}

// sealLocal encrypts v under the data key, bound to the datastore key k.
func sealLocal(dataKey []byte, k ds.Key, v []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(dataKey)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(v)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, v, []byte("parley/v1/local\x00"+k.String())), nil
}

// openLocal reverses sealLocal.
func openLocal(dataKey []byte, k ds.Key, b []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(dataKey)
	if err != nil {
		return nil, err
	}
	if len(b) < aead.NonceSize() {
		return nil, errors.New("local record too short")
	}
	return aead.Open(nil, b[:aead.NonceSize()], b[aead.NonceSize():], []byte("parley/v1/local\x00"+k.String()))
}
