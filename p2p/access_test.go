package p2p_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/ledger"
	"github.com/parley-chat/parley/p2p"
)

// wiretap records what an attacker's gossipsub router receives, per
// topic: messages, control messages and subscriptions.
type wiretap struct {
	mu       sync.Mutex
	msgs     map[string][]string // topic → payloads
	control  map[string]int      // topic → IHAVE, GRAFT and PRUNE entries
	subs     map[string][]peer.ID
	lastFrom map[peer.ID]time.Time
}

func newWiretap() *wiretap {
	return &wiretap{msgs: map[string][]string{}, control: map[string]int{}, subs: map[string][]peer.ID{}, lastFrom: map[peer.ID]time.Time{}}
}

func (w *wiretap) RecvRPC(rpc *pubsub.RPC) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range rpc.GetPublish() {
		w.msgs[m.GetTopic()] = append(w.msgs[m.GetTopic()], string(m.GetData()))
	}
	for _, s := range rpc.GetSubscriptions() {
		if s.GetSubscribe() {
			w.subs[s.GetTopicid()] = append(w.subs[s.GetTopicid()], rpc.From())
		}
	}
	ctl := rpc.GetControl()
	for _, ih := range ctl.GetIhave() {
		w.control[ih.GetTopicID()]++
	}
	for _, g := range ctl.GetGraft() {
		w.control[g.GetTopicID()]++
	}
	for _, p := range ctl.GetPrune() {
		w.control[p.GetTopicID()]++
	}
}

func (w *wiretap) seen(topic string) (msgs []string, control int, subs []peer.ID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.msgs[topic]), w.control[topic], slices.Clone(w.subs[topic])
}

func (*wiretap) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (*wiretap) OnClosedOutboundStream(peer.ID)                       {}
func (*wiretap) AddPeer(peer.ID, protocol.ID)                         {}
func (*wiretap) RemovePeer(peer.ID)                                   {}
func (*wiretap) Join(string)                                          {}
func (*wiretap) Leave(string)                                         {}
func (*wiretap) Graft(peer.ID, string)                                {}
func (*wiretap) Prune(peer.ID, string)                                {}
func (*wiretap) ValidateMessage(*pubsub.Message)                      {}
func (*wiretap) DeliverMessage(*pubsub.Message)                       {}
func (*wiretap) RejectMessage(*pubsub.Message, string)                {}
func (*wiretap) DuplicateMessage(*pubsub.Message)                     {}
func (*wiretap) ThrottlePeer(peer.ID)                                 {}
func (*wiretap) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (*wiretap) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (*wiretap) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (*wiretap) UndeliverableMessage(*pubsub.Message)                 {}

