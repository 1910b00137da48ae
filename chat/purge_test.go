package chat

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/parley-chat/parley/ledger"
)

// A purge is a ban that also hides what the ban had seen: every message
// of the target goes, with a redaction for each one shown; new ones are
// refused; the events stay stored and the ledger verifies; an unban lets
// only events made after it show.
func TestPurgeHidesEverything(t *testing.T) {
	a, c, x := newModPeer(t, "a"), newModPeer(t, "c"), newModPeer(t, "x")
	r := setup(t, a, c, x)
	ctx := context.Background()
	for _, text := range []string{"spam 1", "spam 2"} {
		if _, err := c.s.Send(ctx, r.ID, text); err != nil {
			t.Fatal(err)
		}
	}
	a.pull(t, c, r.ID)
	if _, err := a.s.Send(ctx, r.ID, "ack"); err != nil {
		t.Fatal(err)
	}
	x.pull(t, a, r.ID)
	if got := x.texts(t, r.ID); !slices.Equal(got, []string{"spam 1", "spam 2", "ack"}) {
		t.Fatalf("history at x before the purge %q", got)
	}
	sub, err := x.s.Subscribe(ctx, Filter{Room: r.ID})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := c.s.Moderate(ctx, r.ID, OpPurge, a.id.String(), ""); !errors.Is(err, ErrNotAdmin) {
		t.Fatalf("purge by a non-admin: %v, want ErrNotAdmin", err)
	}
	if err := a.s.Moderate(ctx, r.ID, OpPurge, c.id.String(), ""); err != nil {
		t.Fatal(err)
	}
	x.pull(t, a, r.ID)
	redacted := map[string]bool{}
	for len(redacted) < 2 {
		select {
		case m := <-sub.C():
			if m.Redacted == "" {
				t.Fatalf("after the purge the subscription got %+v, want redactions", m)
			}
			redacted[m.Redacted] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("redactions after the purge: %v, want both of c's messages", redacted)
		}
	}
	for _, p := range []*modPeer{a, x} {
		if got := p.texts(t, r.ID); !slices.Equal(got, []string{"ack"}) {
			t.Fatalf("history after the purge %q, want only a's message", got)
		}
		if rep, err := p.s.Verify(ctx, r.ID); err != nil || !rep.OK {
			t.Fatalf("verify: %+v, %v", rep, err)
		}
	}
	if banned, _ := x.s.Banned(ctx, r.ID); !slices.Contains(banned, c.id.String()) {
		t.Fatalf("banned at x %v, want c", banned)
	}
	after := sign(t, c.key, r.ID, ledger.KindMsg, msgBodyOf("after"), lastOf(t, a, r.ID, KindMod))
	if x.deliver(t, after) {
		t.Fatal("an event of a purged author with the purge in its past was stored")
	}
	if err := a.s.Moderate(ctx, r.ID, OpUnban, c.id.String(), ""); err != nil {
		t.Fatal(err)
	}
	c.pull(t, a, r.ID)
	if _, err := c.s.Send(ctx, r.ID, "sorry"); err != nil {
		t.Fatal(err)
	}
	x.pull(t, c, r.ID)
	if got := x.texts(t, r.ID); !slices.Equal(got, []string{"ack", "sorry"}) {
		t.Fatalf("after the unban, history %q: the purged messages must stay hidden", got)
	}
}

// In a private room a purge is a kick that also hides what the member
// wrote: a new epoch without it, and its earlier messages gone.
func TestPurgePrivateMember(t *testing.T) {
	ctx := context.Background()
	dir := newKeyDir()
	a, b := newPrivPeer(t, dir, "a"), newPrivPeer(t, dir, "b")
	room, _, err := a.s.CreatePrivate(ctx, "purged")
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
	mb := marker()
	if _, err := b.s.Send(ctx, room.ID, mb); err != nil {
		t.Fatal(err)
	}
	a.pull(t, b.modPeer, room.ID)
	if got := texts(t, a, room.ID); !slices.Equal(got, []string{mb}) {
		t.Fatalf("A reads %q before the purge", got)
	}
	epochs := func() int {
		n := 0
		for _, ev := range a.events(t, room.ID) {
			if ev.Kind == KindEpoch {
				n++
			}
		}
		return n
	}
	before := epochs()
	if err := a.s.Moderate(ctx, room.ID, OpPurge, b.id.String(), ""); err != nil {
		t.Fatal(err)
	}
	if got := texts(t, a, room.ID); len(got) != 0 {
		t.Fatalf("A reads %q after the purge, want nothing of B's", got)
	}
	if after := epochs(); after != before+1 {
		t.Fatalf("epochs %d -> %d: a purge in a private room must rekey like a kick", before, after)
	}
	m2 := marker()
	if _, err := a.s.Send(ctx, room.ID, m2); err != nil {
		t.Fatal(err)
	}
	b.pull(t, a.modPeer, room.ID)
	if got := texts(t, b, room.ID); slices.Contains(got, m2) {
		t.Fatalf("purged B reads %q", got)
	}
	if rep, err := a.s.Verify(ctx, room.ID); err != nil || !rep.OK {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
}
