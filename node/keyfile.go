package node

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	pb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// A protected identity file (version 1) is, in order:
//
//	magic    9  "PARLEYKEY"
//	version  1  1
//	time     4  Argon2id passes, big-endian
//	memory   4  Argon2id memory in KiB, big-endian
//	threads  1  Argon2id lanes
//	salt    16  random
//	nonce   24  random, XChaCha20-Poly1305
//	sealed   …  XChaCha20-Poly1305(payload), 16-byte tag included
//
// The first 35 bytes (magic to salt) are the AEAD's additional data, so a
// changed parameter or salt fails like a wrong passphrase instead of
// silently deriving another key. The sealing key is HKDF-Expand-SHA256 of
// Argon2id(passphrase, salt, time, memory, threads) with info
// "parley/v1/key-wrap". The payload is a 2-byte big-endian length, the
// identity as libp2p's protobuf encoding (crypto.MarshalPrivateKey), and the
// 32-byte data key. An unprotected file is that protobuf alone; it starts
// with 0x08, never with the magic.
const (
	keyFileMagic   = "PARLEYKEY"
	keyFileVersion = 1
	keyHeaderLen   = len(keyFileMagic) + 1 + 4 + 4 + 1 + saltLen
	saltLen        = 16
	nonceLen       = chacha20poly1305.NonceSizeX
	dataKeyLen     = 32
	// maxKeyFile bounds what is read: an Ed25519 payload seals to 161 bytes.
	maxKeyFile = 4096
	// minSealedLen is an empty identity: length prefix, data key, tag.
	minSealedLen = 2 + dataKeyLen + chacha20poly1305.Overhead

	wrapInfo    = "parley/v1/key-wrap"
	dataKeyInfo = "parley/v1/data-key"
)

// KDFParams are the Argon2id costs that turn a passphrase into the key
// that seals the identity.
type KDFParams struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32
	Threads   uint8
}

// DefaultKDFParams are RFC 9106's second recommended option (t=3, 64 MiB)
// with 4 lanes: 0.2–0.45 s to unlock on 2 cores (docs/BENCHMARKS.md),
// and 64 MiB per guess for an attacker.
func DefaultKDFParams() KDFParams { return KDFParams{Time: 3, MemoryKiB: 64 << 10, Threads: 4} }

// Bounds on KDFParams, checked before any key file is opened: the file
// names its own costs, so one written by an attacker must not make the
// daemon allocate gigabytes or spin for minutes. The ceilings leave room
// for a future default four times stronger in memory.
const (
	maxKDFTime      = 10
	maxKDFMemoryKiB = 256 << 10 // 256 MiB
	maxKDFThreads   = 16
)

// Validate reports parameters outside the bounds this version reads.
func (p KDFParams) Validate() error {
	switch {
	case p.Time < 1 || p.Time > maxKDFTime:
		return fmt.Errorf("argon2id time %d outside 1..%d", p.Time, maxKDFTime)
	case p.Threads < 1 || p.Threads > maxKDFThreads:
		return fmt.Errorf("argon2id threads %d outside 1..%d", p.Threads, maxKDFThreads)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxKDFMemoryKiB:
		return fmt.Errorf("argon2id memory %d KiB outside %d..%d", p.MemoryKiB, 8*uint32(p.Threads), maxKDFMemoryKiB)
	}
	return nil
}

// keyFile is a parsed protected identity file.
type keyFile struct {
	params KDFParams
	salt   [saltLen]byte
	nonce  [nonceLen]byte
	sealed []byte
}

// isProtected reports whether b is (or is the truncated start of) a
// protected key file.
func isProtected(b []byte) bool {
	n := min(len(b), len(keyFileMagic))
	return n > 0 && bytes.Equal(b[:n], []byte(keyFileMagic)[:n])
}

// errKeyFile is the reason a protected file cannot be parsed; callers wrap
// it in ErrBadKey with the file's name.
type errKeyFile string

func (e errKeyFile) Error() string { return string(e) }

// parseKeyFile checks the layout, version and bounds of a protected file
// without the passphrase. The returned sealed bytes alias b.
func parseKeyFile(b []byte) (keyFile, error) {
	var f keyFile
	if !bytes.HasPrefix(b, []byte(keyFileMagic)) {
		if isProtected(b) {
			return f, fmt.Errorf("truncated: %d bytes, want at least %d", len(b), keyHeaderLen+nonceLen+minSealedLen)
		}
		return f, errors.New("not a protected parley key (bad magic)")
	}
	if len(b) > len(keyFileMagic) && b[len(keyFileMagic)] != keyFileVersion {
		return f, fmt.Errorf("unsupported key file version %d (this parley reads version %d; a newer parley may have written it)", b[len(keyFileMagic)], keyFileVersion)
	}
	if len(b) < keyHeaderLen+nonceLen+minSealedLen {
		return f, fmt.Errorf("truncated: %d bytes, want at least %d", len(b), keyHeaderLen+nonceLen+minSealedLen)
	}
	if len(b) > maxKeyFile {
		return f, fmt.Errorf("%d bytes, more than the %d a key file can hold", len(b), maxKeyFile)
	}
	h := b[len(keyFileMagic)+1:]
	f.params = KDFParams{
		Time:      binary.BigEndian.Uint32(h[0:4]),
		MemoryKiB: binary.BigEndian.Uint32(h[4:8]),
		Threads:   h[8],
	}
	if err := f.params.Validate(); err != nil {
		return f, fmt.Errorf("parameters out of bounds: %w", err)
	}
	copy(f.salt[:], h[9:9+saltLen])
	copy(f.nonce[:], b[keyHeaderLen:])
	f.sealed = b[keyHeaderLen+nonceLen:]
	return f, nil
}

