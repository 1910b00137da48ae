package chat

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

// directDelivery hands a conversation token straight to the peer's
// service, as node's stream does, naming the sender as its origin.
type directDelivery struct {
	from  peer.ID
	peers map[peer.ID]*Service
}

func (d directDelivery) Deliver(ctx context.Context, to peer.ID, token string) error {
	s := d.peers[to]
	if s == nil {
		return errors.New("peer unreachable")
	}
	_, err := s.AcceptDM(ctx, d.from, token)
	return err
}

func (p *privPeer) withDelivery(t *testing.T, peers map[peer.ID]*Service) {
	t.Helper()
	p.s.Close()
	s, err := New(loopNet{p.id}, p.store, p.key, Config{Name: "x", Limits: noLimits, Keys: p.keys,
		DMDelivery: directDelivery{from: p.id, peers: peers}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	p.s = s
	peers[p.id] = s
}

// A's first DM to B creates the conversation and hands it to B; B's reply
// lands in the same conversation; a token forwarded by someone else than
// its inviter, or naming another peer, is refused.
func TestDirectMessages(t *testing.T) {
	ctx := context.Background()
	dir := newKeyDir()
	peers := map[peer.ID]*Service{}
	a, b, c := newPrivPeer(t, dir, "a"), newPrivPeer(t, dir, "b"), newPrivPeer(t, dir, "c")
	for _, p := range []*privPeer{a, b, c} {
		p.withDelivery(t, peers)
	}
	m1 := marker()
	if _, err := a.s.DMSend(ctx, b.id.String(), m1); err != nil {
		t.Fatal(err)
	}
	ra, ok := a.s.dmRoom(b.id)
	if !ok || ra.Kind != KindDM {
		t.Fatalf("A's conversation: %+v %v", ra, ok)
	}
	b.pull(t, a.modPeer, ra.ID)
	got, err := b.s.DMHistory(ctx, a.id.String(), HistoryQuery{})
	if err != nil || len(got) != 1 || got[0].Text != m1 {
		t.Fatalf("B's DM history: %+v %v", got, err)
	}
	m2 := marker()
	if _, err := b.s.DMSend(ctx, a.id.String(), m2); err != nil {
		t.Fatal(err)
	}
	a.pull(t, b.modPeer, ra.ID)
	got, _ = a.s.DMHistory(ctx, b.id.String(), HistoryQuery{})
	if len(got) != 2 || got[0].Text != m1 || got[1].Text != m2 {
		t.Fatalf("A's DM history: %+v", got)
	}
	if rs, _ := a.s.Rooms(ctx); len(rs) != 1 {
		t.Fatalf("A has %d rooms, want the one conversation", len(rs))
	}
	// C is handed a token A made for B.
	tok, err := a.s.Invite(ctx, ra.ID, b.id.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.s.AcceptDM(ctx, a.id, tok); !errors.Is(err, ErrBadInvite) {
		t.Fatalf("C accepted B's token: %v", err)
	}
	if _, err := b.s.AcceptDM(ctx, c.id, tok); !errors.Is(err, ErrBadInvite) {
		t.Fatalf("B accepted A's token from C: %v", err)
	}
	if got, _ := c.s.DMHistory(ctx, a.id.String(), HistoryQuery{}); len(got) != 0 || slices.ContainsFunc(got, func(m Message) bool { return m.Text == m1 }) {
		t.Fatalf("C reads %+v", got)
	}
}

// A first DM whose hand-over fails is not sent, and leaves the
// conversation on the sender's side only; the next DMSend hands it over
// again, and the peer reads that message.
func TestDirectMessageHandOverRetried(t *testing.T) {
	ctx := context.Background()
	dir := newKeyDir()
	peers := map[peer.ID]*Service{}
	a, b := newPrivPeer(t, dir, "a"), newPrivPeer(t, dir, "b")
	a.withDelivery(t, peers)
	b.withDelivery(t, peers)
	delete(peers, b.id) // B unreachable for the hand-over
	if _, err := a.s.DMSend(ctx, b.id.String(), "first"); err == nil {
		t.Fatal("the hand-over to an unreachable peer succeeded")
	}
	peers[b.id] = b.s
	if _, err := a.s.DMSend(ctx, b.id.String(), "second"); err != nil {
		t.Fatal(err)
	}
	r, _ := a.s.dmRoom(b.id)
	b.pull(t, a.modPeer, r.ID)
	got, _ := b.s.DMHistory(ctx, a.id.String(), HistoryQuery{})
	if len(got) != 1 || got[0].Text != "second" {
		t.Fatalf("B reads %+v", got)
	}
}
