package chat

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
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

// forgeDMToken is a stranger's conversation token naming to: signed by
// key for a random moderated room (whose genesis never arrives).
func forgeDMToken(t testing.TB, key crypto.PrivKey, to peer.ID) string {
	t.Helper()
	id, _ := peer.IDFromPrivateKey(key)
	rid := make([]byte, 20)
	rand.Read(rid)
	invID := make([]byte, e2ee.InviteIDSize)
	rand.Read(invID)
	now := time.Now().Truncate(time.Millisecond)
	si, _, err := e2ee.NewInvite(key, e2ee.Invite{Inviter: id, Room: "m" + roomIDEncoding.EncodeToString(rid), ID: invID,
		Created: now, Expires: now.Add(time.Hour), Invitee: to})
	if err != nil {
		t.Fatal(err)
	}
	tok := e2ee.InviteToken{Invite: si, Secret: make([]byte, e2ee.SecretSize)}
	return base64.RawURLEncoding.EncodeToString(tok.Encode())
}

// A Sybil of fresh identities each handing us a conversation gets at
// most MaxUnansweredDMs joined, one identity at most
// MaxUnansweredDMsPerPeer; a joined one is still accepted again, and an
// honest DM still works once we have answered.
func TestAcceptDMCaps(t *testing.T) {
	ctx := context.Background()
	dir := newKeyDir()
	peers := map[peer.ID]*Service{}
	a, b := newPrivPeer(t, dir, "a"), newPrivPeer(t, dir, "b")
	for _, p := range []*privPeer{a, b} {
		p.withDelivery(t, peers)
	}
	// One stranger: two crossing conversations, not three.
	k, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	kid, _ := peer.IDFromPrivateKey(k)
	first := forgeDMToken(t, k, b.id)
	for i := range MaxUnansweredDMsPerPeer {
		tok := first
		if i > 0 {
			tok = forgeDMToken(t, k, b.id)
		}
		if _, err := b.s.AcceptDM(ctx, kid, tok); err != nil {
			t.Fatalf("stranger's conversation %d: %v", i, err)
		}
	}
	joined := len(rooms(t, b.s))
	accepted := MaxUnansweredDMsPerPeer
	var sybil string
	for i := 0; accepted < MaxUnansweredDMs+10; i++ {
		k, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		id, _ := peer.IDFromPrivateKey(k)
		r, err := b.s.AcceptDM(ctx, id, forgeDMToken(t, k, b.id))
		if err == nil {
			sybil = r.ID
		}
		if accepted < MaxUnansweredDMs && err != nil {
			t.Fatalf("conversation %d under the cap: %v", accepted, err)
		}
		if accepted >= MaxUnansweredDMs && !errors.Is(err, ErrRateLimited) {
			t.Fatalf("conversation %d over the cap: %v, want ErrRateLimited", accepted, err)
		}
		accepted++
	}
	if got := len(rooms(t, b.s)) - joined; got != MaxUnansweredDMs-MaxUnansweredDMsPerPeer {
		t.Fatalf("%d more rooms joined, want %d", got, MaxUnansweredDMs-MaxUnansweredDMsPerPeer)
	}
	// Handed again, a joined conversation is not new.
	if _, err := b.s.AcceptDM(ctx, kid, first); err != nil {
		t.Fatalf("joined conversation handed again: %v", err)
	}
	// The stranger's third is refused for the per-peer cap even if the
	// global one had room: leave one Sybil room first.
	if err := b.s.Leave(ctx, sybil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.AcceptDM(ctx, kid, forgeDMToken(t, k, b.id)); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("stranger's third: %v, want ErrRateLimited", err)
	}
	// An honest peer's conversation fits in the slot left.
	if _, err := a.s.DMSend(ctx, b.id.String(), "hello"); err != nil {
		t.Fatalf("honest DM under the cap: %v", err)
	}
}

func rooms(t testing.TB, s *Service) []Room {
	t.Helper()
	rs, err := s.Rooms(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rs
}
