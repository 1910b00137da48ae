package e2ee

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/crypto/chacha20poly1305"
)

// Message sizes.
const (
	// MinPadded is the smallest padded plaintext: every message of a
	// private room encrypts at least this much.
	MinPadded = 256
	// MaxPadded is the largest padded plaintext; a ciphertext is then
	// ~32 KiB, inside the ledger's 48 KiB body limit.
	MaxPadded = 32 << 10
	// MaxKindLen bounds the inner kind (the ledger's bound).
	MaxKindLen = 32
	// MaxCiphertextSize bounds an encoded ciphertext.
	MaxCiphertextSize = 1 + 1 + MaxEpochIDLen + 10 + NonceSize + MaxPadded + tagSize

	tagSize           = chacha20poly1305.Overhead
	ciphertextVersion = 1
)

// Message is a decrypted message: its inner kind and body, and the chain
// index it was sent under.
type Message struct {
	Index uint64
	Kind  string
	Body  []byte
}

// pad is the plaintext of a message:
//
//	field(kind) ‖ field(body) ‖ zeros
//
// to the smallest power of two ≥ MinPadded that holds it. Both lengths are
// explicit, so the padding is unambiguous; unpad accepts only this form.
func pad(kind string, body []byte) ([]byte, error) {
	if len(kind) == 0 || len(kind) > MaxKindLen {
		return nil, fmt.Errorf("%w: inner kind of %d bytes", ErrMalformed, len(kind))
	}
	if len(body) > MaxPadded {
		return nil, fmt.Errorf("%w: body of %d bytes exceeds %d padded", ErrMalformed, len(body), MaxPadded)
	}
	inner := appendField(appendField(nil, []byte(kind)), body)
	size := paddedSize(len(inner))
	if size > MaxPadded {
		return nil, fmt.Errorf("%w: message of %d bytes exceeds %d padded", ErrMalformed, len(inner), MaxPadded)
	}
	p := make([]byte, size)
	copy(p, inner)
	return p, nil
}

func paddedSize(n int) int {
	if n <= MinPadded {
		return MinPadded
	}
	return 1 << bits.Len(uint(n-1))
}

func unpad(p []byte) (string, []byte, error) {
	r := reader{b: p}
	kind := r.field("inner kind", 1, MaxKindLen)
	body := r.field("body", 0, MaxPadded)
	if r.err != nil {
		return "", nil, r.err
	}
	used := len(p) - len(r.b)
	if len(p) != paddedSize(used) {
		return "", nil, fmt.Errorf("%w: %d bytes padded to %d", ErrMalformed, used, len(p))
	}
	for _, c := range r.b {
		if c != 0 {
			return "", nil, fmt.Errorf("%w: non-zero padding", ErrMalformed)
		}
	}
	return string(kind), bytes.Clone(body), nil
}

// messageAAD is a message's associated data:
//
//	fields("parley/v1/msg", suite, room, epoch ID, author, index as 8 bytes)
//
// The author is the event's signer: a member who re-signs another's
// ciphertext changes it, and the message no longer authenticates.
func messageAAD(ep Epoch, author peer.ID, index uint64) []byte {
	return fields(domainMessage, []byte(Suite), []byte(ep.Room), ep.ID, []byte(author), u64(index))
}

// Ciphertext is an encrypted message as carried in an event body:
//
//	version 1 ‖ field(epoch ID) ‖ uvarint index ‖ nonce (24) ‖ sealed
//
// where sealed is XChaCha20-Poly1305 over the padded plaintext (a power
// of two from MinPadded to MaxPadded, plus the 16-byte tag). The room and
// the author are not in it: they are the event's, and bound by the AAD.
type Ciphertext struct {
	Epoch  []byte
	Index  uint64
	Nonce  []byte
	Sealed []byte
}

// Encode returns the canonical encoding.
func (c *Ciphertext) Encode() []byte {
	b := make([]byte, 0, 1+1+len(c.Epoch)+10+len(c.Nonce)+len(c.Sealed))
	b = append(b, ciphertextVersion)
	b = appendField(b, c.Epoch)
	b = binary.AppendUvarint(b, c.Index)
	b = append(b, c.Nonce...)
	return append(b, c.Sealed...)
}

// ParseCiphertext decodes an encoded ciphertext, bounded by
// MaxCiphertextSize; only the canonical encoding is accepted. The result
// aliases raw.
func ParseCiphertext(raw []byte) (*Ciphertext, error) {
	if len(raw) > MaxCiphertextSize {
		return nil, fmt.Errorf("%w: ciphertext of %d bytes exceeds %d", ErrMalformed, len(raw), MaxCiphertextSize)
	}
	r := reader{b: raw}
	r.version(ciphertextVersion)
	c := &Ciphertext{}
	c.Epoch = r.field("epoch ID", 1, MaxEpochIDLen)
	c.Index = r.uvarint("index")
	c.Nonce = r.fixed("nonce", NonceSize)
	c.Sealed = r.rest()
	if r.err != nil {
		return nil, r.err
	}
	if n := len(c.Sealed) - tagSize; n < MinPadded || n > MaxPadded || n&(n-1) != 0 {
		return nil, fmt.Errorf("%w: sealed plaintext of %d bytes", ErrMalformed, n)
	}
	return c, nil
}

// encryptMessage seals a padded plaintext under key with nonce and
// returns the encoded ciphertext, sealed straight into its one buffer.
func encryptMessage(key, nonce []byte, ep Epoch, author peer.ID, index uint64, padded []byte) ([]byte, error) {
	a, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 2*binary.MaxVarintLen64+1+len(ep.ID)+NonceSize+len(padded)+tagSize)
	b = append(b, ciphertextVersion)
	b = appendField(b, ep.ID)
	b = binary.AppendUvarint(b, index)
	b = append(b, nonce...)
	return a.Seal(b, nonce, padded, messageAAD(ep, author, index)), nil
}

// decryptMessage opens c under key for author.
func decryptMessage(key []byte, ep Epoch, author peer.ID, c *Ciphertext) (string, []byte, error) {
	a, err := chacha20poly1305.NewX(key)
	if err != nil {
		return "", nil, err
	}
	padded, err := a.Open(nil, c.Nonce, c.Sealed, messageAAD(ep, author, c.Index))
	if err != nil {
		return "", nil, fmt.Errorf("%w: message %d of %s", ErrDecrypt, c.Index, author)
	}
	defer clear(padded)
	return unpad(padded)
}
