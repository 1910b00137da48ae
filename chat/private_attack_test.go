package chat

import (
	"context"
	"slices"
	"testing"

	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/ledger"
)

// privatePair is A's private room with B added and synced.
func privatePair(t *testing.T) (a, b *privPeer, room string) {
	t.Helper()
	ctx := context.Background()
	dir := newKeyDir()
	a, b = newPrivPeer(t, dir, "a"), newPrivPeer(t, dir, "b")
	r, _, err := a.s.CreatePrivate(ctx, "attack-room")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := a.s.Invite(ctx, r.ID, b.id.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.JoinInvite(ctx, tok); err != nil {
		t.Fatal(err)
	}
	b.pull(t, a.modPeer, r.ID)
	return a, b, r.ID
}

// stored reports whether p holds ev, or any plaintext for it.
func (p *privPeer) stored(t *testing.T, ev *ledger.Event) bool {
	t.Helper()
	has, err := p.s.led.Has(context.Background(), ev.Room, ev.ID())
	if err != nil {
		t.Fatal(err)
	}
	_, plain := p.s.plain(context.Background(), ev.Room, ev.ID())
	return has || plain
}

// The attacker is a member (or holds a member's key): ciphertext it
// re-signs as its own, tampers with, or replays under a used index is
// refused by every member, and nothing of it is stored.
func TestPrivateRoomRefusesForgedCiphertext(t *testing.T) {
	ctx := context.Background()
	a, b, room := privatePair(t)
	m1 := marker()
	ev1, err := a.s.Send(ctx, room, m1)
	if err != nil {
		t.Fatal(err)
	}
	orig := lastOf(t, a.modPeer, room, KindEnc)
	if orig.IDText() != ev1.ID {
		t.Fatal("A's last enc event is not its message")
	}
	parents := func(e *ledger.Event) []*ledger.Event {
		var out []*ledger.Event
		for _, id := range e.Parents {
			for _, x := range a.events(t, room) {
				if x.ID() == id {
					out = append(out, x)
				}
			}
		}
		return out
	}

	// B signs A's ciphertext as its own: opened with B's chain, it fails.
	resigned := sign(t, b.key, room, KindEnc, orig.Body, parents(orig)...)
	if a.deliver(t, resigned) || a.stored(t, resigned) {
		t.Fatal("A stored A's ciphertext re-signed by B")
	}
	// A's key over a tampered ciphertext.
	bad := slices.Clone(orig.Body)
	bad[len(bad)-1] ^= 1
	tampered := sign(t, a.key, room, KindEnc, bad, parents(orig)...)
	if b.deliver(t, tampered) || b.stored(t, tampered) {
		t.Fatal("B stored tampered ciphertext")
	}
	// The genuine event, then A's key replaying its (epoch, author,
	// index) in a new event.
	if !b.deliver(t, orig) {
		t.Fatal("B refused A's genuine message")
	}
	replay := sign(t, a.key, room, KindEnc, orig.Body, orig)
	if b.deliver(t, replay) || b.stored(t, replay) {
		t.Fatal("B stored a replayed chain index")
	}
	if got := texts(t, b, room); !slices.Equal(got, []string{m1}) {
		t.Fatalf("B shows %q, want the message once", got)
	}
	// Plaintext where only enc may be: refused by members and
	// non-members alike (judged, not decrypted).
	plain := sign(t, a.key, room, ledger.KindMsg, msgBodyOf("in the clear"), orig)
	if b.deliver(t, plain) {
		t.Fatal("B stored a plaintext message in a private room")
	}
}

// Nobody encrypts under an epoch after seeing its successor: a ciphertext
// naming the old epoch whose parents include the new one is refused.
func TestPrivateRoomRefusesOldEpoch(t *testing.T) {
	ctx := context.Background()
	a, b, room := privatePair(t)
	if _, err := b.s.Send(ctx, room, "before"); err != nil {
		t.Fatal(err)
	}
	old := lastOf(t, b.modPeer, room, KindEnc)
	a.pull(t, b.modPeer, room)
	if err := a.s.rekey(ctx, a.s.modRoom(room), room, ""); err != nil {
		t.Fatal(err)
	}
	b.pull(t, a.modPeer, room)
	// B's own chain of the old epoch still holds index 1: seal with it
	// under the old epoch, parents after the new one.
	p := b.s.privRoom(room)
	p.mu.Lock()
	cs, err := b.s.chainsOf(ctx, p, ledger.ID(mustCT(t, old.Body).Epoch))
	p.mu.Unlock()
	if err != nil || cs[b.id] == nil {
		t.Fatalf("B's old chain: %v", err)
	}
	ct, err := cs[b.id].Seal(innerMsg, msgBodyOf("late"))
	if err != nil {
		t.Fatal(err)
	}
	late := sign(t, b.key, room, KindEnc, ct, head(t, b.modPeer, room))
	_, _, err = a.s.Ingest(ctx, room, []*ledger.Event{late})
	if a.stored(t, late) {
		t.Fatalf("A stored a ciphertext under a superseded epoch (%v)", err)
	}
}

func mustCT(t *testing.T, b []byte) *e2ee.Ciphertext {
	t.Helper()
	ct, err := e2ee.ParseCiphertext(b)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

// A crash at any point of sending never lets an index anyone has seen be
// used twice: the chain's state is written before its event, and the
// event's fsync (which makes both durable) comes before it is published;
// a restart resumes after the newest index written. Here the seal is
// written and the process stops before appending: the restarted node
// skips that index.
func TestPrivateRoomIndexSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := newKeyDir()
	a := newPrivPeer(t, dir, "a")
	r, _, err := a.s.CreatePrivate(ctx, "restart-room")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := a.s.Send(ctx, r.ID, marker()); err != nil {
			t.Fatal(err)
		}
	}
	// Sealed and its state written, then the process stops before
	// appending.
	if _, err := a.s.sealOwn(ctx, a.s.modRoom(r.ID), r.ID, innerMsg, msgBodyOf("lost")); err != nil {
		t.Fatal(err)
	}
	a.s.Close() // a Close, not a kill: but nothing after the seal's sync ran
	a.open(t)
	a.s.Join(ctx, r.ID)
	for range 3 {
		if _, err := a.s.Send(ctx, r.ID, marker()); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[uint64]bool{}
	for _, ev := range a.events(t, r.ID) {
		if ev.Kind != KindEnc {
			continue
		}
		i := mustCT(t, ev.Body).Index
		if seen[i] {
			t.Fatalf("chain index %d used twice", i)
		}
		seen[i] = true
	}
	// name, 3 before, 3 after; index 4 (the lost seal) never published.
	if len(seen) != 7 || seen[4] {
		t.Fatalf("indices %v", seen)
	}
	if got := texts(t, a, r.ID); len(got) != 6 {
		t.Fatalf("after restart A shows %d messages, want 6", len(got))
	}
	if rs, _ := a.s.Rooms(ctx); len(rs) != 1 || rs[0].Name != "restart-room" {
		t.Fatalf("rooms after restart: %+v", rs)
	}
}
