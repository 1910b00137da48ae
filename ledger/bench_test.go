package ledger_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	pebbleds "github.com/ipfs/go-ds-pebble"

	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/ledger"
)

func BenchmarkSign(b *testing.B) {
	key := newKey(b)
	body := []byte(`{"text":"a typical chat message of some sixty bytes or so...."}`)
	parents := []ledger.ID{ledger.ComputeID([]byte("p"))}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ledger.Sign(key, ledger.Draft{Room: room, Kind: "msg", Body: body, Time: time.Now(), Lamport: 2, Parents: parents}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode is the per-event cost of accepting gossip or sync:
// parsing, canonical checks and one Ed25519 verification.
func BenchmarkDecode(b *testing.B) {
	ev, _ := ledger.Sign(newKey(b), ledger.Draft{Room: room, Kind: "msg", Body: []byte(`{"text":"hello"}`), Time: time.Now(), Lamport: 1})
	raw := ev.Raw()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ledger.Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeParallel(b *testing.B) {
	ev, _ := ledger.Sign(newKey(b), ledger.Draft{Room: room, Kind: "msg", Body: []byte(`{"text":"hello"}`), Time: time.Now(), Lamport: 1})
	raw := ev.Raw()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := ledger.Decode(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecodeBatch is sync's and Verify's path: frames of 256 events
// from many authors, batch-verified on all cores. ns/op is per event.
func BenchmarkDecodeBatch(b *testing.B) {
	raws := make([][]byte, 256)
	for i := range raws {
		ev, _ := ledger.Sign(newKey(b), ledger.Draft{Room: room, Kind: "msg", Body: []byte(`{"text":"hello"}`), Time: time.Now(), Lamport: 1})
		raws[i] = ev.Raw()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += len(raws) {
		_, errs := ledger.DecodeBatch(raws)
		if errs[0] != nil {
			b.Fatal(errs[0])
		}
	}
}

// pebbleLedger opens a ledger on Pebble set up as the node sets it up:
// unsynced writes, and the ledger's one fsync per group of its own events.
// (Before, this benchmark's store also synced every batch: two fsyncs per
// group, and figures about half of what the node does.)
func pebbleLedger(b *testing.B) *ledger.Ledger {
	b.Helper()
	pds, err := store.OpenPebble(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	l, err := ledger.Open(context.Background(), pds, ledger.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close(); pds.Close() })
	return l
}

// BenchmarkAppend: one writer, every append durable before the next.
func BenchmarkAppend(b *testing.B) {
	l := pebbleLedger(b)
	key := newKey(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Append(ctx, key, room, "msg", []byte(`{"text":"x"}`), time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendConcurrent: many writers share fsyncs (group commit).
func BenchmarkAppendConcurrent(b *testing.B) {
	for _, writers := range []int{8, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			l := pebbleLedger(b)
			key := newKey(b)
			ctx := context.Background()
			b.SetParallelism(writers / 2) // GOMAXPROCS=2 here
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := l.Append(ctx, key, room, "msg", []byte(`{"text":"x"}`), time.Now()); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkAddBatch: storing already-verified events from peers in batches.
func BenchmarkAddBatch(b *testing.B) {
	for _, size := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			src, _ := newLedger(b)
			evs := appendN(b, src, newKey(b), b.N*size%200000+size)
			_ = evs
			l := pebbleLedger(b)
			ctx := context.Background()
			var next atomic.Int64
			b.ResetTimer()
			for i := 0; i+size <= len(evs) && i < b.N*size; i += size {
				if _, rej, err := l.Add(ctx, room, evs[i:i+size]...); err != nil || len(rej) > 0 {
					b.Fatal(err, rej)
				}
				next.Add(int64(size))
			}
			b.ReportMetric(float64(next.Load())/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkHistoryPage reads the newest 50 messages of a 20,000-event room.
func BenchmarkHistoryPage(b *testing.B) {
	l := pebbleLedger(b)
	key := newKey(b)
	ctx := context.Background()
	var last *ledger.Event
	for range 200 {
		var evs []*ledger.Event
		for range 100 {
			ev, err := ledger.Sign(key, ledger.Draft{Room: room, Kind: "msg", Body: []byte(`{"text":"x"}`), Time: time.Now(), Lamport: lamportAfter(last), Parents: parentsOf(last)})
			if err != nil {
				b.Fatal(err)
			}
			evs = append(evs, ev)
			last = ev
		}
		if _, _, err := l.Add(ctx, room, evs...); err != nil {
			b.Fatal(err)
		}
	}
	for _, before := range []ledger.ID{"", last.Parents[0]} {
		name := "newest"
		if before != "" {
			name = "before"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				page, err := l.History(ctx, room, before, 50)
				if err != nil || len(page) != 50 {
					b.Fatal(len(page), err)
				}
			}
		})
	}
}

func lamportAfter(ev *ledger.Event) uint64 {
	if ev == nil {
		return 1
	}
	return ev.Lamport + 1
}

func parentsOf(ev *ledger.Event) []ledger.ID {
	if ev == nil {
		return nil
	}
	return []ledger.ID{ev.ID()}
}

var _ ds.Batching = (*pebbleds.Datastore)(nil)

// BenchmarkStored is the duplicate check gossip makes before the rate
// limits, for a new event on top of the DAG (answered from memory).
func BenchmarkStored(b *testing.B) {
	l := pebbleLedger(b)
	key := newKey(b)
	evs := appendN(b, l, key, 100)
	last := evs[len(evs)-1]
	fresh, err := ledger.Sign(newKey(b), ledger.Draft{Room: room, Kind: ledger.KindMsg, Body: []byte("new"), Time: time.Now(), Lamport: last.Lamport + 1, Parents: []ledger.ID{last.ID()}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := l.Stored(ctx, room, fresh.ID(), fresh.Lamport); err != nil || ok {
			b.Fatal(ok, err)
		}
	}
}
