package node_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/ledger"
	"github.com/parley-chat/parley/node"
	"github.com/parley-chat/parley/p2p"
	"github.com/parley-chat/parley/rpc"
	"github.com/parley-chat/parley/rpc/api"
)

// topicTap is an outsider's view of gossipsub: every topic each peer
// announces (subscriptions are sent to every connected gossipsub peer,
// whoever it is), and the messages that reach it, by topic.
type topicTap struct {
	mu   sync.Mutex
	now  map[peer.ID]map[string]bool // topics each peer is on, as announced
	ever map[string][]peer.ID        // who ever announced each topic
	msgs map[string]int
}

func (w *topicTap) RecvRPC(rpc *pubsub.RPC) {
	w.mu.Lock()
	defer w.mu.Unlock()
	from := rpc.From()
	for _, s := range rpc.GetSubscriptions() {
		if w.now[from] == nil {
			w.now[from] = map[string]bool{}
		}
		if s.GetSubscribe() {
			w.now[from][s.GetTopicid()] = true
			w.ever[s.GetTopicid()] = append(w.ever[s.GetTopicid()], from)
		} else {
			delete(w.now[from], s.GetTopicid())
		}
	}
	for _, m := range rpc.GetPublish() {
		w.msgs[m.GetTopic()]++
	}
}

// epochTopics returns the private-room topics p is on, as announced.
func (w *topicTap) epochTopics(p peer.ID) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for t := range w.now[p] {
		if strings.HasPrefix(t, e2ee.TopicPrefix) {
			out = append(out, t)
		}
	}
	return out
}

// announced returns every topic ever announced, with who announced it.
func (w *topicTap) announced() map[string][]peer.ID {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string][]peer.ID, len(w.ever))
	for t, ps := range w.ever {
		out[t] = slices.Clone(ps)
	}
	return out
}

func (w *topicTap) received(topic string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.msgs[topic]
}

func (*topicTap) AddPeer(peer.ID, protocol.ID)                         {}
func (*topicTap) RemovePeer(peer.ID)                                   {}
func (*topicTap) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (*topicTap) OnClosedOutboundStream(peer.ID)                       {}
func (*topicTap) Join(string)                                          {}
func (*topicTap) Leave(string)                                         {}
func (*topicTap) Graft(peer.ID, string)                                {}
func (*topicTap) Prune(peer.ID, string)                                {}
func (*topicTap) ValidateMessage(*pubsub.Message)                      {}
func (*topicTap) DeliverMessage(*pubsub.Message)                       {}
func (*topicTap) RejectMessage(*pubsub.Message, string)                {}
func (*topicTap) DuplicateMessage(*pubsub.Message)                     {}
func (*topicTap) ThrottlePeer(peer.ID)                                 {}
func (*topicTap) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (*topicTap) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (*topicTap) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (*topicTap) UndeliverableMessage(*pubsub.Message)                 {}

