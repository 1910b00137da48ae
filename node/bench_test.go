package node_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/node"
)

// BenchmarkSend measures durable sends through the chat API on node A with
// 64 concurrent senders, while a connected node B receives every message
// (Pebble with fsync on both, as the daemon runs).
func BenchmarkSend(b *testing.B) {
	t := &testing.T{}
	_ = t
	mk := func() *node.Node {
		n, err := node.New(b.Context(), node.Options{DataDir: b.TempDir(), Config: testConfig(), NoRPC: true,
			Chat: func(c *chat.Config) { c.Limits = chat.Limits{AuthorRate: -1, PeerRate: -1} }})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { n.Close() })
		return n
	}
	a, c := mk(), mk()
	info, _ := c.Info(b.Context())
	if err := a.Connect(b.Context(), info.Addrs[0]); err != nil {
		b.Fatal(err)
	}
	for _, n := range []*node.Node{a, c} {
		if _, err := n.Chat().Join(b.Context(), "bench"); err != nil {
			b.Fatal(err)
		}
	}
	sub, _ := c.Chat().Subscribe(b.Context(), chat.Filter{Room: "bench"})
	var got atomic.Int64
	go func() {
		for range sub.C() {
			got.Add(1)
		}
	}()
	// Mesh up.
	for i := 0; got.Load() == 0; i++ {
		a.Chat().Send(b.Context(), "bench", "probe")
		time.Sleep(50 * time.Millisecond)
		if i > 200 {
			b.Fatal("no mesh")
		}
	}
	start := got.Load()
	var seq atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := a.Chat().Send(b.Context(), "bench", fmt.Sprint("m", seq.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	sent := seq.Load()
	b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "msgs/s")
	deadline := time.Now().Add(30 * time.Second)
	for got.Load()-start < sent && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	b.ReportMetric(float64(sent-(got.Load()-start)), "lost")
}
