package chat

import (
	"crypto/rand"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/ledger"
)

// BenchmarkParentLookup measures the gossip validator on children of
// events committed a moment ago (two parents each, Pebble as the node
// opens it, rate limits off), with the parents looked up in the
// datastore (lookup=datastore: j.committed off, as before) and in
// memory first (lookup=memory), in the same run: the whole validator
// (signature check included) and missingParents alone. Besides wall time
// per op it reports the CPU time of the benchmark's own thread per op
// (cpu-ns/op, Linux), which other load on the machine does not inflate.
func BenchmarkParentLookup(b *testing.B) {
	pds, err := store.OpenPebble(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pds.Close() })
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	self, _ := peer.IDFromPrivateKey(key)
	s, err := New(loopNet{self}, pds, key, Config{Limits: Limits{AuthorRate: -1, PeerRate: -1}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	r, err := s.Join(b.Context(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	s.mu.Lock()
	j := s.rooms[r.ID]
	s.mu.Unlock()

	// 1,024 committed roots by one author, then 4,096 children naming two
	// of them each, signed before the clock starts.
	author, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	sign := func(i int, lamport uint64, parents ...ledger.ID) *ledger.Event {
		ev, err := ledger.Sign(author, ledger.Draft{Room: r.ID, Kind: ledger.KindMsg, Body: fmt.Appendf(nil, `{"text":"event %d"}`, i),
			Time: time.Now(), Lamport: lamport, Parents: parents})
		if err != nil {
			b.Fatal(err)
		}
		return ev
	}
	parents := make([]*ledger.Event, recentCommitted)
	for i := range parents {
		parents[i] = sign(i, 1)
	}
	if _, rej, err := s.led.Add(b.Context(), r.ID, parents...); err != nil || len(rej) > 0 {
		b.Fatalf("add parents: %v %v", err, rej)
	}
	kids := make([]*ledger.Event, 4096)
	for i := range kids {
		kids[i] = sign(len(parents)+i, 2, parents[i%len(parents)].ID(), parents[(i+1)%len(parents)].ID())
	}
	cache := j.committed
	for _, lookup := range []string{"datastore", "memory"} {
		j.committed = cache
		if lookup == "datastore" {
			j.committed = nil
		}
		validate := s.validator(j)
		b.Run("validator/lookup="+lookup, func(b *testing.B) {
			i := 0
			cpu := onThread(b)
			for b.Loop() {
				if _, verdict, err := validate(b.Context(), "forwarder", kids[i%len(kids)].Raw()); verdict != Accept {
					b.Fatalf("%v, %v", verdict, err)
				}
				j.pending.Clear() // as if stored: each child is checked again
				i++
			}
			cpu(i)
		})
		b.Run("missingParents/lookup="+lookup, func(b *testing.B) {
			i := 0
			cpu := onThread(b)
			for b.Loop() {
				if missing, err := s.missingParents(b.Context(), j, kids[i%len(kids)]); err != nil || len(missing) > 0 {
					b.Fatalf("%v, %v", missing, err)
				}
				i++
			}
			cpu(i)
		})
	}
	j.committed = cache
}

// onThread locks the benchmark's goroutine to its OS thread and returns a
// func that, given the ops done, reports the thread's CPU time per op
// and unlocks.
func onThread(b *testing.B) func(ops int) {
	runtime.LockOSThread()
	c0 := threadCPU()
	return func(ops int) {
		if c := threadCPU(); c > 0 && ops > 0 {
			b.ReportMetric(float64((c-c0).Nanoseconds())/float64(ops), "cpu-ns/op")
		}
		runtime.UnlockOSThread()
	}
}
