package chat

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/ledger"
)

// count returns how many of p's events of room are of kind.
func count(t *testing.T, p *modPeer, room, kind string) int {
	t.Helper()
	n := 0
	for _, ev := range p.events(t, room) {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

// onlyInvite returns the one invite p lists for room.
func onlyInvite(t *testing.T, p *privPeer, room string) InviteInfo {
	t.Helper()
	invs, err := p.s.Invites(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	if len(invs) != 1 {
		t.Fatalf("invites %+v, want one", invs)
	}
	return invs[0]
}

// heads returns p's events of room that no other event names as parent.
func heads(t *testing.T, p *modPeer, room string) []*ledger.Event {
	t.Helper()
	ids, err := p.s.led.Heads(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	var out []*ledger.Event
	for _, ev := range p.events(t, room) {
		for _, id := range ids {
			if ev.ID() == id {
				out = append(out, ev)
			}
		}
	}
	return out
}

// A revoked invite admits nobody: the joiner gets ErrInviteRevoked and is
// left with nothing joined, the room stores no use, and a second
// revocation adds nothing.
func TestInviteRevokeRefusesJoin(t *testing.T) {
	ctx := context.Background()
	dir := newKeyDir()
	a, b := newPrivPeer(t, dir, "a"), newPrivPeer(t, dir, "b")
	b.withAdmission(t, map[peer.ID]*Service{a.id: a.s})
	room, tok, err := a.s.CreatePrivate(ctx, "revoked-door")
	if err != nil {
		t.Fatal(err)
	}
	inv := onlyInvite(t, a, room.ID)
	if inv.Revoked || inv.Uses != 0 || inv.MaxUses != 1 || inv.Inviter != a.id || inv.Invitee != "" || inv.Expires.IsZero() {
		t.Fatalf("fresh invite %+v", inv)
	}
	for range 2 {
		if err := a.s.RevokeInvite(ctx, room.ID, inv.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, a.modPeer, room.ID, KindInviteRevoke); n != 1 {
		t.Fatalf("%d invite_revoke events after revoking twice", n)
	}
	if got := onlyInvite(t, a, room.ID); !got.Revoked {
		t.Fatalf("after revocation %+v", got)
	}
	before := len(a.events(t, room.ID))
	_, err = b.s.JoinInvite(ctx, tok)
	if !errors.Is(err, ErrBadInvite) || !errors.Is(err, ErrInviteRevoked) {
		t.Fatalf("join by a revoked invite: %v", err)
	}
	if rs, _ := b.s.Rooms(ctx); len(rs) != 0 {
		t.Fatalf("refused joiner joined %+v", rs)
	}
	if after := len(a.events(t, room.ID)); after != before || count(t, a.modPeer, room.ID, KindInviteUse) != 0 {
		t.Fatalf("refusal stored events: %d -> %d", before, after)
	}
	if ms := a.s.modRoom(room.ID).members(); len(ms) != 1 {
		t.Fatalf("members %v", ms)
	}
	// Bad and unknown IDs.
	if err := a.s.RevokeInvite(ctx, room.ID, "xyz"); !errors.Is(err, ErrBadInvite) {
		t.Fatalf("malformed ID: %v", err)
	}
	if err := a.s.RevokeInvite(ctx, room.ID, "00112233445566778899aabbccddeeff"); !errors.Is(err, ErrUnknownInvite) {
		t.Fatalf("unknown ID: %v", err)
	}
}

// A use concurrent with a revocation stands (the admitting admin had not
// seen it), on every node alike; a use whose past holds the revocation
// is refused and not stored.
func TestInviteRevokeConcurrentUse(t *testing.T) {
	ctx := context.Background()
	dir := newKeyDir()
	a, b, c := newPrivPeer(t, dir, "a"), newPrivPeer(t, dir, "b"), newPrivPeer(t, dir, "c")
	room, _, err := a.s.CreatePrivate(ctx, "two-admins")
	if err != nil {
		t.Fatal(err)
	}
	ctok, err := a.s.Invite(ctx, room.ID, c.id.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.s.JoinInvite(ctx, ctok); err != nil {
		t.Fatal(err)
	}
	if err := a.s.Moderate(ctx, room.ID, OpAdmin, c.id.String(), ""); err != nil {
		t.Fatal(err)
	}
	tok, err := a.s.Invite(ctx, room.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	c.pull(t, a.modPeer, room.ID)
	b.withAdmission(t, map[peer.ID]*Service{a.id: a.s})

	var id string
	for _, inv := range mustInvites(t, c, room.ID) {
		if inv.Invitee == "" && inv.Inviter == a.id {
			id = inv.ID
		}
	}
	if id == "" {
		t.Fatal("C does not list A's open invite")
	}
	// Partitioned: C revokes while A admits B by the same invite.
	if err := c.s.RevokeInvite(ctx, room.ID, id); err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.JoinInvite(ctx, tok); err != nil {
		t.Fatalf("A had not seen the revocation: %v", err)
	}
	use := lastOf(t, a.modPeer, room.ID, KindInviteUse)
	revoke := lastOf(t, c.modPeer, room.ID, KindInviteRevoke)
	a.pull(t, c.modPeer, room.ID)
	c.pull(t, a.modPeer, room.ID)
	for _, p := range []*privPeer{a, c} {
		var got InviteInfo
		for _, inv := range mustInvites(t, p, room.ID) {
			if inv.ID == id {
				got = inv
			}
		}
		if !got.Revoked || got.Uses != 1 {
			t.Fatalf("%s sees the invite as %+v, want revoked with one use", p.s.cfg.Name, got)
		}
		if !containsPeer(p.s.modRoom(room.ID).members(), b.id) {
			t.Fatal("the concurrent use's joiner is not a member")
		}
	}

	// A use signed after the revocation (its past holds it) is refused.
	ub, _ := json.Marshal(inviteUseBody{ID: id, Peer: c.id})
	late := sign(t, a.key, room.ID, KindInviteUse, ub, heads(t, c.modPeer, room.ID)...)
	if !inPast(t, c.modPeer, room.ID, late, revoke) {
		t.Fatal("test setup: the late use does not follow the revocation")
	}
	if err := refusal(t, c.modPeer, late); !errors.Is(err, ErrInviteRevoked) {
		t.Fatalf("late use: %v", err)
	}
	if has, _ := c.s.led.Has(ctx, room.ID, use.ID()); !has {
		t.Fatal("the concurrent use is not stored at C")
	}
}

// refusal offers ev to p by gossip (whose validator names the reason)
// and by sync, and returns the validator's error; ev must be stored by
// neither.
func refusal(t *testing.T, p *modPeer, ev *ledger.Event) error {
	t.Helper()
	ctx := context.Background()
	p.s.mu.Lock()
	j := p.s.rooms[ev.Room]
	p.s.mu.Unlock()
	relay := newModPeer(t, "relay").id // as forwarded by a third peer
	_, v, verr := p.s.validator(j)(ctx, relay, ev.Raw())
	if v == Accept {
		t.Fatalf("the gossip validator accepted %s", ev.Kind)
	}
	if _, _, err := p.s.Ingest(ctx, ev.Room, []*ledger.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if has, _ := p.s.led.Has(ctx, ev.Room, ev.ID()); has {
		t.Fatalf("the refused %s was stored", ev.Kind)
	}
	return verr
}

func mustInvites(t *testing.T, p *privPeer, room string) []InviteInfo {
	t.Helper()
	invs, err := p.s.Invites(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	return invs
}

// inPast reports whether anc is an ancestor of ev among p's events.
func inPast(t *testing.T, p *modPeer, room string, ev, anc *ledger.Event) bool {
	t.Helper()
	byID := map[ledger.ID]*ledger.Event{}
	for _, e := range p.events(t, room) {
		byID[e.ID()] = e
	}
	todo := append([]ledger.ID(nil), ev.Parents...)
	seen := map[ledger.ID]bool{}
	for len(todo) > 0 {
		id := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if id == anc.ID() {
			return true
		}
		if seen[id] || byID[id] == nil {
			continue
		}
		seen[id] = true
		todo = append(todo, byID[id].Parents...)
	}
	return false
}

// Only admins revoke: a member's call is refused, and its forged
// invite_revoke event is refused by every node and not stored.
func TestInviteRevokeByNonAdmin(t *testing.T) {
	ctx := context.Background()
	a, b, room := privatePair(t)
	if _, err := a.s.Invite(ctx, room, ""); err != nil {
		t.Fatal(err)
	}
	b.pull(t, a.modPeer, room)
	id := mustInvites(t, a, room)[0].ID
	if err := b.s.RevokeInvite(ctx, room, id); !errors.Is(err, ErrNotAdmin) {
		t.Fatalf("member's revoke: %v", err)
	}
	if _, err := b.s.Invites(ctx, room); !errors.Is(err, ErrNotAdmin) {
		t.Fatalf("member's list: %v", err)
	}
	rb, _ := json.Marshal(inviteRevokeBody{ID: id})
	forged := sign(t, b.key, room, KindInviteRevoke, rb, heads(t, a.modPeer, room)...)
	for _, p := range []*privPeer{a, b} {
		if err := refusal(t, p.modPeer, forged); !errors.Is(err, ErrNotAdmin) {
			t.Fatalf("forged revoke: %v", err)
		}
	}
	for _, inv := range mustInvites(t, a, room) {
		if inv.Revoked {
			t.Fatalf("invite revoked by a member: %+v", inv)
		}
	}
}

// A peer added by a named invite shows as invited until it writes; its
// invite is listed naming it. Revoking it before the peer wrote kicks the
// peer out of the key epoch; once the peer wrote, it is a member and the
// revocation leaves it be.
func TestInviteRevokeNamed(t *testing.T) {
	ctx := context.Background()
	dir := newKeyDir()
	a, b, c := newPrivPeer(t, dir, "a"), newPrivPeer(t, dir, "b"), newPrivPeer(t, dir, "c")
	room, _, err := a.s.CreatePrivate(ctx, "named")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.s.RevokeInvite(ctx, room.ID, mustInvites(t, a, room.ID)[0].ID); err != nil {
		t.Fatal(err)
	}
	tokB, err := a.s.Invite(ctx, room.ID, b.id.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.s.Invite(ctx, room.ID, c.id.String()); err != nil {
		t.Fatal(err)
	}
	state := func(p peer.ID) string {
		ms, err := a.s.Members(ctx, room.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.PeerID == p.String() {
				return m.State
			}
		}
		return ""
	}
	if state(a.id) != MemberJoined || state(b.id) != MemberInvited || state(c.id) != MemberInvited {
		t.Fatalf("states a %q b %q c %q", state(a.id), state(b.id), state(c.id))
	}
	named := map[peer.ID]InviteInfo{}
	for _, inv := range mustInvites(t, a, room.ID) {
		named[inv.Invitee] = inv
	}
	if named[b.id].ID == "" || named[c.id].ID == "" || named[b.id].Uses != 0 {
		t.Fatalf("invites %+v", named)
	}

	// B writes; A syncs it: B is a member, its invite used once.
	if _, err := b.s.JoinInvite(ctx, tokB); err != nil {
		t.Fatal(err)
	}
	b.pull(t, a.modPeer, room.ID)
	if _, err := b.s.Send(ctx, room.ID, marker()); err != nil {
		t.Fatal(err)
	}
	a.pull(t, b.modPeer, room.ID)
	if state(b.id) != MemberJoined {
		t.Fatalf("B after writing: %q", state(b.id))
	}
	for _, p := range []peer.ID{b.id, c.id} {
		if err := a.s.RevokeInvite(ctx, room.ID, named[p].ID); err != nil {
			t.Fatal(err)
		}
	}
	for _, inv := range mustInvites(t, a, room.ID) {
		if !inv.Revoked {
			t.Fatalf("not revoked: %+v", inv)
		}
		if inv.Invitee == b.id && inv.Uses != 1 {
			t.Fatalf("B's invite %+v", inv)
		}
	}
	_, members, _ := a.s.modRoom(room.ID).currentEpoch()
	if containsPeer(members, c.id) || !containsPeer(members, b.id) {
		t.Fatalf("epoch members after revocations %v", members)
	}
	if s := state(c.id); s != "" {
		t.Fatalf("C is still listed, %q", s)
	}
}

// Invites lists an invite until it expires, by the node's clock.
func TestInvitesHideExpired(t *testing.T) {
	ctx := context.Background()
	a := newPrivPeer(t, newKeyDir(), "a")
	room, _, err := a.s.CreatePrivate(ctx, "ageing")
	if err != nil {
		t.Fatal(err)
	}
	inv := onlyInvite(t, a, room.ID)
	if d := time.Until(inv.Expires); d < inviteLifetime-time.Minute || d > inviteLifetime {
		t.Fatalf("expires in %v, want %v", d, inviteLifetime)
	}
	a.s.Close()
	a.clock = func() time.Time { return inv.Expires }
	a.open(t)
	if invs := mustInvites(t, a, room.ID); len(invs) != 0 {
		t.Fatalf("expired invite listed: %+v", invs)
	}
}

// Revoking the named invite of a peer made an admin since leaves that
// admin in place (removing admins is room_unadmin's).
func TestInviteRevokeNamedAdminStays(t *testing.T) {
	ctx := context.Background()
	dir := newKeyDir()
	a, b := newPrivPeer(t, dir, "a"), newPrivPeer(t, dir, "b")
	room, _, err := a.s.CreatePrivate(ctx, "co-admins")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.s.Invite(ctx, room.ID, b.id.String()); err != nil {
		t.Fatal(err)
	}
	if err := a.s.Moderate(ctx, room.ID, OpAdmin, b.id.String(), ""); err != nil {
		t.Fatal(err)
	}
	for _, inv := range mustInvites(t, a, room.ID) {
		if inv.Invitee == b.id {
			if err := a.s.RevokeInvite(ctx, room.ID, inv.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := count(t, a.modPeer, room.ID, KindInviteRevoke); n != 1 {
		t.Fatalf("%d revocations", n)
	}
	if ms := a.s.modRoom(room.ID).members(); !containsPeer(ms, b.id) {
		t.Fatalf("admin B removed by revoking its invite: members %v", ms)
	}
}
