package node

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parley-chat/parley/chat/e2ee"
)

// The keyring file, version 2, is the JSON object (compact, fields in this
// order, []byte as standard base64, exactly what json.Marshal writes)
//
//	{"version":2,"seq":S,"bundles":[B1,…],"nonce":N,"sealed":C}
//
// where the bundles are the signed bundles' envelope bytes, oldest first,
// N is 24 random bytes drawn for each write, and C is
// XChaCha20-Poly1305(key, N, seed1 ‖ seed2 ‖ …, header): one 32-byte KEM
// seed per bundle, in order. The key is HKDF-SHA256 of the node's data key
// with info "parley/v1/keyring", never the data key itself. The header,
// authenticated but in the clear, is
//
//	version 1 byte ‖ seq 8 bytes ‖ count 4 bytes ‖ (length 4 bytes ‖ bundle)…
//
// all big-endian, so a changed seq, or a bundle swapped, dropped or
// reordered, fails to open like a wrong key. A file that is not byte for
// byte the canonical encoding of what it decodes to is refused too, so no
// byte of the file can change without the open failing.
//
// Version 1 (before the data key) held the seeds in the clear; it is read
// once and rewritten as version 2 (migrateKeyring). Nothing writes
// version 1 again.
const (
	keyringVersion = 2
	keyringInfo    = "parley/v1/keyring"
	// maxKeyringFile bounds what is read. A node holds at most about
	// seven bundles (44 days of weekly rotation), 1.4 KB each.
	maxKeyringFile = 1 << 20
)

// errKeyringOpen is the AEAD's refusal: wrong data key or a changed file.
var errKeyringOpen = errors.New("cannot open: wrong data key, or the file was changed")

// keyringV2 is the version 2 file.
type keyringV2 struct {
	Version int      `json:"version"`
	Seq     uint64   `json:"seq"`
	Bundles [][]byte `json:"bundles"`
	Nonce   []byte   `json:"nonce"`
	Sealed  []byte   `json:"sealed"`
}

// keyringV1 is the version 1 file, seeds in the clear; read to migrate.
type keyringV1 struct {
	Version int    `json:"version"`
	Seq     uint64 `json:"seq"`
	Keys    []struct {
		Seed   []byte `json:"seed"`
		Bundle []byte `json:"bundle"`
	} `json:"keys"`
}

// keyringKey derives the key that seals the keyring from the data key.
func keyringKey(dataKey []byte) ([]byte, error) {
	if len(dataKey) != dataKeyLen {
		return nil, fmt.Errorf("data key is %d bytes, want %d", len(dataKey), dataKeyLen)
	}
	return hkdf.Key(sha256.New, dataKey, nil, keyringInfo, chacha20poly1305.KeySize)
}

// keyringVersionOf reads only the version field of a keyring file.
func keyringVersionOf(raw []byte) (int, error) {
	var v struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, err
	}
	return v.Version, nil
}

// decodeKeyring parses a version 2 file without the key: layout, nonce
// size, one seed's worth of ciphertext per bundle, and canonical bytes.
func decodeKeyring(raw []byte) (*keyringV2, error) {
	if len(raw) > maxKeyringFile {
		return nil, fmt.Errorf("%d bytes, more than the %d a keyring can hold", len(raw), maxKeyringFile)
	}
	var f keyringV2
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, err
	}
	if f.Version != keyringVersion {
		return nil, fmt.Errorf("version %d (this parley reads 1 and %d)", f.Version, keyringVersion)
	}
	if len(f.Nonce) != chacha20poly1305.NonceSizeX {
		return nil, fmt.Errorf("nonce of %d bytes", len(f.Nonce))
	}
	if len(f.Sealed) != len(f.Bundles)*e2ee.SeedSize+chacha20poly1305.Overhead {
		return nil, fmt.Errorf("%d sealed bytes for %d keys", len(f.Sealed), len(f.Bundles))
	}
	if again, err := json.Marshal(&f); err != nil || !bytes.Equal(again, raw) {
		return nil, errors.New("not in canonical form")
	}
	return &f, nil
}

// header is the authenticated, unencrypted part of f.
func (f *keyringV2) header() []byte {
	h := append(make([]byte, 0, 13), byte(f.Version))
	h = binary.BigEndian.AppendUint64(h, f.Seq)
	h = binary.BigEndian.AppendUint32(h, uint32(len(f.Bundles)))
	for _, b := range f.Bundles {
		h = binary.BigEndian.AppendUint32(h, uint32(len(b)))
		h = append(h, b...)
	}
	return h
}

// sealKeyring encodes a version 2 file of seq, bundles and their seeds
// under key (from keyringKey), with nonce (random in use, fixed in the
// test vector).
func sealKeyring(key []byte, nonce []byte, seq uint64, bundles, seeds [][]byte) ([]byte, error) {
	if len(seeds) != len(bundles) || len(nonce) != chacha20poly1305.NonceSizeX {
		return nil, fmt.Errorf("%d seeds for %d bundles, nonce of %d bytes", len(seeds), len(bundles), len(nonce))
	}
	plain := make([]byte, 0, len(seeds)*e2ee.SeedSize)
	defer func() { clear(plain[:cap(plain)]) }()
	for _, s := range seeds {
		if len(s) != e2ee.SeedSize {
			return nil, fmt.Errorf("seed of %d bytes", len(s))
		}
		plain = append(plain, s...)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	f := keyringV2{Version: keyringVersion, Seq: seq, Bundles: bundles, Nonce: nonce}
	f.Sealed = aead.Seal(nil, nonce, plain, f.header())
	return json.Marshal(&f)
}

// open decrypts f's seeds under key, one per bundle; the caller clears
// them.
func (f *keyringV2) open(key []byte) ([][]byte, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, f.Nonce, f.Sealed, f.header())
	if err != nil {
		return nil, errKeyringOpen
	}
	seeds := make([][]byte, len(f.Bundles))
	for i := range seeds {
		seeds[i] = plain[i*e2ee.SeedSize : (i+1)*e2ee.SeedSize : (i+1)*e2ee.SeedSize]
	}
	return seeds, nil
}
