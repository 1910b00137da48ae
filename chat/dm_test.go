package chat

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/ledger"
)

// directDelivery hands a conversation's first message straight to the
// peer's service, as node's stream does; a peer missing from peers is
// unreachable (offline).
type directDelivery struct {
	peers map[peer.ID]*Service
}

func (d directDelivery) Deliver(ctx context.Context, to peer.ID, init []byte) error {
	s := d.peers[to]
	if s == nil {
		return errors.New("peer unreachable")
	}
	_, err := s.AcceptDM(ctx, init)
	return err
}

func (p *privPeer) withDelivery(t *testing.T, peers map[peer.ID]*Service) {
	t.Helper()
	p.s.Close()
	s, err := New(loopNet{p.id}, p.store, p.key, Config{Name: "x", Limits: noLimits, Keys: p.keys,
		DMDelivery: directDelivery{peers: peers}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	p.s = s
	peers[p.id] = s
}

// A's first DM to B starts a conversation whose first epoch already
// holds B, and hands B its DMInit; B reads it, and B's reply lands in the
// same conversation. C, handed the DMInit A made for B, refuses it and
// stores nothing.
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
	if _, members, _ := a.s.modRoom(ra.ID).currentEpoch(); len(members) != 2 {
		t.Fatalf("first epoch members %v, want A and B", members)
	}
	if pend, _ := a.s.PendingDMs(ctx); len(pend) != 0 {
		t.Fatalf("outbox after a hand-over: %+v", pend)
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
	init := dmInitOf(t, a, ra.ID)
	if _, err := c.s.AcceptDM(ctx, init); !errors.Is(err, ErrBadDMInit) || !errors.Is(err, e2ee.ErrWrongRecipient) {
		t.Fatalf("C accepted B's first message: %v", err)
	}
	if len(rooms(t, c.s)) != 0 || scan(t, c, []byte(ra.ID)) {
		t.Fatal("C stored something of a refused first message")
	}
}

// dmInitOf returns the DMInit in the first epoch_keys of room at p.
func dmInitOf(t *testing.T, p *privPeer, room string) []byte {
	t.Helper()
	for _, ev := range p.events(t, room) {
		if ev.Kind != KindEpochKeys {
			continue
		}
		k, err := decodeEpochKeys(ev.Body)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range k.Seals {
			if e.DMInit != nil {
				return e.DMInit
			}
		}
	}
	t.Fatal("no dm-init in the room")
	return nil
}

// A first DM to an unreachable peer still succeeds: the message is
// stored and its DMInit waits in the outbox, which survives a restart;
// the inbox answers it for the recipient's bundle only. The recipient
// takes it from there, syncs and reads; once it answers, the outbox
// drops it.
func TestDirectMessageOffline(t *testing.T) {
	ctx := context.Background()
	dir := newKeyDir()
	peers := map[peer.ID]*Service{}
	a, b, c := newPrivPeer(t, dir, "a"), newPrivPeer(t, dir, "b"), newPrivPeer(t, dir, "c")
	for _, p := range []*privPeer{a, b, c} {
		p.withDelivery(t, peers)
	}
	delete(peers, b.id) // B offline
	m1 := marker()
	if _, err := a.s.DMSend(ctx, b.id.String(), m1); err != nil {
		t.Fatalf("DM to an offline peer: %v", err)
	}
	a.withDelivery(t, peers) // restart
	pend, err := a.s.PendingDMs(ctx)
	if err != nil || len(pend) != 1 || pend[0].To != b.id || pend[0].Bundle != b.keys.own.Hash() {
		t.Fatalf("outbox after restart: %+v %v", pend, err)
	}
	if got, _ := a.s.DMInbox(ctx, c.id, c.keys.own.Hash()); len(got) != 0 {
		t.Fatalf("inbox answers C %d first messages", len(got))
	}
	if got, _ := a.s.DMInbox(ctx, b.id, c.keys.own.Hash()); len(got) != 0 {
		t.Fatal("inbox answers for another bundle")
	}
	inbox, err := a.s.DMInbox(ctx, b.id, b.keys.own.Hash())
	if err != nil || len(inbox) != 1 {
		t.Fatalf("B's inbox: %d %v", len(inbox), err)
	}
	r, err := b.s.AcceptDM(ctx, inbox[0])
	if err != nil {
		t.Fatal(err)
	}
	b.pull(t, a.modPeer, r.ID)
	if got, _ := b.s.DMHistory(ctx, a.id.String(), HistoryQuery{}); len(got) != 1 || got[0].Text != m1 {
		t.Fatalf("B reads %+v", got)
	}
	if _, err := b.s.DMSend(ctx, a.id.String(), "hi"); err != nil {
		t.Fatal(err)
	}
	a.pull(t, b.modPeer, r.ID)
	if pend, _ := a.s.PendingDMs(ctx); len(pend) != 0 {
		t.Fatalf("outbox after B answered: %+v", pend)
	}
}

// The dm-init binding: a first message forwarded to a third party, one
// re-sealed to it under the sender's signature, a replay, and one for an
// epoch that does not follow the accepted one are each refused with a
// clear error, and nothing of them is stored.
func TestDMInitRefused(t *testing.T) {
	ctx := context.Background()
	dir := newKeyDir()
	peers := map[peer.ID]*Service{}
	a, b, c := newPrivPeer(t, dir, "a"), newPrivPeer(t, dir, "b"), newPrivPeer(t, dir, "c")
	for _, p := range []*privPeer{a, b, c} {
		p.withDelivery(t, peers)
	}
	delete(peers, b.id)
	if _, err := a.s.DMSend(ctx, b.id.String(), marker()); err != nil {
		t.Fatal(err)
	}
	r, _ := a.s.dmRoom(b.id)
	raw := dmInitOf(t, a, r.ID)
	d, err := e2ee.ParseDMInit(raw)
	if err != nil {
		t.Fatal(err)
	}
	// Forwarded as is to C.
	if _, err := c.s.AcceptDM(ctx, raw); !errors.Is(err, e2ee.ErrWrongRecipient) {
		t.Fatalf("forwarded: %v, want ErrWrongRecipient", err)
	}
	// Re-sealed to C's bundle (as B could, having opened it), A's
	// signature kept.
	resealed, err := e2ee.SealDMInit(b.key, c.keys.own, d.Epoch, make([]byte, e2ee.SecretSize), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	resealed.Sender, resealed.Signature = a.id, d.Signature
	if _, err := c.s.AcceptDM(ctx, resealed.Encode()); !errors.Is(err, ErrBadDMInit) || !errors.Is(err, e2ee.ErrBadSignature) {
		t.Fatalf("re-sealed: %v, want ErrBadSignature", err)
	}
	if len(rooms(t, c.s)) != 0 || scan(t, c, []byte(r.ID)) {
		t.Fatal("C stored something")
	}
	// B accepts it once; again it is seen, and changes nothing.
	if _, err := b.s.AcceptDM(ctx, raw); err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.AcceptDM(ctx, raw); !errors.Is(err, ErrDMInitSeen) {
		t.Fatalf("replayed: %v, want ErrDMInitSeen", err)
	}
	// A validly signed first message of another epoch of the room (an
	// older one, say) is refused: it does not follow the accepted one.
	other := e2ee.Epoch{Room: r.ID, ID: []byte(ledger.ComputeID([]byte("older")))}
	old, err := e2ee.SealDMInit(a.key, b.keys.own, other, make([]byte, e2ee.SecretSize), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.AcceptDM(ctx, old.Encode()); !errors.Is(err, ErrBadDMInit) {
		t.Fatalf("other epoch: %v, want ErrBadDMInit", err)
	}
	if !scan(t, b, []byte(ledger.ID(d.Epoch.ID).String())) || scan(t, b, []byte(ledger.ID(other.ID).String())) {
		t.Fatal("B's chains: want the accepted epoch's, not the refused one's")
	}
	// In the room's own epoch_keys, every node's judgement refuses a
	// dm-init entry that names another peer or bundle, or whose
	// signature does not hold.
	var entry sealEntry
	for _, ev := range a.events(t, r.ID) {
		if k, err := decodeEpochKeys(ev.Body); ev.Kind == KindEpochKeys && err == nil {
			for _, e := range k.Seals {
				if e.DMInit != nil {
					entry = e
				}
			}
		}
	}
	epoch := ledger.ID(d.Epoch.ID)
	if err := judgeDMInit(entry, a.id, r.ID, epoch); err != nil {
		t.Fatalf("the genuine entry: %v", err)
	}
	wrongPeer := entry
	wrongPeer.Peer = c.id
	bad := slices.Clone(entry.DMInit)
	bad[len(bad)-e2ee.SealedSecretSize-3] ^= 1 // in the signature
	for name, e := range map[string]sealEntry{"other peer": wrongPeer, "bad signature": {Peer: entry.Peer, Bundle: entry.Bundle, DMInit: bad}} {
		if err := judgeDMInit(e, a.id, r.ID, epoch); err == nil {
			t.Fatalf("%s: judged valid", name)
		}
	}
	if err := judgeDMInit(entry, b.id, r.ID, epoch); err == nil {
		t.Fatal("an entry by another author than its sender: judged valid")
	}
	b.pull(t, a.modPeer, r.ID)
	if got, _ := b.s.DMHistory(ctx, a.id.String(), HistoryQuery{}); len(got) != 1 {
		t.Fatalf("B reads %d messages", len(got))
	}
}

// forgeDMInit is a stranger's first message to to: signed by key for a
// random moderated room (whose genesis never arrives).
func forgeDMInit(t testing.TB, key crypto.PrivKey, to *e2ee.SignedBundle) []byte {
	t.Helper()
	rid := make([]byte, 20)
	rand.Read(rid)
	epoch := make([]byte, 34)
	rand.Read(epoch)
	d, err := e2ee.SealDMInit(key, to, e2ee.Epoch{Room: "m" + roomIDEncoding.EncodeToString(rid), ID: epoch},
		make([]byte, e2ee.SecretSize), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return d.Encode()
}

// A Sybil of fresh identities each handing us a conversation gets at
// most MaxUnansweredDMs joined, one identity at most
// MaxUnansweredDMsPerPeer; a joined one handed again changes nothing,
// and an honest DM still works once we have answered.
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
	first := forgeDMInit(t, k, b.keys.own)
	for i := range MaxUnansweredDMsPerPeer {
		init := first
		if i > 0 {
			init = forgeDMInit(t, k, b.keys.own)
		}
		if _, err := b.s.AcceptDM(ctx, init); err != nil {
			t.Fatalf("stranger's conversation %d: %v", i, err)
		}
	}
	joined := len(rooms(t, b.s))
	accepted := MaxUnansweredDMsPerPeer
	var sybil string
	for i := 0; accepted < MaxUnansweredDMs+10; i++ {
		k, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		r, err := b.s.AcceptDM(ctx, forgeDMInit(t, k, b.keys.own))
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
	if _, err := b.s.AcceptDM(ctx, first); !errors.Is(err, ErrDMInitSeen) {
		t.Fatalf("joined conversation handed again: %v, want ErrDMInitSeen", err)
	}
	// The stranger's third is refused for the per-peer cap even if the
	// global one had room: leave one Sybil room first.
	if err := b.s.Leave(ctx, sybil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.AcceptDM(ctx, forgeDMInit(t, k, b.keys.own)); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("stranger's third: %v, want ErrRateLimited", err)
	}
	// An honest peer's conversation fits in the slot left.
	if _, err := a.s.DMSend(ctx, b.id.String(), "hello"); err != nil {
		t.Fatalf("honest DM under the cap: %v", err)
	}
	if pend, _ := a.s.PendingDMs(ctx); len(pend) != 0 {
		t.Fatalf("honest DM not handed over: %+v", pend)
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

// The outbox is bounded: with MaxOutboxDMs conversations waiting for
// offline peers, DMSend to yet another refuses (ErrRateLimited) before
// writing anything; once one leaves it (handed over), a new one fits.
func TestDMOutboxBounded(t *testing.T) {
	ctx := context.Background()
	dir := newKeyDir()
	peers := map[peer.ID]*Service{}
	a := newPrivPeer(t, dir, "a")
	a.withDelivery(t, peers)
	offline := make([]*privPeer, 0, MaxOutboxDMs+1)
	for range MaxOutboxDMs + 1 {
		offline = append(offline, newPrivPeer(t, dir, "x"))
	}
	for i, p := range offline[:MaxOutboxDMs] {
		if _, err := a.s.DMSend(ctx, p.id.String(), "hi"); err != nil {
			t.Fatalf("conversation %d: %v", i, err)
		}
	}
	before := len(rooms(t, a.s))
	last := offline[MaxOutboxDMs]
	if _, err := a.s.DMSend(ctx, last.id.String(), "hi"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("past the outbox bound: %v, want ErrRateLimited", err)
	}
	if got := len(rooms(t, a.s)); got != before {
		t.Fatalf("%d rooms after a refused conversation, want %d", got, before)
	}
	pend, err := a.s.PendingDMs(ctx)
	if err != nil || len(pend) != MaxOutboxDMs {
		t.Fatalf("outbox holds %d (%v), want %d", len(pend), err, MaxOutboxDMs)
	}
	if err := a.s.DMDelivered(ctx, pend[0].To, pend[0].Room); err != nil { // handed over
		t.Fatal(err)
	}
	if _, err := a.s.DMSend(ctx, last.id.String(), "hi"); err != nil {
		t.Fatalf("after one left the outbox: %v", err)
	}
}
