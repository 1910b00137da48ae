package chat

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/parley-chat/parley/chat/e2ee"
)

// FuzzDecodeEpoch: an accepted epoch body has sorted, distinct members
// and re-encodes to a body that decodes alike, so every node reads it
// the same. Seeds: testdata/fuzz/FuzzDecodeEpoch.
func FuzzDecodeEpoch(f *testing.F) {
	f.Add([]byte(`{"members":["12D3KooWGRUVh7dBzV5MQ6KAW9rWzxHJ5Zty5SEzEBxrM8bVrHPz"]}`))
	f.Add([]byte(`{"prev":"v28g8jsfdav306q7p3k6l6tac85j3pnr0omr2s1jgcepjhk9ep0m1bo0","members":["12D3KooWGRUVh7dBzV5MQ6KAW9rWzxHJ5Zty5SEzEBxrM8bVrHPz"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEpoch(b)
		if err != nil {
			if e != nil {
				t.Fatalf("refused %q but returned %+v", b, e)
			}
			return
		}
		if len(e.Members) == 0 || !slices.IsSorted(e.Members) {
			t.Fatalf("accepted members %v from %q", e.Members, b)
		}
		re, _ := json.Marshal(e)
		again, err := decodeEpoch(re)
		if err != nil || again.Prev != e.Prev || !slices.Equal(again.Members, e.Members) {
			t.Fatalf("re-encoded %+v decodes to %+v, %v", e, again, err)
		}
	})
}

// FuzzDecodeEpochKeys: an accepted epoch_keys body holds 1 to
// maxSealsPerChunk seals to distinct peers, each of the suite's sizes.
// Seeds: testdata/fuzz/FuzzDecodeEpochKeys.
func FuzzDecodeEpochKeys(f *testing.F) {
	seal, _ := json.Marshal(epochKeysBody{Epoch: "", Seals: []sealEntry{{Peer: "12D3KooWGRUVh7dBzV5MQ6KAW9rWzxHJ5Zty5SEzEBxrM8bVrHPz",
		Bundle: make([]byte, e2ee.HashSize), Sealed: bytes.Repeat([]byte{7}, e2ee.SealedSecretSize)}}})
	f.Add(seal)
	f.Add([]byte(`{"epoch":"","seals":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := decodeEpochKeys(b)
		if err != nil {
			return
		}
		if len(k.Seals) == 0 || len(k.Seals) > maxSealsPerChunk {
			t.Fatalf("accepted %d seals", len(k.Seals))
		}
		seen := map[string]bool{}
		for _, s := range k.Seals {
			if seen[string(s.Peer)] || len(s.Bundle) != e2ee.HashSize || len(s.Sealed) != e2ee.SealedSecretSize {
				t.Fatalf("accepted seal %s (%d, %d bytes)", s.Peer, len(s.Bundle), len(s.Sealed))
			}
			seen[string(s.Peer)] = true
		}
	})
}
