package ledger

import (
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// authorKey is what checking an event needs from its author's public key,
// worked out once per key: a room has few authors and each signs many
// events, so decompressing the key point (~5 µs) and deriving the peer ID
// for every event would repeat the same work.
type authorKey struct {
	id peer.ID
	// text is id's base58 form, which every fed message shows (~3 µs to
	// encode, one allocation).
	text string
	// expanded is the decompressed point with its precomputed table
	// (verification is ~15 % faster with it); nil when the bytes are not
	// a curve point, so no signature by them verifies.
	expanded *ed25519.ExpandedPublicKey
}

// keyCacheSize bounds the cache (about 1.5 KB per key with voi's table,
// so under 0.4 MiB in all). Past it an arbitrary entry is dropped: someone
// signing with many throwaway keys costs us recomputation, never memory.
const keyCacheSize = 256

type keyCache struct {
	mu sync.Mutex
	m  map[[ed25519.PublicKeySize]byte]*authorKey
}

// authorKeys is shared by every decoder in the process.
var authorKeys = keyCache{m: make(map[[ed25519.PublicKeySize]byte]*authorKey)}

// peek returns the cached author key for pub, or one with only the peer
// ID (expanded nil: it verifies nothing) without caching it.
func (c *keyCache) peek(pub []byte) (*authorKey, error) {
	c.mu.Lock()
	ak := c.m[[ed25519.PublicKeySize]byte(pub)]
	c.mu.Unlock()
	if ak != nil {
		return ak, nil
	}
	id, err := authorID(pub)
	if err != nil {
		return nil, err
	}
	return &authorKey{id: id, text: id.String()}, nil
}

// get returns the author key for pub (which must be PublicKeySize bytes),
// expanding and caching it on first use.
func (c *keyCache) get(pub []byte) (*authorKey, error) {
	ak, err := c.peek(pub)
	if err != nil || ak.expanded != nil {
		return ak, err // cached entries are always expanded
	}
	ak.expanded, _ = ed25519.NewExpandedPublicKey(ed25519.PublicKey(pub))
	if ak.expanded == nil {
		return ak, nil // not worth a slot: nothing it signs will verify
	}
	c.mu.Lock()
	if len(c.m) >= keyCacheSize {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[[ed25519.PublicKeySize]byte(pub)] = ak
	c.mu.Unlock()
	return ak, nil
}
