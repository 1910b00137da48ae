package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/chat/e2ee"
)

// E2EEKeyFile holds the node's private-room key material: a version byte,
// the KEM seed and the local data key, mode 0600.
const E2EEKeyFile = "e2ee.key"

// BundleFile holds the node's signed key bundle, reused across starts so
// that epoch secrets sealed to it still open.
const BundleFile = "e2ee.bundle"

// BundleProtocol answers a stream with this node's signed key bundle.
const BundleProtocol protocol.ID = "/parley/e2ee-bundle/1.0.0"

// bundleLifetime is how long a bundle signed here is valid; it is signed
// again (same key, next Seq) at a start less than bundleRenew before.
const (
	bundleLifetime = e2ee.MaxBundleLifetime
	bundleRenew    = 24 * time.Hour
	bundleTimeout  = 10 * time.Second
)

// e2eeKeys is the node's chat.Keys: its KEM key pair and bundle, the
// local data key, and peers' bundles fetched over BundleProtocol into a
// BundleBook (which refuses rollbacks and expired bundles).
type e2eeKeys struct {
	kp   *e2ee.KeyPair
	own  *e2ee.SignedBundle
	data []byte
	host host.Host
	book *e2ee.BundleBook
}

var _ chat.Keys = (*e2eeKeys)(nil)

// loadE2EEKeys reads or creates the key file and the bundle in dir.
func loadE2EEKeys(dir string, key crypto.PrivKey, now time.Time) (*e2eeKeys, error) {
	self, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, E2EEKeyFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		raw = make([]byte, 1+e2ee.SeedSize+32)
		raw[0] = 1
		if _, err := rand.Read(raw[1:]); err != nil {
			return nil, err
		}
		if err := writeFileAtomic(path, raw, 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(raw) != 1+e2ee.SeedSize+32 || raw[0] != 1 {
		return nil, fmt.Errorf("%w: %s is not a version 1 key file", ErrBadKey, path)
	}
	kp, err := e2ee.NewKeyPair(raw[1 : 1+e2ee.SeedSize])
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadKey, path, err)
	}
	k := &e2eeKeys{kp: kp, data: append([]byte(nil), raw[1+e2ee.SeedSize:]...), book: e2ee.NewBundleBook()}
	clear(raw)
	bpath := filepath.Join(dir, BundleFile)
	var seq uint64 = 1
	if b, err := os.ReadFile(bpath); err == nil {
		if sb, err := e2ee.ParseBundle(b); err == nil && sb.Peer == self && string(sb.PublicKey) == string(kp.PublicKey()) {
			seq = sb.Seq + 1
			if sb.Verify(now) == nil && sb.Expires.Sub(now) > bundleRenew {
				k.own = sb
			}
		}
	}
	if k.own == nil {
		if k.own, err = e2ee.SignBundle(key, e2ee.Bundle{Peer: self, PublicKey: kp.PublicKey(), Seq: seq,
			Created: now, Expires: now.Add(bundleLifetime)}); err != nil {
			return nil, err
		}
		if err := writeFileAtomic(bpath, k.own.Raw(), 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", bpath, err)
		}
	}
	return k, nil
}

// serve answers BundleProtocol on h.
func (k *e2eeKeys) serve(h host.Host) {
	k.host = h
	h.SetStreamHandler(BundleProtocol, func(s network.Stream) {
		defer s.Close()
		s.SetDeadline(time.Now().Add(bundleTimeout))
		s.Write(k.own.Raw())
	})
}

func (k *e2eeKeys) OwnBundle() *e2ee.SignedBundle { return k.own }

// OwnKeyPair returns the one key pair this node has, if h is its bundle's.
func (k *e2eeKeys) OwnKeyPair(h [e2ee.HashSize]byte) (*e2ee.KeyPair, *e2ee.SignedBundle, error) {
	if h != k.own.Hash() {
		return nil, nil, fmt.Errorf("%w: no bundle of ours with that hash", e2ee.ErrNoBundle)
	}
	return k.kp, k.own, nil
}

func (k *e2eeKeys) DataKey() []byte { return k.data }

// Bundle returns p's newest bundle valid now: the book's, else one asked
// of p directly (it must be connected or dialable).
func (k *e2eeKeys) Bundle(ctx context.Context, p peer.ID) (*e2ee.SignedBundle, error) {
	now := time.Now()
	if p == k.own.Peer {
		return k.own, nil
	}
	if b, err := k.book.Get(p, now); err == nil {
		return b, nil
	}
	if k.host == nil {
		return nil, e2ee.ErrNoBundle
	}
	ctx, cancel := context.WithTimeout(ctx, bundleTimeout)
	defer cancel()
	s, err := k.host.NewStream(ctx, p, BundleProtocol)
	if err != nil {
		return nil, fmt.Errorf("%w: ask %s: %v", e2ee.ErrNoBundle, p, err)
	}
	defer s.Close()
	s.SetDeadline(now.Add(bundleTimeout))
	raw, err := io.ReadAll(io.LimitReader(s, e2ee.MaxBundleSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read from %s: %v", e2ee.ErrNoBundle, p, err)
	}
	if len(raw) > e2ee.MaxBundleSize {
		return nil, fmt.Errorf("%w: %s sent %d bytes", e2ee.ErrMalformed, p, len(raw))
	}
	b, err := e2ee.ParseBundle(raw)
	if err != nil {
		return nil, err
	}
	if b.Peer != p {
		return nil, fmt.Errorf("%w: %s answered with the bundle of %s", e2ee.ErrBadSignature, p, b.Peer)
	}
	if _, err := k.book.Add(b, now); err != nil {
		return nil, err
	}
	return k.book.Get(p, now)
}
