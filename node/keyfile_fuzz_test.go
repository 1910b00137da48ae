package node

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// fuzzPass is the passphrase of the fuzz seeds under testdata/fuzz.
const fuzzPass = "fuzz"

// FuzzOpenKeyFile feeds the decoder of protected key files. Properties:
// parsing never panics; what parses has costs within bounds and
// re-encodes to the same bytes; with cheap costs the whole unlock runs,
// and what opens re-seals to the same bytes and holds an Ed25519
// identity with a 32-byte data key.
func FuzzOpenKeyFile(f *testing.F) {
	var v keyFileVector
	if b, err := os.ReadFile(filepath.Join("testdata", "keyfile-v1.json")); err == nil && json.Unmarshal(b, &v) == nil {
		if file, err := hex.DecodeString(v.File); err == nil {
			f.Add(file) // parses; its costs are too high to open here
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		kf, err := parseKeyFile(b)
		if err != nil {
			return
		}
		if kf.params.Validate() != nil {
			t.Fatalf("parsed costs %+v out of bounds", kf.params)
		}
		if !bytes.Equal(kf.encode(), b) {
			t.Fatal("parse/encode is not the identity")
		}
		if kf.params.MemoryKiB > 64 || kf.params.Time > 2 {
			return // keep each input fast
		}
		id, dk, err := openKeyFile([]byte(fuzzPass), b)
		if err != nil {
			return
		}
		if len(dk) != dataKeyLen {
			t.Fatalf("data key of %d bytes", len(dk))
		}
		again, err := sealKeyFile([]byte(fuzzPass), kf.params, kf.salt, kf.nonce, id, dk)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-seal differs (%v)", err)
		}
	})
}

// FuzzDecodeKeyPayload feeds the decoder of the sealed plaintext, which
// a broken or foreign writer could get wrong: what decodes re-encodes to
// the same bytes.
func FuzzDecodeKeyPayload(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		id, dk, err := decodeKeyPayload(b)
		if err != nil {
			return
		}
		again, err := encodeKeyPayload(id, dk)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-encode differs (%v)", err)
		}
	})
}
