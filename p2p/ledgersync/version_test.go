package ledgersync

import (
	"bytes"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/parley-chat/parley/ledger"
)

// v1Only is the Config of a node of the previous release: it serves and
// speaks only ProtocolV1.
func v1Only(c Config) Config {
	c.versions = []protocol.ID{ProtocolV1}
	return c
}

// xorCollision signs 2m candidate events on top of base and returns two
// different, equally large sets whose v1 fingerprints (the first 16 bytes
// of the XOR of sha256(ID)) are equal: for pairs (c_i, d_i), Gaussian
// elimination over GF(2) finds a nonempty I with XOR_{i∈I} h(c_i)⊕h(d_i)
// = 0 in the 128 bits compared, which needs at most 129 pairs.
func xorCollision(t *testing.T, base *ledger.Event, m int) (a, b []*ledger.Event) {
	t.Helper()
	key := testKey(t)
	sign := func(i int, side string) *ledger.Event {
		ev, err := ledger.Sign(key, ledger.Draft{Room: testRoom, Kind: ledger.KindMsg, Body: fmt.Appendf(nil, "%s%d", side, i),
			Time: time.UnixMilli(1700000000000 + int64(i)), Lamport: base.Lamport + 1, Parents: []ledger.ID{base.ID()}})
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	cs, ds := make([]*ledger.Event, m), make([]*ledger.Event, m)
	// Row i: the 128-bit difference vector, plus an m-bit record of which
	// pairs were combined into it.
	rows := make([]*big.Int, m)
	used := make([]*big.Int, m)
	for i := range m {
		cs[i], ds[i] = sign(i, "c"), sign(i, "d")
		hc, hd := ledger.IDHash(cs[i].ID()), ledger.IDHash(ds[i].ID())
		var x [16]byte
		for j := range x {
			x[j] = hc[j] ^ hd[j]
		}
		rows[i] = new(big.Int).SetBytes(x[:])
		used[i] = new(big.Int).SetBit(new(big.Int), i, 1)
	}
	// Reduce: pivot on the highest bit; a row reduced to zero names a
	// dependent set of pairs.
	pivots := map[int]int{} // bit → row
	for i := range m {
		for rows[i].Sign() != 0 {
			bit := rows[i].BitLen() - 1
			p, ok := pivots[bit]
			if !ok {
				pivots[bit] = i
				break
			}
			rows[i].Xor(rows[i], rows[p])
			used[i].Xor(used[i], used[p])
		}
		if rows[i].Sign() == 0 {
			for j := range m {
				if used[i].Bit(j) == 1 {
					a, b = append(a, cs[j]), append(b, ds[j])
				}
			}
			return a, b
		}
	}
	t.Fatalf("no dependency among %d pairs", m)
	return nil, nil
}

// TestFingerprintV1Collision builds two ledgers that hold different events
// but report the same v1 fingerprint and count: sync 1.0.0 stops at the
// Hello and the two never converge. Fingerprint v2 tells them apart and
// sync 2.0.0 converges.
func TestFingerprintV1Collision(t *testing.T) {
	a1, b1 := newNode(t, v1Only(manual())), newNode(t, v1Only(manual()))
	base, err := a1.store.led.Append(t.Context(), testKey(t), testRoom, ledger.KindMsg, []byte("base"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	load(t, b1.store, []*ledger.Event{base})
	sa, sb := xorCollision(t, base, 140)
	t.Logf("collision: two sets of %d events", len(sa))
	load(t, a1.store, sa)
	load(t, b1.store, sb)
	fa, _ := a1.store.led.Summary(t.Context(), testRoom)
	fb, _ := b1.store.led.Summary(t.Context(), testRoom)
	if bytes.Equal(history(t, a1.store), history(t, b1.store)) {
		t.Fatal("test setup: ledgers equal")
	}
	if fa.Count != fb.Count || fa.V1() != fb.V1() {
		t.Fatal("no v1 collision")
	}
	if fa.V2() == fb.V2() {
		t.Fatal("v2 fingerprints collide too")
	}

	// 1.0.0: fooled, nothing exchanged.
	connect(t, a1.h, b1.h)
	st, err := a1.sy.Sync(t.Context(), b1.h.ID(), testRoom)
	if err != nil || st.EventsReceived != 0 {
		t.Fatalf("v1 sync: %+v, %v", st, err)
	}
	if bytes.Equal(history(t, a1.store), history(t, b1.store)) {
		t.Fatal("v1 sync converged: the collision did not fool it")
	}

	// 2.0.0 on the same data: converges.
	a2, b2 := newNode(t, manual()), newNode(t, manual())
	load(t, a2.store, append([]*ledger.Event{base}, sa...))
	load(t, b2.store, append([]*ledger.Event{base}, sb...))
	connect(t, a2.h, b2.h)
	for _, x := range []struct{ from, to *node }{{a2, b2}, {b2, a2}} {
		if _, err := x.from.sy.Sync(t.Context(), x.to.h.ID(), testRoom); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(history(t, a2.store), history(t, b2.store)) || count(t, a2.store) != 1+2*len(sa) {
		t.Fatalf("v2 sync did not converge: %d and %d events", count(t, a2.store), count(t, b2.store))
	}
	verify(t, a2.store)
}

// TestSyncAcrossVersions: a node of the previous release (1.0.0 only) and
// a current one sync in both directions; the current one falls back to
// 1.0.0 for that peer and uses 2.0.0 with its own kind.
func TestSyncAcrossVersions(t *testing.T) {
	dag := makeDAG(t, testRoom, 600, 3, 21)
	old, cur := newNode(t, v1Only(manual())), newNode(t, manual())
	load(t, old.store, dag[:400])
	load(t, cur.store, dag[:250])
	key := testKey(t)
	for range 20 {
		if _, err := cur.store.led.Append(t.Context(), key, testRoom, ledger.KindMsg, []byte("new"), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	connect(t, old.h, cur.h)
	if _, err := cur.sy.Sync(t.Context(), old.h.ID(), testRoom); err != nil {
		t.Fatal(err)
	}
	if _, err := old.sy.Sync(t.Context(), cur.h.ID(), testRoom); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(history(t, old.store), history(t, cur.store)) || count(t, old.store) != 420 {
		t.Fatalf("not converged: %d and %d events", count(t, old.store), count(t, cur.store))
	}
	verify(t, old.store)
	// Two current nodes negotiate 2.0.0.
	s, err := cur.h.NewStream(t.Context(), old.h.ID(), protocols...)
	if err != nil {
		t.Fatal(err)
	}
	if s.Protocol() != ProtocolV1 {
		t.Fatalf("with an old node: %s", s.Protocol())
	}
	_ = s.Reset()
	other := newNode(t, manual())
	connect(t, cur.h, other.h)
	s, err = cur.h.NewStream(t.Context(), other.h.ID(), protocols...)
	if err != nil {
		t.Fatal(err)
	}
	if s.Protocol() != ProtocolID {
		t.Fatalf("with a current node: %s", s.Protocol())
	}
	_ = s.Reset()
}
