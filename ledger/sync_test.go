package ledger_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/parley-chat/parley/ledger"
)

func TestSyncReadHelpers(t *testing.T) {
	ctx := context.Background()
	l, _ := newLedger(t)
	evs := appendN(t, l, newKey(t), 600) // spans three 256-clock buckets

	sum, err := l.Summary(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Count != 600 || sum.MaxLamport != 600 || len(sum.Heads) != 1 || sum.Heads[0] != evs[599].ID() {
		t.Fatalf("summary %+v", sum)
	}
	var want ledger.Fingerprint
	for _, e := range evs {
		want.Add(e.ID())
	}
	if sum.Fingerprint != want {
		t.Fatal("summary fingerprint differs from the events'")
	}

	for _, tc := range []struct{ from, to uint64 }{{0, ^uint64(0)}, {1, 600}, {250, 260}, {256, 511}, {700, 800}, {5, 4}} {
		keys, err := l.Keys(ctx, room, tc.from, tc.to)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		for _, e := range evs {
			if e.Lamport >= tc.from && e.Lamport <= tc.to {
				if n >= len(keys) || keys[n] != (ledger.Key{Lamport: e.Lamport, ID: e.ID()}) {
					t.Fatalf("Keys(%d, %d): entry %d wrong", tc.from, tc.to, n)
				}
				n++
			}
		}
		if n != len(keys) {
			t.Fatalf("Keys(%d, %d): %d keys, want %d", tc.from, tc.to, len(keys), n)
		}
	}

	keys, _ := l.Keys(ctx, room, 0, ^uint64(0))
	ks := ledger.NewKeySet(keys)
	if ks.Fingerprint(0, ks.Len()) != want {
		t.Fatal("key set fingerprint differs from the summary")
	}
	var part ledger.Fingerprint
	for _, e := range evs[100:300] {
		part.Add(e.ID())
	}
	if ks.Fingerprint(100, 300) != part {
		t.Fatal("range fingerprint wrong")
	}
	if i := ks.Search(func(k ledger.Key) bool { return k.Lamport >= 300 }); i != 299 {
		t.Fatalf("search: %d", i)
	}

	raw, err := l.RawAt(ctx, room, keys[42])
	if err != nil || string(raw) != string(evs[42].Raw()) {
		t.Fatalf("RawAt: %v", err)
	}
	if _, err := l.RawAt(ctx, room, ledger.Key{Lamport: 1, ID: evs[5].ID()}); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("RawAt of a wrong key: %v", err)
	}
	for _, tc := range []struct{ from, to uint64 }{{0, ^uint64(0)}, {250, 520}, {300, 300}, {700, 800}} {
		var got []ledger.Key
		err := l.RawRange(ctx, room, tc.from, tc.to, func(k ledger.Key, raw []byte) (bool, error) {
			if ledger.ComputeID(raw) != k.ID {
				t.Fatalf("RawRange: bytes of %v", k)
			}
			got = append(got, k)
			return true, nil
		})
		want, _ := l.Keys(ctx, room, tc.from, tc.to)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("RawRange(%d, %d): %d keys, want %d (%v)", tc.from, tc.to, len(got), len(want), err)
		}
	}
	n := 0
	if err := l.RawRange(ctx, room, 0, ^uint64(0), func(ledger.Key, []byte) (bool, error) { n++; return n < 3, nil }); err != nil || n != 3 {
		t.Fatalf("RawRange did not stop: %d %v", n, err)
	}
	stop := errors.New("stop")
	if err := l.RawRange(ctx, room, 0, 10, func(ledger.Key, []byte) (bool, error) { return true, stop }); !errors.Is(err, stop) {
		t.Fatalf("RawRange error: %v", err)
	}
	k, err := l.KeyOf(ctx, room, evs[7].ID())
	if err != nil || k != keys[7] {
		t.Fatalf("KeyOf: %v %v", k, err)
	}
	if id := ledger.IDFromDigest(evs[3].ID().Digest()); id != evs[3].ID() {
		t.Fatal("digest round trip")
	}
	if (ledger.Key{Lamport: 2, ID: "a"}).Compare(ledger.Key{Lamport: 1, ID: "b"}) <= 0 {
		t.Fatal("key order")
	}
}
