package node

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// ProtectResult says what ProtectKeys did.
type ProtectResult int

const (
	// KeyCreated: there was no identity; a new one was written protected.
	KeyCreated ProtectResult = iota + 1
	// KeyConverted: an unprotected identity was sealed in place; the peer
	// ID and data key are unchanged.
	KeyConverted
	// KeyAlreadyProtected: the file was protected and opens with the
	// passphrase given; nothing was written.
	KeyAlreadyProtected
)

// InitProtected is Init with the identity protected by passphrase: it
// creates a protected identity, or seals an existing unprotected one in
// place (same peer ID), or checks that an already protected one opens
// with passphrase. It holds the data dir's lock meanwhile, so it refuses
// a directory a running daemon uses. An existing protected identity is
// never replaced; a wrong passphrase is ErrWrongPassphrase with the file
// untouched.
func InitProtected(dir string, passphrase []byte, p KDFParams) (Keys, ProtectResult, error) {
	log := slog.Default().With("subsystem", "node")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Keys{}, 0, fmt.Errorf("create data dir %s: %w", dir, err)
	}
	if err := secureDataDir(dir, log); err != nil {
		return Keys{}, 0, err
	}
	lock, err := lockDataDir(dir)
	if err != nil {
		return Keys{}, 0, err
	}
	defer lock.release()
	keys, res, err := ProtectKeys(filepath.Join(dir, KeyFile), passphrase, p)
	if err != nil {
		return Keys{}, 0, err
	}
	if _, err := initDataDir(dir, log); err != nil {
		return Keys{}, 0, err
	}
	return keys, res, nil
}

// ProtectKeys makes the identity file at path protected by passphrase with
// Argon2id costs p (DefaultKDFParams in use); see InitProtected, which
// also takes the data dir's lock. The file is replaced only by a complete,
// synced temp file (writeAtomic), mode 0600.
func ProtectKeys(path string, passphrase []byte, p KDFParams) (Keys, ProtectResult, error) {
	return protectKeys(path, passphrase, p, nil)
}

// protectKeys is ProtectKeys with writeAtomic's beforeRename hook.
func protectKeys(path string, passphrase []byte, p KDFParams, beforeRename func(string) error) (Keys, ProtectResult, error) {
	if len(passphrase) == 0 {
		return Keys{}, 0, ErrEmptyPassphrase
	}
	if err := p.Validate(); err != nil {
		return Keys{}, 0, err
	}
	b, err := readKeyFile(path)
	var keys Keys
	res := KeyConverted
	switch {
	case errors.Is(err, os.ErrNotExist):
		res = KeyCreated
		keys.Identity, _, err = crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return Keys{}, 0, fmt.Errorf("generate identity: %w", err)
		}
		keys.DataKey = make([]byte, dataKeyLen)
		rand.Read(keys.DataKey)
	case err != nil:
		return Keys{}, 0, err
	case isProtected(b):
		// Never re-sealed here: replacing a protected key would let
		// whoever runs init change its passphrase without knowing it.
		keys, err := openKeys(path, passphrase, b)
		if err != nil {
			return Keys{}, 0, err
		}
		return keys, KeyAlreadyProtected, nil
	default:
		if keys.Identity, err = parsePlainKey(path, b); err != nil {
			return Keys{}, 0, err
		}
		if keys.DataKey, err = derivedDataKey(keys.Identity); err != nil {
			return Keys{}, 0, err
		}
	}
	var salt [saltLen]byte
	var nonce [nonceLen]byte
	rand.Read(salt[:])
	rand.Read(nonce[:])
	sealed, err := sealKeyFile(passphrase, p, salt, nonce, keys.Identity, keys.DataKey)
	if err != nil {
		return Keys{}, 0, err
	}
	if err := writeAtomic(path, sealed, 0o600, beforeRename); err != nil {
		return Keys{}, 0, fmt.Errorf("write identity %s: %w", path, err)
	}
	keys.Protected = true
	return keys, res, nil
}
