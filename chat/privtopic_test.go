package chat

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/ledger"
)

// admitNet is loopNet that can admit per topic: it keeps every topic
// joined on it, with the rule and rendezvous of private joins, as the
// node's network hands them to p2p.
type admitNet struct {
	loopNet
	mu     sync.Mutex
	topics map[string]*admitTopic // every topic ever joined, by name
}

type admitTopic struct {
	name      string
	rule      func(peer.ID) bool // nil for an ordinary join
	rv        string
	closed    atomic.Bool
	published atomic.Int64
}

func (t *admitTopic) Publish(context.Context, []byte) error { t.published.Add(1); return nil }
func (t *admitTopic) Peers() []peer.ID                      { return nil }
func (t *admitTopic) Close() error                          { t.closed.Store(true); return nil }

func (n *admitNet) join(name, rv string, rule func(peer.ID) bool) (Topic, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if t := n.topics[name]; t != nil && !t.closed.Load() {
		return nil, errTopicJoinedTwice
	}
	t := &admitTopic{name: name, rule: rule, rv: rv}
	n.topics[name] = t
	return t, nil
}

var errTopicJoinedTwice = ledger.ErrWrongRoom // any error: a second join must not happen

func (n *admitNet) JoinTopic(topic string, _ ValidateFunc, _ DeliverFunc) (Topic, error) {
	return n.join(topic, topic, nil)
}

func (n *admitNet) JoinPrivate(topic, rendezvous string, allow func(peer.ID) bool, _ ValidateFunc, _ DeliverFunc) (Topic, error) {
	return n.join(topic, rendezvous, allow)
}

// open returns the topics joined and not left.
func (n *admitNet) open() []*admitTopic {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*admitTopic
	for _, t := range n.topics {
		if !t.closed.Load() {
			out = append(out, t)
		}
	}
	return out
}

func (n *admitNet) get(name string) *admitTopic {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.topics[name]
}

// names returns the names of every topic ever joined here.
func (n *admitNet) names() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for name := range n.topics {
		out = append(out, name)
	}
	return out
}

// only returns the one open topic, failing otherwise.
func (n *admitNet) only(t *testing.T) *admitTopic {
	t.Helper()
	open := n.open()
	if len(open) != 1 {
		t.Fatalf("%d topics open, want 1", len(open))
	}
	return open[0]
}

const testTopicGrace = 50 * time.Millisecond

// withAdmitNet restarts p's service on an admitNet.
func withAdmitNet(t *testing.T, p *privPeer) *admitNet {
	t.Helper()
	p.s.Close()
	n := &admitNet{loopNet: loopNet{p.id}, topics: map[string]*admitTopic{}}
	s, err := New(n, p.store, p.key, Config{Name: "x", Limits: noLimits, Keys: p.keys, EpochTopicGrace: testTopicGrace})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	p.s = s
	return n
}

