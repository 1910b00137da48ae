package node_test

import (
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/ledger"
	"github.com/parley-chat/parley/node"
)

// Two attacker groups (two /24s) gossip orphans at B, three times their
// group budget each, while an honest peer of a third /24 has orphans of
// its own waiting there: each group is held within its budget, the honest
// orphans are not evicted to make room for the attackers' (they are
// stored once their parent arrives, which only gossip brings: the honest
// peer does not speak sync), and every honest message from node A (in the
// honest /24) reaches B. The peers have distinct addresses on a simulated
// network in virtual time (simNet), since the budget is per address group.
func TestOrphanGroupBudgetsHoldPerGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := chat.OrphanLimits{Bytes: 16 << 20, RoomBytes: 8 << 20, GroupBytes: 1 << 20, MaxAge: time.Minute}
		net := newSimNet(t)
		b := nodeIn(t, net, 0, func(o *node.Options) { o.Chat = func(c *chat.Config) { c.Orphans = lim } })
		a := nodeIn(t, net, 1)
		connect(t, a, b)
		ctx := t.Context()
		room, sub := joinGeneral(t, a, b)

		// The honest peer's orphans: children of a parent B does not have.
		hkey, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		honest := rawRoomPeerOn(t, b, room.ID, hostIn(t, net, 1, libp2p.Identity(hkey)))
		parent, err := ledger.Sign(hkey, ledger.Draft{Room: room.ID, Kind: ledger.KindMsg, Body: []byte(`{"text":"parent"}`), Time: time.Now(), Lamport: 1})
		if err != nil {
			t.Fatal(err)
		}
		var children []*ledger.Event
		for i := range 5 {
			c, err := ledger.Sign(hkey, ledger.Draft{Room: room.ID, Kind: ledger.KindMsg, Body: fmt.Appendf(nil, `{"text":"child %d"}`, i),
				Time: time.Now(), Lamport: 2, Parents: []ledger.ID{parent.ID()}})
			if err != nil {
				t.Fatal(err)
			}
			children = append(children, c)
			if err := honest.Publish(ctx, c.Raw()); err != nil {
				t.Fatal(err)
			}
		}
		testwait.For(t, 2*time.Second, "the honest orphans held", func() bool { return b.Chat().OrphanStats().Events == len(children) })
		honestHeld := b.Chat().OrphanStats().Bytes

		// Two attacker groups, each sending 3 × its budget of 16 KB
		// orphans at 40 a second.
		const perAttacker, rate = 80, 40
		var wg sync.WaitGroup
		var sent int
		for g := 2; g <= 3; g++ {
			payloads := madeUpOrphans(t, room.ID, perAttacker, 1, 16<<10)
			sent = len(payloads[0])
			key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
			topic := rawRoomPeerOn(t, b, room.ID, hostIn(t, net, g, libp2p.Identity(key)))
			wg.Go(func() {
				for _, p := range payloads {
					time.Sleep(time.Second / rate)
					topic.Publish(ctx, p)
				}
			})
		}
		var peak chat.OrphanStats
		lat := honestDuring(t, a, sub, perAttacker*time.Second/rate, func() {
			st := b.Chat().OrphanStats()
			peak.Bytes, peak.MaxGroupBytes = max(peak.Bytes, st.Bytes), max(peak.MaxGroupBytes, st.MaxGroupBytes)
			if st.MaxGroupBytes > lim.GroupBytes {
				t.Errorf("a group holds %d B, budget %d", st.MaxGroupBytes, lim.GroupBytes)
			}
		})
		wg.Wait()
		time.Sleep(time.Second)
		synctest.Wait()
		st := b.Chat().OrphanStats()
		t.Logf("2 attacker groups × %d orphans of %d B; B holds %d orphans, %d B (peak %d B, group peak %d B of %d), evicted %d; honest orphans %d B; honest messages %d, p50 %v max %v",
			perAttacker, sent, st.Events, st.Bytes, peak.Bytes, peak.MaxGroupBytes, lim.GroupBytes, st.Evicted, honestHeld, len(lat), pct(lat, 50), slices.Max(lat))
		if st.MaxGroupBytes > lim.GroupBytes {
			t.Errorf("a group holds %d B, budget %d", st.MaxGroupBytes, lim.GroupBytes)
		}
		if st.Evicted == 0 {
			t.Error("the attackers stayed within their budgets: the test proves nothing")
		}
		// Held: 5 honest + what fits of each attacker's budget.
		if most := 2*lim.GroupBytes + honestHeld; st.Bytes > most {
			t.Errorf("B holds %d B of orphans, more than both attacker budgets and the honest orphans (%d)", st.Bytes, most)
		}
		if slices.Max(lat) > 2*time.Second {
			t.Errorf("an honest message took %v", slices.Max(lat))
		}

		if err := honest.Publish(ctx, parent.Raw()); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, 2*time.Second, "the honest orphans stored with their parent", func() bool {
			for _, c := range children {
				if ok, _ := b.Chat().Ledger().Has(ctx, room.ID, c.ID()); !ok {
					return false
				}
			}
			return true
		})
	})
}

// hostIn is simNet.host at 1.0.<group>.x, so that hosts of different
// groups are in different /24s (simNet.host puts all in one).
func hostIn(t *testing.T, s *simNet, group int, opts ...libp2p.Option) host.Host {
	t.Helper()
	return s.hostAt(t, group<<8+s.hosts, opts...)
}

// nodeIn is simNet.node on a host in group.
func nodeIn(t *testing.T, s *simNet, group int, mod ...func(*node.Options)) *node.Node {
	t.Helper()
	return s.nodeOn(t, hostIn(t, s, group), mod...)
}
