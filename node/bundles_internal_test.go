package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
)

func testIdentity(t *testing.T) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// On virtual time, the loop makes seq 1 at start, seq+1 every 7 days and
// publishes each; a key pair stays usable until its bundle's expiry plus
// the retention and is erased then, in memory and in the file.
func TestBundleRotationAndErasure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		key := testIdentity(t)
		store := dssync.MutexWrap(ds.NewMapDatastore())
		b, err := newBundles(t.Context(), dir, key, testDataKey(t, key), store, BundleConfig{}, discard)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var published []uint64
		b.publish = func(_ context.Context, s *e2ee.SignedBundle) error {
			mu.Lock()
			defer mu.Unlock()
			published = append(published, s.Seq)
			return nil
		}
		b.start()
		defer b.close()
		lastPublished := func() uint64 {
			synctest.Wait()
			mu.Lock()
			defer mu.Unlock()
			if len(published) == 0 {
				return 0
			}
			return published[len(published)-1]
		}
		cfg := DefaultBundleConfig()

		first := b.ring.current()
		if first.Seq != 1 || lastPublished() != 1 {
			t.Fatalf("start: seq %d, published %d", first.Seq, lastPublished())
		}
		kp1, _, err := b.ring.keyPair(first.Hash())
		if err != nil {
			t.Fatal(err)
		}

		time.Sleep(cfg.Rotation - time.Minute)
		if s := b.ring.current(); s.Seq != 1 {
			t.Fatalf("rotated early: seq %d", s.Seq)
		}
		time.Sleep(2 * time.Minute)
		second := b.ring.current()
		if second.Seq != 2 || lastPublished() != 2 {
			t.Fatalf("after 7 days: seq %d, published %d", second.Seq, lastPublished())
		}
		if _, _, err := b.ring.keyPair(first.Hash()); err != nil {
			t.Fatalf("seq 1 key pair gone at rotation: %v", err)
		}

		// Just before the first bundle's expiry + retention it still opens.
		time.Sleep(time.Until(first.Expires.Add(cfg.Retention)) - time.Minute)
		if _, _, err := b.ring.keyPair(first.Hash()); err != nil {
			t.Fatalf("seq 1 key pair gone before its retention ended: %v", err)
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if _, _, err := b.ring.keyPair(first.Hash()); !errors.Is(err, errNoOwnKey) {
			t.Fatalf("seq 1 key pair after retention: %v", err)
		}
		if _, err := kp1.Seed(); !errors.Is(err, e2ee.ErrErased) {
			t.Fatalf("seq 1 seed after retention: %v, want ErrErased", err)
		}
		if _, _, err := b.ring.keyPair(second.Hash()); err != nil {
			t.Fatalf("seq 2 key pair erased with seq 1: %v", err)
		}
		// 44 days: rotations at 7, 14, …, 42 days.
		if s := b.ring.current(); s.Seq != 7 {
			t.Fatalf("after 44 days: seq %d, want 7", s.Seq)
		}

		// The file agrees: seq 1 is gone from it, seq 2 is not.
		r, err := openKeyring(filepath.Join(dir, KeyringFile), key, testDataKey(t, key), b.cfg, discard)
		if err != nil {
			t.Fatal(err)
		}
		defer r.close()
		if _, _, err := r.keyPair(first.Hash()); !errors.Is(err, errNoOwnKey) {
			t.Fatalf("seq 1 still in the file: %v", err)
		}
		if _, _, err := r.keyPair(second.Hash()); err != nil {
			t.Fatalf("seq 2 not in the file: %v", err)
		}
	})
}

