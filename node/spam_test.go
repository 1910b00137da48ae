package node_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/ledger"
	"github.com/parley-chat/parley/node"
)

// A peer flooding validly signed spam (one identity, then a fresh identity
// per message) is held to the documented per-author and per-peer limits,
// while honest members' messages keep flowing: all delivered, with the
// latency under attack logged next to the baseline.
func TestSpamFloodIsLimited(t *testing.T) {
	if testing.Short() {
		t.Skip("spam flood takes a few seconds")
	}
	a, b, c := startNode(t, ""), startNode(t, ""), startNode(t, "")
	connect(t, a, b)
	connect(t, c, b)
	ctx := t.Context()
	var room chat.Room
	for _, n := range []*node.Node{a, b, c} {
		r, err := n.Chat().Join(ctx, "general")
		if err != nil {
			t.Fatal(err)
		}
		room = r
	}
	sub, err := c.Chat().Subscribe(ctx, chat.Filter{Room: "general"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	// Mesh up: wait until a probe from A shows at C.
	if _, err := a.Chat().Send(ctx, "general", "probe"); err != nil {
		t.Fatal(err)
	}
	waitText(t, sub, "probe", 20*time.Second)

	baseline := honestLatencies(t, a, sub, "calm", 30)

	// The attacker: a raw libp2p peer connected to B, in the room's topic.
	attackerKey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	topic := rawRoomPeer(t, b, room.ID, attackerKey)

	before, _ := b.Chat().Ledger().Count(ctx, room.ID)
	floodCtx, stopFlood := context.WithCancel(ctx)
	flooded := make(chan int)
	var published atomic.Int64
	start := time.Now()
	go func() {
		one, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		n := 0
		for i := 0; floodCtx.Err() == nil; i++ {
			key := one
			if i%2 == 1 { // every other message from a fresh identity
				key, _, _ = crypto.GenerateEd25519Key(rand.Reader)
			}
			ev, _ := ledger.Sign(key, ledger.Draft{Room: room.ID, Kind: ledger.KindMsg, Body: fmt.Appendf(nil, `{"text":"spam %d"}`, i), Time: time.Now(), Lamport: 1})
			if topic.Publish(floodCtx, ev.Raw()) == nil {
				n++
				published.Add(1)
			}
		}
		flooded <- n
	}()
	lim := chat.DefaultLimits()
	// Measure under attack once the attacker has sent more than B's
	// per-peer burst: B's limiter is then at work.
	testwait.For(t, 10*time.Second, "the flood past B's per-peer burst", func() bool { return published.Load() > int64(2*lim.PeerBurst) })
	attacked := honestLatencies(t, a, sub, "under attack", 30)
	stopFlood()
	sent := <-flooded
	elapsed := time.Since(start)

	time.Sleep(300 * time.Millisecond)
	after, _ := b.Chat().Ledger().Count(ctx, room.ID)
	stored := int(after - before)
	// Everything from the attacker arrives through one peer, so the
	// per-peer bucket bounds what B accepts (honest events from A and C
	// arrive through other peers).
	bound := lim.PeerBurst + int(lim.PeerRate*elapsed.Seconds()) + 2*30 + 10
	t.Logf("attacker published %d events in %s; B stored %d (bound %d)", sent, elapsed.Round(time.Millisecond), stored, bound)
	t.Logf("honest delivery A->C: calm p50 %s p99 %s; under attack p50 %s p99 %s",
		pct(baseline, 50), pct(baseline, 99), pct(attacked, 50), pct(attacked, 99))
	if sent <= bound {
		t.Fatalf("attacker only managed %d events; the flood did not exceed the limit (%d)", sent, bound)
	}
	if stored > bound {
		t.Fatalf("B stored %d events during the flood, more than the limits allow (%d)", stored, bound)
	}
	if p := pct(attacked, 99); p > 2*time.Second {
		t.Fatalf("honest p99 under attack %s, want bounded (< 2s)", p)
	}
	if info, err := b.Info(ctx); err != nil || info.Rooms != 1 {
		t.Fatalf("B stopped serving: %+v %v", info, err)
	}
}

// honestLatencies sends n messages from a, 20 ms apart, and returns how long
// each took to reach sub. All must arrive.
func honestLatencies(t *testing.T, a *node.Node, sub *chat.Subscription, label string, n int) []time.Duration {
	t.Helper()
	ctx := t.Context()
	var mu sync.Mutex
	sentAt := make(map[string]time.Time)
	var lat []time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		deadline := time.After(30 * time.Second)
		for len(lat) < n {
			select {
			case m, ok := <-sub.C():
				if !ok {
					return
				}
				mu.Lock()
				at, ok := sentAt[m.Text]
				mu.Unlock()
				if ok {
					lat = append(lat, time.Since(at))
				}
			case <-deadline:
				return
			}
		}
	}()
	for i := range n {
		text := fmt.Sprintf("%s %d", label, i)
		mu.Lock()
		sentAt[text] = time.Now()
		mu.Unlock()
		if _, err := a.Chat().Send(ctx, "general", text); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	<-done
	if len(lat) != n {
		t.Fatalf("%s: %d of %d honest messages delivered", label, len(lat), n)
	}
	return lat
}

// joinGeneral has a and b join "general", subscribes b to it and waits
// until a probe from a reaches b, so the room's mesh is formed. The
// subscription closes when the test ends.
func joinGeneral(t *testing.T, a, b *node.Node) (chat.Room, *chat.Subscription) {
	t.Helper()
	ctx := t.Context()
	room, err := a.Chat().Join(ctx, "general")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Chat().Join(ctx, "general"); err != nil {
		t.Fatal(err)
	}
	sub, err := b.Chat().Subscribe(ctx, chat.Filter{Room: "general"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	if _, err := a.Chat().Send(ctx, "general", "probe"); err != nil {
		t.Fatal(err)
	}
	waitText(t, sub, "probe", 20*time.Second)
	return room, sub
}

func waitText(t *testing.T, sub *chat.Subscription, text string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m := <-sub.C():
			if m.Text == text {
				return
			}
		case <-deadline:
			t.Fatalf("%q never arrived", text)
		}
	}
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100].Round(time.Microsecond)
}
