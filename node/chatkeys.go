package node

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/chat/e2ee"
)

// chatKeys is chat's view of this node's key material: the keyring's
// bundles and key pairs, the peers' bundles (bundles.go), and the
// keystore's data key, which chat seals what it keeps of private rooms
// under.
type chatKeys struct{ n *Node }

var _ chat.Keys = chatKeys{}

func (k chatKeys) OwnBundle() *e2ee.SignedBundle { return k.n.OwnBundle() }

func (k chatKeys) OwnKeyPair(h [e2ee.HashSize]byte) (*e2ee.KeyPair, *e2ee.SignedBundle, error) {
	return k.n.OwnKeyPair(h)
}

func (k chatKeys) Bundle(ctx context.Context, p peer.ID) (*e2ee.SignedBundle, error) {
	return k.n.Bundle(ctx, p)
}

func (k chatKeys) DataKey() []byte { return k.n.dataKey }
