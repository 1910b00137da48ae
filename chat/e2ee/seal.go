package e2ee

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// NewEpochSecret returns a fresh SecretSize-byte epoch secret from
// crypto/rand.
func NewEpochSecret() []byte {
	s := make([]byte, SecretSize)
	rand.Read(s) // never fails (crypto/rand.Read documents that it crashes the program instead)
	return s
}

// sealInfo is the HPKE info of an epoch secret sealed to a member:
// fields("parley/v1/epoch-seal", room, epoch ID, member, bundle hash).
func sealInfo(ep Epoch, member peer.ID, bundleHash [HashSize]byte) []byte {
	return fields(domainEpochSeal, []byte(ep.Room), ep.ID, []byte(member), bundleHash[:])
}

// SealEpochSecret seals an epoch secret to the member whose bundle is to,
// which must be valid at now. The result (SealedSecretSize bytes) opens
// only with that bundle's key pair and only for this room and epoch: the
// HPKE info binds the room, epoch, member and bundle hash.
func SealEpochSecret(to *SignedBundle, ep Epoch, secret []byte, now time.Time) ([]byte, error) {
	if len(secret) != SecretSize {
		return nil, fmt.Errorf("%w: epoch secret of %d bytes", ErrMalformed, len(secret))
	}
	if err := ep.check(); err != nil {
		return nil, err
	}
	if err := to.Verify(now); err != nil {
		return nil, err
	}
	return sealTo(to.PublicKey, sealInfo(ep, to.Peer, to.Hash()), secret)
}

// OpenEpochSecret opens a secret sealed to own, the bundle of kp. Wrong
// key, bundle, room, epoch or tampered bytes all give ErrDecrypt.
func OpenEpochSecret(kp *KeyPair, own *SignedBundle, ep Epoch, sealed []byte) ([]byte, error) {
	if err := ep.check(); err != nil {
		return nil, err
	}
	if len(sealed) != SealedSecretSize {
		return nil, fmt.Errorf("%w: sealed secret of %d bytes", ErrMalformed, len(sealed))
	}
	if !bytes.Equal(kp.pub, own.PublicKey) {
		return nil, fmt.Errorf("%w: key pair is not the bundle's", ErrWrongRecipient)
	}
	return kp.open(sealInfo(ep, own.Peer, own.Hash()), sealed)
}
