package ledger

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// bruteChoose is the parent rule of headIndex.choose, by sorting every
// head: what the index must agree with.
func bruteChoose(heads map[ID]headEntry, author peer.ID) ([]ID, uint64) {
	var top uint64
	for _, e := range heads {
		if e.key.Lamport > 1 {
			top = max(top, e.key.Lamport)
		}
	}
	var cands []Key
	for _, e := range heads {
		own := e.author == author
		inWindow := e.key.Lamport > 1 && e.key.Lamport+parentWindow >= top
		if own || inWindow {
			cands = append(cands, e.key)
		}
	}
	slices.SortFunc(cands, func(a, b Key) int { return b.Compare(a) })
	cands = cands[:min(len(cands), MaxParents)]
	var lam uint64
	ids := make([]ID, len(cands))
	for i, k := range cands {
		ids[i], lam = k.ID, max(lam, k.Lamport)
	}
	return ids, lam + 1
}

// TestHeadIndexMatchesSort: random adds and removals (roots and events
// with parents, over and under the window, several authors) leave the
// index choosing exactly what sorting all heads would choose.
func TestHeadIndexMatchesSort(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	authors := []peer.ID{"me", "alice", "bob", "spammer"}
	x := newHeadIndex()
	ref := map[ID]headEntry{}
	var ids []ID
	for step := range 20000 {
		if len(ids) > 0 && rng.IntN(3) == 0 {
			i := rng.IntN(len(ids))
			id := ids[i]
			ids[i] = ids[len(ids)-1]
			ids = ids[:len(ids)-1]
			x.remove(id)
			delete(ref, id)
		} else {
			id := ComputeID(fmt.Appendf(nil, "%d", step))
			lam := uint64(1)
			if rng.IntN(4) > 0 {
				lam = 1 + uint64(rng.IntN(300))
			}
			a := authors[rng.IntN(len(authors))]
			x.add(id, lam, a)
			ref[id] = headEntry{key: Key{lam, id}, author: a}
			ids = append(ids, id)
		}
		if x.len() != len(ref) {
			t.Fatalf("step %d: index holds %d heads, want %d", step, x.len(), len(ref))
		}
		if step%50 == 0 {
			for _, a := range authors {
				got, gl := x.choose(a, ParentPolicy{})
				want, wl := bruteChoose(ref, a)
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) || gl != wl {
					t.Fatalf("step %d author %s: chose %d parents (lamport %d), want %d (lamport %d)", step, a, len(got), gl, len(want), wl)
				}
			}
		}
	}
}

// BenchmarkChooseParents: choosing among 100,000 heads, most of them
// strangers' roots, costs what choosing among a handful does.
func BenchmarkChooseParents(b *testing.B) {
	for _, n := range []int{4, 100_000} {
		b.Run(fmt.Sprintf("heads=%d", n), func(b *testing.B) {
			x := newHeadIndex()
			for i := range n {
				lam := uint64(1)
				if i < 4 {
					lam = uint64(100 + i)
				}
				x.add(ComputeID(fmt.Appendf(nil, "%d", i)), lam, peer.ID(fmt.Sprint(i%1000)))
			}
			b.ReportAllocs()
			for b.Loop() {
				x.choose("me", ParentPolicy{})
			}
		})
	}
}

// TestLoadRewritesEmptyHeadValues: heads stored with an empty value (as
// before they held clock and author) are looked up once and rewritten by
// the load, so later loads read them in the one prefix query.
func TestLoadRewritesEmptyHeadValues(t *testing.T) {
	ctx := context.Background()
	const room = "oldheads"
	mem := dssync.MutexWrap(ds.NewMapDatastore())
	l, err := Open(ctx, mem, Config{})
	if err != nil {
		t.Fatal(err)
	}
	k1, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	k2, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	for _, k := range []crypto.PrivKey{k1, k2, k1} {
		if _, err := l.Append(ctx, k, room, KindMsg, []byte("m"), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	heads := func() map[string][]byte {
		res, err := mem.Query(ctx, query.Query{Prefix: roomPrefix(room) + "/h"})
		if err != nil {
			t.Fatal(err)
		}
		entries, _ := res.Rest()
		out := map[string][]byte{}
		for _, e := range entries {
			out[e.Key] = e.Value
		}
		return out
	}
	want := heads() // head key → its value
	if len(want) != 2 {
		t.Fatalf("%d heads, want 2 (one per author)", len(want))
	}
	for key := range want {
		if err := mem.Put(ctx, ds.RawKey(key), nil); err != nil {
			t.Fatal(err)
		}
	}

	l, err = Open(ctx, mem, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Summary(ctx, room); err != nil { // loads the room
		t.Fatal(err)
	}
	got := heads()
	for key, v := range want {
		if !bytes.Equal(got[key], v) {
			t.Errorf("head %s: value %x after load, want %x", key, got[key], v)
		}
	}
	if _, err := l.Append(ctx, k2, room, KindMsg, []byte("after"), time.Now()); err != nil {
		t.Fatal(err)
	}
	if rep, err := l.Verify(ctx, room); err != nil || !rep.OK {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
}
