package node

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"

	"github.com/libp2p/go-libp2p/core/crypto"
	pb "github.com/libp2p/go-libp2p/core/crypto/pb"
)

// ErrBadKey is returned (wrapped, naming the file) when the identity key
// file exists but cannot be used. The node never replaces it silently: the
// key is the user's identity.
var ErrBadKey = errors.New("identity key file is damaged")

// LoadOrCreateKey reads the Ed25519 identity in path, or creates one (mode
// 0600) if the file does not exist.
func LoadOrCreateKey(path string) (key crypto.PrivKey, created bool, err error) {
	b, err := os.ReadFile(path)
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
		return nil, false, fmt.Errorf("read identity %s: %w", path, err)
	}
	key, err = crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %s: %v (restore it from a backup; deleting it gives this node a new identity)", ErrBadKey, path, err)
	}
	if key.Type() != pb.KeyType_Ed25519 {
		return nil, false, fmt.Errorf("%w: %s holds a %s key, want Ed25519", ErrBadKey, path, key.Type())
	}
	return key, false, nil
}
