package rpc

import (
	"context"

	"github.com/parley-chat/parley/rpc/api"
)

// Private rooms (docs/PROTOCOL.md "Private rooms"): room_create with
// private: true makes one; room_invite adds a member (a new key epoch
// sealed to it too) and returns the invite token it joins with
// (room_join [invite]); room_kick removes one and rekeys.

const exampleInvite = "AQq7A..."

var mRoomInvite = &method{
	Name:    "room_invite",
	Summary: "Make an invite token for a private room (by an admin). With a peer ID, first add that peer as a member and start a new key epoch sealed to its key bundle (fetched from it, so it must be reachable); the token then names it. Without one, the room commits to the token's secret and the token admits one peer that proves the secret to this node (room_join [invite] does). The token holds no key.",
	Params: []paramSpec{roomParam,
		{Name: "peerId", Summary: "the peer to add (optional)", Schema: sNonEmpty}},
	Result: paramSpec{Name: "invite", Schema: schema{"type": "object", "required": []string{"invite"},
		"properties": schema{"invite": sString}}},
	NeedsChat:     true,
	Errors:        []api.Code{api.CodeUnknownRoom, api.CodeNotMember, api.CodeNotAdmin, api.CodeInvalidArgument, api.CodeUnreachable, api.CodeNotSupportedYet, api.CodeStorage},
	Example:       `["` + exampleModRoom + `","` + examplePeer + `"]`,
	ExampleResult: `{"invite":"` + exampleInvite + `"}`,
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
		return map[string]string{"invite": tok}, nil
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
