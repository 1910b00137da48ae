package rpc

import (
	"context"

	"github.com/parley-chat/parley/rpc/api"
)

// Direct messages: a direct conversation is a two-member private room
// (docs/PROTOCOL.md "Direct messages"); room_list shows it with kind dm.

var dmPeerParam = paramSpec{Name: "peerId", Summary: "the other member's peer ID", Schema: sNonEmpty, Required: true}

var mDMSend = &method{
	Name:    "dm_send",
	Summary: "Send a direct message; the first one to a peer starts an end-to-end encrypted conversation with it. The peer may be offline: its key bundle comes from the DHT, and the conversation waits in this node's outbox (at most 256) until the peer is handed it or fetches it from this node's inbox. Answers once the message is durably stored, with the same Message either way.",
	Params: []paramSpec{dmPeerParam,
		textParam},
	Result:        paramSpec{Name: "message", Schema: ref("Message")},
	NeedsChat:     true,
	Errors:        []api.Code{api.CodeTooLarge, api.CodeInvalidArgument, api.CodeUnreachable, api.CodeNotSupportedYet, api.CodeStorage, api.CodeNotDurable, api.CodeRateLimited},
	Example:       `["` + examplePeer + `","hello"]`,
	ExampleResult: `{"id":"v28g3s8v82o03imaa6e4kupb4s6oj92ttf808hl1c9b5n7rleqme0178","room":"` + exampleModRoom + `","author":"12D3KooWJbF9Lav5AcT23NudvSsCWMD8nbdCdmbochnBeV3nEwz2","authorName":"alice","text":"hello","time":"2025-01-02T03:04:05.123456789Z","lamport":7,"parents":["v28gcl5s12b51nfeavb133csq4fe4r9s6tvs18v2eeaso0ts5lvn4heo"],"cursor":"42"}`,
	Handler: func(ctx context.Context, s *Server, _ *callEnv, p params) (any, error) {
		to, err := p.str(0)
		if err != nil {
			return nil, err
		}
		text, err := p.str(1)
		if err != nil {
			return nil, err
		}
		m, err := s.chat.DMSend(ctx, to, text)
		if err != nil {
			return nil, err
		}
		return toMessage(m), nil
	},
}

var mDMHistory = &method{
	Name:    "dm_history",
	Summary: "The direct conversation with a peer, oldest first, as msg_history; empty if there is none. If two first messages crossed, the conversation spans two rooms: their messages come merged in one (lamport, id) order, every one naming the canonical room, and before may be any of them.",
	Params: []paramSpec{dmPeerParam,
		historyQueryParam},
	Result:        paramSpec{Name: "messages", Schema: arrayOf(ref("Message"))},
	NeedsChat:     true,
	Errors:        []api.Code{api.CodeInvalidArgument, api.CodeStorage, api.CodeReplyTooLarge},
	Example:       `["` + examplePeer + `",{"limit":50}]`,
	ExampleResult: `[]`,
	Handler: func(ctx context.Context, s *Server, env *callEnv, p params) (any, error) {
		with, err := p.str(0)
		if err != nil {
			return nil, err
		}
		q, err := p.historyQuery(1)
		if err != nil {
			return nil, err
		}
		r, ok, err := s.chat.DMRoom(with)
		if err != nil {
			return nil, err
		}
		if !ok {
			return []api.Message{}, nil
		}
		return s.history(ctx, env, r.ID, q)
	},
}
