package node

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/parley-chat/parley/chat/e2ee"
)

// keyringVector fixes every input of a sealed keyring file (identity,
// data key, KEM seeds, bundle times, seq, nonce) and every derived value,
// so a change to the format, the derivation or the bundle encoding fails
// here and not in a user's start. The key and the ciphertext were
// checked against an independent implementation (Python cryptography 48:
// HKDF-SHA256, ChaCha20-Poly1305 with HChaCha20 written out).
type keyringVector struct {
	Comment    string   `json:"comment"`
	Seed       string   `json:"ed25519Seed"`
	DataKey    string   `json:"dataKey"`
	KEMSeeds   []string `json:"kemSeeds"`
	Created    []int64  `json:"createdUnixMs"` // per bundle; each expires 14 days later
	Seq        uint64   `json:"seq"`
	Nonce      string   `json:"nonce"`
	KeyringKey string   `json:"keyringKey"` // HKDF-SHA256 of the data key
	Bundles    []string `json:"bundles"`    // signed bundles' envelope bytes
	Header     string   `json:"header"`     // the AEAD's additional data
	Sealed     string   `json:"sealed"`
	File       string   `json:"file"` // the file's bytes, verbatim
}

func TestKeyringVector(t *testing.T) {
	path := filepath.Join("testdata", "keyring-v2.json")
	var v keyringVector
	if *updateVectors {
		v = keyringVector{
			Comment:  "parley keyring file, version 2 (node/keyringfile.go); byte values hex, file verbatim",
			Seed:     hex.EncodeToString(bytes.Repeat([]byte{0x42}, ed25519.SeedSize)),
			DataKey:  "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef",
			KEMSeeds: []string{hex.EncodeToString(bytes.Repeat([]byte{0x01}, e2ee.SeedSize)), hex.EncodeToString(bytes.Repeat([]byte{0x02}, e2ee.SeedSize))},
			Created:  []int64{1_800_000_000_000, 1_800_604_800_000},
			Seq:      3,
			Nonce:    "303132333435363738393a3b3c3d3e3f4041424344454647",
		}
	} else {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
	}
	id, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(unhex(t, v.Seed)))
	if err != nil {
		t.Fatal(err)
	}
	self := mustPeer(t, id)
	var bundles, seeds [][]byte
	for i, s := range v.KEMSeeds {
		kp, err := e2ee.NewKeyPair(unhex(t, s))
		if err != nil {
			t.Fatal(err)
		}
		created := time.UnixMilli(v.Created[i])
		b, err := e2ee.SignBundle(id, e2ee.Bundle{Peer: self, PublicKey: kp.PublicKey(), Seq: uint64(i + 1),
			Created: created, Expires: created.Add(e2ee.MaxBundleLifetime)})
		if err != nil {
			t.Fatal(err)
		}
		kp.Erase()
		bundles, seeds = append(bundles, b.Raw()), append(seeds, unhex(t, s))
	}
	key, err := keyringKey(unhex(t, v.DataKey))
	if err != nil {
		t.Fatal(err)
	}
	file, err := sealKeyring(key, unhex(t, v.Nonce), v.Seq, bundles, seeds)
	if err != nil {
		t.Fatal(err)
	}
	f, err := decodeKeyring(file)
	if err != nil {
		t.Fatal(err)
	}
	if *updateVectors {
		v.KeyringKey = hex.EncodeToString(key)
		v.Bundles = nil
		for _, b := range bundles {
			v.Bundles = append(v.Bundles, hex.EncodeToString(b))
		}
		v.Header = hex.EncodeToString(f.header())
		v.Sealed = hex.EncodeToString(f.Sealed)
		v.File = string(file)
		b, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	checks := []struct {
		what      string
		got, want []byte
	}{
		{"keyring key", key, unhex(t, v.KeyringKey)},
		{"header", f.header(), unhex(t, v.Header)},
		{"sealed seeds", f.Sealed, unhex(t, v.Sealed)},
		{"file", file, []byte(v.File)},
	}
	for i, b := range bundles {
		checks = append(checks, struct {
			what      string
			got, want []byte
		}{"bundle", b, unhex(t, v.Bundles[i])})
	}
	for _, c := range checks {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("%s:\n got %x\nwant %x", c.what, c.got, c.want)
		}
	}

	// And the fixed file loads to the fixed keys.
	r := &keyring{self: self, seal: key}
	defer r.close()
	version, err := r.load([]byte(v.File))
	if err != nil || version != keyringVersion {
		t.Fatalf("load the vector's file: version %d, %v", version, err)
	}
	if r.seq != v.Seq || len(r.keys) != len(v.KEMSeeds) {
		t.Fatalf("loaded seq %d, %d keys", r.seq, len(r.keys))
	}
	for i, k := range r.keys {
		s, err := k.kp.Seed()
		if err != nil || !bytes.Equal(s, unhex(t, v.KEMSeeds[i])) {
			t.Fatalf("key %d loads another seed (%v)", i, err)
		}
	}
}
