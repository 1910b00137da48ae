package keyx

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"

	"github.com/parley-chat/parley/chat/e2ee"
)

// forgeBundle returns an envelope of a bundle naming victim but signed by
// signer: what a peer would serve to pass its key off as victim's.
func forgeBundle(t *testing.T, signer crypto.PrivKey, victim peer.ID) []byte {
	t.Helper()
	kp, err := e2ee.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Millisecond)
	env, err := record.Seal(&e2ee.Bundle{Peer: victim, Suite: e2ee.Suite, PublicKey: kp.PublicKey(), Seq: 9, Created: now, Expires: now.Add(time.Hour)}, signer)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
