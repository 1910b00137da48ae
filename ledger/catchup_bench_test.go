package ledger_test

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/ledger"
)

// catchUpEvents holds the events of BenchmarkAppendDuringCatchUp, signed
// once per process: the benchmark function runs more than once.
var catchUpEvents struct {
	once          sync.Once
	held, catchUp []*ledger.Event
}

// catchUpSet returns a chain of held events (from a root) and a branch of
// catchUp events forked at that root, all in room.
func catchUpSet(b *testing.B, room string, held, catchUp int) ([]*ledger.Event, []*ledger.Event) {
	catchUpEvents.once.Do(func() {
		peer := newKey(b)
		sign := func(parent *ledger.Event) *ledger.Event {
			ev, err := ledger.Sign(peer, ledger.Draft{Room: room, Kind: ledger.KindMsg, Body: []byte(`{"text":"a message of a catch-up"}`),
				Time: time.Now(), Lamport: lamportAfter(parent), Parents: parentsOf(parent)})
			if err != nil {
				b.Fatal(err)
			}
			return ev
		}
		root := sign(nil)
		chain := func(n int) []*ledger.Event {
			out := []*ledger.Event{root}
			for len(out) < n+1 {
				out = append(out, sign(out[len(out)-1]))
			}
			return out
		}
		catchUpEvents.held = chain(held)
		catchUpEvents.catchUp = chain(catchUp)[1:]
	})
	return catchUpEvents.held, catchUpEvents.catchUp
}

// BenchmarkAppendDuringCatchUp measures local sends in one room while
// another room catches up. Room A holds a 10,000-event chain; a peer's
// 20,000-event branch forked at its root arrives through Add in frames of
// 512, one after the other, as ledgersync ingests them (a partition
// healing: the first half lands on old Lamport levels, whose duplicate
// checks read the datastore, the second half on new ones). Meanwhile
// room B appends one event every 2 ms. It reports B's Append latency
// (p50, p99, max over every iteration) and A's ingest rate.
func BenchmarkAppendDuringCatchUp(b *testing.B) {
	const roomA, roomB = "catchupa", "catchupb"
	const held, catchUp, frame = 10_000, 20_000, 512
	const every = 2 * time.Millisecond
	heldEvs, branch := catchUpSet(b, roomA, held, catchUp)
	key := newKey(b)
	ctx := context.Background()
	var lat []time.Duration
	var ingest time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir, err := os.MkdirTemp(b.TempDir(), "ledger")
		if err != nil {
			b.Fatal(err)
		}
		pds, err := store.OpenPebble(dir)
		if err != nil {
			b.Fatal(err)
		}
		l, err := ledger.Open(ctx, pds, ledger.Config{})
		if err != nil {
			b.Fatal(err)
		}
		for evs := heldEvs; len(evs) > 0; evs = evs[min(len(evs), 2000):] {
			if _, rej, err := l.Add(ctx, roomA, evs[:min(len(evs), 2000)]...); err != nil || len(rej) > 0 {
				b.Fatal(err, rej)
			}
		}
		if _, err := l.Append(ctx, key, roomB, ledger.KindMsg, []byte("hello"), time.Now()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()

		stop := make(chan struct{})
		sends := make(chan []time.Duration, 1)
		go func() {
			var got []time.Duration
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					sends <- got
					return
				case <-tick.C:
				}
				t0 := time.Now()
				if _, err := l.Append(ctx, key, roomB, ledger.KindMsg, []byte(`{"text":"x"}`), t0); err != nil {
					b.Error(err)
				}
				got = append(got, time.Since(t0))
			}
		}()
		t0 := time.Now()
		for evs := branch; len(evs) > 0; evs = evs[min(len(evs), frame):] {
			added, rej, err := l.Add(ctx, roomA, evs[:min(len(evs), frame)]...)
			if err != nil || len(rej) > 0 || len(added) != min(len(evs), frame) {
				b.Fatal(len(added), err, rej)
			}
		}
		ingest += time.Since(t0)
		close(stop)
		lat = append(lat, <-sends...)

		b.StopTimer()
		l.Close()
		pds.Close()
		os.RemoveAll(dir)
		b.StartTimer()
	}
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "B-p50-ms")
	b.ReportMetric(q(0.99), "B-p99-ms")
	b.ReportMetric(q(1), "B-max-ms")
	b.ReportMetric(float64(len(lat))/float64(b.N), "B-appends/op")
	b.ReportMetric(float64(b.N*catchUp)/ingest.Seconds(), "A-events/s")
}
