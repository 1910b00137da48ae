package ledger

import (
	"bytes"
	stded25519 "crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/record"
)

// rawRecord carries a Parley payload through core/record unchanged.
type rawRecord struct{ b []byte }

func (r *rawRecord) Domain() string                 { return Domain }
func (r *rawRecord) Codec() []byte                  { return payloadType }
func (r *rawRecord) MarshalRecord() ([]byte, error) { return r.b, nil }
func (r *rawRecord) UnmarshalRecord(b []byte) error { r.b = bytes.Clone(b); return nil }
func testKey(t testing.TB) crypto.PrivKey {
	k, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	return k
}
func testDraft(lamport uint64, body string) Draft {
	return Draft{Room: "r", Kind: KindMsg, Body: []byte(body), Time: time.UnixMilli(1700000000000), Lamport: lamport}
}

// Events are plain libp2p signed envelopes: libp2p's own record package
// accepts ours, and sealing the same payload with it gives the same bytes
// (Ed25519 signatures are deterministic), so the fast signer and verifier
// cannot drift from the format.
func TestEnvelopeMatchesLibp2pRecord(t *testing.T) {
	key := testKey(t)
	ev, err := Sign(key, testDraft(1, `{"text":"interop"}`))
	if err != nil {
		t.Fatal(err)
	}
	var rec rawRecord
	env, err := record.ConsumeTypedEnvelope(ev.Raw(), &rec)
	if err != nil {
		t.Fatalf("libp2p record rejects a Parley event: %v", err)
	}
	if !env.PublicKey.Equals(key.GetPublic()) {
		t.Fatal("envelope key is not the author's")
	}
	theirs, err := record.Seal(&rawRecord{rec.b}, key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := theirs.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, ev.Raw()) {
		t.Fatal("core/record seals the same payload to different bytes")
	}
	if _, err := Decode(b); err != nil {
		t.Fatalf("Decode rejects a core/record envelope: %v", err)
	}
}

// A small-order public key lets anyone forge "signatures": crypto/ed25519
// accepts the forgery below, Parley must not.
func TestSmallOrderKeyRejected(t *testing.T) {
	ev, err := Sign(testKey(t), testDraft(1, `{"text":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := open(ev.Raw(), false)
	if err != nil {
		t.Fatal(err)
	}
	identity := make([]byte, 32)
	identity[0] = 1                                           // the neutral point: order 1
	sig := append(bytes.Clone(identity), make([]byte, 32)...) // R = neutral, S = 0
	if !stded25519.Verify(identity, signedBytes(s.payload), sig) {
		t.Fatal("test premise: crypto/ed25519 accepts the forgery")
	}
	raw, err := marshalEnvelope(identity, s.payload, sig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(raw); !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("Decode of a small-order-key forgery: err = %v, want ErrInvalidEvent", err)
	}
	if _, errs := DecodeBatch(repeat(raw, 2*batchMin)); !errors.Is(errs[0], ErrInvalidEvent) {
		t.Fatalf("DecodeBatch of a small-order-key forgery: err = %v", errs[0])
	}
}

func repeat(b []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// DecodeBatch answers index for index as Decode does, with bad signatures,
// garbage and good events mixed, on either side of the batch threshold.
func TestDecodeBatchMatchesDecode(t *testing.T) {
	key := testKey(t)
	for _, n := range []int{1, batchMin - 1, batchMin, 100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			raws := make([][]byte, n)
			for i := range raws {
				ev, err := Sign(key, testDraft(uint64(i+1), fmt.Sprintf(`{"text":"%d"}`, i)))
				if err != nil {
					t.Fatal(err)
				}
				raws[i] = ev.Raw()
			}
			if n > 3 {
				raws[1] = bytes.Clone(raws[1])
				raws[1][len(raws[1])-1] ^= 1 // last byte is the signature's
				raws[n-2] = []byte("garbage")
			}
			evs, errs := DecodeBatch(raws)
			for i, raw := range raws {
				want, wantErr := Decode(raw)
				if (errs[i] == nil) != (wantErr == nil) {
					t.Fatalf("event %d: batch err %v, single err %v", i, errs[i], wantErr)
				}
				if wantErr == nil && (evs[i].ID() != want.ID() || !bytes.Equal(evs[i].Raw(), raw)) {
					t.Fatalf("event %d decoded differently", i)
				}
				if wantErr != nil && evs[i] != nil {
					t.Fatalf("event %d: invalid but returned", i)
				}
			}
			if n > 3 && (errs[1] == nil || errs[n-2] == nil || errs[0] != nil) {
				t.Fatalf("errs = %v", errs)
			}
		})
	}
}
