package ledger

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

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
	rng := rand.New(rand.NewPCG(1, 2))
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
				got, gl := x.choose(a)
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
				x.choose("me")
			}
		})
	}
}
