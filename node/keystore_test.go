package node

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

// fastKDF keeps the tests quick; the real costs are in the test vector.
var fastKDF = KDFParams{Time: 1, MemoryKiB: 256, Threads: 1}

func pass(s string) PassphraseFunc {
	return func() ([]byte, error) { return []byte(s), nil }
}

func keysPeer(t *testing.T, k Keys) peer.ID {
	t.Helper()
	id, err := peer.IDFromPrivateKey(k.Identity)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProtectedKeyRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), KeyFile)
	keys, res, err := ProtectKeys(path, []byte("correct horse"), fastKDF)
	if err != nil || res != KeyCreated {
		t.Fatalf("protect a missing key: %v, %v; want KeyCreated", res, err)
	}
	if !keys.Protected || len(keys.DataKey) != dataKeyLen {
		t.Fatalf("keys: protected %v, data key %d bytes", keys.Protected, len(keys.DataKey))
	}
	if runtime.GOOS != "windows" {
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
		}
	}
	got, err := LoadKeys(path, pass("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if keysPeer(t, got) != keysPeer(t, keys) || !bytes.Equal(got.DataKey, keys.DataKey) || !got.Protected {
		t.Fatalf("unlocked keys differ from the sealed ones")
	}
	if _, err := LoadKeys(path, nil); !errors.Is(err, ErrPassphraseRequired) {
		t.Fatalf("no passphrase: %v, want ErrPassphraseRequired", err)
	}
	if _, _, err := LoadOrCreateKey(path); !errors.Is(err, ErrPassphraseRequired) {
		t.Fatalf("LoadOrCreateKey on a protected file: %v, want ErrPassphraseRequired", err)
	}
	if _, _, err := ProtectKeys(path, nil, fastKDF); !errors.Is(err, ErrEmptyPassphrase) {
		t.Fatalf("empty passphrase: %v, want ErrEmptyPassphrase", err)
	}
}

// Protecting an existing unprotected identity keeps its peer ID and data
// key, so the node stays who it was and can read what it stored.
func TestProtectConvertsInPlace(t *testing.T) {
	dir := t.TempDir()
	if _, err := Init(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, KeyFile)
	before, err := LoadKeys(path, nil)
	if err != nil || before.Protected {
		t.Fatalf("unprotected load: %v, protected %v", err, before.Protected)
	}
	_, res, err := InitProtected(dir, []byte("pw"), fastKDF)
	if err != nil || res != KeyConverted {
		t.Fatalf("convert: %v, %v; want KeyConverted", res, err)
	}
	if !isProtected(readFile(t, path)) {
		t.Fatal("file still unprotected")
	}
	after, err := LoadKeys(path, pass("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if keysPeer(t, after) != keysPeer(t, before) || !bytes.Equal(after.DataKey, before.DataKey) {
		t.Fatal("conversion changed the peer ID or the data key")
	}
	// Init on a protected dir checks the file and leaves it alone.
	sealed := readFile(t, path)
	if created, err := Init(dir); err != nil || created {
		t.Fatalf("Init on a protected dir: created %v, %v", created, err)
	}
	if !bytes.Equal(readFile(t, path), sealed) {
		t.Fatal("Init rewrote a protected key")
	}
}

// A protected key is never replaced: not by init with another
// passphrase, not by init with the same one, not by a plain Init.
func TestProtectedKeyNotReplaced(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, KeyFile)
	first, _, err := InitProtected(dir, []byte("alpha"), fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	sealed := readFile(t, path)
	if _, _, err := InitProtected(dir, []byte("beta"), fastKDF); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("re-init with another passphrase: %v, want ErrWrongPassphrase", err)
	}
	again, res, err := InitProtected(dir, []byte("alpha"), fastKDF)
	if err != nil || res != KeyAlreadyProtected || keysPeer(t, again) != keysPeer(t, first) {
		t.Fatalf("re-init with the passphrase: %v, %v", res, err)
	}
	if _, err := Init(dir); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, path), sealed) {
		t.Fatal("the protected key file changed")
	}
}

func TestWrongPassphraseLeavesFileAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), KeyFile)
	if _, _, err := ProtectKeys(path, []byte("right"), fastKDF); err != nil {
		t.Fatal(err)
	}
	sealed := readFile(t, path)
	_, err := LoadKeys(path, pass("wrong"))
	if !errors.Is(err, ErrWrongPassphrase) || !strings.Contains(err.Error(), path) {
		t.Fatalf("wrong passphrase: %v, want ErrWrongPassphrase naming %s", err, path)
	}
	if !bytes.Equal(readFile(t, path), sealed) {
		t.Fatal("a failed unlock changed the file")
	}
}

// The attacker edits the file. Every one-byte change is refused; a changed
// salt, cost or nonce fails authentication (the header is the AEAD's
// additional data) rather than deriving some other key.
func TestTamperedKeyFileRejected(t *testing.T) {
	path := filepath.Join(t.TempDir(), KeyFile)
	if _, _, err := ProtectKeys(path, []byte("pw"), fastKDF); err != nil {
		t.Fatal(err)
	}
	good := readFile(t, path)
	for i := range good {
		b := bytes.Clone(good)
		b[i] ^= 0x01
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadKeys(path, pass("pw"))
		switch {
		case i < len(keyFileMagic)+1: // magic, version
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("byte %d (magic/version) flipped: %v, want ErrBadKey", i, err)
			}
		case i >= len(keyFileMagic)+1+9: // salt, nonce, ciphertext
			if !errors.Is(err, ErrWrongPassphrase) {
				t.Fatalf("byte %d flipped: %v, want ErrWrongPassphrase", i, err)
			}
		default: // costs: out of bounds, or an authentication failure
			if !errors.Is(err, ErrBadKey) && !errors.Is(err, ErrWrongPassphrase) {
				t.Fatalf("byte %d (cost) flipped: %v", i, err)
			}
		}
	}
	// An in-bounds cost change is caught by the AAD, not by the bounds.
	b := bytes.Clone(good)
	b[len(keyFileMagic)+1+3]++ // time 1 → 2
	os.WriteFile(path, b, 0o600)
	if _, err := LoadKeys(path, pass("pw")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("time raised to 2: %v, want ErrWrongPassphrase", err)
	}
}

func TestTruncatedOrFutureKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), KeyFile)
	if _, _, err := ProtectKeys(path, []byte("pw"), fastKDF); err != nil {
		t.Fatal(err)
	}
	good := readFile(t, path)
	for n := 1; n < len(good); n++ {
		os.WriteFile(path, good[:n], 0o600)
		_, err := LoadKeys(path, pass("pw"))
		if n < keyHeaderLen+nonceLen+minSealedLen {
			if !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), "truncated") {
				t.Fatalf("%d of %d bytes: %v, want ErrBadKey (truncated)", n, len(good), err)
			}
		} else if !errors.Is(err, ErrWrongPassphrase) {
			t.Fatalf("%d of %d bytes: %v, want an authentication failure", n, len(good), err)
		}
	}
	future := bytes.Clone(good)
	future[len(keyFileMagic)] = 2
	os.WriteFile(path, future, 0o600)
	if _, err := LoadKeys(path, pass("pw")); !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("version 2: %v, want ErrBadKey naming the version", err)
	}
	if _, err := checkOrCreateKey(path); !errors.Is(err, ErrBadKey) {
		t.Fatalf("Init's check of version 2: %v, want ErrBadKey", err)
	}
	os.WriteFile(path, append(bytes.Clone(good), make([]byte, maxKeyFile)...), 0o600)
	if _, err := LoadKeys(path, pass("pw")); !errors.Is(err, ErrBadKey) {
		t.Fatalf("oversized file: %v, want ErrBadKey", err)
	}
}

