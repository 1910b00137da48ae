package ledgersync

import (
	"fmt"
	"testing"
	"time"

	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/parley-chat/parley/ledger"
)

// BenchmarkCatchUpWAN is catch-up over a link with a round-trip time, as
// between two homes, instead of loopback: on mocknet every write arrives
// after the link's latency. The requester holds the oldest events of the
// room, all but the newest 10 % or 1 %, and pulls the rest: a node that
// was away. That takes a few rounds (log16 of the range to narrow down),
// and each round costs a round trip: rounds and ms/sync show what that
// adds to the same sync on a link without latency.
//
// Only partial catch-ups are measured over latency. Mocknet's link is
// stop-and-wait, not TCP: a stream's next write is taken only once the
// last one has arrived, so a transfer of many frames (a catch-up from
// nothing) would be bound by the latency per frame, which no real link
// with a TCP or QUIC window is. Bandwidth is not limited either: mocknet's
// limiter lets a link burst a second's worth of bytes first.
//
// Run it with a count (-benchtime 5x): every iteration opens a node with
// its own Pebble store, kept until the sub-benchmark ends.
func BenchmarkCatchUpWAN(b *testing.B) {
	const n = 10_000
	dag := makeDAG(b, testRoom, n, 8, 42)
	for _, missing := range []int{n / 10, n / 100} {
		for _, rtt := range []time.Duration{0, 20 * time.Millisecond, 100 * time.Millisecond} {
			b.Run(fmt.Sprintf("missing=%d/rtt=%v", missing, rtt), func(b *testing.B) {
				benchCatchUpLink(b, dag, dag[:n-missing], mocknet.LinkOptions{Latency: rtt / 2})
			})
		}
	}
}

// benchCatchUpLink: a node holding have pulls the rest of dag from one
// holding all of it, over a mocknet link with opts.
func benchCatchUpLink(b *testing.B, dag, have []*ledger.Event, opts mocknet.LinkOptions) {
	mn := mocknet.New()
	b.Cleanup(func() { mn.Close() })
	mn.SetLinkDefaults(opts)
	ha, err := mn.GenPeer()
	if err != nil {
		b.Fatal(err)
	}
	a := newNodeWith(b, Config{Manual: true}, newPebbleStore(b), ha)
	load(b, a.store, dag)
	want := len(dag) - len(have)
	var rounds int
	var took time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		hc, err := mn.GenPeer()
		if err != nil {
			b.Fatal(err)
		}
		c := newNodeWith(b, Config{Manual: true, MaxEventsPerSession: len(dag)}, newPebbleStore(b), hc)
		load(b, c.store, have)
		if _, err := mn.LinkPeers(ha.ID(), hc.ID()); err != nil {
			b.Fatal(err)
		}
		if _, err := mn.ConnectPeers(hc.ID(), ha.ID()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		st, err := c.sy.Sync(b.Context(), ha.ID(), testRoom)
		if err != nil {
			b.Fatal(err)
		}
		if st.EventsStored != want {
			b.Fatalf("stored %d of %d missing events", st.EventsStored, want)
		}
		rounds += st.Rounds
		took += st.Duration
	}
	b.ReportMetric(float64(want*b.N)/took.Seconds(), "events/s")
	b.ReportMetric(float64(rounds)/float64(b.N), "rounds")
	b.ReportMetric(took.Seconds()*1e3/float64(b.N), "ms/sync")
}
