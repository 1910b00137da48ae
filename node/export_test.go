package node

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
)

// BookedBundle returns the newest bundle of p in n's book, valid now,
// without asking the network: what tests check to tell a bundle received
// on connect, or kept across a restart, from one a lookup fetched.
func (n *Node) BookedBundle(p peer.ID) (*e2ee.SignedBundle, error) {
	return n.bundles.book.get(p, time.Now())
}
