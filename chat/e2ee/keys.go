package e2ee

import (
	"crypto/hpke"
	"fmt"
	"sync"
)

// KeyPair is a member's hybrid KEM key pair (ML-KEM-768 + X25519), the
// private half of a key bundle. It is safe for concurrent use.
//
// Erase drops the key: it zeroes the seed this KeyPair holds and forgets
// the expanded key, after which Open calls fail with ErrErased. Go cannot
// promise that no copy survives in memory the garbage collector has not
// reused yet (crypto/hpke keeps the expanded key internally); what Erase
// does promise is that this process can no longer use the key, and that
// the seed is gone from the one place that kept it.
type KeyPair struct {
	mu   sync.RWMutex
	seed []byte // nil once erased
	priv hpke.PrivateKey
	pub  []byte
}

// GenerateKeyPair makes a fresh key pair from crypto/rand.
func GenerateKeyPair() (*KeyPair, error) {
	priv, err := kem().GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("generate KEM key: %w", err)
	}
	seed, err := priv.Bytes()
	if err != nil {
		return nil, fmt.Errorf("generate KEM key: %w", err)
	}
	return &KeyPair{seed: seed, priv: priv, pub: priv.PublicKey().Bytes()}, nil
}

// NewKeyPair restores a key pair from its SeedSize-byte seed (as Seed
// returned it). The seed is copied; the caller should clear its own.
func NewKeyPair(seed []byte) (*KeyPair, error) {
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("%w: KEM seed of %d bytes", ErrMalformed, len(seed))
	}
	priv, err := kem().NewPrivateKey(seed)
	if err != nil {
		return nil, fmt.Errorf("%w: KEM seed: %v", ErrMalformed, err)
	}
	return &KeyPair{seed: append([]byte(nil), seed...), priv: priv, pub: priv.PublicKey().Bytes()}, nil
}

// PublicKey returns the KEM public key (PublicKeySize bytes) to put in a
// bundle. It stays available after Erase.
func (k *KeyPair) PublicKey() []byte { return append([]byte(nil), k.pub...) }

// Seed returns a copy of the private seed, for the keystore to wrap; the
// caller clears it after use. It fails with ErrErased after Erase.
func (k *KeyPair) Seed() ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.seed == nil {
		return nil, ErrErased
	}
	return append([]byte(nil), k.seed...), nil
}

// Erase zeroes the seed and drops the private key. It is idempotent.
func (k *KeyPair) Erase() {
	k.mu.Lock()
	defer k.mu.Unlock()
	clear(k.seed)
	k.seed, k.priv = nil, nil
}

// open decrypts an HPKE Base-mode single-shot ciphertext sealed to this
// key pair under info.
func (k *KeyPair) open(info, sealed []byte) ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.priv == nil {
		return nil, ErrErased
	}
	pt, err := hpke.Open(k.priv, kdf(), aead(), info, sealed)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// sealTo encrypts plaintext to a KEM public key under info (HPKE Base
// mode, single shot): encapsulation ‖ ciphertext.
func sealTo(pub, info, plaintext []byte) ([]byte, error) {
	pk, err := kem().NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: KEM public key: %v", ErrMalformed, err)
	}
	return hpke.Seal(pk, kdf(), aead(), info, plaintext)
}