// A private room's topic is its current epoch's, derived from the epoch
// secret: it never names the room, it changes with each epoch (the
// previous one left after the grace period), it admits exactly the
// epoch's members who are still members, a joiner is on no topic until
// it holds the keys, and a removed member never learns the next topic
// and leaves the ones it was on.
func TestPrivateTopicFollowsEpochs(t *testing.T) {
	ctx := context.Background()
	dir := newKeyDir()
	a, b, c := newPrivPeer(t, dir, "a"), newPrivPeer(t, dir, "b"), newPrivPeer(t, dir, "c")
	na, nb := withAdmitNet(t, a), withAdmitNet(t, b)
	room, _, err := a.s.CreatePrivate(ctx, "plans")
	if err != nil {
		t.Fatal(err)
	}
	noRoomID := func(n *admitNet) {
		t.Helper()
		for _, name := range n.names() {
			if strings.Contains(name, room.ID) || strings.Contains(n.get(name).rv, room.ID) {
				t.Fatalf("joined %q (rendezvous %q): names the room", name, n.get(name).rv)
			}
		}
	}
	// The topic is joined once the first epoch's keys are committed.
	testwait.For(t, 5*time.Second, "A to join the first epoch's topic", func() bool { return len(na.open()) == 1 }, nil)
	t1 := na.only(t)
	if !e2ee.IsTopic(t1.name) || len(t1.rv) != 64 || t1.rv == t1.name || t1.rule == nil {
		t.Fatalf("first epoch's topic %q, rendezvous %q, rule %v", t1.name, t1.rv, t1.rule != nil)
	}
	if !t1.rule(a.id) || t1.rule(b.id) || t1.rule(c.id) {
		t.Fatal("a new room's topic admits someone other than its creator")
	}
	if got, ok := a.s.RoomOfTopic(t1.name); !ok || got != room.ID {
		t.Fatalf("RoomOfTopic(%q) = %q, %v", t1.name, got, ok)
	}

	// Adding B starts epoch 2: a new topic at once, the old one left
	// after the grace period.
	invite, err := a.s.Invite(ctx, room.ID, b.id.String())
	if err != nil {
		t.Fatal(err)
	}
	var t2 *admitTopic
	testwait.For(t, 5*time.Second, "A to move to epoch 2's topic and leave epoch 1's", func() bool {
		open := na.open()
		if len(open) == 1 && open[0] != t1 {
			t2 = open[0]
		}
		return t2 != nil && t1.closed.Load()
	}, func() string { return strings.Join(na.names(), " ") })
	if !e2ee.IsTopic(t2.name) || t2.rv == t1.rv || !t2.rule(a.id) || !t2.rule(b.id) || t2.rule(c.id) {
		t.Fatalf("epoch 2's topic %q: rendezvous changed %v, admits a %v b %v c %v", t2.name, t2.rv != t1.rv, t2.rule(a.id), t2.rule(b.id), t2.rule(c.id))
	}
	if _, ok := a.s.RoomOfTopic(t1.name); ok {
		t.Fatal("RoomOfTopic still knows the left topic")
	}

	// B, joined by invite, is on no topic until it holds the keys, then
	// on the one A is on.
	if _, err := b.s.JoinInvite(ctx, invite); err != nil {
		t.Fatal(err)
	}
	if open := nb.open(); len(open) != 0 {
		t.Fatalf("B joined %q before holding any epoch's keys", open[0].name)
	}
	b.pull(t, a.modPeer, room.ID)
	testwait.For(t, 5*time.Second, "B to join epoch 2's topic", func() bool {
		open := nb.open()
		return len(open) == 1 && open[0].name == t2.name
	}, func() string { return strings.Join(nb.names(), " ") })
	if nb.get(t1.name) != nil {
		t.Fatal("B joined epoch 1's topic, sealed before it was added")
	}

	// A message goes on its epoch's topic.
	before := t2.published.Load()
	if _, err := a.s.Send(ctx, room.ID, marker()); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, "A's message published on epoch 2's topic", func() bool { return t2.published.Load() > before }, nil)

	// Kicking B starts epoch 3: A moves on. Epoch 2's topic keeps
	// admitting B (one of its members) so that B hears of the kick there,
	// until A leaves it after the grace period.
	if err := a.s.Kick(ctx, room.ID, b.id.String()); err != nil {
		t.Fatal(err)
	}
	if !t2.rule(b.id) || !t2.rule(a.id) {
		t.Fatal("epoch 2's rule refuses one of its members")
	}
	var t3 *admitTopic
	testwait.For(t, 5*time.Second, "A to move to epoch 3's topic and leave epoch 2's", func() bool {
		open := na.open()
		if len(open) == 1 && open[0] != t2 {
			t3 = open[0]
		}
		return t3 != nil && t2.closed.Load()
	}, func() string { return strings.Join(na.names(), " ") })
	if t3.rule(b.id) || !t3.rule(a.id) || t3.name == t1.name {
		t.Fatal("epoch 3's topic admits B, refuses A, or repeats epoch 1's")
	}
	b.pull(t, a.modPeer, room.ID)
	testwait.For(t, 5*time.Second, "removed B to leave epoch 2's topic", func() bool { return len(nb.open()) == 0 },
		func() string { return strings.Join(nb.names(), " ") })
	if nb.get(t3.name) != nil {
		t.Fatal("removed B joined the topic of the epoch that removed it")
	}
	noRoomID(na)
	noRoomID(nb)

	// A restart comes back on the current epoch's topic alone.
	na = withAdmitNet(t, a)
	if got := na.only(t); got.name != t3.name || got.rv != t3.rv { // joined by New itself
		t.Fatalf("after a restart A is on %q, want %q", got.name, t3.name)
	}

	// Public rooms stay ordinary topics.
	if _, err := a.s.Join(ctx, "general"); err != nil {
		t.Fatal(err)
	}
	if g := na.get(TopicName(PublicRoomID("general"))); g == nil || g.rule != nil {
		t.Fatal("a public room was not joined as an ordinary topic")
	}
}

// A member whose store holds a new epoch but not yet its keys stays on,
// and after a restart comes back to, the previous epoch's topic, where
// it last met the others; once the keys come it moves on.
func TestPrivateTopicWaitsForKeys(t *testing.T) {
	ctx := context.Background()
	dir := newKeyDir()
	a, b, c := newPrivPeer(t, dir, "a"), newPrivPeer(t, dir, "b"), newPrivPeer(t, dir, "c")
	withAdmitNet(t, a)
	nb := withAdmitNet(t, b)
	room, _, err := a.s.CreatePrivate(ctx, "plans")
	if err != nil {
		t.Fatal(err)
	}
	invite, err := a.s.Invite(ctx, room.ID, b.id.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.JoinInvite(ctx, invite); err != nil {
		t.Fatal(err)
	}
	b.pull(t, a.modPeer, room.ID)
	var t2 string
	testwait.For(t, 5*time.Second, "B to join epoch 2's topic", func() bool {
		open := nb.open()
		if len(open) == 1 {
			t2 = open[0].name
		}
		return t2 != ""
	}, nil)

	// Adding C starts epoch 3; B gets everything but its sealed keys.
	if _, err := a.s.Invite(ctx, room.ID, c.id.String()); err != nil {
		t.Fatal(err)
	}
	var partial []*ledger.Event
	for _, ev := range a.events(t, room.ID) {
		if ev.Kind != KindEpochKeys {
			partial = append(partial, ev)
		}
	}
	b.s.Ingest(ctx, room.ID, partial) // what needs the keys as parents is refused
	e3, members, _ := a.s.modRoom(room.ID).currentEpoch()
	if got, _, _ := b.s.modRoom(room.ID).currentEpoch(); got != e3 || !containsPeer(members, c.id) {
		t.Fatalf("B's current epoch %s, want A's %s with C", got, e3)
	}
	stayed := func() bool { open := nb.open(); return len(open) == 1 && open[0].name == t2 }
	if !stayed() {
		t.Fatal("B left epoch 2's topic without epoch 3's keys")
	}
	nb = withAdmitNet(t, b)
	if !stayed() {
		t.Fatalf("after a restart without epoch 3's keys B is on %d topics, want epoch 2's", len(nb.open()))
	}

	b.pull(t, a.modPeer, room.ID)
	testwait.For(t, 5*time.Second, "B to move to epoch 3's topic and leave epoch 2's", func() bool {
		open := nb.open()
		return len(open) == 1 && open[0].name != t2 && nb.get(t2).closed.Load()
	}, func() string { return strings.Join(nb.names(), " ") })
}
