package node_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/ledger"
	"github.com/parley-chat/parley/node"
)

// Hostile peers gossip validly signed events whose parents do not exist,
// at a fixed rate for a few seconds: 48 KB events with one made-up parent
// (before: RSS 48 MB → 2 GB, held after they left), or small events with
// 32 made-up parents each (before: the event cap pinned, RSS 460 MB). The
// node under attack holds them within its orphan budgets, its live heap
// stays under a ceiling, every honest message reaches it within 2 s, and
// once the attackers stop the orphans expire (MaxAge, 3 s here).
func TestOrphanFloodIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("orphan floods take a few seconds each")
	}
	for _, tc := range []struct {
		name      string
		peers     int
		perPeer   int // events per peer per second
		parents   int
		body      int
		heapLimit int64 // live heap growth allowed, bytes
	}{
		{"48 KB orphans from 4 peers", 4, 48, 1, 47 << 10, 96 << 20},
		{"small orphans with 32 made-up parents from 3 peers", 3, 190, ledger.MaxParents, 64, 96 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lim := chat.DefaultOrphanLimits()
			lim.MaxAge = 3 * time.Second
			short := func(o *node.Options) { o.Chat = func(c *chat.Config) { c.Orphans = lim } }
			a, b := startNode(t, ""), startNode(t, "", short)
			connect(t, a, b)
			ctx := t.Context()
			room, sub := joinGeneral(t, a, b)

			const seconds = 3
			payloads := make([][][]byte, tc.peers)
			for i := range payloads {
				payloads[i] = madeUpOrphans(t, room.ID, tc.perPeer*seconds, tc.parents, tc.body)
			}
			before := liveHeap()
			var peak chat.OrphanStats
			var wg sync.WaitGroup
			for i := range tc.peers {
				key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
				topic := rawRoomPeer(t, b, room.ID, key)
				wg.Go(func() {
					tick := time.NewTicker(time.Second / time.Duration(tc.perPeer))
					defer tick.Stop()
					for _, p := range payloads[i] {
						<-tick.C
						topic.Publish(ctx, p)
					}
				})
			}
			// Honest traffic during the attack: each message must reach B
			// within 2 s.
			lat := honestDuring(t, a, sub, seconds*time.Second, func() {
				st := b.Chat().OrphanStats()
				peak.Bytes, peak.Events = max(peak.Bytes, st.Bytes), max(peak.Events, st.Events)
				peak.MaxRoomBytes, peak.MaxGroupBytes = max(peak.MaxRoomBytes, st.MaxRoomBytes), max(peak.MaxGroupBytes, st.MaxGroupBytes)
				if st.Bytes > lim.Bytes || st.MaxRoomBytes > lim.RoomBytes || st.MaxGroupBytes > lim.GroupBytes {
					t.Errorf("orphans over a budget: %+v (limits %+v)", st, lim)
				}
			})
			wg.Wait()
			grew := liveHeap() - before
			st := b.Chat().OrphanStats()
			t.Logf("sent %d × %d events of ~%d B; B holds %d orphans, %d B (peak %d events, %d B; group peak %d B), evicted %d; live heap +%d MiB; honest p50 %v max %v",
				tc.peers, tc.perPeer*seconds, len(payloads[0][0]), st.Events, st.Bytes, peak.Events, peak.Bytes, peak.MaxGroupBytes, st.Evicted,
				grew>>20, pct(lat, 50), slices.Max(lat))
			if grew > tc.heapLimit {
				t.Errorf("live heap grew %d MiB, ceiling %d MiB", grew>>20, tc.heapLimit>>20)
			}
			if slices.Max(lat) > 2*time.Second {
				t.Errorf("an honest message took %v", slices.Max(lat))
			}
			testwait.For(t, 2*lim.MaxAge, "orphans expired after the attack", func() bool {
				return b.Chat().OrphanStats().Events == 0
			})
		})
	}
}

// madeUpOrphans signs n events of room, each naming parents parents that
// exist nowhere, with a body of about body bytes.
func madeUpOrphans(t *testing.T, room string, n, parents, body int) [][]byte {
	t.Helper()
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	text := strings.Repeat("x", body)
	out := make([][]byte, n)
	for i := range out {
		ps := make([]ledger.ID, parents)
		for k := range ps {
			sum := sha256.Sum256(fmt.Appendf(nil, "%s/%d/%d/%d", room, i, k, time.Now().UnixNano()))
			ps[k] = ledger.ID(append([]byte{0x12, 0x20}, sum[:]...))
		}
		slices.Sort(ps)
		ev, err := ledger.Sign(key, ledger.Draft{Room: room, Kind: ledger.KindMsg, Body: fmt.Appendf(nil, `{"text":%q}`, text),
			Time: time.Now(), Lamport: 2, Parents: ps})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = ev.Raw()
	}
	return out
}

// honestDuring sends a message from a every 200 ms for d, calling check
// between sends, and returns how long each took to reach sub; it fails
// the test if one never arrives.
func honestDuring(t *testing.T, a *node.Node, sub *chat.Subscription, d time.Duration, check func()) []time.Duration {
	t.Helper()
	ctx := t.Context()
	var mu sync.Mutex
	sentAt := map[string]time.Time{}
	got := map[string]time.Duration{}
	done := make(chan struct{})
	recvCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		defer close(done)
		for {
			select {
			case m := <-sub.C():
				mu.Lock()
				if at, ok := sentAt[m.Text]; ok {
					got[m.Text] = time.Since(at)
				}
				mu.Unlock()
			case <-recvCtx.Done():
				return
			}
		}
	}()
	n := 0
	for end := time.Now().Add(d); time.Now().Before(end); n++ {
		text := fmt.Sprintf("honest %d", n)
		mu.Lock()
		sentAt[text] = time.Now()
		mu.Unlock()
		if _, err := a.Chat().Send(ctx, "general", text); err != nil {
			t.Fatal(err)
		}
		check()
		time.Sleep(200 * time.Millisecond) // the sending pace, not a wait for a condition
	}
	testwait.For(t, 5*time.Second, "every honest message at B", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == n
	})
	stop()
	<-done
	lat := make([]time.Duration, 0, n)
	for _, l := range got {
		lat = append(lat, l)
	}
	return lat
}

func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
