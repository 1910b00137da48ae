package chat

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/ledger"
)

// Another key creating the same name gets another room; a create event
// signed by another key for the first room's ID is no genesis, and a
// stranger's root is refused (without blame) in a moderated room.
func TestModeratedRoomCannotBeHijacked(t *testing.T) {
	a, b, c := newModPeer(t, "a"), newModPeer(t, "b"), newModPeer(t, "c")
	if ModeratedRoomID("mod", a.id) == ModeratedRoomID("mod", b.id) {
		t.Fatal("two creators got the same room ID")
	}
	if ModeratedRoomID("mod", a.id) == PublicRoomID("mod") {
		t.Fatal("a moderated room shares the name-only room's ID")
	}
	// c joins A's room before anything arrived: B races to sign its
	// genesis with its own key.
	room := ModeratedRoomID("mod", a.id)
	if _, err := c.s.Join(context.Background(), room); err != nil {
		t.Fatal(err)
	}
	fake, _ := json.Marshal(createBody{Name: "mod", Policy: PolicyOpen})
	if c.deliver(t, sign(t, b.key, room, KindCreate, fake)) {
		t.Fatal("a create by a key that does not derive the room was stored")
	}
	if c.deliver(t, sign(t, b.key, room, ledger.KindMsg, msgBodyOf("root"))) {
		t.Fatal("a stranger's root was stored in a moderated room")
	}
	if err := c.s.checkEvent(sign(t, a.key, room, KindCreate, []byte(`{"name":"other","policy":"open"}`))); !errors.Is(err, ErrNotGenesis) {
		t.Fatalf("create with a name that does not derive the room: %v, want ErrNotGenesis", err)
	}
	if _, err := a.s.Create(context.Background(), "mod", false); err != nil {
		t.Fatal(err)
	}
	c.pull(t, a, room)
	if got := c.admins(t, room); !slices.Equal(got, []string{a.id.String()}) {
		t.Fatalf("admins at c: %v, want only the creator %s", got, a.id)
	}
	// A second genesis by the creator, with parents, is no genesis either.
	if c.deliver(t, sign(t, a.key, room, KindCreate, fake, head(t, a, room))) {
		t.Fatal("a create event with parents was stored")
	}
	// Name-only rooms have no admins.
	if _, err := c.s.Join(context.Background(), "open"); err != nil {
		t.Fatal(err)
	}
	if err := c.s.Moderate(context.Background(), "open", OpBan, b.id.String(), ""); !errors.Is(err, ErrNoAdmins) {
		t.Fatalf("ban in a name-only room: %v, want ErrNoAdmins", err)
	}
	if _, err := c.s.Create(context.Background(), "x", true); !errors.Is(err, ErrPrivateRooms) {
		t.Fatalf("private Create: %v, want ErrPrivateRooms", err)
	}
}

// Permission is judged in an event's causal past: a non-admin's mod event
// is refused; an admin's stays valid wherever it arrives.
func TestModPermissionInCausalPast(t *testing.T) {
	a, b, x := newModPeer(t, "a"), newModPeer(t, "b"), newModPeer(t, "x")
	r := setup(t, a, b, x)
	if err := b.s.Moderate(context.Background(), r.ID, OpBan, a.id.String(), ""); !errors.Is(err, ErrNotAdmin) {
		t.Fatalf("Moderate by non-admin: %v, want ErrNotAdmin", err)
	}
	// b plays the attacker: signs a ban of a itself.
	forged := sign(t, b.key, r.ID, KindMod, modBodyOf(OpBan, a.id), head(t, a, r.ID))
	if x.deliver(t, forged) {
		t.Fatal("a non-admin's ban was stored")
	}
	// a appoints b; b's ban of x, made after, is valid; a's message made
	// before the appointment does not make b an admin in its own past.
	if err := a.s.Moderate(context.Background(), r.ID, OpAdmin, b.id.String(), ""); err != nil {
		t.Fatal(err)
	}
	b.pull(t, a, r.ID)
	if err := b.s.Moderate(context.Background(), r.ID, OpBan, x.id.String(), ""); err != nil {
		t.Fatal(err)
	}
	x.pull(t, b, r.ID)
	if got := x.admins(t, r.ID); !slices.Equal(got, sorted(a.id.String(), b.id.String())) {
		t.Fatalf("admins %v, want a and b", got)
	}
	if _, err := x.s.Send(context.Background(), r.ID, "hi"); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("banned author's Send: %v, want ErrNotAllowed", err)
	}
}

