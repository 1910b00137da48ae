package node

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// FuzzOpenKeyring feeds the keyring decoder under the test vector's
// identity and data key (testdata/keyring-v2.json), so its file and the
// seeds under testdata/fuzz open. Properties: loading never panics; what
// decodes as version 2 is the canonical encoding of what it decodes to;
// what loads re-seals (version 2: under its own nonce, to the same
// bytes) and loads again to the same seq and key pairs.
func FuzzOpenKeyring(f *testing.F) {
	var v keyringVector
	b, err := os.ReadFile(filepath.Join("testdata", "keyring-v2.json"))
	if err != nil {
		f.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(v.File))
	seed, _ := hex.DecodeString(v.Seed)
	id, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		f.Fatal(err)
	}
	self, err := peerOf(id)
	if err != nil {
		f.Fatal(err)
	}
	dk, _ := hex.DecodeString(v.DataKey)
	key, err := keyringKey(dk)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if kf, err := decodeKeyring(raw); err == nil {
			if again, err := json.Marshal(kf); err != nil || !bytes.Equal(again, raw) {
				t.Fatal("decoded file is not canonical")
			}
		}
		r := &keyring{self: self, seal: bytes.Clone(key)}
		defer r.close()
		version, err := r.load(raw)
		if err != nil {
			return
		}
		var bundles, seeds [][]byte
		for _, k := range r.keys {
			s, err := k.kp.Seed()
			if err != nil {
				t.Fatal(err)
			}
			bundles, seeds = append(bundles, k.b.Raw()), append(seeds, s)
		}
		nonce := bytes.Repeat([]byte{7}, len(v.Nonce)/2)
		if version == keyringVersion {
			kf, _ := decodeKeyring(raw)
			nonce = kf.Nonce
		}
		sealed, err := sealKeyring(key, nonce, r.seq, bundles, seeds)
		if err != nil {
			t.Fatal(err)
		}
		if version == keyringVersion && !bytes.Equal(sealed, raw) {
			t.Fatal("re-seal differs")
		}
		r2 := &keyring{self: self, seal: bytes.Clone(key)}
		defer r2.close()
		if _, err := r2.load(sealed); err != nil || r2.seq != r.seq || len(r2.keys) != len(r.keys) {
			t.Fatalf("re-sealed file: %v", err)
		}
		for i := range r.keys {
			if r2.keys[i].b.Hash() != r.keys[i].b.Hash() || !bytes.Equal(r2.keys[i].kp.PublicKey(), r.keys[i].kp.PublicKey()) {
				t.Fatalf("key %d differs after re-sealing", i)
			}
		}
	})
}

// The fuzz seeds are what their names say: the two valid-* files load
// under the vector's keys, every other seed is refused.
func TestKeyringFuzzSeeds(t *testing.T) {
	var v keyringVector
	b, err := os.ReadFile(filepath.Join("testdata", "keyring-v2.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	id, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(unhex(t, v.Seed)))
	if err != nil {
		t.Fatal(err)
	}
	key, err := keyringKey(unhex(t, v.DataKey))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzOpenKeyring")
	names, err := os.ReadDir(dir)
	if err != nil || len(names) < 5 {
		t.Fatalf("fuzz seeds: %d, %v", len(names), err)
	}
	for _, e := range names {
		t.Run(e.Name(), func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			lit, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "go test fuzz v1\n[]byte(")
			raw, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
			if !ok || err != nil {
				t.Fatalf("not a fuzz seed: %v", err)
			}
			r := &keyring{self: mustPeer(t, id), seal: bytes.Clone(key)}
			defer r.close()
			_, err = r.load([]byte(raw))
			if want := strings.HasPrefix(e.Name(), "valid-"); (err == nil) != want {
				t.Fatalf("load: %v, want success %v", err, want)
			}
		})
	}
}
