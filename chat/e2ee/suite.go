package e2ee

import (
	"crypto/hpke"

	"golang.org/x/crypto/chacha20poly1305"
)

// Suite names the one set of algorithms this package implements. It is
// carried in every key bundle and every message's associated data, so a
// later suite can never be confused with this one.
//
//   - epoch secrets, DM first messages and invite proofs are sealed with
//     HPKE (RFC 9180) Base mode: KEM MLKEM768-X25519 (X-Wing, post-quantum
//     hybrid), KDF HKDF-SHA256, AEAD ChaCha20-Poly1305;
//   - chain and message keys are derived with HKDF-SHA256;
//   - messages are encrypted with XChaCha20-Poly1305 under a random
//     24-byte nonce;
//   - signatures (bundles, invites, DM statements, and the ledger events
//     that carry ciphertext) are Ed25519: authentication is classical.
const Suite = "parley-e2ee-1"

// Sizes fixed by the suite.
const (
	// SecretSize is the size of an epoch secret, a chain key and a message
	// key.
	SecretSize = 32
	// PublicKeySize is the size of a hybrid KEM public key (ML-KEM-768
	// encapsulation key, 1,184 bytes, then X25519, 32).
	PublicKeySize = 1216
	// SeedSize is the size of a hybrid KEM private key as stored: the
	// X-Wing seed both halves are expanded from.
	SeedSize = 32
	// EncSize is the size of an HPKE encapsulation (ML-KEM-768
	// ciphertext, 1,088 bytes, then an X25519 share, 32).
	EncSize = 1120
	// SealedSecretSize is the size of one epoch secret sealed to one
	// member: encapsulation, secret, Poly1305 tag.
	SealedSecretSize = EncSize + SecretSize + 16
	// NonceSize is the size of a message nonce.
	NonceSize = chacha20poly1305.NonceSizeX
)

func kem() hpke.KEM   { return hpke.MLKEM768X25519() }
func kdf() hpke.KDF   { return hpke.HKDFSHA256() }
func aead() hpke.AEAD { return hpke.ChaCha20Poly1305() }
