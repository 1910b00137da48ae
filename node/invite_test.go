package node_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/internal/testwait"
	"github.com/parley-chat/parley/rpc/api"
	"github.com/parley-chat/parley/rpc/client"
)

// room_invites and room_invite_revoke over RPC on three real nodes: A's
// room lists its invites with their uses; a revoked one is refused to C
// over the admit stream (-32005 "invite revoked") and C joins nothing; B,
// a member but no admin, may neither list nor revoke; bad IDs and rooms
// get their codes.
func TestPrivateInviteRevokeNodes(t *testing.T) {
	ctx := t.Context()
	dirA, dirB, dirC := t.TempDir(), t.TempDir(), t.TempDir()
	a, b, c := startNode(t, dirA), startNode(t, dirB), startNode(t, dirC)
	connect(t, b, a)
	connect(t, c, a)
	ra, rb, rc := rpcAt(t, dirA), rpcAt(t, dirB), rpcAt(t, dirC)
	code := func(err error) api.Code {
		var re *api.Error
		if errors.As(err, &re) {
			return re.Code
		}
		return 0
	}
	var room api.Room
	if err := ra.Call(ctx, "room_create", []any{map[string]any{"name": "gate", "private": true}}, &room); err != nil {
		t.Fatal(err)
	}
	var joined api.Room
	if err := rb.Call(ctx, "room_join", []any{room.Invite}, &joined); err != nil {
		t.Fatal(err)
	}
	var second struct{ Invite, ID string }
	if err := ra.Call(ctx, "room_invite", []any{room.ID}, &second); err != nil {
		t.Fatal(err)
	}
	var invs []api.Invite
	if err := ra.Call(ctx, "room_invites", []any{room.ID}, &invs); err != nil {
		t.Fatal(err)
	}
	if len(invs) != 2 || invs[0].Uses != 1 || invs[1].Uses != 0 || invs[0].Revoked || invs[1].Revoked ||
		invs[1].Expires == "" || invs[1].Inviter != a.Chat().Self().String() {
		t.Fatalf("room_invites: %+v", invs)
	}
	id := invs[1].ID
	if second.ID != id {
		t.Fatalf("room_invite's id %q, room_invites lists %q", second.ID, id)
	}
	var ok bool
	if err := ra.Call(ctx, "room_invite_revoke", []any{room.ID, id}, &ok); err != nil || !ok {
		t.Fatalf("room_invite_revoke: %v %v", ok, err)
	}
	err := rc.Call(ctx, "room_join", []any{second.Invite}, &joined)
	if code(err) != api.CodeInvalidArgument || !strings.Contains(err.Error(), "invite revoked") {
		t.Fatalf("C with a revoked invite: %v", err)
	}
	// The same refusal through C's chat service: a typed verdict on the
	// admit stream, not only text.
	if _, err := c.Chat().JoinInvite(ctx, second.Invite); !errors.Is(err, chat.ErrBadInvite) || !errors.Is(err, chat.ErrInviteRevoked) {
		t.Fatalf("C's JoinInvite with a revoked invite: %v", err)
	}
	var rooms []api.Room
	if err := rc.Call(ctx, "room_list", nil, &rooms); err != nil || len(rooms) != 0 {
		t.Fatalf("C's rooms after refusal: %+v %v", rooms, err)
	}
	if err := ra.Call(ctx, "room_invites", []any{room.ID}, &invs); err != nil || len(invs) != 2 || !invs[1].Revoked || invs[1].Uses != 0 {
		t.Fatalf("room_invites after revoking: %+v %v", invs, err)
	}

	// B, a member: once it holds the room's events it is refused as no admin.
	testwait.For(t, 20*time.Second, "B is a member", func() bool {
		var ms []api.Member
		rb.Call(ctx, "room_members", []any{room.ID}, &ms)
		return len(ms) >= 2
	}, syncState(a, b, c))
	for _, tc := range []struct {
		name   string
		cl     *client.Client
		method string
		params []any
		want   api.Code
	}{
		{"member lists", rb, "room_invites", []any{room.ID}, api.CodeNotAdmin},
		{"member revokes", rb, "room_invite_revoke", []any{room.ID, id}, api.CodeNotAdmin},
		{"malformed ID", ra, "room_invite_revoke", []any{room.ID, "not-hex"}, api.CodeInvalidArgument},
		{"unknown ID", ra, "room_invite_revoke", []any{room.ID, strings.Repeat("ab", 16)}, api.CodeInvalidArgument},
		{"room not joined", ra, "room_invites", []any{"mnosuchroomnosuchroomnosuchroom12"}, api.CodeNotMember},
		{"missing ID", ra, "room_invite_revoke", []any{room.ID}, api.CodeInvalidParams},
	} {
		if err := tc.cl.Call(ctx, tc.method, tc.params, nil); code(err) != tc.want {
			t.Errorf("%s: %v, want code %d", tc.name, err, tc.want)
		}
	}
}