// header returns the bytes the AEAD authenticates: magic to salt.
func (f *keyFile) header() []byte {
	h := make([]byte, 0, keyHeaderLen)
	h = append(h, keyFileMagic...)
	h = append(h, keyFileVersion)
	h = binary.BigEndian.AppendUint32(h, f.params.Time)
	h = binary.BigEndian.AppendUint32(h, f.params.MemoryKiB)
	h = append(h, f.params.Threads)
	return append(h, f.salt[:]...)
}

// encode returns the file's bytes.
func (f *keyFile) encode() []byte {
	b := append(f.header(), f.nonce[:]...)
	return append(b, f.sealed...)
}

// wrapKey derives the sealing key from the passphrase. It costs the
// Argon2id parameters in time and memory.
func wrapKey(passphrase []byte, p KDFParams, salt []byte) ([]byte, error) {
	k := argon2.IDKey(passphrase, salt, p.Time, p.MemoryKiB, p.Threads, 32)
	defer clear(k)
	return hkdf.Expand(sha256.New, k, wrapInfo, 32)
}

// sealKeyFile seals identity and dataKey under passphrase with the given
// salt and nonce (random in use, fixed in the test vector).
func sealKeyFile(passphrase []byte, p KDFParams, salt [saltLen]byte, nonce [nonceLen]byte, identity crypto.PrivKey, dataKey []byte) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if len(dataKey) != dataKeyLen {
		return nil, fmt.Errorf("data key is %d bytes, want %d", len(dataKey), dataKeyLen)
	}
	payload, err := encodeKeyPayload(identity, dataKey)
	if err != nil {
		return nil, err
	}
	defer clear(payload)
	f := keyFile{params: p, salt: salt, nonce: nonce}
	k, err := wrapKey(passphrase, p, salt[:])
	if err != nil {
		return nil, err
	}
	defer clear(k)
	aead, err := chacha20poly1305.NewX(k)
	if err != nil {
		return nil, err
	}
	f.sealed = aead.Seal(nil, nonce[:], payload, f.header())
	return f.encode(), nil
}

// openKeyFile parses and decrypts a protected file. A wrong passphrase
// and a changed header or ciphertext are one error: the AEAD cannot tell
// them apart.
func openKeyFile(passphrase []byte, b []byte) (identity crypto.PrivKey, dataKey []byte, err error) {
	f, err := parseKeyFile(b)
	if err != nil {
		return nil, nil, errKeyFile(err.Error())
	}
	k, err := wrapKey(passphrase, f.params, f.salt[:])
	if err != nil {
		return nil, nil, err
	}
	defer clear(k)
	aead, err := chacha20poly1305.NewX(k)
	if err != nil {
		return nil, nil, err
	}
	payload, err := aead.Open(nil, f.nonce[:], f.sealed, f.header())
	if err != nil {
		return nil, nil, ErrWrongPassphrase
	}
	defer clear(payload)
	identity, dataKey, err = decodeKeyPayload(payload)
	if err != nil {
		// Authentic but malformed: written by a broken or foreign tool.
		return nil, nil, errKeyFile("sealed payload: " + err.Error())
	}
	return identity, dataKey, nil
}

// encodeKeyPayload is the plaintext a protected file seals.
func encodeKeyPayload(identity crypto.PrivKey, dataKey []byte) ([]byte, error) {
	raw, err := crypto.MarshalPrivateKey(identity)
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	if len(raw) > maxKeyFile {
		return nil, fmt.Errorf("identity encoding is %d bytes", len(raw))
	}
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(raw)+len(dataKey)), uint16(len(raw)))
	b = append(b, raw...)
	return append(b, dataKey...), nil
}

// decodeKeyPayload is the inverse of encodeKeyPayload; only an Ed25519
// identity is accepted.
func decodeKeyPayload(b []byte) (crypto.PrivKey, []byte, error) {
	if len(b) < 2 {
		return nil, nil, errors.New("too short")
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) != 2+n+dataKeyLen {
		return nil, nil, fmt.Errorf("%d bytes for a %d-byte identity and a %d-byte data key", len(b), n, dataKeyLen)
	}
	key, err := crypto.UnmarshalPrivateKey(b[2 : 2+n])
	if err != nil {
		return nil, nil, err
	}
	if key.Type() != pb.KeyType_Ed25519 {
		return nil, nil, fmt.Errorf("a %s key, want Ed25519", key.Type())
	}
	return key, bytes.Clone(b[2+n:]), nil
}

// derivedDataKey is the data key of an unprotected identity: the file is
// then the only secret on disk, so a key derived from it is exactly as
// safe as a random one stored beside it, and stays the same when the file
// is protected later, keeping what it encrypted readable.
func derivedDataKey(identity crypto.PrivKey) ([]byte, error) {
	raw, err := identity.Raw()
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	return hkdf.Key(sha256.New, raw, nil, dataKeyInfo, dataKeyLen)
}
