package e2ee_test

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/parley-chat/parley/chat/e2ee"
)

func member(seed byte) (crypto.PrivKey, peer.ID, *e2ee.KeyPair, *e2ee.SignedBundle) {
	key, _ := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(make32(seed)))
	id, _ := peer.IDFromPrivateKey(key)
	kp, _ := e2ee.GenerateKeyPair()
	now := time.Now()
	b, err := e2ee.SignBundle(key, e2ee.Bundle{Peer: id, PublicKey: kp.PublicKey(), Seq: 1,
		Created: now, Expires: now.Add(7 * 24 * time.Hour)})
	if err != nil {
		panic(err)
	}
	return key, id, kp, b
}

func make32(b byte) []byte {
	s := make([]byte, 32)
	s[0] = b
	return s
}

// An admin starts an epoch for two members; the other member opens its
// sealed secret, derives the chains, and reads the admin's message.
func Example() {
	_, admin, adminKP, adminBundle := member(1)
	_, bob, bobKP, bobBundle := member(2)
	ep := e2ee.Epoch{Room: "privroom1", ID: []byte("ID of the epoch event")}
	now := time.Now()

	secret := e2ee.NewEpochSecret()
	toBob, _ := e2ee.SealEpochSecret(bobBundle, ep, secret, now)
	toAdmin, _ := e2ee.SealEpochSecret(adminBundle, ep, secret, now)
	fmt.Println("sealed bytes per member:", len(toBob))

	mine, _ := e2ee.OpenEpochSecret(adminKP, adminBundle, ep, toAdmin)
	adminKeys, _ := e2ee.NewEpochKeys(ep, mine, []peer.ID{admin, bob})
	body, _ := adminKeys.Seal(admin, "msg", []byte("welcome"))

	bobSecret, _ := e2ee.OpenEpochSecret(bobKP, bobBundle, ep, toBob)
	bobKeys, _ := e2ee.NewEpochKeys(ep, bobSecret, []peer.ID{admin, bob})
	m, err := bobKeys.Open(admin, body) // admin signed the event carrying body
	fmt.Println(m.Index, m.Kind, string(m.Body), err)
	_, err = bobKeys.Open(admin, body)
	fmt.Println("again:", errors.Is(err, e2ee.ErrReplay))
	_, err = bobKeys.Open(bob, body) // re-signed by bob as his own
	fmt.Println("as bob's:", errors.Is(err, e2ee.ErrDecrypt))
	// Output:
	// sealed bytes per member: 1168
	// 0 msg welcome <nil>
	// again: true
	// as bob's: true
}
