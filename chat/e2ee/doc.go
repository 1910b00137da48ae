// Package e2ee is the cryptographic foundation of Parley's private rooms
// and direct messages: key bundles, epoch secrets sealed to members,
// per-member message chains, message encryption, invite capabilities and
// the binding of a direct conversation's first message. It is a leaf: it
// imports only the standard library, golang.org/x/crypto and go-libp2p's
// core value types, and knows nothing of the ledger, the network or
// storage. One suite, Suite ("parley-e2ee-1"): HPKE Base mode with
// MLKEM768-X25519, HKDF-SHA256 and ChaCha20-Poly1305 for sealing,
// HKDF-SHA256 chains, XChaCha20-Poly1305 for messages, Ed25519 for
// signatures. Confidentiality is post-quantum; authentication is
// classical.
//
//	kp, _ := e2ee.GenerateKeyPair()                          // a member's KEM key pair
//	b, _ := e2ee.SignBundle(identity, e2ee.Bundle{Peer: me, PublicKey: kp.PublicKey(),
//		Seq: 1, Created: now, Expires: now.Add(7 * 24 * time.Hour)})
//	_, err := book.Add(b, now)                               // refuses rollbacks and expired bundles
//	secret := e2ee.NewEpochSecret()                          // the admin starting an epoch
//	sealed, _ := e2ee.SealEpochSecret(b, ep, secret, now)    // 1,168 bytes per member
//	secret, _ = e2ee.OpenEpochSecret(kp, b, ep, sealed)      // each member
//	keys, _ := e2ee.NewEpochKeys(ep, secret, members)        // every chain; clears secret
//	body, _ := keys.Seal(me, "msg", []byte("hi"))            // an event body
//	m, _ := keys.Open(signer, body)                          // the chain of the event's signer
//
// Errors are the sentinels of errors.go, wrapped with detail. KeyPair,
// BundleBook, Chain and EpochKeys are safe for concurrent use; the other
// types are values. Nothing here starts a goroutine.
//
// Where to start reading: suite.go and domains.go fix the algorithms,
// sizes and every domain string; encode.go has the one field encoding
// everything is hashed, derived, bound and signed with. Then bundle.go
// (signed key bundles), bundlebook.go (rollback protection), validator.go
// (the DHT record validator of /parley-keys/), keys.go (KEM key pairs),
// seal.go (epoch secrets), chain.go, chainstate.go, epochkeys.go and
// message.go (chains and message encryption), invite.go (capabilities)
// and dminit.go (a DM's first message). docs/SECURITY.md has the threat
// model and key lifecycle; testdata/vectors.json pins every byte.
//
// What this package leaves to its callers: agreeing on membership and
// epochs (ledger events), making a sending chain's state durable before
// publishing, keeping (epoch, author, index) unique in storage, counting
// and revoking invite uses, and accepting each DM (room, epoch) once.
package e2ee
