package chat

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

// admitNet is loopNet that can admit per topic: it keeps each private
// join's rule and rendezvous, as the node's network hands them to p2p.
type admitNet struct {
	loopNet
	mu    sync.Mutex
	rules map[string]func(peer.ID) bool
	rv    map[string]string
}

func (n *admitNet) JoinPrivate(topic, rendezvous string, allow func(peer.ID) bool, _ ValidateFunc, _ DeliverFunc) (Topic, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.rules[topic], n.rv[topic] = allow, rendezvous
	return loopTopic{}, nil
}

func (n *admitNet) rule(t *testing.T, room string) func(peer.ID) bool {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	r := n.rules[TopicName(room)]
	if r == nil {
		t.Fatalf("room %s was not joined through JoinPrivate", room)
	}
	return r
}

// withAdmitNet restarts p's service on an admitNet.
func withAdmitNet(t *testing.T, p *privPeer) *admitNet {
	t.Helper()
	p.s.Close()
	n := &admitNet{loopNet: loopNet{p.id}, rules: map[string]func(peer.ID) bool{}, rv: map[string]string{}}
	s, err := New(n, p.store, p.key, Config{Name: "x", Limits: noLimits, Keys: p.keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	p.s = s
	return n
}

// A private room's topic admits exactly its current members: the
// creator's rule follows invite and kick, and a joiner by invite has the
// rule from the start (the inviter alone until the genesis arrives).
func TestPrivateTopicAdmitsMembers(t *testing.T) {
	ctx := context.Background()
	dir := newKeyDir()
	a, b, c := newPrivPeer(t, dir, "a"), newPrivPeer(t, dir, "b"), newPrivPeer(t, dir, "c")
	na, nb := withAdmitNet(t, a), withAdmitNet(t, b)
	room, _, err := a.s.CreatePrivate(ctx, "plans")
	if err != nil {
		t.Fatal(err)
	}
	admitsA := na.rule(t, room.ID)
	if !admitsA(a.id) || admitsA(b.id) || admitsA(c.id) {
		t.Fatal("a new room's topic admits someone other than its creator")
	}
	rv := na.rv[TopicName(room.ID)]
	if rv != RendezvousName(room.ID) || strings.Contains(rv, room.ID) || len(rv) != 64 {
		t.Fatalf("rendezvous %q", rv)
	}

	invite, err := a.s.Invite(ctx, room.ID, b.id.String())
	if err != nil {
		t.Fatal(err)
	}
	if !admitsA(b.id) || admitsA(c.id) {
		t.Fatal("A's rule does not follow the invite")
	}
	joined, err := b.s.JoinInvite(ctx, invite)
	if err != nil {
		t.Fatal(err)
	}
	if !joined.Private {
		t.Fatalf("JoinInvite before the genesis: %+v", joined)
	}
	admitsB := nb.rule(t, room.ID)
	if !admitsB(a.id) || admitsB(c.id) {
		t.Fatal("before the genesis, B's rule is not 'the inviter alone'")
	}
	b.pull(t, a.modPeer, room.ID)
	if !admitsB(a.id) || !admitsB(b.id) || admitsB(c.id) {
		t.Fatal("after sync, B's rule is not the member list")
	}

	if err := a.s.Kick(ctx, room.ID, b.id.String()); err != nil {
		t.Fatal(err)
	}
	if admitsA(b.id) || !admitsA(a.id) {
		t.Fatal("A's rule still admits kicked B")
	}
	b.pull(t, a.modPeer, room.ID)
	if admitsB(b.id) {
		t.Fatal("B's rule still admits B after learning of its kick")
	}

	// Public rooms stay ordinary topics.
	if _, err := a.s.Join(ctx, "general"); err != nil {
		t.Fatal(err)
	}
	na.mu.Lock()
	_, ruled := na.rules[TopicName(PublicRoomID("general"))]
	na.mu.Unlock()
	if ruled {
		t.Fatal("a public room was joined with an admission rule")
	}
}