// A bundle that cannot be written is never used: the seq stays where the
// file has it. What was written survives a crash (the keyring is dropped
// without close and reopened): the seq never goes back.
func TestKeyringSeqDurable(t *testing.T) {
	key := testIdentity(t)
	cfg := DefaultBundleConfig().withDefaults()
	now := time.Now()

	bad, err := openKeyring(filepath.Join(t.TempDir(), "missing", KeyringFile), key, testDataKey(t, key), cfg, discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.maintain(now, false); err == nil || bad.current() != nil || bad.seq != 0 {
		t.Fatalf("unwritable keyring: err %v, current %v, seq %d", err, bad.current(), bad.seq)
	}

	path := filepath.Join(t.TempDir(), KeyringFile)
	r, err := openKeyring(path, key, testDataKey(t, key), cfg, discard)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := r.maintain(now, true); err != nil {
			t.Fatal(err)
		}
	}
	// Crash: r is abandoned as is.
	r2, err := openKeyring(path, key, testDataKey(t, key), cfg, discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r2.maintain(now, false); err != nil {
		t.Fatal(err)
	}
	if s := r2.current(); s.Seq != 3 || s.Hash() != r.current().Hash() {
		t.Fatalf("after the crash: seq %d, want 3", s.Seq)
	}
	if _, err := r2.maintain(now, true); err != nil || r2.current().Seq != 4 {
		t.Fatalf("next rotation: %v, seq %d", err, r2.current().Seq)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file mode: %v %v", fi.Mode(), err)
	}
}

// A damaged keyring file is an error naming it, and is left as it was.
func TestKeyringDamaged(t *testing.T) {
	key := testIdentity(t)
	dir := t.TempDir()
	path := filepath.Join(dir, KeyringFile)
	r, err := openKeyring(path, key, testDataKey(t, key), DefaultBundleConfig().withDefaults(), discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.maintain(time.Now(), false); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func([]byte) []byte{
		"truncated":  func(b []byte) []byte { return b[:len(b)/2] },
		"other peer": func(b []byte) []byte { return b }, // opened with another identity below
		// A recorded seq below a held bundle's would let the next rotation
		// reuse a seq.
		"seq below its keys": func(b []byte) []byte { return bytes.Replace(b, []byte(`"seq":1`), []byte(`"seq":0`), 1) },
	} {
		t.Run(name, func(t *testing.T) {
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			damaged := mutate(orig)
			if err := os.WriteFile(path, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			defer os.WriteFile(path, orig, 0o600)
			k := key
			if name == "other peer" {
				k = testIdentity(t)
			}
			if string(damaged) == string(orig) && name != "other peer" {
				t.Fatal("mutation changed nothing")
			}
			if _, err := openKeyring(path, k, testDataKey(t, k), DefaultBundleConfig().withDefaults(), discard); !errors.Is(err, ErrBadKeyring) {
				t.Fatalf("open: %v, want ErrBadKeyring", err)
			}
			if now, _ := os.ReadFile(path); string(now) != string(damaged) {
				t.Fatal("damaged file was rewritten")
			}
		})
	}
}

// Bundles that arrive unasked fill the book up to MaxBookPeers and no
// further; a lookup's bundle is kept past it, and so is a newer bundle of
// a peer already held. What was kept is back after reopening.
func TestBundleBookBound(t *testing.T) {
	store := dssync.MutexWrap(ds.NewMapDatastore())
	ctx := t.Context()
	book, err := openBundleBook(ctx, store, 3, discard)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	mk := func(key crypto.PrivKey, seq uint64) *e2ee.SignedBundle {
		kp, err := e2ee.GenerateKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		s, err := e2ee.SignBundle(key, e2ee.Bundle{Peer: mustPeer(t, key), PublicKey: kp.PublicKey(), Seq: seq, Created: now, Expires: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	keys := make([]crypto.PrivKey, 5)
	for i := range keys {
		keys[i] = testIdentity(t)
	}
	for i := range 3 {
		if ok, err := book.add(ctx, mk(keys[i], 1), now, true); !ok || err != nil {
			t.Fatalf("peer %d: %v", i, err)
		}
	}
	if _, err := book.add(ctx, mk(keys[3], 1), now, true); !errors.Is(err, errBookFull) {
		t.Fatalf("4th peer on connect: %v, want errBookFull", err)
	}
	if ok, err := book.add(ctx, mk(keys[0], 2), now, true); !ok || err != nil {
		t.Fatalf("newer bundle of a held peer: %v", err)
	}
	if ok, err := book.add(ctx, mk(keys[4], 1), now, false); !ok || err != nil {
		t.Fatalf("looked-up peer past the bound: %v", err)
	}
	again, err := openBundleBook(ctx, store, 3, discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.newest) != 4 {
		t.Fatalf("reopened book holds %d peers, want 4", len(again.newest))
	}
	if s, err := again.get(mustPeer(t, keys[0]), now); err != nil || s.Seq != 2 {
		t.Fatalf("reopened: peer 0 %v", err)
	}
	if _, err := again.get(mustPeer(t, keys[3]), now); !errors.Is(err, e2ee.ErrNoBundle) {
		t.Fatalf("refused peer present after reopening: %v", err)
	}
}

func peerOf(k crypto.PrivKey) (peer.ID, error) { return peer.IDFromPrivateKey(k) }

func mustPeer(t *testing.T, k crypto.PrivKey) peer.ID {
	t.Helper()
	p, err := peerOf(k)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A rotation that cannot be written (the data dir became unwritable) is
// retried with backoff, not in a busy loop, and happens once the disk is
// back; the old bundle stays current meanwhile.
func TestBundleMaintenanceRetriesWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		var attempts int
		var mu sync.Mutex
		id := testIdentity(t)
		b, err := newBundles(t.Context(), dir, id, testDataKey(t, id), dssync.MutexWrap(ds.NewMapDatastore()), BundleConfig{}, slog.New(countHandler{&mu, &attempts}))
		if err != nil {
			t.Fatal(err)
		}
		b.publish = func(context.Context, *e2ee.SignedBundle) error { return nil }
		b.start()
		defer b.close()
		synctest.Wait()
		// Make the keyring's directory unusable: a file where the temp
		// file must go.
		sub := filepath.Join(dir, "gone")
		b.ring.mu.Lock()
		b.ring.path = filepath.Join(sub, KeyringFile)
		b.ring.mu.Unlock()
		if err := os.WriteFile(sub, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		time.Sleep(DefaultBundleConfig().Rotation + 10*time.Minute)
		synctest.Wait()
		mu.Lock()
		n := attempts
		mu.Unlock()
		// 5 s, 10 s, … doubling to 2 min: about 9 attempts in 10 minutes.
		if n == 0 || n > 15 {
			t.Fatalf("%d failed attempts in 10 minutes", n)
		}
		if s := b.ring.current(); s.Seq != 1 {
			t.Fatalf("seq %d current while nothing could be written", s.Seq)
		}
		os.Remove(sub)
		if err := os.Mkdir(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		time.Sleep(DefaultBundleConfig().RetryMax)
		synctest.Wait()
		if s := b.ring.current(); s.Seq != 2 {
			t.Fatalf("after the disk came back: seq %d, want 2", s.Seq)
		}
	})
}

// countHandler counts error records.
type countHandler struct {
	mu *sync.Mutex
	n  *int
}

func (h countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.mu.Lock()
		*h.n++
		h.mu.Unlock()
	}
	return nil
}
func (h countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countHandler) WithGroup(string) slog.Handler      { return h }
