package e2ee

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// KeyNamespace is the DHT record namespace of key bundles: a peer's
// bundle is stored under BundleKey(peer), "/parley-keys/<peer ID>".
const KeyNamespace = "parley-keys"

// BundleKey returns the DHT key of p's bundle.
func BundleKey(p peer.ID) string { return "/" + KeyNamespace + "/" + p.String() }

// ParseBundleKey returns the peer a DHT key names; only the canonical
// text of the peer ID is accepted.
func ParseBundleKey(key string) (peer.ID, error) {
	rest, ok := strings.CutPrefix(key, "/"+KeyNamespace+"/")
	if !ok {
		return "", fmt.Errorf("%w: key %q outside /%s/", ErrMalformed, key, KeyNamespace)
	}
	p, err := peer.Decode(rest)
	if err != nil || p.String() != rest {
		return "", fmt.Errorf("%w: key %q does not name a peer", ErrMalformed, key)
	}
	return p, nil
}

// BundleValidator is the DHT record validator of KeyNamespace; it has the
// two methods of go-libp2p-record's Validator, so the DHT takes it in a
// NamespacedValidator. A record is valid when it is a signed bundle of
// the peer its key names, valid now; among valid records the highest Seq
// wins (then the later expiry, then the lower hash, so every node picks
// the same one). A DHT node can still serve an old record: clients add
// what they fetch to a BundleBook, which refuses it.
type BundleValidator struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (v BundleValidator) now() time.Time {
	if v.Now == nil {
		return time.Now()
	}
	return v.Now()
}

// Validate checks value as the record stored under key.
func (v BundleValidator) Validate(key string, value []byte) error {
	_, err := v.parse(key, value, v.now())
	return err
}

func (v BundleValidator) parse(key string, value []byte, now time.Time) (*SignedBundle, error) {
	p, err := ParseBundleKey(key)
	if err != nil {
		return nil, err
	}
	s, err := ParseBundle(value)
	if err != nil {
		return nil, err
	}
	if s.Peer != p {
		return nil, fmt.Errorf("%w: bundle of %s under the key of %s", ErrBadSignature, s.Peer, p)
	}
	if err := s.Verify(now); err != nil {
		return nil, err
	}
	return s, nil
}

// Select returns the index of the best valid record among values, or an
// error if none is valid.
func (v BundleValidator) Select(key string, values [][]byte) (int, error) {
	now := v.now()
	best, bestAt := (*SignedBundle)(nil), -1
	for i, val := range values {
		s, err := v.parse(key, val, now)
		if err != nil {
			continue
		}
		if best == nil || better(s, best) {
			best, bestAt = s, i
		}
	}
	if best == nil {
		return 0, fmt.Errorf("%w: no valid bundle under %q", ErrMalformed, key)
	}
	return bestAt, nil
}

func better(a, b *SignedBundle) bool {
	if a.Seq != b.Seq {
		return a.Seq > b.Seq
	}
	if !a.Expires.Equal(b.Expires) {
		return a.Expires.After(b.Expires)
	}
	ha, hb := a.Hash(), b.Hash()
	return bytes.Compare(ha[:], hb[:]) < 0
}
