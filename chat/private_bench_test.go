package chat

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/ledger"
)

// benchStores are the stores the send benchmarks run on: in memory (the
// CPU cost alone) and Pebble as the node opens it (with its fsyncs).
func benchStores(b *testing.B) map[string]func() ds.Batching {
	return map[string]func() ds.Batching{
		"mem": func() ds.Batching { return dssync.MutexWrap(ds.NewMapDatastore()) },
		"pebble": func() ds.Batching {
			pds, err := store.OpenPebble(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { pds.Close() })
			return pds
		},
	}
}

// BenchmarkSend measures Send of one ~50-byte message: sign and store,
// and in a private room also seal, make the chain state durable and keep
// the plaintext under the data key. The private/public ratio is what the
// encryption costs per message.
func BenchmarkSend(b *testing.B) {
	for _, st := range []string{"mem", "pebble"} {
		for _, kind := range []string{"public", "private"} {
			b.Run(st+"/"+kind, func(b *testing.B) {
				p := newPrivPeerOn(b, newKeyDir(), "a", benchStores(b)[st]())
				ctx := context.Background()
				var room string
				if kind == "public" {
					r, err := p.s.Join(ctx, "bench")
					if err != nil {
						b.Fatal(err)
					}
					room = r.ID
				} else {
					r, _, err := p.s.CreatePrivate(ctx, "bench")
					if err != nil {
						b.Fatal(err)
					}
					room = r.ID
				}
				for b.Loop() {
					if _, err := p.s.Send(ctx, room, "a message of a typical length, some fifty bytes."); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkReceive measures a member taking in one message by Ingest (the
// sync path): verify the signature, judge it, and in a private room
// decrypt it and keep the plaintext and chain state.
func BenchmarkReceive(b *testing.B) {
	for _, st := range []string{"mem", "pebble"} {
		for _, kind := range []string{"public", "private"} {
			b.Run(st+"/"+kind, func(b *testing.B) {
				dir := newKeyDir()
				stores := benchStores(b)
				a, m := newPrivPeer(b, dir, "a"), newPrivPeerOn(b, dir, "m", stores[st]())
				ctx := context.Background()
				var room string
				if kind == "public" {
					r, _ := a.s.Join(ctx, "bench")
					m.s.Join(ctx, "bench")
					room = r.ID
				} else {
					r, _, err := a.s.CreatePrivate(ctx, "bench")
					if err != nil {
						b.Fatal(err)
					}
					tok, err := a.s.Invite(ctx, r.ID, m.id.String())
					if err != nil {
						b.Fatal(err)
					}
					m.s.JoinInvite(ctx, tok)
					room = r.ID
				}
				m.pull(b, a.modPeer, room)
				for range b.N {
					if _, err := a.s.Send(ctx, room, "a message of a typical length, some fifty bytes."); err != nil {
						b.Fatal(err)
					}
				}
				evs := a.events(b, room)
				evs = evs[len(evs)-b.N:]
				b.ResetTimer()
				c0 := processCPU()
				for _, ev := range evs {
					if added, _, err := m.s.Ingest(ctx, room, []*ledger.Event{ev}); err != nil || len(added) != 1 {
						b.Fatalf("ingest: %d added, %v", len(added), err)
					}
				}
				if c := processCPU(); c > 0 {
					// Every goroutine's CPU (the committer's too), apart
					// from what else the machine runs.
					b.ReportMetric(float64(c-c0)/float64(b.N), "cpu-ns/op")
				}
			})
		}
	}
}

// BenchmarkRekey measures an admin starting an epoch for 10 and 100
// members: bundles fetched (from memory here), the secret sealed to each,
// the epoch and epoch_keys events signed and stored, the name re-sent.
// bytes/rekey is what the rekey adds to the ledger (event bodies).
func BenchmarkRekey(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			dir := newKeyDir()
			a := newPrivPeer(b, dir, "a")
			ctx := context.Background()
			r, _, err := a.s.CreatePrivate(ctx, "bench")
			if err != nil {
				b.Fatal(err)
			}
			for range n - 1 {
				key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
				id, _ := peer.IDFromPrivateKey(key)
				kp, _ := e2ee.GenerateKeyPair()
				now := time.Now()
				sb, err := e2ee.SignBundle(key, e2ee.Bundle{Peer: id, PublicKey: kp.PublicKey(), Seq: 1, Created: now, Expires: now.Add(time.Hour)})
				if err != nil {
					b.Fatal(err)
				}
				dir.mu.Lock()
				dir.m[id] = sb
				dir.mu.Unlock()
				if err := a.s.Moderate(ctx, r.ID, OpAdmit, id.String(), ""); err != nil {
					b.Fatal(err)
				}
			}
			mr := a.s.modRoom(r.ID)
			before := len(a.events(b, r.ID))
			var bytes int
			b.ResetTimer()
			for b.Loop() {
				if err := a.s.rekey(ctx, mr, r.ID, ""); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			evs := a.events(b, r.ID)[before:]
			for _, ev := range evs {
				bytes += len(ev.Body)
			}
			b.ReportMetric(float64(bytes)/float64(b.N), "bytes/rekey")
			b.ReportMetric(float64(len(evs))/float64(b.N), "events/rekey")
		})
	}
}
