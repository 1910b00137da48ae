package ledgersync

import (
	"testing"
	"time"

	"github.com/parley-chat/parley/ledger"
)

// The catch-up target (issue 4/6): at least 20,000 verified events/s and
// at most 1.3× the events' size on the wire. store=pebble is what the
// node runs (fsynced writes); store=memory is the map datastore the tests
// use, whose queries sort the whole store.
func BenchmarkCatchUp10k(b *testing.B)  { benchCatchUpStores(b, 10_000) }
func BenchmarkCatchUp100k(b *testing.B) { benchCatchUpStores(b, 100_000) }

func benchCatchUpStores(b *testing.B, n int) {
	dag := makeDAG(b, testRoom, n, 8, 42)
	for _, st := range []struct {
		name string
		open func(testing.TB, ...string) *testStore
	}{{"pebble", newPebbleStore}, {"memory", newStore}} {
		b.Run("store="+st.name, func(b *testing.B) { benchCatchUp(b, dag, st.open) })
	}
}

// benchCatchUp: an empty node pulls dag from a full one over TCP on
// 127.0.0.1 (both in this process, sharing the CPUs).
func benchCatchUp(b *testing.B, dag []*ledger.Event, open func(testing.TB, ...string) *testStore) {
	n := len(dag)
	a := newNodeOn(b, Config{Manual: true}, open(b))
	load(b, a.store, dag)
	evBytes := size(dag)
	b.ResetTimer()
	var wire int
	var took time.Duration
	for range b.N {
		b.StopTimer()
		c := newNodeOn(b, Config{Manual: true, MaxEventsPerSession: n}, open(b))
		connect(b, c.h, a.h)
		b.StartTimer()
		st, err := c.sy.Sync(b.Context(), a.h.ID(), testRoom)
		if err != nil {
			b.Fatal(err)
		}
		if st.EventsStored != n {
			b.Fatalf("stored %d of %d", st.EventsStored, n)
		}
		wire += st.BytesSent + st.BytesReceived
		took += st.Duration
	}
	b.ReportMetric(float64(n*b.N)/took.Seconds(), "events/s")
	b.ReportMetric(float64(wire)/float64(n*b.N), "wire-B/event")
	b.ReportMetric(float64(wire)/float64(evBytes*b.N), "wire/events-ratio")
}
