package node

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/parley-chat/parley/chat/e2ee"
)

// KeyringFile holds this node's key-bundle key pairs: the signed
// bundles and the highest seq ever issued in the clear, the private seeds
// sealed under a key derived from the data key (keyringfile.go); mode
// 0600.
const KeyringFile = "keyring.json"

// ErrBadKeyring is returned (wrapped, naming the file) when the keyring
// file exists but cannot be used: damaged, changed, or sealed under
// another data key. It is never replaced silently: a new one would start
// seq again from 1, below what peers hold.
var ErrBadKeyring = errors.New("key bundle keyring file is damaged")

// keyringBeforeRename, if set, runs before each keyring write replaces
// the file; tests set it to fail writes.
var keyringBeforeRename func(tmp string) error

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
	seal []byte // keyringKey of the data key; cleared by close

	mu   sync.Mutex
	seq  uint64   // highest seq issued (durable once maintain returns)
	keys []ownKey // oldest first; the last is current
}

type ownKey struct {
	kp *e2ee.KeyPair
	b  *e2ee.SignedBundle
}

// openKeyring loads path, sealed under a key derived from dataKey, or
// starts an empty keyring if it does not exist. A version 1 file (seeds
// in the clear) is rewritten sealed before openKeyring returns. Call
// maintain before use.
func openKeyring(path string, key crypto.PrivKey, dataKey []byte, cfg BundleConfig, log *slog.Logger) (_ *keyring, err error) {
	self, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, err
	}
	seal, err := keyringKey(dataKey)
	if err != nil {
		return nil, err
	}
	r := &keyring{path: path, key: key, self: self, cfg: cfg, seal: seal}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer clear(raw)
	version, err := r.load(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v (restore it from a backup; deleting it makes new bundles that peers holding the old ones refuse until those expire)", ErrBadKeyring, path, err)
	}
	if version == 1 {
		// Migrate: the same key pairs and seq, sealed. Until the rename the
		// old file stands, so a failure here loses nothing.
		if err := r.write(r.seq, r.keys); err != nil {
			return nil, fmt.Errorf("node: seal keyring: %w", err)
		}
		log.Info("keyring sealed under the data key", "file", path, "keys", len(r.keys), "seq", r.seq)
	}
	return r, nil
}

// load fills an empty r from the file's bytes and returns the file's
// version. On error r may hold key pairs; the caller closes it.
func (r *keyring) load(raw []byte) (version int, err error) {
	version, err = keyringVersionOf(raw)
	if err != nil {
		return 0, err
	}
	var seq uint64
	var bundles, seeds [][]byte
	defer func() {
		for _, s := range seeds {
			clear(s)
		}
	}()
	switch version {
	case 1:
		// Strict, so a sealed file relabelled as version 1 is refused
		// instead of "migrated" to an empty keyring.
		var f keyringV1
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return 0, err
		}
		if len(f.Keys) == 0 {
			return 0, errors.New("version 1 file without keys")
		}
		seq = f.Seq
		for _, e := range f.Keys {
			bundles, seeds = append(bundles, e.Bundle), append(seeds, e.Seed)
		}
	default:
		f, err := decodeKeyring(raw)
		if err != nil {
			return 0, err
		}
		if seeds, err = f.open(r.seal); err != nil {
			return 0, err
		}
		seq, bundles = f.Seq, f.Bundles
	}
	r.seq = seq
	for i, raw := range bundles {
		b, err := e2ee.ParseBundle(raw)
		if err != nil {
			return 0, fmt.Errorf("bundle %d: %w", i, err)
		}
		if b.Peer != r.self || b.Seq > seq || (i > 0 && b.Seq <= r.keys[i-1].b.Seq) {
			return 0, fmt.Errorf("bundle %d (seq %d) out of place", i, b.Seq)
		}
		kp, err := e2ee.NewKeyPair(seeds[i])
		if err != nil {
			return 0, fmt.Errorf("key %d: %w", i, err)
		}
		r.keys = append(r.keys, ownKey{kp, b})
		if !bytes.Equal(kp.PublicKey(), b.PublicKey) {
			return 0, fmt.Errorf("key %d does not match its bundle", i)
		}
	}
	return version, nil
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

// write replaces the file with seq and keys, sealed under a fresh nonce
// (temp file, fsync, rename).
func (r *keyring) write(seq uint64, keys []ownKey) error {
	bundles := make([][]byte, len(keys))
	seeds := make([][]byte, 0, len(keys))
	defer func() {
		for _, s := range seeds {
			clear(s)
		}
	}()
	for i, k := range keys {
		seed, err := k.kp.Seed()
		if err != nil {
			return err
		}
		bundles[i], seeds = k.b.Raw(), append(seeds, seed)
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	rand.Read(nonce) // never fails (crypto/rand)
	raw, err := sealKeyring(r.seal, nonce, seq, bundles, seeds)
	if err != nil {
		return err
	}
	if err := writeAtomic(r.path, raw, 0o600, keyringBeforeRename); err != nil {
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
	clear(r.seal)
}
