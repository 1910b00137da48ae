package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/parley-chat/parley/chat/e2ee"
)

// testDataKey is the data key of an unprotected node with identity key.
func testDataKey(t testing.TB, key crypto.PrivKey) []byte {
	t.Helper()
	dk, err := derivedDataKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return dk
}

// ringWithKeys opens a keyring at path and rotates n times.
func ringWithKeys(t testing.TB, path string, key crypto.PrivKey, n int) *keyring {
	t.Helper()
	r, err := openKeyring(path, key, testDataKey(t, key), DefaultBundleConfig().withDefaults(), discard)
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, err := r.maintain(time.Now(), true); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// seedsOf returns the seeds r holds.
func seedsOf(t *testing.T, r *keyring) [][]byte {
	t.Helper()
	var out [][]byte
	for _, k := range r.keys {
		s, err := k.kp.Seed()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// What is written opens to the same seq, bundles and key pairs; every
// write draws a new nonce; no seed is in the file, in any encoding.
func TestKeyringSealedRoundTrip(t *testing.T) {
	key := testIdentity(t)
	path := filepath.Join(t.TempDir(), KeyringFile)
	r := ringWithKeys(t, path, key, 3)
	defer r.close()
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	seeds := seedsOf(t, r)
	for i, s := range seeds {
		for _, enc := range [][]byte{s, []byte(base64.StdEncoding.EncodeToString(s)), []byte(hex.EncodeToString(s)), []byte(base64.StdEncoding.EncodeToString(s)[:20])} {
			if bytes.Contains(file, enc) {
				t.Fatalf("seed %d found in the file", i)
			}
		}
	}
	if v, err := keyringVersionOf(file); err != nil || v != keyringVersion {
		t.Fatalf("file version %d (%v), want %d", v, err, keyringVersion)
	}

	again, err := openKeyring(path, key, testDataKey(t, key), DefaultBundleConfig().withDefaults(), discard)
	if err != nil {
		t.Fatal(err)
	}
	defer again.close()
	if again.seq != 3 || len(again.keys) != 3 {
		t.Fatalf("reopened: seq %d, %d keys; want 3, 3", again.seq, len(again.keys))
	}
	for i, s := range seedsOf(t, again) {
		if !bytes.Equal(s, seeds[i]) || again.keys[i].b.Hash() != r.keys[i].b.Hash() {
			t.Fatalf("key %d differs after reopening", i)
		}
	}

	// A rewrite of the same keys seals under a new nonce.
	if err := r.write(r.seq, r.keys); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(path)
	f1, err1 := decodeKeyring(file)
	f2, err2 := decodeKeyring(second)
	if err1 != nil || err2 != nil || bytes.Equal(f1.Nonce, f2.Nonce) || bytes.Equal(f1.Sealed, f2.Sealed) {
		t.Fatalf("two writes share a nonce or ciphertext (%v, %v)", err1, err2)
	}
}

// Every single-byte change of the file, and a file sealed under another
// data key, is ErrBadKeyring naming the file; the file is left as it was.
func TestKeyringTamperRefused(t *testing.T) {
	key := testIdentity(t)
	path := filepath.Join(t.TempDir(), KeyringFile)
	ringWithKeys(t, path, key, 2).close()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultBundleConfig().withDefaults()
	try := func(t *testing.T, file []byte, dataKey []byte) {
		t.Helper()
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := openKeyring(path, key, dataKey, cfg, discard)
		if !errors.Is(err, ErrBadKeyring) || !strings.Contains(err.Error(), path) {
			t.Fatalf("open: %v, want ErrBadKeyring naming %s", err, path)
		}
		if now, _ := os.ReadFile(path); !bytes.Equal(now, file) {
			t.Fatal("refused file was rewritten")
		}
	}
	// Every byte in memory (the file-level path below is the same load).
	t.Run("every byte", func(t *testing.T) {
		seal, err := keyringKey(testDataKey(t, key))
		if err != nil {
			t.Fatal(err)
		}
		for i := range orig {
			for _, flip := range []byte{0x01, 0x20, 0x80} {
				b := bytes.Clone(orig)
				b[i] ^= flip
				r := &keyring{self: mustPeer(t, key), seal: bytes.Clone(seal)}
				if _, err := r.load(b); err == nil {
					t.Fatalf("byte %d ^ %#x: loaded", i, flip)
				}
				r.close()
			}
		}
	})
	t.Run("bytes in the file", func(t *testing.T) {
		f, err := decodeKeyring(orig)
		if err != nil {
			t.Fatal(err)
		}
		at := func(s string, off int) int {
			i := bytes.Index(orig, []byte(s))
			if i < 0 {
				t.Fatalf("%q not in the file", s)
			}
			return i + off
		}
		b64 := base64.StdEncoding.EncodeToString
		// The seq, a bundle, the nonce, the ciphertext, and both ends.
		for _, at := range []int{
			0, len(orig) - 1,
			at(`"seq":`, 6),
			at(b64(f.Bundles[1])[:40], 30),
			at(b64(f.Nonce)[:20], 5),
			at(b64(f.Sealed)[:20], 10),
		} {
			b := bytes.Clone(orig)
			b[at] ^= 0x01
			try(t, b, testDataKey(t, key))
		}
	})
	t.Run("other data key", func(t *testing.T) {
		try(t, orig, testDataKey(t, testIdentity(t)))
	})
	t.Run("relabelled as version 1", func(t *testing.T) {
		try(t, bytes.Replace(orig, []byte(`"version":2`), []byte(`"version":1`), 1), testDataKey(t, key))
	})
	// Swapping the bundles (each still valid, still this peer's) or
	// raising the seq in a re-encoded file fails the AEAD's header check.
	f, err := decodeKeyring(orig)
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*keyringV2){
		"seq raised":     func(f *keyringV2) { f.Seq += 5 },
		"bundle dropped": func(f *keyringV2) { f.Bundles = f.Bundles[1:] },
		"bundles swapped": func(f *keyringV2) {
			f.Bundles = [][]byte{f.Bundles[1], f.Bundles[0]}
		},
	} {
		t.Run(name, func(t *testing.T) {
			g := *f
			g.Bundles = append([][]byte(nil), f.Bundles...)
			edit(&g)
			b, err := json.Marshal(&g)
			if err != nil {
				t.Fatal(err)
			}
			try(t, b, testDataKey(t, key))
		})
	}
}

// recordHandler keeps the messages logged at Info and above.
type recordHandler struct {
	mu   *sync.Mutex
	msgs *[]string
}

func (h recordHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.msgs = append(*h.msgs, r.Message)
	return nil
}
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordHandler) WithGroup(string) slog.Handler      { return h }

// writeKeyringV1 writes the version 1 file (seeds in the clear) as the
// previous parley did.
func writeKeyringV1(t *testing.T, path string, seq uint64, r *keyring) {
	t.Helper()
	type entry struct {
		Seed   []byte `json:"seed"`
		Bundle []byte `json:"bundle"`
	}
	f := struct {
		Version int     `json:"version"`
		Seq     uint64  `json:"seq"`
		Keys    []entry `json:"keys"`
	}{Version: 1, Seq: seq}
	for i, s := range seedsOf(t, r) {
		f.Keys = append(f.Keys, entry{s, r.keys[i].b.Raw()})
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A version 1 file is read once and rewritten sealed, with the same seq
// and key pairs: a seal made to a bundle before the migration opens after
// it, a log line says so, and the next start reads the sealed file.
func TestKeyringMigratesPlaintext(t *testing.T) {
	key := testIdentity(t)
	dir := t.TempDir()
	old := ringWithKeys(t, filepath.Join(dir, "scratch.json"), key, 2)
	defer old.close()
	path := filepath.Join(dir, KeyringFile)
	// The recorded seq may be above the held bundles' (one was erased).
	writeKeyringV1(t, path, 4, old)
	before, _ := os.ReadFile(path)
	if !bytes.Contains(before, []byte(base64.StdEncoding.EncodeToString(seedsOf(t, old)[0]))) {
		t.Fatal("the version 1 file does not hold its seeds in the clear")
	}

	ep := e2ee.Epoch{Room: "room", ID: []byte("epoch")}
	secret := e2ee.NewEpochSecret()
	sealed, err := e2ee.SealEpochSecret(old.keys[0].b, ep, bytes.Clone(secret), time.Now())
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var msgs []string
	log := slog.New(recordHandler{&mu, &msgs})
	r, err := openKeyring(path, key, testDataKey(t, key), DefaultBundleConfig().withDefaults(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	if r.seq != 4 || len(r.keys) != 2 {
		t.Fatalf("migrated: seq %d, %d keys; want 4, 2", r.seq, len(r.keys))
	}
	kp, own, err := r.keyPair(old.keys[0].b.Hash())
	if err != nil {
		t.Fatal(err)
	}
	got, err := e2ee.OpenEpochSecret(kp, own, ep, sealed)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("seal made before the migration: %v", err)
	}
	mu.Lock()
	logged := strings.Join(msgs, "\n")
	mu.Unlock()
	if !strings.Contains(logged, "keyring sealed") {
		t.Fatalf("no log line for the migration: %q", logged)
	}

	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := keyringVersionOf(after); v != keyringVersion {
		t.Fatalf("file version %d after migration", v)
	}
	for i, s := range seedsOf(t, old) {
		if bytes.Contains(after, []byte(base64.StdEncoding.EncodeToString(s))) || bytes.Contains(after, s) {
			t.Fatalf("seed %d still in the file after migration", i)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("migrated file mode: %v %v", fi.Mode(), err)
	}

	// The next start reads the sealed file and rotates on from seq 4.
	again, err := openKeyring(path, key, testDataKey(t, key), DefaultBundleConfig().withDefaults(), discard)
	if err != nil {
		t.Fatal(err)
	}
	defer again.close()
	if _, err := again.maintain(time.Now(), true); err != nil || again.current().Seq != 5 {
		t.Fatalf("rotation after migration: %v, seq %d, want 5", err, again.current().Seq)
	}
}

// A version 1 file that cannot be migrated (the write fails just before
// the rename) stops the open and is left as it was; the next start
// migrates it.
func TestKeyringMigrationFailureKeepsFile(t *testing.T) {
	key := testIdentity(t)
	dir := t.TempDir()
	old := ringWithKeys(t, filepath.Join(dir, "scratch.json"), key, 1)
	defer old.close()
	path := filepath.Join(dir, KeyringFile)
	writeKeyringV1(t, path, 1, old)
	before, _ := os.ReadFile(path)
	errDisk := errors.New("disk full")
	keyringBeforeRename = func(string) error { return errDisk }
	_, err := openKeyring(path, key, testDataKey(t, key), DefaultBundleConfig().withDefaults(), discard)
	keyringBeforeRename = nil
	if !errors.Is(err, errDisk) || !strings.Contains(err.Error(), path) {
		t.Fatalf("failed migration: %v, want the write error naming %s", err, path)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, before) {
		t.Fatal("version 1 file changed by a failed migration")
	}
	r, err := openKeyring(path, key, testDataKey(t, key), DefaultBundleConfig().withDefaults(), discard)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	if now, _ := os.ReadFile(path); bytes.Equal(now, before) || r.seq != 1 {
		t.Fatalf("second start did not migrate (seq %d)", r.seq)
	}
}

// BenchmarkKeyringOpen opens a keyring of seven key pairs, the most a
// node holds (44 days of weekly rotation): what it adds to a start.
func BenchmarkKeyringOpen(b *testing.B) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	dk := testDataKey(b, key)
	path := filepath.Join(b.TempDir(), KeyringFile)
	ringWithKeys(b, path, key, 7).close()
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	cfg := DefaultBundleConfig().withDefaults()
	for b.Loop() {
		r, err := openKeyring(path, key, dk, cfg, discard)
		if err != nil {
			b.Fatal(err)
		}
		r.close()
	}
	b.ReportMetric(float64(fi.Size()), "file-bytes")
}
