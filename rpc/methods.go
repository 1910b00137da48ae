package rpc

import (
	"context"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/rpc/api"
)

// The methods of DESIGN §5. Each is a registry entry (see registry.go);
// parameters are positional.

var roomParam = paramSpec{Name: "room", Summary: "a room ID, or a public room's name (or a joined moderated room's)", Schema: sNonEmpty, Required: true}

var mNodeInfo = &method{
	Name:          "node_info",
	Summary:       "The node's peer ID, full multiaddrs, version and counts.",
	Result:        paramSpec{Name: "info", Schema: ref("NodeInfo")},
	Example:       `[]`,
	ExampleResult: `{"peerId":"12D3KooWJbF9Lav5AcT23NudvSsCWMD8nbdCdmbochnBeV3nEwz2","addrs":["/ip4/127.0.0.1/tcp/4747/p2p/12D3KooWJbF9Lav5AcT23NudvSsCWMD8nbdCdmbochnBeV3nEwz2"],"version":"0.1.0","peers":3,"rooms":1,"reachability":"public","relayAddrs":[],"sync":[{"room":"ptnayqpvn7rmdmpcqf6goc5ajfv5ahd2t","events":1204,"orphans":0,"inProgress":false,"eventsFetched":312}]}`,
	Handler: func(ctx context.Context, s *Server, _ *callEnv, _ params) (any, error) {
		info, err := s.node.Info(ctx)
		if info.Addrs == nil {
			info.Addrs = []string{}
		}
		return info, err
	},
}

var mNodePeers = &method{
	Name:          "node_peers",
	Summary:       "The peers the node is connected to.",
	Result:        paramSpec{Name: "peers", Schema: arrayOf(ref("PeerInfo"))},
	Example:       `[]`,
	ExampleResult: `[{"peerId":"12D3KooWJbF9Lav5AcT23NudvSsCWMD8nbdCdmbochnBeV3nEwz2","addrs":["/ip4/192.0.2.7/tcp/4747"]}]`,
	Handler: func(ctx context.Context, s *Server, _ *callEnv, _ params) (any, error) {
		peers, err := s.node.Peers(ctx)
		if peers == nil {
			peers = []api.PeerInfo{}
		}
		for i := range peers {
			if peers[i].Addrs == nil {
				peers[i].Addrs = []string{}
			}
		}
		return peers, err
	},
}

var mNodeConnect = &method{
	Name:          "node_connect",
	Summary:       "Connect to a peer by its full multiaddr (ending in /p2p/<id>).",
	Params:        []paramSpec{{Name: "multiaddr", Schema: sNonEmpty, Required: true}},
	Result:        paramSpec{Name: "ok", Schema: sTrue},
	Fallback:      api.CodeUnreachable,
	Errors:        []api.Code{api.CodeUnreachable, api.CodeInvalidArgument},
	Example:       `["/ip4/192.0.2.7/tcp/4747/p2p/12D3KooWJbF9Lav5AcT23NudvSsCWMD8nbdCdmbochnBeV3nEwz2"]`,
	ExampleResult: `true`,
	Handler: func(ctx context.Context, s *Server, _ *callEnv, p params) (any, error) {
		addr, err := p.str(0)
		if err != nil {
			return nil, err
		}
		if addr == "" {
			return nil, p.invalid(0, "must not be empty")
		}
		if err := s.node.Connect(ctx, addr); err != nil {
			return nil, err
		}
		return true, nil
	},
}

