package rpc

import (
	"context"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/rpc/api"
)

// NodeAPI is what the RPC server needs from the node: identity, peers and
// dialing. It is declared here, where it is used; package node satisfies it
// structurally (rpc never imports node or p2p). Its results are already
// wire types: node_info and node_peers describe the node, not a domain.
//
// Implementations must be safe for concurrent use. Errors that should reach
// clients with a specific code are wrapped around the sentinels of this
// package (ErrUnreachable, ErrInvalidArgument, ErrStorage); see ErrorCode.
type NodeAPI interface {
	Info(ctx context.Context) (api.NodeInfo, error)
	Peers(ctx context.Context) ([]api.PeerInfo, error)
	Connect(ctx context.Context, addr string) error
}

// ChatAPI is what the RPC server needs from the chat domain. *chat.Service
// satisfies it. Its results are domain values; convert.go turns them into
// the wire types of package rpc/api. A nil ChatAPI (a bootstrap node) serves only node_* methods
// and rpc.discover; the others then answer -32601 "Method not found".
type ChatAPI interface {
	Join(ctx context.Context, name string) (chat.Room, error)
	AwaitGenesis(ctx context.Context, room string) (chat.Room, error)
	Leave(ctx context.Context, room string) error
	Rooms(ctx context.Context) ([]chat.Room, error)
	ListRooms(ctx context.Context) ([]chat.Room, error)
	Members(ctx context.Context, room string) ([]chat.Member, error)
	Send(ctx context.Context, room, text string) (chat.Message, error)
	History(ctx context.Context, room string, q chat.HistoryQuery) ([]chat.Message, error)
	Subscribe(ctx context.Context, f chat.Filter) (*chat.Subscription, error)
	Verify(ctx context.Context, room string) (chat.VerifyReport, error)
	Create(ctx context.Context, name string, private bool) (chat.Room, error)
	Moderate(ctx context.Context, room, op, peer, policy string) error
	Admins(ctx context.Context, room string) ([]string, error)
	CreatePrivate(ctx context.Context, name string) (chat.Room, string, error)
	JoinInvite(ctx context.Context, token string) (chat.Room, error)
	Invite(ctx context.Context, room, peer string) (string, error)
	Kick(ctx context.Context, room, peer string) error
	RevokeInvite(ctx context.Context, room, id string) error
	Invites(ctx context.Context, room string) ([]chat.InviteInfo, error)
	DMSend(ctx context.Context, to, text string) (chat.Message, error)
	DMRoom(with string) (chat.Room, bool, error)
}

// subscription is the part of *chat.Subscription the server uses. It lets
// tests drive subscriptions without the chat implementation.
type subscription interface {
	C() <-chan chat.Message
	Err() error
	Close() error
}

// chatBackend is ChatAPI with Subscribe returning the subscription
// interface. chatAdapter turns a ChatAPI into one.
type chatBackend interface {
	Join(ctx context.Context, name string) (chat.Room, error)
	AwaitGenesis(ctx context.Context, room string) (chat.Room, error)
	Leave(ctx context.Context, room string) error
	Rooms(ctx context.Context) ([]chat.Room, error)
	ListRooms(ctx context.Context) ([]chat.Room, error)
	Members(ctx context.Context, room string) ([]chat.Member, error)
	Send(ctx context.Context, room, text string) (chat.Message, error)
	History(ctx context.Context, room string, q chat.HistoryQuery) ([]chat.Message, error)
	Subscribe(ctx context.Context, f chat.Filter) (subscription, error)
	Verify(ctx context.Context, room string) (chat.VerifyReport, error)
	Create(ctx context.Context, name string, private bool) (chat.Room, error)
	Moderate(ctx context.Context, room, op, peer, policy string) error
	Admins(ctx context.Context, room string) ([]string, error)
	CreatePrivate(ctx context.Context, name string) (chat.Room, string, error)
	JoinInvite(ctx context.Context, token string) (chat.Room, error)
	Invite(ctx context.Context, room, peer string) (string, error)
	Kick(ctx context.Context, room, peer string) error
	RevokeInvite(ctx context.Context, room, id string) error
	Invites(ctx context.Context, room string) ([]chat.InviteInfo, error)
	DMSend(ctx context.Context, to, text string) (chat.Message, error)
	DMRoom(with string) (chat.Room, bool, error)
}

type chatAdapter struct{ ChatAPI }

func (a chatAdapter) Subscribe(ctx context.Context, f chat.Filter) (subscription, error) {
	s, err := a.ChatAPI.Subscribe(ctx, f)
	if err != nil {
		return nil, err
	}
	return s, nil
}

var _ ChatAPI = (*chat.Service)(nil)