// A file written by an attacker names costs that would take 4 GiB and
// hours: it is refused from its header, before the passphrase is asked
// for and before anything is allocated.
func TestKDFParamsBounded(t *testing.T) {
	for _, p := range []KDFParams{
		{Time: 0, MemoryKiB: 1024, Threads: 1},
		{Time: maxKDFTime + 1, MemoryKiB: 1024, Threads: 1},
		{Time: 1, MemoryKiB: maxKDFMemoryKiB + 1, Threads: 1},
		{Time: 1, MemoryKiB: 4 << 20, Threads: 4}, // 4 GiB
		{Time: 1, MemoryKiB: 1<<32 - 1, Threads: 255},
		{Time: 1, MemoryKiB: 7, Threads: 1},
		{Time: 1, MemoryKiB: 64, Threads: 0},
		{Time: 1, MemoryKiB: 1024, Threads: maxKDFThreads + 1},
	} {
		if p.Validate() == nil {
			t.Errorf("%+v accepted", p)
		}
		f := keyFile{params: p, sealed: make([]byte, 100)}
		path := filepath.Join(t.TempDir(), KeyFile)
		os.WriteFile(path, f.encode(), 0o600)
		asked := false
		// The least of three tries, so a leftover goroutine of an
		// earlier test allocating meanwhile cannot fail this.
		least := uint64(1 << 62)
		for range 3 {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := LoadKeys(path, func() ([]byte, error) { asked = true; return []byte("pw"), nil })
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), "out of bounds") {
				t.Errorf("%+v: %v, want ErrBadKey (out of bounds)", p, err)
			}
			least = min(least, after.TotalAlloc-before.TotalAlloc)
		}
		if asked {
			t.Errorf("%+v: passphrase asked for before the header was checked", p)
		}
		if least > 1<<20 {
			t.Errorf("%+v: refusing it allocated %d bytes", p, least)
		}
		if _, _, err := ProtectKeys(filepath.Join(t.TempDir(), KeyFile), []byte("pw"), p); err == nil {
			t.Errorf("%+v: ProtectKeys accepted it", p)
		}
	}
	if err := DefaultKDFParams().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}

// A crash (here an injected failure) after the temp file is written but
// before it replaces the key leaves the old file byte for byte, and the
// failed write leaves no temp file behind.
func TestProtectFailureBeforeRename(t *testing.T) {
	dir := t.TempDir()
	if _, err := Init(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, KeyFile)
	plain := readFile(t, path)
	injected := errors.New("injected crash")
	var sawTemp bool
	_, _, err := protectKeys(path, []byte("pw"), fastKDF, func(tmp string) error {
		// At the last moment before the rename the old key is intact
		// and the temp file is complete: it already unlocks.
		if !bytes.Equal(readFile(t, path), plain) {
			t.Error("key file changed before the rename")
		}
		k, err := LoadKeys(tmp, pass("pw"))
		sawTemp = err == nil && k.Protected
		return injected
	})
	if !errors.Is(err, injected) {
		t.Fatalf("protect: %v, want the injected failure", err)
	}
	if !sawTemp {
		t.Fatal("the temp file was not complete before the rename")
	}
	if !bytes.Equal(readFile(t, path), plain) {
		t.Fatal("a failed conversion changed the key file")
	}
	assertNoTemp(t, dir)

	// A failed first creation leaves no key at all, not half of one.
	fresh := filepath.Join(t.TempDir(), KeyFile)
	if _, _, err := protectKeys(fresh, []byte("pw"), fastKDF, func(string) error { return injected }); !errors.Is(err, injected) {
		t.Fatalf("create: %v", err)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("key file after a failed create: %v", err)
	}
	assertNoTemp(t, filepath.Dir(fresh))
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temp file %s left behind", e.Name())
		}
	}
}

// The data key of an unprotected identity is derived, stable and
// specific to it.
func TestDerivedDataKey(t *testing.T) {
	a := filepath.Join(t.TempDir(), KeyFile)
	b := filepath.Join(t.TempDir(), KeyFile)
	LoadOrCreateKey(a)
	LoadOrCreateKey(b)
	ka1, _ := LoadKeys(a, nil)
	ka2, _ := LoadKeys(a, nil)
	kb, _ := LoadKeys(b, nil)
	if !bytes.Equal(ka1.DataKey, ka2.DataKey) || bytes.Equal(ka1.DataKey, kb.DataKey) || len(ka1.DataKey) != dataKeyLen {
		t.Fatal("derived data keys are not stable per identity")
	}
}
