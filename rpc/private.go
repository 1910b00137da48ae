package rpc

import (
	"context"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/rpc/api"
)

// Private rooms (docs/PROTOCOL.md "Private rooms"): room_create with
// private: true makes one; room_invite adds a member (a new key epoch
// sealed to it too) and returns the invite token it joins with
// (room_join [invite]); room_invites lists a room's invites and
// room_invite_revoke revokes one; room_kick removes a member and rekeys.

const exampleInvite = "AQq7A..."

var mRoomInvite = &method{
	Name:    "room_invite",
	Summary: "Make an invite token for a private room (by an admin). With a peer ID, first add that peer as a member and start a new key epoch sealed to its key bundle (fetched from it, so it must be reachable); the token then names it. Without one, the room commits to the token's secret and the token admits one peer that proves the secret to this node (room_join [invite] does). The token holds no key; id is the invite's ID, as room_invites lists it and room_invite_revoke takes it.",
	Params: []paramSpec{roomParam,
		{Name: "peerId", Summary: "the peer to add (optional)", Schema: sNonEmpty}},
	Result: paramSpec{Name: "invite", Schema: schema{"type": "object", "required": []string{"invite", "id"},
		"properties": schema{"invite": sString,
			"id": schema{"type": "string", "description": "the invite's ID, as room_invites lists it and room_invite_revoke takes it"}}}},
	NeedsChat:     true,
	Errors:        []api.Code{api.CodeUnknownRoom, api.CodeNotMember, api.CodeNotAdmin, api.CodeInvalidArgument, api.CodeUnreachable, api.CodeNotSupportedYet, api.CodeStorage},
	Example:       `["` + exampleModRoom + `","` + examplePeer + `"]`,
	ExampleResult: `{"invite":"` + exampleInvite + `","id":"` + exampleInviteID + `"}`,
	Handler: func(ctx context.Context, s *Server, _ *callEnv, p params) (any, error) {
		room, err := p.str(0)
		if err != nil {
			return nil, err
		}
		var who string
		if p.has(1) {
			if who, err = p.str(1); err != nil {
				return nil, err
			}
		}
		tok, err := s.chat.Invite(ctx, room, who)
		if err != nil {
			return nil, err
		}
		id, err := chat.InviteTokenID(tok)
		if err != nil {
			return nil, err
		}
		return map[string]string{"invite": tok, "id": id}, nil
	},
}

const exampleInviteID = "5f0c6a1e9b2d48e3a7c1d0f2b4e6a8c9"

var mRoomInvites = &method{
	Name:      "room_invites",
	Summary:   "The invites of a private room that have not expired (by an admin), oldest first: who made each, whom it names, its expiry, uses and whether it was revoked. Revoked and used-up invites stay listed until they expire.",
	Params:    []paramSpec{roomParam},
	Result:    paramSpec{Name: "invites", Schema: arrayOf(ref("Invite"))},
	NeedsChat: true,
	Errors:    []api.Code{api.CodeUnknownRoom, api.CodeNotMember, api.CodeNotAdmin, api.CodeNotSupportedYet, api.CodeStorage},
	Example:   `["` + exampleModRoom + `"]`,
	ExampleResult: `[{"id":"` + exampleInviteID + `","inviter":"` + examplePeer +
		`","expires":"2026-12-14T12:00:00Z","maxUses":1,"uses":0,"revoked":false}]`,
	Handler: func(ctx context.Context, s *Server, _ *callEnv, p params) (any, error) {
		room, err := p.str(0)
		if err != nil {
			return nil, err
		}
		invs, err := s.chat.Invites(ctx, room)
		if err != nil {
			return nil, err
		}
		return toInvites(invs), nil
	},
}

var mRoomInviteRevoke = &method{
	Name:    "room_invite_revoke",
	Summary: "Revoke an invite of a private room (by an admin; its ID from room_invites): a signed invite_revoke event, after which no admin's node admits by it (room_join with it fails with -32005 \"invite revoked\"). A use concurrent with the revocation, made by an admin that had not seen it, stands. If the invite names a peer that has written nothing in the room yet, that peer is also removed as room_kick would. Revoking a revoked invite does nothing.",
	Params: []paramSpec{roomParam,
		{Name: "inviteId", Summary: "the invite's ID (32 hex digits, from room_invites)", Schema: sNonEmpty, Required: true}},
	Result:        paramSpec{Name: "ok", Schema: sTrue},
	NeedsChat:     true,
	Errors:        []api.Code{api.CodeUnknownRoom, api.CodeNotMember, api.CodeNotAdmin, api.CodeInvalidArgument, api.CodeUnreachable, api.CodeNotSupportedYet, api.CodeStorage},
	Example:       `["` + exampleModRoom + `","` + exampleInviteID + `"]`,
	ExampleResult: `true`,
	Handler: func(ctx context.Context, s *Server, _ *callEnv, p params) (any, error) {
		room, err := p.str(0)
		if err != nil {
			return nil, err
		}
		id, err := p.str(1)
		if err != nil {
			return nil, err
		}
		if err := s.chat.RevokeInvite(ctx, room, id); err != nil {
			return nil, err
		}
		return true, nil
	},
}

var mRoomKick = &method{
	Name:          "room_kick",
	Summary:       "Remove a member from a private room (by an admin): its events after the removal are refused, and a new key epoch without it means it reads nothing written afterwards.",
	Params:        []paramSpec{roomParam, peerParam},
	Result:        paramSpec{Name: "ok", Schema: sTrue},
	NeedsChat:     true,
	Errors:        []api.Code{api.CodeUnknownRoom, api.CodeNotMember, api.CodeNotAdmin, api.CodeInvalidArgument, api.CodeUnreachable, api.CodeNotSupportedYet, api.CodeStorage},
	Example:       `["` + exampleModRoom + `","` + examplePeer + `"]`,
	ExampleResult: `true`,
	Handler: func(ctx context.Context, s *Server, _ *callEnv, p params) (any, error) {
		room, err := p.str(0)
		if err != nil {
			return nil, err
		}
		who, err := p.str(1)
		if err != nil {
			return nil, err
		}
		if err := s.chat.Kick(ctx, room, who); err != nil {
			return nil, err
		}
		return true, nil
	},
}