// intruder is an attacker's gossipsub router on 127.0.0.1, speaking
// Parley's dialect (unsigned messages, event-ID message IDs) so that its
// messages would be valid anywhere else, with a wiretap on what it gets.
func intruder(t *testing.T) (host.Host, *pubsub.PubSub, *wiretap) {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	tap := newWiretap()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	opts := append(p2p.RouterOptions(testConfig()),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(func(m *pb.Message) string { return string(ledger.ComputeID(m.Data)) }),
		pubsub.WithRawTracer(tap))
	ps, err := pubsub.NewGossipSub(ctx, h, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return h, ps, tap
}

// TestAllowKeepsIntruderOut: A and B join a topic that admits only each
// other; C, connected to both, subscribes to it too (it learns the name
// from their announcements, the one thing that leaks). Over several
// gossip heartbeats C receives none of the topic's messages and no
// control message about it, while it does receive a public topic's
// messages from the same nodes; A's and B's topic peer lists never hold
// C; and C's messages on the topic never reach A's or B's validator,
// while its message on the public topic does.
func TestAllowKeepsIntruderOut(t *testing.T) {
	const private, public = "/parley/room/private-test", "/parley/room/public-test"
	a, b := newNode(t, testConfig()), newNode(t, testConfig())
	members := func(p peer.ID) bool { return p == a.Self() || p == b.Self() }
	join := func(n *p2p.Node, name string, opts ...p2p.JoinOption) (p2p.Topic, *inbox) {
		box := &inbox{}
		tp, err := n.JoinTopic(name, box.validate, box.deliver, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tp.Close() })
		return tp, box
	}
	ta, boxA := join(a, private, p2p.WithAllow(members), p2p.WithRendezvous(""))
	tb, boxB := join(b, private, p2p.WithAllow(members), p2p.WithRendezvous(""))
	pa, pubA := join(a, public, p2p.WithRendezvous(""))
	pb_, pubB := join(b, public, p2p.WithRendezvous(""))

	ch, cps, tap := intruder(t)
	ct, err := cps.Join(private)
	if err != nil {
		t.Fatal(err)
	}
	csub, err := ct.Subscribe() // as a member would: C's router grafts A and B
	if err != nil {
		t.Fatal(err)
	}
	defer csub.Cancel()
	cp, err := cps.Join(public)
	if err != nil {
		t.Fatal(err)
	}
	cpsub, err := cp.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer cpsub.Cancel()

	connect(t, a, b)
	for _, n := range []*p2p.Node{a, b} {
		if err := ch.Connect(t.Context(), peer.AddrInfo{ID: n.Self(), Addrs: n.Host().Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	waitTopicPeers(t, ta, b.Self())
	waitTopicPeers(t, tb, a.Self())
	waitTopicPeers(t, pa, b.Self(), ch.ID())
	waitTopicPeers(t, pb_, a.Self(), ch.ID())
	// What leaks: C sees A and B announce the private topic's name.
	testwait.For(t, 10*time.Second, "C to see the members' subscriptions", func() bool {
		ps := cps.ListPeers(private)
		return slices.Contains(ps, a.Self()) && slices.Contains(ps, b.Self())
	})

	warmUp(t, ta, boxB)
	warmUp(t, pa, pubB)
	const n = 10
	for i := range n {
		if err := ta.Publish(t.Context(), fmt.Appendf(nil, "secret %d", i)); err != nil {
			t.Fatal(err)
		}
		if err := pa.Publish(t.Context(), fmt.Appendf(nil, "public %d", i)); err != nil {
			t.Fatal(err)
		}
		// B's messages reach C only if a member relays them (a mesh link
		// to C, which a GRAFT from C would make without the peer filter).
		if err := tb.Publish(t.Context(), fmt.Appendf(nil, "secret from b %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	testwait.For(t, 10*time.Second, "A to get B's private messages", func() bool {
		return boxA.count(fmt.Sprintf("secret from b %d", n-1)) == 1
	})
	testwait.For(t, 10*time.Second, "B to get the private messages", func() bool {
		return boxB.count(fmt.Sprintf("secret %d", n-1)) == 1
	})
	testwait.For(t, 10*time.Second, "C to get the public messages", func() bool {
		msgs, _, _ := tap.seen(public)
		return slices.Contains(msgs, fmt.Sprintf("public %d", n-1))
	})

	// C tries its way in: a message on the private topic to both, then
	// one on the public topic (same streams, so read after the first).
	if err := ct.Publish(t.Context(), []byte("intruder on private")); err != nil {
		t.Fatal(err)
	}
	if err := cp.Publish(t.Context(), []byte("intruder on public")); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "A and B to get C's public message", func() bool {
		return pubA.sawValidate("intruder on public") && pubB.sawValidate("intruder on public")
	})

	// Gossip (IHAVE) goes out at each heartbeat (1 s) for the messages of
	// the last three: watch five.
	tick := time.NewTicker(100 * time.Millisecond) // an observation window, not a wait
	defer tick.Stop()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); <-tick.C {
		msgs, control, _ := tap.seen(private)
		if len(msgs) > 0 || control > 0 {
			t.Fatalf("C received %d messages %q and %d control entries on the private topic", len(msgs), msgs, control)
		}
		if boxA.sawValidate("intruder on private") || boxB.sawValidate("intruder on private") {
			t.Fatal("C's message on the private topic reached a member's validator")
		}
		if slices.Contains(ta.Peers(), ch.ID()) || slices.Contains(tb.Peers(), ch.ID()) {
			t.Fatal("C is in a member's peer list of the private topic")
		}
	}
	if _, _, subs := tap.seen(private); !slices.Contains(subs, a.Self()) || !slices.Contains(subs, b.Self()) {
		t.Fatalf("the documented leak changed: C saw subscriptions from %v", subs)
	}
}
