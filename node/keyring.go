package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
)

// KeyringFile holds this node's key-bundle key pairs: the private seeds
// (mode 0600) and the signed bundles, and the highest seq ever issued.
const KeyringFile = "keyring.json"

// ErrBadKeyring is returned (wrapped, naming the file) when the keyring
// file exists but cannot be used. It is never replaced silently: a new
// one would start seq again from 1, below what peers hold.
var ErrBadKeyring = errors.New("key bundle keyring file is damaged")

// errNoOwnKey is returned when no held key pair matches a bundle hash.
var errNoOwnKey = errors.New("node: no key pair held for that bundle")

// keyring is this node's own key pairs and signed bundles, newest last.
// It is safe for concurrent use; maintain rotates and erases, and writes
// the file before anything new is used, so a seq is never issued twice
// and never goes back, even after a crash.
type keyring struct {
	path string
	key  crypto.PrivKey
	self peer.ID
	cfg  BundleConfig

	mu   sync.Mutex
	seq  uint64   // highest seq issued (durable once maintain returns)
	keys []ownKey // oldest first; the last is current
}

type ownKey struct {
	kp *e2ee.KeyPair
	b  *e2ee.SignedBundle
}

// keyringFile is the file's JSON ([]byte fields are base64).
type keyringFile struct {
	Version int            `json:"version"`
	Seq     uint64         `json:"seq"`
	Keys    []keyringEntry `json:"keys"`
}

type keyringEntry struct {
	Seed   []byte `json:"seed"`
	Bundle []byte `json:"bundle"`
}

// openKeyring loads path, or starts an empty keyring if it does not
// exist. Call maintain before use.
func openKeyring(path string, key crypto.PrivKey, cfg BundleConfig) (*keyring, error) {
	self, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, err
	}
	r := &keyring{path: path, key: key, self: self, cfg: cfg}
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	bad := func(why string, args ...any) error {
		return fmt.Errorf("%w: %s: %s (restore it from a backup; deleting it makes new bundles that peers holding the old ones refuse until those expire)", ErrBadKeyring, path, fmt.Sprintf(why, args...))
	}
	var f keyringFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, bad("%v", err)
	}
	clear(raw)
	if f.Version != 1 {
		return nil, bad("version %d", f.Version)
	}
	r.seq = f.Seq
	for i, e := range f.Keys {
		b, err := e2ee.ParseBundle(e.Bundle)
		if err != nil {
			return nil, bad("bundle %d: %v", i, err)
		}
		if b.Peer != self || b.Seq > f.Seq || (i > 0 && b.Seq <= r.keys[i-1].b.Seq) {
			return nil, bad("bundle %d (seq %d) out of place", i, b.Seq)
		}
		kp, err := e2ee.NewKeyPair(e.Seed)
		clear(e.Seed)
		if err != nil {
			return nil, bad("key %d: %v", i, err)
		}
		if !bytes.Equal(kp.PublicKey(), b.PublicKey) {
			kp.Erase()
			return nil, bad("key %d does not match its bundle", i)
		}
		r.keys = append(r.keys, ownKey{kp, b})
	}
	return r, nil
}

// current returns the bundle to publish (nil before the first maintain).
func (r *keyring) current() *e2ee.SignedBundle {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.keys) == 0 {
		return nil
	}
	return r.keys[len(r.keys)-1].b
}

// keyPair returns the held key pair of the bundle with hash h.
func (r *keyring) keyPair(h [e2ee.HashSize]byte) (*e2ee.KeyPair, *e2ee.SignedBundle, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range r.keys {
		if k.b.Hash() == h {
			return k.kp, k.b, nil
		}
	}
	return nil, nil, errNoOwnKey
}

// maintain erases the key pairs whose bundle expired more than Retention
// before now, and makes a new key pair and bundle when there is none,
// the current one is Rotation old, or force is set. The file is written
// before a new bundle is returned by current. It reports whether the
// current bundle changed.
func (r *keyring) maintain(now time.Time, force bool) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keep := r.keys[:0:0]
	var erase []ownKey
	for i, k := range r.keys {
		if i < len(r.keys)-1 && !now.Before(k.b.Expires.Add(r.cfg.Retention)) {
			erase = append(erase, k)
			continue
		}
		keep = append(keep, k)
	}
	rotate := force || len(keep) == 0 || !now.Before(keep[len(keep)-1].b.Created.Add(r.cfg.Rotation)) ||
		keep[len(keep)-1].b.Verify(now) != nil
	if !rotate && len(erase) == 0 {
		return false, nil
	}
	seq := r.seq
	if rotate {
		kp, err := e2ee.GenerateKeyPair()
		if err != nil {
			return false, err
		}
		b, err := e2ee.SignBundle(r.key, e2ee.Bundle{
			Peer: r.self, PublicKey: kp.PublicKey(), Seq: seq + 1,
			Created: now, Expires: now.Add(r.cfg.Lifetime),
		})
		if err != nil {
			kp.Erase()
			return false, err
		}
		keep = append(keep, ownKey{kp, b})
		seq++
	}
	if err := r.write(seq, keep); err != nil {
		if rotate {
			keep[len(keep)-1].kp.Erase()
		}
		return false, err
	}
	for _, k := range erase {
		k.kp.Erase()
	}
	r.seq, r.keys = seq, keep
	return rotate, nil
}

// write replaces the file with seq and keys (temp file, fsync, rename).
func (r *keyring) write(seq uint64, keys []ownKey) error {
	f := keyringFile{Version: 1, Seq: seq, Keys: make([]keyringEntry, 0, len(keys))}
	for _, k := range keys {
		seed, err := k.kp.Seed()
		if err != nil {
			return err
		}
		f.Keys = append(f.Keys, keyringEntry{Seed: seed, Bundle: k.b.Raw()})
	}
	raw, err := json.Marshal(f)
	for _, e := range f.Keys {
		clear(e.Seed)
	}
	if err != nil {
		return err
	}
	defer clear(raw)
	if err := writeFileAtomic(r.path, raw, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", r.path, err)
	}
	return nil
}

// next returns when maintain has work next: the current bundle's
// rotation or the first erasure.
func (r *keyring) next() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.keys) == 0 {
		return time.Time{}
	}
	t := r.keys[len(r.keys)-1].b.Created.Add(r.cfg.Rotation)
	for _, k := range r.keys[:len(r.keys)-1] {
		if e := k.b.Expires.Add(r.cfg.Retention); e.Before(t) {
			t = e
		}
	}
	return t
}

// close erases every key pair held in memory.
func (r *keyring) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range r.keys {
		k.kp.Erase()
	}
	r.keys = nil
}
