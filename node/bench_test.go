package node_test

import (
	"crypto/rand"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/ledger"
	"github.com/parley-chat/parley/node"
)

// BenchmarkSend measures durable sends through the chat API on node A with
// 64 concurrent senders, while a connected node B receives every message
// (Pebble with fsync on both, as the daemon runs).
func BenchmarkSend(b *testing.B) {
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
	cpu0 := processCPU()
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
	// CPU of both nodes (sender and receiver) per message, including the
	// receiver's catching up after the timer: what bounds msgs/s once both
	// cores are busy.
	if cpu := processCPU(); cpu > 0 { // 0: not measured on this OS
		b.ReportMetric(float64((cpu-cpu0).Microseconds())/float64(sent), "cpu-µs/msg")
	}
}

// BenchmarkCatchUpNode: node B joins a room in which node A holds N events
// (several authors, written before B connects) and catches up through the
// node's own sync wiring. Reports verified events stored per second at B.
func BenchmarkCatchUpNode(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprint("events=", n), func(b *testing.B) {
			for range b.N {
				a := benchNode(b)
				if _, err := a.Chat().Join(b.Context(), "bench"); err != nil {
					b.Fatal(err)
				}
				room := chat.PublicRoomID("bench")
				key := newBenchKey(b)
				var last *ledger.Event
				var evs []*ledger.Event
				for i := range n {
					d := ledger.Draft{Room: room, Kind: ledger.KindMsg, Body: []byte(fmt.Sprintf(`{"text":"message %d with some padding to sixty bytes"}`, i)), Time: time.Now(), Lamport: 1}
					if last != nil {
						d.Lamport, d.Parents = last.Lamport+1, []ledger.ID{last.ID()}
					} else if heads, _ := a.Chat().Ledger().Heads(b.Context(), room); len(heads) > 0 {
						h, _ := a.Chat().Ledger().Get(b.Context(), room, heads[0])
						d.Lamport, d.Parents = h.Lamport+1, heads[:1]
					}
					ev, err := ledger.Sign(key, d)
					if err != nil {
						b.Fatal(err)
					}
					evs = append(evs, ev)
					last = ev
				}
				if _, _, err := a.Chat().Ingest(b.Context(), room, evs); err != nil {
					b.Fatal(err)
				}
				want, _ := a.Chat().Ledger().Count(b.Context(), room)
				bn := benchNode(b)
				if _, err := bn.Chat().Join(b.Context(), "bench"); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				start := time.Now()
				info, _ := a.Info(b.Context())
				if err := bn.Connect(b.Context(), info.Addrs[0]); err != nil {
					b.Fatal(err)
				}
				for {
					got, _ := bn.Chat().Ledger().Count(b.Context(), room)
					if got >= want {
						break
					}
					if time.Since(start) > time.Minute {
						b.Fatalf("caught up %d of %d", got, want)
					}
					time.Sleep(5 * time.Millisecond)
				}
				b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
				b.StopTimer()
			}
		})
	}
}

func benchNode(b *testing.B) *node.Node {
	n, err := node.New(b.Context(), node.Options{DataDir: b.TempDir(), Config: testConfig(), NoRPC: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Close() })
	return n
}

func newBenchKey(b *testing.B) crypto.PrivKey {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return k
}
