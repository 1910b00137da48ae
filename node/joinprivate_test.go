package node

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/internal/testwait"
)

// TestJoinPrivateThroughAdapter: chat's way into a private room's topic.
// A and B join it through JoinPrivate admitting each other; C, an
// uninvited Parley node connected to both, joins the same name through
// JoinTopic. B gets A's messages, C gets none of them over several gossip
// heartbeats (while it gets a public topic's), A's and B's validators
// never see C's message on the private topic, and C's view of the topic
// is exactly what leaks: A and B subscribe to that name.
func TestJoinPrivateThroughAdapter(t *testing.T) {
	const private, public = "/parley/room/private-adapter", "/parley/room/public-adapter"
	a, b, c := netNode(t), netNode(t), netNode(t)
	members := func(p peer.ID) bool { return p == a.Self() || p == b.Self() }
	recA, recB, recC := newVerdicts(), newVerdicts(), newVerdicts()
	pubA, pubC := newVerdicts(), newVerdicts()
	ta, err := chatNetwork{a}.JoinPrivate(private, "rv-a", members, recA.validate, recA.deliver)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ta.Close() })
	tb, err := chatNetwork{b}.JoinPrivate(private, "rv-a", members, recB.validate, recB.deliver)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tb.Close() })
	tc, err := chatNetwork{c}.JoinTopic(private, recC.validate, recC.deliver)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	pa, err := chatNetwork{a}.JoinTopic(public, pubA.validate, pubA.deliver)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pa.Close() })
	pc, err := chatNetwork{c}.JoinTopic(public, pubC.validate, pubC.deliver)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	if _, err := (chatNetwork{a}).JoinPrivate("/parley/room/x", "", nil, recA.validate, recA.deliver); err == nil {
		t.Fatal("JoinPrivate without a rule succeeded")
	}

	netConnect(t, a, b)
	netConnect(t, c, a)
	netConnect(t, c, b)
	testwait.For(t, 20*time.Second, "members to see each other, C to see their subscriptions", func() bool {
		return slices.Contains(ta.Peers(), b.Self()) && slices.Contains(tb.Peers(), a.Self()) &&
			slices.Contains(tc.Peers(), a.Self()) && slices.Contains(tc.Peers(), b.Self()) &&
			slices.Contains(pa.Peers(), c.Self())
	})
	i := 0
	testwait.For(t, 20*time.Second, "B to get A's messages and C A's public ones", func() bool {
		i++
		if err := ta.Publish(t.Context(), fmt.Appendf(nil, "secret/%d", i)); err != nil {
			t.Fatal(err)
		}
		if err := pa.Publish(t.Context(), fmt.Appendf(nil, "public/%d", i)); err != nil {
			t.Fatal(err)
		}
		_, gotB := recB.counts("secret/")
		_, gotC := pubC.counts("public/")
		return gotB > 0 && gotC > 0
	})
	if err := tc.Publish(t.Context(), []byte("intruder/private")); err != nil {
		t.Fatal(err)
	}
	if err := pc.Publish(t.Context(), []byte("intruder/public")); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "A to get C's public message", func() bool {
		_, n := pubA.counts("intruder/public")
		return n == 1
	})
	tick := time.NewTicker(100 * time.Millisecond) // an observation window over gossip heartbeats, not a wait
	defer tick.Stop()
	for end := time.Now().Add(4 * time.Second); time.Now().Before(end); <-tick.C {
		if v, d := recC.counts("secret/"); v+d > 0 {
			t.Fatalf("C validated %d and was delivered %d of A's private messages", v, d)
		}
		va, _ := recA.counts("intruder/")
		vb, _ := recB.counts("intruder/")
		if va+vb > 0 {
			t.Fatal("C's message on the private topic reached a member's validator")
		}
		if slices.Contains(ta.Peers(), c.Self()) || slices.Contains(tb.Peers(), c.Self()) {
			t.Fatal("C is among a member's peers of the private topic")
		}
	}
}