// outsider is a gossipsub router on 127.0.0.1 speaking Parley's dialect,
// with a topicTap on what it receives.
func outsider(t *testing.T) (host.Host, *pubsub.PubSub, *topicTap) {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	tap := &topicTap{now: map[peer.ID]map[string]bool{}, ever: map[string][]peer.ID{}, msgs: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	opts := append(p2p.RouterOptions(p2p.DefaultConfig()),
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

// TestPrivateTopicHidesRoom: A and B are members of a private room; C, a
// Parley node connected to both, is not; an outsider's router tapping
// what gossipsub announces is connected to both too. No topic A or B
// ever announces names the room (C's pubsub knows no peer on the room's
// ID topic, only the epoch hash), C's room_join by the room's ID is
// refused, and the outsider, subscribed to the hash it saw, receives
// none of the room's messages. After A kicks B, A is on a new epoch
// topic only and B on none: B never announces the new topic and stores
// none of what A writes afterwards.
func TestPrivateTopicHidesRoom(t *testing.T) {
	ctx := t.Context()
	opt := func(o *node.Options) {
		o.Chat = func(c *chat.Config) { c.EpochTopicGrace = time.Second }
		o.RPC = func(c *rpc.Config) { c.JoinWait = 2 * time.Second }
	}
	dirA, dirB, dirC := t.TempDir(), t.TempDir(), t.TempDir()
	a, b, c := startNode(t, dirA, opt), startNode(t, dirB, opt), startNode(t, dirC, opt)
	connect(t, b, a)
	connect(t, c, a)
	connect(t, c, b)
	tapHost, tapPS, tap := outsider(t)
	for _, n := range []*node.Node{a, b} {
		if err := tapHost.Connect(ctx, peer.AddrInfo{ID: n.Chat().Self(), Addrs: n.P2P().Host().Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	ra, rb, rc := rpcAt(t, dirA), rpcAt(t, dirB), rpcAt(t, dirC)
	nodes := []*node.Node{a, b, c}
	idA, idB := a.Chat().Self(), b.Chat().Self()

	var room api.Room
	if err := ra.Call(ctx, "room_create", []any{map[string]any{"name": "plans", "private": true}}, &room); err != nil {
		t.Fatal(err)
	}
	var inv struct{ Invite string }
	if err := ra.Call(ctx, "room_invite", []any{room.ID, idB.String()}, &inv); err != nil {
		t.Fatal(err)
	}
	var joined api.Room
	if err := rb.Call(ctx, "room_join", []any{inv.Invite}, &joined); err != nil || joined.ID != room.ID || !joined.Private {
		t.Fatalf("room_join [invite]: %+v %v", joined, err)
	}
	hidden := func() {
		t.Helper()
		for topic, by := range tap.announced() {
			if strings.Contains(topic, room.ID) {
				t.Fatalf("%v announced topic %q, which names the room", by, topic)
			}
		}
		if ps := c.P2P().PubSub().ListPeers(chat.TopicName(room.ID)); len(ps) != 0 {
			t.Fatalf("C knows %v on the room's ID topic", ps)
		}
	}
	var t2 string
	testwait.For(t, 20*time.Second, "the outsider to see A and B on one epoch topic, B to read the room's name", func() bool {
		ta, tb := tap.epochTopics(idA), tap.epochTopics(idB)
		if len(ta) != 1 || len(tb) != 1 || ta[0] != tb[0] {
			return false
		}
		t2 = ta[0]
		var rooms []api.Room
		rb.Call(ctx, "room_list", nil, &rooms)
		return len(rooms) == 1 && rooms[0].Name == "plans"
	}, syncState(nodes...))
	if got, ok := a.Chat().RoomOfTopic(t2); !ok || got != room.ID {
		t.Fatalf("the topic both announce is not the room's: %q %v", got, ok)
	}
	testwait.For(t, 10*time.Second, "C to see A and B on the epoch topic", func() bool {
		ps := c.P2P().PubSub().ListPeers(t2)
		return slices.Contains(ps, idA) && slices.Contains(ps, idB)
	}, nil)
	hidden()

	// C knows the room's ID (say it leaked): joining by it is refused.
	err := rc.Call(ctx, "room_join", []any{room.ID}, &joined)
	var re *api.Error
	if !errors.As(err, &re) || re.Code != api.CodeInviteOnly {
		t.Fatalf("C's room_join [room ID]: %+v, %v; want code %d", joined, err, api.CodeInviteOnly)
	}
	var cRooms []api.Room
	if err := rc.Call(ctx, "room_list", nil, &cRooms); err != nil || len(cRooms) != 0 {
		t.Fatalf("C's rooms after the refusal: %+v %v", cRooms, err)
	}

	// The outsider subscribes to the hash it saw: the topic admits
	// members only, so nothing of A's messages reaches it.
	tt, err := tapPS.Join(t2)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := tt.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Cancel()
	var sent []string
	for range 6 {
		m := randomMarker()
		if err := ra.Call(ctx, "msg_send", []any{room.ID, m}, nil); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m)
	}
	testwait.For(t, 20*time.Second, "B to read all of A's messages", func() bool {
		var msgs []api.Message
		if err := rb.Call(ctx, "msg_history", []any{room.ID}, &msgs); err != nil {
			return false
		}
		return !slices.ContainsFunc(sent, func(m string) bool {
			return !slices.ContainsFunc(msgs, func(x api.Message) bool { return x.Text == m })
		})
	}, syncState(nodes...))
	tick := time.NewTicker(100 * time.Millisecond) // an observation window over gossip heartbeats, not a wait
	defer tick.Stop()
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); <-tick.C {
		if k := tap.received(t2); k > 0 {
			t.Fatalf("the outsider subscribed to the epoch topic received %d messages", k)
		}
	}
	hidden()

	// A kicks B: A moves to a new epoch topic and leaves the old one
	// after the grace period; B learns of the kick there, never learns
	// the new topic, and leaves the old one too.
	if err := ra.Call(ctx, "room_kick", []any{room.ID, idB.String()}, nil); err != nil {
		t.Fatal(err)
	}
	var t3 string
	testwait.For(t, 20*time.Second, "A to be on a new epoch topic only, B on none", func() bool {
		ta, tb := tap.epochTopics(idA), tap.epochTopics(idB)
		if len(ta) == 1 && ta[0] != t2 {
			t3 = ta[0]
		}
		return len(ta) == 1 && ta[0] != t2 && len(tb) == 0
	}, func() string {
		return "A on " + strings.Join(tap.epochTopics(idA), " ") + "; B on " + strings.Join(tap.epochTopics(idB), " ")
	})
	if by := tap.announced()[t3]; slices.Contains(by, idB) {
		t.Fatal("removed B announced the new epoch's topic")
	}
	// B heard of its removal on the old topic: its node refuses its sends
	// instead of publishing into a topic nobody reads.
	testwait.For(t, 20*time.Second, "B's node to know it was removed", func() bool {
		return rb.Call(ctx, "msg_send", []any{room.ID, "still in?"}, nil) != nil
	})
	if _, ok := a.Chat().RoomOfTopic(t2); ok {
		t.Fatal("A still maps the left topic to the room")
	}
	var m3 api.Message
	if err := ra.Call(ctx, "msg_send", []any{room.ID, randomMarker()}, &m3); err != nil {
		t.Fatal(err)
	}
	id3, err := ledger.ParseID(m3.ID)
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); <-tick.C {
		if has, _ := b.Chat().Ledger().Has(ctx, room.ID, id3); has {
			t.Fatal("removed B stored a message written after its removal")
		}
	}
	hidden()
}