var mRoomJoin = &method{
	Name:          "room_join",
	Summary:       "Join a public room by name, a moderated room (room_create) by its ID, or a private room by an invite token (room_create, room_invite): a token that names nobody is first proved to the inviter's node, which admits this node and rekeys; history and keys then come by sync. Joining by a moderated room's ID waits (up to 10 s) for its history to start arriving; a private room's ID is refused with -32019 unless this node is a member: private rooms are joined by invite.",
	Params:        []paramSpec{{Name: "name", Summary: "room name, a moderated room's ID, or an invite token", Schema: sNonEmpty, Required: true}},
	Result:        paramSpec{Name: "room", Schema: ref("Room")},
	NeedsChat:     true,
	Errors:        []api.Code{api.CodeInvalidArgument, api.CodeInviteOnly},
	Example:       `["general"]`,
	ExampleResult: `{"id":"ptnayqpvn7rmdmpcqf6goc5ajfv5ahd2t","name":"general","private":false}`,
	Handler: func(ctx context.Context, s *Server, _ *callEnv, p params) (any, error) {
		name, err := p.str(0)
		if err != nil {
			return nil, err
		}
		var r chat.Room
		if len(name) > chat.MaxNameLen {
			r, err = s.chat.JoinInvite(ctx, name) // longer than any name or ID
		} else if r, err = s.chat.Join(ctx, name); err == nil && r.Moderated {
			// Joined by ID: its genesis comes by sync, or the room is
			// private and not ours (or nobody near holds it).
			wctx, cancel := context.WithTimeout(ctx, s.cfg.JoinWait)
			r, err = s.chat.AwaitGenesis(wctx, r.ID)
			cancel()
		}
		if err != nil {
			return nil, err
		}
		return toRoom(r), nil
	},
}

var mRoomLeave = &method{
	Name:          "room_leave",
	Summary:       "Leave a room.",
	Params:        []paramSpec{roomParam},
	Result:        paramSpec{Name: "ok", Schema: sTrue},
	NeedsChat:     true,
	Errors:        []api.Code{api.CodeUnknownRoom, api.CodeNotMember},
	Example:       `["general"]`,
	ExampleResult: `true`,
	Handler: func(ctx context.Context, s *Server, _ *callEnv, p params) (any, error) {
		room, err := p.str(0)
		if err != nil {
			return nil, err
		}
		if err := s.chat.Leave(ctx, room); err != nil {
			return nil, err
		}
		return true, nil
	},
}

var mRoomList = &method{
	Name:          "room_list",
	Summary:       "The rooms this node has joined; a direct conversation once, by its canonical room, even if two first messages crossed and it spans two rooms.",
	Result:        paramSpec{Name: "rooms", Schema: arrayOf(ref("Room"))},
	NeedsChat:     true,
	Example:       `[]`,
	ExampleResult: `[{"id":"ptnayqpvn7rmdmpcqf6goc5ajfv5ahd2t","name":"general","private":false}]`,
	Handler: func(ctx context.Context, s *Server, _ *callEnv, _ params) (any, error) {
		rooms, err := s.chat.ListRooms(ctx)
		if err != nil {
			return nil, err
		}
		if rooms == nil {
			return []api.Room{}, nil
		}
		return toRooms(rooms), nil
	},
}

var mRoomMembers = &method{
	Name:          "room_members",
	Summary:       "The members of a room: everyone whose newest join or leave is a join, or who wrote in it, with their display name and the claimed time of their newest event.",
	Params:        []paramSpec{roomParam},
	Result:        paramSpec{Name: "members", Schema: arrayOf(ref("Member"))},
	NeedsChat:     true,
	Errors:        []api.Code{api.CodeUnknownRoom},
	Example:       `["general"]`,
	ExampleResult: `[{"peerId":"12D3KooWJbF9Lav5AcT23NudvSsCWMD8nbdCdmbochnBeV3nEwz2","name":"alice","lastSeen":"2026-11-25T14:03:07Z"}]`,
	Handler: func(ctx context.Context, s *Server, _ *callEnv, p params) (any, error) {
		room, err := p.str(0)
		if err != nil {
			return nil, err
		}
		ms, err := s.chat.Members(ctx, room)
		if err != nil {
			return nil, err
		}
		return toMembers(ms), nil
	},
}

