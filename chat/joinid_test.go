package chat

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Joining by ID: a private room we hold and are not a member of is
// refused at once; a room whose genesis never comes is undone after the
// wait, leaving nothing joined; a room whose genesis comes is joined, and
// a member joins its private room by ID.
func TestJoinByIDInviteOnly(t *testing.T) {
	ctx := context.Background()
	dir := newKeyDir()
	a, b, c, d := newPrivPeer(t, dir, "a"), newPrivPeer(t, dir, "b"), newPrivPeer(t, dir, "c"), newPrivPeer(t, dir, "d")
	room, _, err := a.s.CreatePrivate(ctx, "plans")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.s.Invite(ctx, room.ID, b.id.String()); err != nil {
		t.Fatal(err)
	}

	// C joined by ID before anyone could tell, holds the room's events
	// (the test hands them over as a store would) and left: it is no
	// member, and now it knows.
	if _, err := c.s.Join(ctx, room.ID); err != nil {
		t.Fatal(err)
	}
	c.pull(t, a.modPeer, room.ID)
	if err := c.s.Leave(ctx, room.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.s.Join(ctx, room.ID); !errors.Is(err, ErrInviteOnly) {
		t.Fatalf("non-member C joining the private room by ID: %v, want ErrInviteOnly", err)
	}
	if rs, _ := c.s.Rooms(ctx); len(rs) != 0 {
		t.Fatalf("refused join left %+v", rs)
	}

	// B, added by name, joins by ID and gets the room once it holds the
	// genesis.
	if _, err := b.s.Join(ctx, room.ID); err != nil {
		t.Fatal(err)
	}
	b.pull(t, a.modPeer, room.ID)
	got, err := b.s.AwaitGenesis(ctx, room.ID)
	if err != nil || !got.Private || got.Name != "plans" {
		t.Fatalf("member B's AwaitGenesis: %+v, %v", got, err)
	}

	// D knows the ID only; nobody serves it the room.
	if _, err := d.s.Join(ctx, room.ID); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := d.s.AwaitGenesis(wctx, room.ID); !errors.Is(err, ErrInviteOnly) {
		t.Fatalf("D's AwaitGenesis with no genesis coming: %v, want ErrInviteOnly", err)
	}
	if rs, _ := d.s.Rooms(ctx); len(rs) != 0 {
		t.Fatalf("undone join left %+v", rs)
	}
	if n, _ := d.s.led.Count(ctx, room.ID); n != 0 {
		t.Fatalf("undone join wrote %d events", n)
	}

	// A public moderated room joined by ID resolves once its genesis
	// comes.
	pub, err := a.s.Create(ctx, "open", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.s.Join(ctx, pub.ID); err != nil {
		t.Fatal(err)
	}
	d.pull(t, a.modPeer, pub.ID)
	if got, err := d.s.AwaitGenesis(ctx, pub.ID); err != nil || got.Name != "open" || got.Private {
		t.Fatalf("public moderated room: %+v, %v", got, err)
	}
}
