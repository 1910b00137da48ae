package node_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/rpc/api"
	"github.com/parley-chat/parley/rpc/client"
)

// BenchmarkSendAfterSyncSpam measures msg_send over RPC (one caller,
// Pebble with fsync, as the daemon runs) on a node that stored roots spam
// roots, each from a fresh identity, from a hostile sync responder on
// 127.0.0.1. The newcomer budget is off, so every root is stored and
// becomes a head: the worst case of the parent choice (issue 18 saw p50
// 1.5 ms → 27–55 ms after 100,000). Besides ns/op it reports the p50 of
// the timed sends and, after a restart, the first send (it loads the
// heads from disk) and the p50 of 200.
func BenchmarkSendAfterSyncSpam(b *testing.B) {
	for _, roots := range []int{0, 10_000, 100_000} {
		b.Run(fmt.Sprint("roots=", roots), func(b *testing.B) {
			dir := b.TempDir()
			start := func() (*node.Node, *client.Client) {
				n, err := node.New(b.Context(), node.Options{DataDir: dir, Config: testConfig(),
					Chat: func(c *chat.Config) { c.Limits = chat.DefaultLimits(); c.Limits.NewcomerRate = 0 }})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { n.Close() })
				url, token, err := client.ReadEndpoint(dir)
				if err != nil {
					b.Fatal(err)
				}
				return n, client.Dial(url, token)
			}
			send := func(c *client.Client, text string) time.Duration {
				t0 := time.Now()
				var m api.Message
				if err := c.Call(b.Context(), "msg_send", []any{"general", text}, &m); err != nil {
					b.Fatal(err)
				}
				return time.Since(t0)
			}
			n, c := start()
			if _, err := n.Chat().Join(b.Context(), "general"); err != nil {
				b.Fatal(err)
			}
			send(c, "first")
			room := chat.PublicRoomID("general")
			if roots > 0 {
				attacker := hostileResponder(b, room, signRoots(b, room, roots))
				want, _ := n.Chat().Ledger().Count(b.Context(), room)
				want += uint64(roots)
				if err := n.Connect(b.Context(), attacker.Addrs()[0].String()+"/p2p/"+attacker.ID().String()); err != nil {
					b.Fatal(err)
				}
				testwait.For(b, 2*time.Minute, "the spam stored", func() bool {
					got, _ := n.Chat().Ledger().Count(b.Context(), room)
					return got >= want
				})
				if err := attacker.Close(); err != nil {
					b.Fatal(err)
				}
			}
			var lat []time.Duration
			i := 0
			b.ResetTimer()
			for b.Loop() {
				lat = append(lat, send(c, fmt.Sprint("m", i)))
				i++
			}
			b.StopTimer()
			b.ReportMetric(p50µs(lat), "p50-µs")
			if err := n.Close(); err != nil {
				b.Fatal(err)
			}
			_, c = start()
			lat = lat[:0]
			for i := range 200 {
				lat = append(lat, send(c, fmt.Sprint("r", i)))
			}
			b.ReportMetric(float64(lat[0].Microseconds())/1000, "reopened-first-ms")
			b.ReportMetric(p50µs(lat), "reopened-p50-µs")
		})
	}
}

func p50µs(lat []time.Duration) float64 {
	slices.Sort(lat)
	return float64(lat[len(lat)/2].Microseconds())
}
