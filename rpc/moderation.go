package rpc

import (
	"context"

	"github.com/parley-chat/parley/rpc/api"
)

// Moderated rooms: room_create makes one (this node its first admin);
// the other methods append signed moderation events to it, or read who
// its admins are. See docs/PROTOCOL.md "Moderation".

var peerParam = paramSpec{Name: "peerId", Summary: "the peer ID of the member", Schema: sNonEmpty, Required: true}

const (
	exampleModRoom = "mc4ogv2u6ibuqbh7xk4mrmmkf7mwljnao"
	examplePeer    = "12D3KooWGRUVh7dBzV5MQ6KAW9rWzxHJ5Zty5SEzEBxrM8bVrHPz"
)

var mRoomCreate = &method{
	Name:          "room_create",
	Summary:       "Create a moderated room and join it, this node its first admin. A public one's ID derives from the name and this node's key; others join it by ID with room_join. A private one (private: true) is end-to-end encrypted, its ID random, its name encrypted; the result adds an invite token, and members are added with room_invite.",
	Params:        []paramSpec{{Name: "room", Summary: "{name, private}", Schema: ref("CreateRoom"), Required: true}},
	Result:        paramSpec{Name: "room", Schema: ref("Room")},
	NeedsChat:     true,
	Errors:        []api.Code{api.CodeInvalidArgument, api.CodeNotSupportedYet, api.CodeStorage},
	Example:       `[{"name":"parley-dev","private":false}]`,
	ExampleResult: `{"id":"` + exampleModRoom + `","name":"parley-dev","private":false,"moderated":true,"policy":"open"}`,
	Handler: func(ctx context.Context, s *Server, _ *callEnv, p params) (any, error) {
		var c api.CreateRoom
		if err := p.decode(0, &c); err != nil {
			return nil, err
		}
		if c.Private {
			r, tok, err := s.chat.CreatePrivate(ctx, c.Name)
			if err != nil {
				return nil, err
			}
			out := toRoom(r)
			out.Invite = tok
			return out, nil
		}
		r, err := s.chat.Create(ctx, c.Name, false)
		if err != nil {
			return nil, err
		}
		return toRoom(r), nil
	},
}

// modMethod is a moderation method taking [ROOM, peerId].
func modMethod(name, op, summary string) *method {
	return &method{
		Name:          name,
		Summary:       summary,
		Params:        []paramSpec{roomParam, peerParam},
		Result:        paramSpec{Name: "ok", Schema: sTrue},
		NeedsChat:     true,
		Errors:        []api.Code{api.CodeUnknownRoom, api.CodeNotMember, api.CodeNotAdmin, api.CodeNoAdmins, api.CodeInvalidArgument, api.CodeStorage},
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
			if err := s.chat.Moderate(ctx, room, op, who, ""); err != nil {
				return nil, err
			}
			return true, nil
		},
	}
}

var (
	mRoomBan = modMethod("room_ban", "ban",
		"Ban a member from a moderated room (by an admin; a signed ledger event): every node hides the member's events that the ban had not seen, and refuses new ones.")
	mRoomPurge = modMethod("room_purge", "purge",
		"Ban a member and hide everything it wrote, also what the ban had seen (by an admin; a signed ledger event); in a private room it is room_kick that also hides the member's earlier messages. The events stay stored, so the ledger still verifies.")
	mRoomUnban = modMethod("room_unban", "unban",
		"Lift a ban (by an admin): the member's events made after the unban show again.")
	mRoomAdmin = modMethod("room_admin", "admin",
		"Make a member an admin of a moderated room (by an admin).")
	mRoomUnadmin = modMethod("room_unadmin", "unadmin",
		"Revoke a member's admin rights (by an admin); the revoked admin's acts concurrent with the revocation have no effect.")
	mRoomAdmit = modMethod("room_admit", "admit",
		"Admit a member, who may then write under the members policy (by an admin).")
)

var mRoomAdmins = &method{
	Name:          "room_admins",
	Summary:       "The admins of a moderated room, as its known history decides.",
	Params:        []paramSpec{roomParam},
	Result:        paramSpec{Name: "admins", Summary: "peer IDs", Schema: sStringArr},
	NeedsChat:     true,
	Errors:        []api.Code{api.CodeUnknownRoom, api.CodeNoAdmins},
	Example:       `["` + exampleModRoom + `"]`,
	ExampleResult: `["` + examplePeer + `"]`,
	Handler: func(ctx context.Context, s *Server, _ *callEnv, p params) (any, error) {
		room, err := p.str(0)
		if err != nil {
			return nil, err
		}
		admins, err := s.chat.Admins(ctx, room)
		if err != nil {
			return nil, err
		}
		if admins == nil {
			admins = []string{}
		}
		return admins, nil
	},
}

var mRoomPolicy = &method{
	Name:    "room_policy",
	Summary: `Set a moderated room's join policy (by an admin): "open" lets anyone not banned write, "members" only admins and admitted members.`,
	Params: []paramSpec{roomParam,
		{Name: "policy", Schema: schema{"type": "string", "enum": []string{"open", "members"}}, Required: true}},
	Result:        paramSpec{Name: "ok", Schema: sTrue},
	NeedsChat:     true,
	Errors:        []api.Code{api.CodeUnknownRoom, api.CodeNotMember, api.CodeNotAdmin, api.CodeNoAdmins, api.CodeInvalidArgument, api.CodeStorage},
	Example:       `["` + exampleModRoom + `","members"]`,
	ExampleResult: `true`,
	Handler: func(ctx context.Context, s *Server, _ *callEnv, p params) (any, error) {
		room, err := p.str(0)
		if err != nil {
			return nil, err
		}
		policy, err := p.str(1)
		if err != nil {
			return nil, err
		}
		if policy != "open" && policy != "members" {
			return nil, p.invalid(1, "want \"open\" or \"members\"")
		}
		if err := s.chat.Moderate(ctx, room, "policy", "", policy); err != nil {
			return nil, err
		}
		return true, nil
	},
}
