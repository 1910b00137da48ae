package ledger_test

import (
	"context"
	"fmt"
	"testing"

	ds "github.com/ipfs/go-datastore"

	"github.com/parley-chat/parley/ledger"
)

// TestMetaMigratesFromV1 opens a datastore whose room summary is in the
// version 1 format (48 bytes: count, max Lamport, XOR; what releases
// before fingerprint v2 wrote) and checks that the first load recomputes
// the v2 sum, rewrites the record as version 2, and that the ledger still
// verifies and keeps working.
func TestMetaMigratesFromV1(t *testing.T) {
	ctx := context.Background()
	l, store := newLedger(t)
	key := newKey(t)
	evs := appendN(t, l, key, 300) // spans two 256-clock buckets
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	mk := ds.NewKey("/r/" + room + "/m")
	v2, err := store.Get(ctx, mk)
	if err != nil || len(v2) != 81 || v2[0] != 2 {
		t.Fatalf("summary as written: %d bytes, err %v", len(v2), err)
	}
	v1 := append([]byte(nil), v2[1:49]...) // count | maxLamport | xor
	if err := store.Put(ctx, mk, v1); err != nil {
		t.Fatal(err)
	}

	l2, err := ledger.Open(ctx, store, ledger.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	sum, err := l2.Summary(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	var want ledger.Fingerprint
	for _, e := range evs {
		want.Add(e.ID())
	}
	if sum.Fingerprint != want {
		t.Fatalf("migrated fingerprint %x/%x, want %x/%x", sum.Acc, sum.Sum, want.Acc, want.Sum)
	}
	got, err := store.Get(ctx, mk)
	if err != nil || string(got) != string(v2) {
		t.Fatalf("summary not rewritten as version 2 (%d bytes, err %v)", len(got), err)
	}
	more, err := l2.Append(ctx, key, room, ledger.KindMsg, []byte("after"), evs[0].Timestamp())
	if err != nil {
		t.Fatal(err)
	}
	want.Add(more.ID())
	if sum, _ := l2.Summary(ctx, room); sum.Fingerprint != want {
		t.Fatal("summary wrong after a write that followed the migration")
	}
	rep, err := l2.Verify(ctx, room)
	if err != nil || !rep.OK {
		t.Fatalf("verify after migration: %+v, %v", rep, err)
	}
}

// TestVerifyNoticesWrongSum checks that Verify compares the v2 sum too.
func TestVerifyNoticesWrongSum(t *testing.T) {
	ctx := context.Background()
	l, store := newLedger(t)
	appendN(t, l, newKey(t), 10)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	mk := ds.NewKey("/r/" + room + "/m")
	b, _ := store.Get(ctx, mk)
	b[80] ^= 1
	if err := store.Put(ctx, mk, b); err != nil {
		t.Fatal(err)
	}
	l2, err := ledger.Open(ctx, store, ledger.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	rep, err := l2.Verify(ctx, room)
	if err != nil || rep.OK {
		t.Fatalf("verify of a wrong sum: %+v, %v", rep, err)
	}
}

// TestFingerprintV2 pins the v2 construction: sha256(sum ‖ uvarint(count))[:16]
// with the sum of sha256(ID) as little-endian 256-bit integers.
func TestFingerprintV2(t *testing.T) {
	var f ledger.Fingerprint
	if f.V2() != [16]byte{0x7f, 0x9c, 0x9e, 0x31, 0xac, 0x82, 0x56, 0xca, 0x2f, 0x25, 0x85, 0x83, 0xdf, 0x26, 0x2d, 0xbc} {
		t.Fatalf("empty set: %x", f.V2()) // sha256 of 33 zero bytes
	}
	a, b := ledger.ComputeID([]byte("a")), ledger.ComputeID([]byte("b"))
	var ab, ba ledger.Fingerprint
	ab.Add(a)
	ab.Add(b)
	ba.Add(b)
	ba.Add(a)
	if ab != ba || ab.V2() == f.V2() {
		t.Fatal("v2 must not depend on order and must change with the set")
	}
}

// TestVerifyNamesShortSummary: a room summary emptied or cut short (disk
// damage, a bad copy) makes Open's load and Verify report the room, not
// panic.
func TestVerifyNamesShortSummary(t *testing.T) {
	for _, n := range []int{0, 1, 47} {
		t.Run(fmt.Sprintf("%d bytes", n), func(t *testing.T) {
			ctx := context.Background()
			l, store := newLedger(t)
			appendN(t, l, newKey(t), 3)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			mk := ds.NewKey("/r/" + room + "/m")
			b, _ := store.Get(ctx, mk)
			if err := store.Put(ctx, mk, b[:n]); err != nil {
				t.Fatal(err)
			}
			l2, err := ledger.Open(ctx, store, ledger.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Close()
			rep, err := l2.Verify(ctx, room)
			if err != nil || rep.OK {
				t.Fatalf("verify of a %d-byte summary: %+v, %v", n, rep, err)
			}
			if rep.Problems[0].Event != room {
				t.Fatalf("verify names %q, want the room %q", rep.Problems[0].Event, room)
			}
			if _, err := l2.Summary(ctx, room); err == nil {
				t.Fatalf("loading a room with a %d-byte summary succeeded", n)
			}
		})
	}
}
