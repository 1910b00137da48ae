package node

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/libp2p/go-libp2p/core/crypto"
	pb "github.com/libp2p/go-libp2p/core/crypto/pb"
)

// ErrBadKey is returned (wrapped, naming the file) when the identity key
// file exists but cannot be used: damaged, truncated, of an unknown
// version, or naming Argon2id costs out of bounds. The node never replaces
// it silently: the key is the user's identity.
var ErrBadKey = errors.New("identity key file is damaged")

// ErrPassphraseRequired is returned when the identity key is protected by
// a passphrase and none was given.
var ErrPassphraseRequired = errors.New("identity key is protected by a passphrase and none was given")

// ErrWrongPassphrase is returned when a protected identity key does not
// open with the passphrase given. A file whose header or ciphertext was
// altered fails the same way: the AEAD cannot tell the two apart.
var ErrWrongPassphrase = errors.New("wrong passphrase for the identity key (or the key file was altered)")

// ErrEmptyPassphrase is returned when asked to protect a key with an
// empty passphrase.
var ErrEmptyPassphrase = errors.New("empty passphrase")

// Keys are the secrets a data directory's identity file holds.
type Keys struct {
	// Identity is the node's Ed25519 key; its peer ID is the node's.
	Identity crypto.PrivKey
	// DataKey (32 bytes) is for encrypting what the node stores of
	// decrypted private content. A protected file seals a random one; an
	// unprotected identity derives it (see derivedDataKey).
	DataKey []byte
	// Protected is whether the file is sealed with a passphrase.
	Protected bool
}

// PassphraseFunc supplies the passphrase of a protected identity file. It
// is called only when the file is protected, so a terminal prompt appears
// only when needed. The caller clears the returned bytes after use.
type PassphraseFunc func() ([]byte, error)

// LoadOrCreateKey reads the unprotected Ed25519 identity in path, or
// creates one (mode 0600) if the file does not exist. A protected file is
// ErrPassphraseRequired: use LoadKeys.
func LoadOrCreateKey(path string) (key crypto.PrivKey, created bool, err error) {
	b, err := readKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key, _, err = crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return nil, false, fmt.Errorf("generate identity: %w", err)
		}
		raw, err := crypto.MarshalPrivateKey(key)
		if err != nil {
			return nil, false, err
		}
		if err := writeFileAtomic(path, raw, 0o600); err != nil {
			return nil, false, fmt.Errorf("write identity %s: %w", path, err)
		}
		return key, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	if isProtected(b) {
		return nil, false, fmt.Errorf("%s: %w", path, ErrPassphraseRequired)
	}
	key, err = parsePlainKey(path, b)
	return key, false, err
}

// LoadKeys reads the identity file at path, unlocking it with passphrase
// if it is protected (a nil passphrase is then ErrPassphraseRequired).
// Errors name the file and wrap ErrBadKey, ErrPassphraseRequired or
// ErrWrongPassphrase; the file is only read.
func LoadKeys(path string, passphrase PassphraseFunc) (Keys, error) {
	b, err := readKeyFile(path)
	if err != nil {
		return Keys{}, err
	}
	if !isProtected(b) {
		key, err := parsePlainKey(path, b)
		if err != nil {
			return Keys{}, err
		}
		dk, err := derivedDataKey(key)
		return Keys{Identity: key, DataKey: dk}, err
	}
	// Bad files fail before the passphrase is asked for.
	if _, err := parseKeyFile(b); err != nil {
		return Keys{}, fmt.Errorf("%w: %s: %v", ErrBadKey, path, err)
	}
	if passphrase == nil {
		return Keys{}, fmt.Errorf("%s: %w", path, ErrPassphraseRequired)
	}
	pass, err := passphrase()
	if err != nil {
		return Keys{}, fmt.Errorf("passphrase for %s: %w", path, err)
	}
	defer clear(pass)
	return openKeys(path, pass, b)
}

// openKeys decrypts the protected file b read from path.
func openKeys(path string, pass, b []byte) (Keys, error) {
	id, dk, err := openKeyFile(pass, b)
	var bad errKeyFile
	switch {
	case errors.As(err, &bad):
		return Keys{}, fmt.Errorf("%w: %s: %v", ErrBadKey, path, err)
	case err != nil:
		return Keys{}, fmt.Errorf("%s: %w", path, err)
	}
	return Keys{Identity: id, DataKey: dk, Protected: true}, nil
}

// checkOrCreateKey makes sure path holds a usable identity file, creating
// an unprotected one if it is missing. A protected file is checked as far
// as it can be without the passphrase (layout, version, bounds).
func checkOrCreateKey(path string) (created bool, err error) {
	b, err := readKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, created, err = LoadOrCreateKey(path)
		return created, err
	}
	if err != nil {
		return false, err
	}
	if isProtected(b) {
		if _, err := parseKeyFile(b); err != nil {
			return false, fmt.Errorf("%w: %s: %v", ErrBadKey, path, err)
		}
		return false, nil
	}
	_, err = parsePlainKey(path, b)
	return false, err
}

// readKeyFile reads at most maxKeyFile+1 bytes of path, so a huge file is
// refused without being loaded.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("read identity %s: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("read identity %s: %w", path, err)
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrBadKey, path, maxKeyFile)
	}
	return b, nil
}

// parsePlainKey decodes an unprotected identity file.
func parsePlainKey(path string, b []byte) (crypto.PrivKey, error) {
	key, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v (restore it from a backup; deleting it gives this node a new identity)", ErrBadKey, path, err)
	}
	if key.Type() != pb.KeyType_Ed25519 {
		return nil, fmt.Errorf("%w: %s holds a %s key, want Ed25519", ErrBadKey, path, key.Type())
	}
	return key, nil
}

// KeyProtected reports whether the identity file at path is protected by
// a passphrase (false if it does not exist).
func KeyProtected(path string) (bool, error) {
	b, err := readKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil && isProtected(b), err
}