var mMsgSend = &method{
	Name:    "msg_send",
	Summary: "Send a message to a room; answers once it is durably stored.",
	Params: []paramSpec{
		roomParam,
		textParam,
	},
	Result:        paramSpec{Name: "message", Schema: ref("Message")},
	NeedsChat:     true,
	Errors:        []api.Code{api.CodeUnknownRoom, api.CodeNotMember, api.CodeTooLarge, api.CodeInvalidArgument, api.CodeStorage, api.CodeNotDurable},
	Example:       `["general","hello"]`,
	ExampleResult: `{"id":"v28g3s8v82o03imaa6e4kupb4s6oj92ttf808hl1c9b5n7rleqme0178","room":"ptnayqpvn7rmdmpcqf6goc5ajfv5ahd2t","author":"12D3KooWJbF9Lav5AcT23NudvSsCWMD8nbdCdmbochnBeV3nEwz2","authorName":"alice","text":"hello","time":"2025-01-02T03:04:05.123456789Z","lamport":7,"parents":["v28gcl5s12b51nfeavb133csq4fe4r9s6tvs18v2eeaso0ts5lvn4heo"],"cursor":"42"}`,
	Handler: func(ctx context.Context, s *Server, _ *callEnv, p params) (any, error) {
		room, err := p.str(0)
		if err != nil {
			return nil, err
		}
		text, err := p.str(1)
		if err != nil {
			return nil, err
		}
		m, err := s.chat.Send(ctx, room, text)
		if err != nil {
			return nil, err
		}
		return toMessage(m), nil
	},
}

// textParam and historyQueryParam are the params msg_* and dm_* share.
var (
	textParam         = paramSpec{Name: "text", Summary: "the message, UTF-8, at most 16 KiB", Schema: sString, Required: true}
	historyQueryParam = paramSpec{Name: "query", Summary: "paging; omitted: the newest messages", Schema: ref("HistoryQuery")}
)

// historyQuery decodes the optional paging param at i (msg_history,
// dm_history): absent is the zero query, a negative limit is refused.
func (p params) historyQuery(i int) (api.HistoryQuery, error) {
	var q api.HistoryQuery
	if !p.has(i) {
		return q, nil
	}
	if err := p.decode(i, &q); err != nil {
		return q, err
	}
	if q.Limit < 0 {
		return q, p.invalid(i, "field \"limit\": must not be negative")
	}
	return q, nil
}

var mMsgHistory = &method{
	Name:    "msg_history",
	Summary: "A room's messages, oldest first; before pages backwards by message ID.",
	Params: []paramSpec{
		roomParam,
		historyQueryParam,
	},
	Result:        paramSpec{Name: "messages", Schema: arrayOf(ref("Message"))},
	NeedsChat:     true,
	Errors:        []api.Code{api.CodeUnknownRoom, api.CodeInvalidArgument, api.CodeStorage, api.CodeReplyTooLarge},
	Example:       `["general",{"limit":50}]`,
	ExampleResult: `[{"id":"v28g3s8v82o03imaa6e4kupb4s6oj92ttf808hl1c9b5n7rleqme0178","room":"ptnayqpvn7rmdmpcqf6goc5ajfv5ahd2t","author":"12D3KooWJbF9Lav5AcT23NudvSsCWMD8nbdCdmbochnBeV3nEwz2","authorName":"alice","text":"hello","time":"2025-01-02T03:04:05.123456789Z","lamport":7,"parents":["v28gcl5s12b51nfeavb133csq4fe4r9s6tvs18v2eeaso0ts5lvn4heo"],"cursor":"42"}]`,
	Handler: func(ctx context.Context, s *Server, env *callEnv, p params) (any, error) {
		room, err := p.str(0)
		if err != nil {
			return nil, err
		}
		q, err := p.historyQuery(1)
		if err != nil {
			return nil, err
		}
		return s.history(ctx, env, room, q)
	},
}

var mLedgerVerify = &method{
	Name:          "ledger_verify",
	Summary:       "Verify the signed, hash-linked ledger of one room, or of all rooms when omitted.",
	Params:        []paramSpec{{Name: "room", Summary: "a room ID or public room name; omitted: all rooms", Schema: sString}},
	Result:        paramSpec{Name: "report", Schema: ref("VerifyReport")},
	NeedsChat:     true,
	Errors:        []api.Code{api.CodeUnknownRoom, api.CodeStorage},
	Example:       `["general"]`,
	ExampleResult: `{"ok":true,"events":12,"problems":[]}`,
	Handler: func(ctx context.Context, s *Server, _ *callEnv, p params) (any, error) {
		var room string
		if p.has(0) {
			var err error
			if room, err = p.str(0); err != nil {
				return nil, err
			}
		}
		rep, err := s.chat.Verify(ctx, room)
		if err != nil {
			return nil, err
		}
		wrep := toReport(rep)
		if wrep.Problems == nil {
			wrep.Problems = []api.Problem{}
		}
		return wrep, nil
	},
}
