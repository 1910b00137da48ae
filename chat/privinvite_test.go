package chat

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/parley-chat/parley/chat/e2ee"
)

// directAdmission hands a proof straight to the inviter's service, as
// node's stream does, naming the asking peer as the joiner.
type directAdmission struct {
	from   peer.ID
	admins map[peer.ID]*Service
}

func (d directAdmission) Ask(ctx context.Context, admin peer.ID, invite, proof []byte) error {
	s := d.admins[admin]
	if s == nil {
		return errors.New("inviter unreachable")
	}
	return s.AdmitByInvite(ctx, d.from, invite, proof)
}

// withAdmission restarts p with an Admission that reaches admins.
func (p *privPeer) withAdmission(t *testing.T, admins map[peer.ID]*Service) {
	t.Helper()
	p.s.Close()
	s, err := New(loopNet{p.id}, p.store, p.key, Config{Name: "x", Limits: noLimits, Keys: p.keys,
		Admission: directAdmission{from: p.id, admins: admins}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	p.s = s
}

// An invite that names nobody admits by its secret, as often as its uses
// allow and no more; a tampered secret admits nobody, and a refused
// joiner is left with nothing joined.
func TestPrivateInviteBySecret(t *testing.T) {
	ctx := context.Background()
	dir := newKeyDir()
	a, b, c, d := newPrivPeer(t, dir, "a"), newPrivPeer(t, dir, "b"), newPrivPeer(t, dir, "c"), newPrivPeer(t, dir, "d")
	admins := map[peer.ID]*Service{a.id: a.s}
	for _, p := range []*privPeer{b, c, d} {
		p.withAdmission(t, admins)
	}
	room, tok, err := a.s.CreatePrivate(ctx, "open-door")
	if err != nil {
		t.Fatal(err)
	}
	// D tampers with the secret of the token.
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	parsed, err := e2ee.ParseToken(raw)
	if err != nil {
		t.Fatal(err)
	}
	bad := slices.Clone(parsed.Secret)
	bad[0] ^= 1
	forged := base64.RawURLEncoding.EncodeToString((&e2ee.InviteToken{Invite: parsed.Invite, Secret: bad}).Encode())
	if _, err := d.s.JoinInvite(ctx, forged); !errors.Is(err, ErrBadInvite) || !errors.Is(err, e2ee.ErrInviteSecret) {
		t.Fatalf("a wrong secret: %v", err)
	}

	if _, err := b.s.JoinInvite(ctx, tok); err != nil {
		t.Fatal(err)
	}
	m := marker()
	if _, err := a.s.Send(ctx, room.ID, m); err != nil {
		t.Fatal(err)
	}
	b.pull(t, a.modPeer, room.ID)
	if got := texts(t, b, room.ID); !slices.Equal(got, []string{m}) {
		t.Fatalf("B admitted by the secret reads %q", got)
	}
	// One use only (the default): C with the same token is refused.
	if _, err := c.s.JoinInvite(ctx, tok); !errors.Is(err, ErrBadInvite) {
		t.Fatalf("a used-up invite: %v", err)
	}
	for _, p := range []*privPeer{c, d} {
		if rs, _ := p.s.Rooms(ctx); len(rs) != 0 {
			t.Fatalf("a refused joiner joined %+v", rs)
		}
	}
	if ms := a.s.modRoom(room.ID).members(); len(ms) != 2 || !containsPeer(ms, b.id) {
		t.Fatalf("members %v", ms)
	}
}

// A member's subscription shows a private room's messages decrypted, as
// they are stored; the room's name and key events show as nothing.
func TestPrivateRoomSubscription(t *testing.T) {
	ctx := context.Background()
	a, b, room := privatePair(t)
	sub, err := b.s.Subscribe(ctx, Filter{Room: room})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	// A new epoch first: its key events and the re-sent name come in the
	// same pull, and must not show.
	if err := a.s.rekey(ctx, a.s.modRoom(room), room, ""); err != nil {
		t.Fatal(err)
	}
	m := marker()
	if _, err := a.s.Send(ctx, room, m); err != nil {
		t.Fatal(err)
	}
	b.pull(t, a.modPeer, room)
	select {
	case got := <-sub.C():
		if got.Text != m || got.Author != a.id.String() {
			t.Fatalf("B's subscription got %+v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("B's subscription got nothing")
	}
}
