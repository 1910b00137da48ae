package ledgersync

import (
	"testing"
	"time"
)

func BenchmarkCatchUp10k(b *testing.B)  { benchCatchUp(b, 10_000) }
func BenchmarkCatchUp100k(b *testing.B) { benchCatchUp(b, 100_000) }

// benchCatchUp: an empty node pulls n events from a full one over TCP on
// 127.0.0.1 (both in this process, sharing the CPUs): verification in
// parallel, storage in batches.
func benchCatchUp(b *testing.B, n int) {
	dag := makeDAG(b, testRoom, n, 8, 42)
	a := newNode(b, Config{Manual: true})
	load(b, a.store, dag)
	evBytes := size(dag)
	b.ResetTimer()
	var wire int
	var took time.Duration
	for range b.N {
		b.StopTimer()
		c := newNode(b, Config{Manual: true, MaxEventsPerSession: n})
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
