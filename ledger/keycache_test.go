package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// A key whose bytes are not a curve point decodes (the envelope is well
// formed) but nothing it "signs" verifies, singly or in a batch with good
// events, and it takes no cache slot.
func TestKeyNotOnCurveRejected(t *testing.T) {
	good, err := Sign(testKey(t), testDraft(1, `{"text":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := open(good.Raw(), false)
	if err != nil {
		t.Fatal(err)
	}
	var bad []byte
	for y := byte(2); bad == nil; y++ {
		pub := make([]byte, 32)
		pub[0] = y
		if _, err := ed25519.NewExpandedPublicKey(pub); err != nil {
			bad = pub
		}
	}
	raw, err := marshalEnvelope(bad, s.payload, s.sig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(raw); !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("Decode: err = %v, want ErrInvalidEvent", err)
	}
	mixed := repeat(good.Raw(), 2*batchMin)
	mixed[3] = raw
	evs, errs := DecodeBatch(mixed)
	for i := range mixed {
		if (i == 3) != (errs[i] != nil) || (errs[i] == nil) != (evs[i] != nil) {
			t.Fatalf("DecodeBatch[%d]: ev %v, err %v", i, evs[i] != nil, errs[i])
		}
	}
	authorKeys.mu.Lock()
	_, cached := authorKeys.m[[32]byte(bad)]
	authorKeys.mu.Unlock()
	if cached {
		t.Fatal("a key that is not a point was cached")
	}
}

// The cache stays bounded however many authors sign, and answers each key
// with its own author.
func TestKeyCacheBounded(t *testing.T) {
	for i := range keyCacheSize + 50 {
		key := testKey(t)
		ev, err := Sign(key, testDraft(1, fmt.Sprintf(`{"text":"%d"}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(ev.Raw())
		if err != nil {
			t.Fatal(err)
		}
		if got.Author != ev.Author || !bytes.Equal(got.Raw(), ev.Raw()) {
			t.Fatalf("event %d: author %s, want %s", i, got.Author, ev.Author)
		}
	}
	authorKeys.mu.Lock()
	n := len(authorKeys.m)
	authorKeys.mu.Unlock()
	if n > keyCacheSize {
		t.Fatalf("cache holds %d keys, bound is %d", n, keyCacheSize)
	}
}
