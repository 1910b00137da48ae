package node

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

var updateVectors = flag.Bool("update-vectors", false, "rewrite testdata/keyfile-v1.json from the code (review the diff!)")

// keyFileVector fixes every input of a protected key file at the default
// costs, and every derived value, so a change to the format or to a
// derivation fails here and not in a user's unlock. Its values were
// checked against an independent implementation (Python cryptography 48:
// Argon2id, HKDF, ChaCha20-Poly1305 with HChaCha20 written out), not only
// produced by this code.
type keyFileVector struct {
	Comment      string `json:"comment"`
	Passphrase   string `json:"passphrase"`
	Time         uint32 `json:"time"`
	MemoryKiB    uint32 `json:"memoryKiB"`
	Threads      uint8  `json:"threads"`
	Salt         string `json:"salt"`
	Nonce        string `json:"nonce"`
	Seed         string `json:"ed25519Seed"`
	Identity     string `json:"identity"` // libp2p protobuf
	PeerID       string `json:"peerId"`
	DataKey      string `json:"dataKey"`
	WrapKey      string `json:"wrapKey"`      // HKDF-Expand of Argon2id
	PlainDataKey string `json:"plainDataKey"` // derivedDataKey of the identity
	File         string `json:"file"`
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKeyFileVector(t *testing.T) {
	path := filepath.Join("testdata", "keyfile-v1.json")
	var v keyFileVector
	if *updateVectors {
		seed := bytes.Repeat([]byte{0x42}, ed25519.SeedSize)
		d := DefaultKDFParams()
		v = keyFileVector{
			Comment:    "parley protected identity file, version 1 (node/keyfile.go); all values hex",
			Passphrase: "correct horse battery staple",
			Time:       d.Time, MemoryKiB: d.MemoryKiB, Threads: d.Threads,
			Salt:    "000102030405060708090a0b0c0d0e0f",
			Nonce:   "101112131415161718191a1b1c1d1e1f2021222324252627",
			Seed:    hex.EncodeToString(seed),
			DataKey: "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef",
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
	p := KDFParams{Time: v.Time, MemoryKiB: v.MemoryKiB, Threads: v.Threads}
	if p != DefaultKDFParams() {
		t.Fatalf("vector costs %+v are not the defaults %+v", p, DefaultKDFParams())
	}
	id, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(unhex(t, v.Seed)))
	if err != nil {
		t.Fatal(err)
	}
	idBytes, _ := crypto.MarshalPrivateKey(id)
	pid, _ := peer.IDFromPrivateKey(id)
	var salt [saltLen]byte
	var nonce [nonceLen]byte
	copy(salt[:], unhex(t, v.Salt))
	copy(nonce[:], unhex(t, v.Nonce))
	wrap, err := wrapKey([]byte(v.Passphrase), p, salt[:])
	if err != nil {
		t.Fatal(err)
	}
	plainDK, err := derivedDataKey(id)
	if err != nil {
		t.Fatal(err)
	}
	file, err := sealKeyFile([]byte(v.Passphrase), p, salt, nonce, id, unhex(t, v.DataKey))
	if err != nil {
		t.Fatal(err)
	}
	if *updateVectors {
		v.Identity = hex.EncodeToString(idBytes)
		v.PeerID = pid.String()
		v.WrapKey = hex.EncodeToString(wrap)
		v.PlainDataKey = hex.EncodeToString(plainDK)
		v.File = hex.EncodeToString(file)
		b, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		what      string
		got, want []byte
	}{
		{"identity encoding", idBytes, unhex(t, v.Identity)},
		{"peer ID", []byte(pid.String()), []byte(v.PeerID)},
		{"wrap key", wrap, unhex(t, v.WrapKey)},
		{"unprotected data key", plainDK, unhex(t, v.PlainDataKey)},
		{"sealed file", file, unhex(t, v.File)},
	} {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("%s:\n got %x\nwant %x", c.what, c.got, c.want)
		}
	}
	// And the fixed file opens to the fixed keys.
	gotID, gotDK, err := openKeyFile([]byte(v.Passphrase), unhex(t, v.File))
	if err != nil {
		t.Fatal(err)
	}
	if !gotID.Equals(id) || !bytes.Equal(gotDK, unhex(t, v.DataKey)) {
		t.Fatal("the vector's file opens to other keys")
	}
}