func sorted(ps ...string) []string { slices.Sort(ps); return ps }

// A ban hides the banned author's events outside its causal past (also
// those concurrent with it), keeps those inside visible, refuses new ones
// and sends a redaction for what was shown; an unban lifts it for events
// that have the unban in their past.
func TestBanHidesOutsideCausalPast(t *testing.T) {
	a, c, x := newModPeer(t, "a"), newModPeer(t, "c"), newModPeer(t, "x")
	r := setup(t, a, c, x)
	ctx := context.Background()
	if _, err := c.s.Send(ctx, r.ID, "before"); err != nil {
		t.Fatal(err)
	}
	a.pull(t, c, r.ID)
	x.pull(t, c, r.ID)
	sub, err := x.s.Subscribe(ctx, Filter{Room: r.ID})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	// c writes "concurrent" without seeing the ban; x sees it first.
	conc := sign(t, c.key, r.ID, ledger.KindMsg, msgBodyOf("concurrent"), head(t, c, r.ID))
	if !x.deliver(t, conc) {
		t.Fatal("concurrent message not stored")
	}
	if m := <-sub.C(); m.Text != "concurrent" {
		t.Fatalf("subscription got %+v", m)
	}
	// a answers "before" (so it is in the past of what a writes next),
	// then bans c.
	if _, err := a.s.Send(ctx, r.ID, "ack"); err != nil {
		t.Fatal(err)
	}
	if err := a.s.Moderate(ctx, r.ID, OpBan, c.id.String(), ""); err != nil {
		t.Fatal(err)
	}
	x.pull(t, a, r.ID)
	for redacted := false; !redacted; {
		select {
		case m := <-sub.C():
			switch {
			case m.Redacted == conc.IDText() && m.Room == r.ID:
				redacted = true
			case m.Text != "ack":
				t.Fatalf("after the ban the subscription got %+v, want a redaction of %s", m, conc.IDText())
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no redaction after the ban")
		}
	}
	if got := x.texts(t, r.ID); !slices.Equal(got, []string{"before", "ack"}) {
		t.Fatalf("history at x %q, want only the messages in the ban's past", got)
	}
	a.pull(t, x, r.ID) // the hidden event is stored and servable: a takes it
	if got := a.texts(t, r.ID); !slices.Equal(got, []string{"before", "ack"}) {
		t.Fatalf("history at a %q", got)
	}
	for _, p := range []*modPeer{a, x} {
		if rep, err := p.s.Verify(ctx, r.ID); err != nil || !rep.OK {
			t.Fatalf("verify: %+v, %v", rep, err)
		}
	}
	// After the ban c cannot write: its event naming the ban is refused.
	after := sign(t, c.key, r.ID, ledger.KindMsg, msgBodyOf("after"), lastOf(t, a, r.ID, KindMod))
	if x.deliver(t, after) {
		t.Fatal("an event of a banned author with the ban in its past was stored")
	}
	if mem, _ := x.s.Members(ctx, r.ID); slices.ContainsFunc(mem, func(m Member) bool { return m.PeerID == c.id.String() }) {
		t.Fatal("banned author listed as member")
	}
	// Unban: c's new events (the unban in their past) show; the
	// concurrent one stays hidden.
	if err := a.s.Moderate(ctx, r.ID, OpUnban, c.id.String(), ""); err != nil {
		t.Fatal(err)
	}
	c.pull(t, a, r.ID)
	if _, err := c.s.Send(ctx, r.ID, "forgiven"); err != nil {
		t.Fatal(err)
	}
	x.pull(t, c, r.ID)
	if got := x.texts(t, r.ID); !slices.Equal(got, []string{"before", "ack", "forgiven"}) {
		t.Fatalf("after unban, history %q", got)
	}
}

// A revocation concurrent with an act of the revoked admin voids the act;
// of two concurrent mutual revocations the first in (Lamport, ID) order
// wins, on every node whatever the order events arrive in.
func TestConcurrentRevocation(t *testing.T) {
	a, b, c := newModPeer(t, "a"), newModPeer(t, "b"), newModPeer(t, "c")
	r := setup(t, a, b, c)
	ctx := context.Background()
	if err := a.s.Moderate(ctx, r.ID, OpAdmin, b.id.String(), ""); err != nil {
		t.Fatal(err)
	}
	b.pull(t, a, r.ID)
	base := head(t, a, r.ID)
	// Concurrent: a revokes b; b bans c. Both name the appointment.
	revoke := sign(t, a.key, r.ID, KindMod, modBodyOf(OpUnadmin, b.id), base)
	ban := sign(t, b.key, r.ID, KindMod, modBodyOf(OpBan, c.id), base)
	// b also bans the revoker itself: were it applied first (in (Lamport,
	// ID) order it may come first), a's revocation would be an act of a
	// banned author.
	banA := sign(t, b.key, r.ID, KindMod, modBodyOf(OpBan, a.id), base)
	x1, x2 := newModPeer(t, "x1"), newModPeer(t, "x2")
	for i, x := range []*modPeer{x1, x2} {
		if _, err := x.s.Join(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		x.pull(t, a, r.ID)
		order := []*ledger.Event{revoke, ban, banA}
		if i == 1 {
			order = []*ledger.Event{banA, ban, revoke}
		}
		for _, ev := range order {
			if !x.deliver(t, ev) {
				t.Fatalf("valid event %s not stored", ev.ID())
			}
		}
		if got := x.admins(t, r.ID); !slices.Equal(got, []string{a.id.String()}) {
			t.Fatalf("node %d: admins %v, want only a", i, got)
		}
		if banned, _ := x.s.Banned(ctx, r.ID); len(banned) != 0 {
			t.Fatalf("node %d: the revoked admin's concurrent ban took effect: %v", i, banned)
		}
	}
	// Mutual revocation on a fresh room: a and b revoke each other.
	a2, b2, y := newModPeer(t, "a2"), newModPeer(t, "b2"), newModPeer(t, "y")
	r2 := setup(t, a2, b2, y)
	if err := a2.s.Moderate(ctx, r2.ID, OpAdmin, b2.id.String(), ""); err != nil {
		t.Fatal(err)
	}
	base = head(t, a2, r2.ID)
	ua := sign(t, a2.key, r2.ID, KindMod, modBodyOf(OpUnadmin, b2.id), base)
	ub := sign(t, b2.key, r2.ID, KindMod, modBodyOf(OpUnadmin, a2.id), base)
	y.pull(t, a2, r2.ID)
	y.deliver(t, ub)
	y.deliver(t, ua)
	want := []string{a2.id.String()} // ua first in (Lamport, ID) order: b2 loses
	if ub.ID() < ua.ID() {
		want = []string{b2.id.String()}
	}
	if got := y.admins(t, r2.ID); !slices.Equal(got, want) {
		t.Fatalf("mutual revocation: admins %v, want %v", got, want)
	}
}

// Under the members policy only admins and admitted members write.
func TestMembersPolicy(t *testing.T) {
	a, d := newModPeer(t, "a"), newModPeer(t, "d")
	r := setup(t, a, d)
	ctx := context.Background()
	if err := a.s.Moderate(ctx, r.ID, OpPolicy, "", PolicyMembers); err != nil {
		t.Fatal(err)
	}
	d.pull(t, a, r.ID)
	if _, err := d.s.Send(ctx, r.ID, "let me in"); !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("Send by non-member: %v, want ErrNotAllowed", err)
	}
	if rooms, _ := d.s.Rooms(ctx); len(rooms) != 1 || rooms[0].Policy != PolicyMembers || rooms[0].Name != "mod" {
		t.Fatalf("rooms at d: %+v", rooms)
	}
	if err := a.s.Moderate(ctx, r.ID, OpAdmit, d.id.String(), ""); err != nil {
		t.Fatal(err)
	}
	d.pull(t, a, r.ID)
	if _, err := d.s.Send(ctx, r.ID, "thanks"); err != nil {
		t.Fatal(err)
	}
	a.pull(t, d, r.ID)
	if got := a.texts(t, r.ID); !slices.Equal(got, []string{"thanks"}) {
		t.Fatalf("history %q", got)
	}
}

// A restart rebuilds the room's moderation from the stored events.
func TestModerationSurvivesRestart(t *testing.T) {
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	id, _ := peer.IDFromPrivateKey(key)
	store := dssync.MutexWrap(ds.NewMapDatastore())
	s, err := New(loopNet{id}, store, key, Config{Limits: noLimits})
	if err != nil {
		t.Fatal(err)
	}
	a := &modPeer{s: s, key: key, id: id}
	c := newModPeer(t, "c")
	r := setup(t, a, c)
	if _, err := c.s.Send(context.Background(), r.ID, "spam"); err != nil {
		t.Fatal(err)
	}
	conc := sign(t, c.key, r.ID, ledger.KindMsg, msgBodyOf("concurrent"), head(t, c, r.ID))
	a.pull(t, c, r.ID)
	if _, err := a.s.Send(context.Background(), r.ID, "ack"); err != nil {
		t.Fatal(err)
	}
	if err := a.s.Moderate(context.Background(), r.ID, OpBan, c.id.String(), ""); err != nil {
		t.Fatal(err)
	}
	a.deliver(t, conc)
	s.Close()
	s2, err := New(loopNet{id}, store, key, Config{Limits: noLimits})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	a2 := &modPeer{s: s2, key: key, id: id}
	if got := a2.texts(t, r.ID); !slices.Equal(got, []string{"spam", "ack"}) {
		t.Fatalf("history after restart %q, want the message in the ban's past only", got)
	}
	if banned, _ := s2.Banned(context.Background(), r.ID); !slices.Equal(banned, []string{c.id.String()}) {
		t.Fatalf("banned after restart %v", banned)
	}
}

// A ban leaves the banned author's newest events, which nobody else built
// on, out of its past, so it hides them although the admin had seen them;
// what others answered stays (it is in the ban's past).
func TestBanHidesUnansweredSpam(t *testing.T) {
	a, c := newModPeer(t, "a"), newModPeer(t, "c")
	r := setup(t, a, c)
	ctx := context.Background()
	if _, err := c.s.Send(ctx, r.ID, "hello"); err != nil {
		t.Fatal(err)
	}
	a.pull(t, c, r.ID)
	if _, err := a.s.Send(ctx, r.ID, "hi c"); err != nil {
		t.Fatal(err)
	}
	c.pull(t, a, r.ID)
	for i := range 3 {
		if _, err := c.s.Send(ctx, r.ID, fmt.Sprint("spam", i)); err != nil {
			t.Fatal(err)
		}
	}
	a.pull(t, c, r.ID)
	if got := a.texts(t, r.ID); len(got) != 5 {
		t.Fatalf("before the ban a shows %q", got)
	}
	if err := a.s.Moderate(ctx, r.ID, OpBan, c.id.String(), ""); err != nil {
		t.Fatal(err)
	}
	if got := a.texts(t, r.ID); !slices.Equal(got, []string{"hello", "hi c"}) {
		t.Fatalf("after the ban a shows %q, want the spam hidden", got)
	}
	ban := lastOf(t, a, r.ID, KindMod)
	for _, p := range ban.Parents {
		if ev, _ := a.s.led.Get(ctx, r.ID, p); ev.Author == c.id {
			t.Fatalf("the ban names the banned author's event %s", p)
		}
	}
	c.pull(t, a, r.ID)
	if got := c.texts(t, r.ID); !slices.Equal(got, []string{"hello", "hi c"}) {
		t.Fatalf("at the banned author's own node: %q", got)
	}
}
