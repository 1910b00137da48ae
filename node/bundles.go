package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/internal/backoff"
	"github.com/parley-chat/parley/p2p/keyx"
)

// BundleConfig is the lifecycle of this node's key bundles and the bounds
// of its book of peers' bundles. Zero fields take DefaultBundleConfig's.
type BundleConfig struct {
	// Lifetime is a bundle's validity, at most e2ee.MaxBundleLifetime.
	// Default 14 days.
	Lifetime time.Duration
	// Rotation is how often a new key pair and bundle (seq+1) are made.
	// Default 7 days: half the lifetime, so a peer holding the previous
	// bundle can still seal to it for a week after the rotation.
	Rotation time.Duration
	// Retention is how long a key pair is kept after its bundle expired,
	// so that epoch secrets sealed to it while it was valid still open
	// when they arrive late (sync after time offline). Default 30 days,
	// the bound on an ended epoch's key state.
	Retention time.Duration
	// Republish is how often the current bundle is put in the DHT again
	// (kad-dht drops records after 48 h). Default 6 h.
	Republish time.Duration
	// RetryMin and RetryMax bound the backoff of a failed publication.
	// Defaults 5 s and 2 min: an attempt with no DHT peer fails at once,
	// so retrying often costs little and publishes soon after the first
	// peer connects.
	RetryMin, RetryMax time.Duration
	// LookupTimeout bounds each network step of a lookup. Default 20 s.
	LookupTimeout time.Duration
	// MaxBookPeers bounds the peers whose bundle is kept when it arrives
	// unasked (on connect). Lookups are not bounded by it. Default 10,000
	// (about 15 MB).
	MaxBookPeers int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultBundleConfig returns the defaults documented on BundleConfig.
func DefaultBundleConfig() BundleConfig {
	return BundleConfig{
		Lifetime:      e2ee.MaxBundleLifetime,
		Rotation:      7 * 24 * time.Hour,
		Retention:     30 * 24 * time.Hour,
		Republish:     6 * time.Hour,
		RetryMin:      5 * time.Second,
		RetryMax:      2 * time.Minute,
		LookupTimeout: 20 * time.Second,
		MaxBookPeers:  10_000,
	}
}

func (c BundleConfig) withDefaults() BundleConfig {
	d := DefaultBundleConfig()
	for _, f := range []struct{ v, d *time.Duration }{
		{&c.Lifetime, &d.Lifetime}, {&c.Rotation, &d.Rotation}, {&c.Retention, &d.Retention},
		{&c.Republish, &d.Republish}, {&c.RetryMin, &d.RetryMin}, {&c.RetryMax, &d.RetryMax},
		{&c.LookupTimeout, &d.LookupTimeout},
	} {
		if *f.v == 0 {
			*f.v = *f.d
		}
	}
	if c.MaxBookPeers == 0 {
		c.MaxBookPeers = d.MaxBookPeers
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports a lifecycle that cannot work.
func (c BundleConfig) Validate() error {
	switch {
	case c.Lifetime <= 0 || c.Lifetime > e2ee.MaxBundleLifetime:
		return fmt.Errorf("bundle lifetime %v: want (0, %v]", c.Lifetime, e2ee.MaxBundleLifetime)
	case c.Rotation <= 0 || c.Rotation >= c.Lifetime:
		return fmt.Errorf("bundle rotation %v: want (0, lifetime %v)", c.Rotation, c.Lifetime)
	case c.Retention < 0 || c.Republish <= 0 || c.RetryMin <= 0 || c.RetryMax < c.RetryMin || c.LookupTimeout <= 0:
		return errors.New("bundle config: negative or zero duration")
	case c.MaxBookPeers < 0:
		return errors.New("bundle config: negative MaxBookPeers")
	}
	return nil
}

// bundles owns this node's key bundles (keyring), the book of peers'
// bundles, the key-exchange service and the loop that rotates, erases and
// publishes. Close stops the loop and the service and erases the key
// pairs in memory.
type bundles struct {
	cfg     BundleConfig
	log     *slog.Logger
	ring    *keyring
	book    *bundleBook
	keyx    *keyx.Service // nil in tests that run the loop alone
	publish func(ctx context.Context, s *e2ee.SignedBundle) error
	get     func(ctx context.Context, key string) ([]byte, error) // the DHT's GetValue
	self    peer.ID
	host    host.Host // nil in tests that run the loop alone

	kick   chan struct{} // capacity 1: publish now
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// newBundles opens the keyring under dataDir, sealed under dataKey, and
// the book in store, and makes the first bundle if there is none. It
// starts nothing: start does.
func newBundles(ctx context.Context, dataDir string, key crypto.PrivKey, dataKey []byte, store ds.Datastore, cfg BundleConfig, log *slog.Logger) (*bundles, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	ring, err := openKeyring(filepath.Join(dataDir, KeyringFile), key, dataKey, cfg, log)
	if err != nil {
		return nil, err
	}
	if _, err := ring.maintain(cfg.Now(), false); err != nil {
		ring.close()
		return nil, fmt.Errorf("node: key bundle: %w", err)
	}
	book, err := openBundleBook(ctx, store, cfg.MaxBookPeers, log)
	if err != nil {
		ring.close()
		return nil, err
	}
	b := &bundles{cfg: cfg, log: log, ring: ring, book: book, self: ring.self, kick: make(chan struct{}, 1)}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	return b, nil
}

// start runs the maintenance loop.
func (b *bundles) start() { b.wg.Go(b.loop) }

// close stops the loop and the service, then erases the key pairs held in
// memory. Idempotent.
func (b *bundles) close() error {
	b.once.Do(func() {
		b.cancel()
		if b.keyx != nil {
			b.keyx.Close()
		}
		b.wg.Wait()
		b.ring.close()
	})
	return nil
}

// loop rotates and erases on time, publishes the current bundle when it
// changed and every Republish, and retries a failed publication with
// backoff.
func (b *bundles) loop() {
	bo := backoff.Backoff{Min: b.cfg.RetryMin, Max: b.cfg.RetryMax}
	failing := backoff.Backoff{Min: b.cfg.RetryMin, Max: b.cfg.RetryMax} // maintenance (disk)
	var published [e2ee.HashSize]byte
	var republish time.Time // zero: publish now
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-timer.C:
		case <-b.kick:
		}
		now := b.cfg.Now()
		var retry time.Duration // > 0 after a failed maintenance
		if _, err := b.ring.maintain(now, false); err != nil {
			retry = failing.Next()
			b.log.Error("key bundle maintenance failed", "err", err, "retry", retry)
		} else {
			failing.Reset()
		}
		cur := b.ring.current()
		if cur != nil && b.publish != nil && (cur.Hash() != published || !now.Before(republish)) {
			ctx, cancel := context.WithTimeout(b.ctx, b.cfg.LookupTimeout)
			err := b.publish(ctx, cur)
			cancel()
			if err == nil {
				published, republish = cur.Hash(), now.Add(b.cfg.Republish)
				bo.Reset()
				b.log.Debug("key bundle published", "seq", cur.Seq)
			} else if b.ctx.Err() == nil {
				published, republish = [e2ee.HashSize]byte{}, now.Add(bo.Next())
				b.log.Debug("key bundle not published yet", "seq", cur.Seq, "err", err)
			}
		}
		wait := b.ring.next().Sub(now)
		if r := republish.Sub(now); b.publish != nil && r < wait {
			wait = r
		}
		if retry > 0 {
			// The due rotation or erasure failed (disk full, read-only):
			// try again later, not at once.
			wait = max(wait, retry)
		}
		timer.Reset(max(wait, time.Second))
	}
}

// rotate makes a new key pair and bundle now and returns it once it is
// durable (its publication follows in the background).
func (b *bundles) rotate() (*e2ee.SignedBundle, error) {
	if _, err := b.ring.maintain(b.cfg.Now(), true); err != nil {
		return nil, err
	}
	select {
	case b.kick <- struct{}{}: // publish it
	default:
	}
	return b.ring.current(), nil
}

// lookup returns p's bundle: the book's if valid, else the network's.
func (b *bundles) lookup(ctx context.Context, p peer.ID) (*e2ee.SignedBundle, error) {
	if p == b.self {
		return b.ring.current(), nil
	}
	if s, err := b.book.get(p, b.cfg.Now()); err == nil {
		return s, nil
	}
	return b.refresh(ctx, p)
}

// refresh asks the network for p's bundle, even when the book holds a
// valid one: directly if p is connected and speaks keyx, then the DHT.
// What it finds goes through the book, so a rollback, an expired bundle
// or one not signed by p is refused with its error, and the book keeps
// what it had.
func (b *bundles) refresh(ctx context.Context, p peer.ID) (*e2ee.SignedBundle, error) {
	if p == b.self {
		return b.ring.current(), nil
	}
	var errs []error
	if b.keyx != nil && b.host != nil && b.host.Network().Connectedness(p) == network.Connected {
		fctx, cancel := context.WithTimeout(ctx, b.cfg.LookupTimeout)
		raw, err := b.keyx.Fetch(fctx, p)
		cancel()
		var s *e2ee.SignedBundle
		if errors.Is(err, keyx.ErrNoBundle) {
			err = fmt.Errorf("%w: %w", e2ee.ErrNoBundle, err)
		} else if err == nil {
			if s, err = parseBundleOf(p, raw); err == nil {
				if s, err = b.accept(ctx, s); err == nil {
					return s, nil
				}
			}
		}
		errs = append(errs, fmt.Errorf("direct: %w", err))
	}
	if b.get != nil {
		gctx, cancel := context.WithTimeout(ctx, b.cfg.LookupTimeout)
		raw, err := b.get(gctx, e2ee.BundleKey(p))
		cancel()
		if err == nil {
			var s *e2ee.SignedBundle
			if s, err = e2ee.ParseBundle(raw); err == nil && s.Peer != p {
				err = fmt.Errorf("%w: record of %s under %s's key", e2ee.ErrBadSignature, s.Peer, p)
			}
			if err == nil {
				if s, err = b.accept(ctx, s); err == nil {
					return s, nil
				}
			}
		}
		errs = append(errs, fmt.Errorf("dht: %w", err))
	}
	if len(errs) == 0 {
		errs = append(errs, e2ee.ErrNoBundle)
	}
	return nil, fmt.Errorf("node: bundle of %s: %w", p, errors.Join(errs...))
}

// accept adds s to the book (unbounded: it was asked for) and returns
// the peer's newest bundle: s, or the same one already held.
func (b *bundles) accept(ctx context.Context, s *e2ee.SignedBundle) (*e2ee.SignedBundle, error) {
	now := b.cfg.Now()
	if _, err := b.book.add(ctx, s, now, false); err != nil {
		return nil, err
	}
	return b.book.get(s.Peer, now)
}

// onConnect keeps a bundle fetched on connect (bounded by MaxBookPeers).
func (b *bundles) onConnect(p peer.ID, raw []byte) {
	s, err := parseBundleOf(p, raw)
	if err == nil {
		_, err = b.book.add(b.ctx, s, b.cfg.Now(), true)
	}
	if err != nil {
		b.log.Debug("bundle from peer refused", "peer", p, "err", err)
	}
}

// parseBundleOf parses a bundle p served over keyx: it must be signed by
// the key it names (e2ee.ParseBundle) and name p, or p would pass off
// another peer's bundle, replayed, as its own.
func parseBundleOf(p peer.ID, raw []byte) (*e2ee.SignedBundle, error) {
	s, err := e2ee.ParseBundle(raw)
	if err != nil {
		return nil, err
	}
	if s.Peer != p {
		return nil, fmt.Errorf("%w: %s served the bundle of %s", keyx.ErrWrongPeer, p, s.Peer)
	}
	return s, nil
}

// verifyBundle is keyx's Config.Verify: what keyx hands on is a bundle
// of the peer that served it.
func verifyBundle(p peer.ID, raw []byte) error {
	_, err := parseBundleOf(p, raw)
	return err
}

// ownRaw returns the current bundle's bytes for keyx to serve, nil when
// there is none.
func (b *bundles) ownRaw() []byte {
	if s := b.ring.current(); s != nil {
		return s.Raw()
	}
	return nil
}

// ErrNoKeys is returned by the key-bundle methods of a node that runs
// none (a bootstrap node).
var ErrNoKeys = errors.New("node: this node has no key bundles")

// OwnBundle returns this node's current signed key bundle (nil on a
// bootstrap node).
func (n *Node) OwnBundle() *e2ee.SignedBundle {
	if n.bundles == nil {
		return nil
	}
	return n.bundles.ring.current()
}

// OwnKeyPair returns the key pair of this node's bundle whose hash is h,
// for opening what was sealed to it, while it is held: from its bundle's
// creation until Retention after its expiry.
func (n *Node) OwnKeyPair(h [e2ee.HashSize]byte) (*e2ee.KeyPair, *e2ee.SignedBundle, error) {
	if n.bundles == nil {
		return nil, nil, ErrNoKeys
	}
	return n.bundles.ring.keyPair(h)
}

// RotateBundle makes a new key pair and bundle (seq+1) now, for example
// after a suspected compromise, and publishes it in the background. The
// previous key pairs are kept as on a scheduled rotation.
func (n *Node) RotateBundle() (*e2ee.SignedBundle, error) {
	if n.bundles == nil {
		return nil, ErrNoKeys
	}
	return n.bundles.rotate()
}

// Bundle returns p's current key bundle: the book's when it holds a
// valid one, else one fetched directly from p if connected, else from the
// DHT. Whatever the network gives goes through the book, which refuses a
// bundle not signed by p (e2ee.ErrBadSignature), an expired one
// (e2ee.ErrExpired) and one older than already seen (e2ee.ErrRollback);
// the error names the step that failed. For this node's own ID it returns
// OwnBundle. Safe for concurrent use.
func (n *Node) Bundle(ctx context.Context, p peer.ID) (*e2ee.SignedBundle, error) {
	if n.bundles == nil {
		return nil, ErrNoKeys
	}
	return n.bundles.lookup(ctx, p)
}

// RefreshBundle is Bundle without the book's answer: it always asks the
// network, so that a newer bundle is found before the one held expires.
func (n *Node) RefreshBundle(ctx context.Context, p peer.ID) (*e2ee.SignedBundle, error) {
	if n.bundles == nil {
		return nil, ErrNoKeys
	}
	return n.bundles.refresh(ctx, p)
}

// startBundles opens the keyring and the book, serves and fetches bundles
// over keyx, and starts the loop that rotates and publishes in the DHT.
func (n *Node) startBundles(ctx context.Context) error {
	bcfg := DefaultBundleConfig()
	if n.opts.Bundles != nil {
		n.opts.Bundles(&bcfg)
	}
	b, err := newBundles(ctx, n.opts.DataDir, n.key, n.dataKey, n.store, bcfg, n.log)
	if err != nil {
		return err
	}
	d := n.p2p.DHT()
	b.host = n.p2p.Host()
	b.publish = func(ctx context.Context, s *e2ee.SignedBundle) error {
		return d.PutValue(ctx, e2ee.BundleKey(s.Peer), s.Raw())
	}
	b.get = func(ctx context.Context, key string) ([]byte, error) { return d.GetValue(ctx, key) }
	kcfg := keyx.DefaultConfig()
	kcfg.Logger = n.opts.Logger
	kcfg.MaxSize = e2ee.MaxBundleSize
	kcfg.Verify = verifyBundle
	kcfg.OnBundle = b.onConnect
	if b.keyx, err = keyx.New(b.host, b.ownRaw, kcfg); err != nil {
		b.close()
		return err
	}
	n.bundles = b
	b.start()
	return nil
}
