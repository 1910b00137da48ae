package rpc

import (
	"context"

	"github.com/parley-chat/parley/chat"
)

// NodeAPI is what the RPC server needs from the node: identity, peers and
// dialing. It is declared here, where it is used; package node satisfies it
// structurally (rpc never imports node or p2p).
//
// Implementations must be safe for concurrent use. Errors that should reach
// clients with a specific code are wrapped around the sentinels of this
// package (ErrUnreachable, ErrInvalidArgument, ErrStorage); see ErrorCode.
type NodeAPI interface {
	Info(ctx context.Context) (NodeInfo, error)
	Peers(ctx context.Context) ([]PeerInfo, error)
	Connect(ctx context.Context, addr string) error
}

// ChatAPI is what the RPC server needs from the chat domain. *chat.Service
// satisfies it. A nil ChatAPI (a bootstrap node) serves only node_* methods
// and rpc.discover; the others then answer -32601 "Method not found".
type ChatAPI interface {
	Join(ctx context.Context, name string) (chat.Room, error)
	Leave(ctx context.Context, room string) error
	Rooms(ctx context.Context) ([]chat.Room, error)
	Members(ctx context.Context, room string) ([]chat.Member, error)
	Send(ctx context.Context, room, text string) (chat.Message, error)
	History(ctx context.Context, room string, q chat.HistoryQuery) ([]chat.Message, error)
	Subscribe(ctx context.Context, f chat.Filter) (*chat.Subscription, error)
	Verify(ctx context.Context, room string) (chat.VerifyReport, error)
}

// NodeInfo is the result of node_info.
type NodeInfo struct {
	PeerID  string   `json:"peerId"`
	Addrs   []string `json:"addrs"` // full multiaddrs ending in /p2p/<peerId>
	Version string   `json:"version"`
	Peers   int      `json:"peers"`
	Rooms   int      `json:"rooms"`
	// Reachability is what AutoNAT concluded: public, private or unknown.
	Reachability string `json:"reachability"`
	// RelayAddrs are our addresses through relays (when private).
	RelayAddrs []string `json:"relayAddrs"`
	// Sync is the ledger sync state of each joined room.
	Sync []RoomSync `json:"sync"`
}

// RoomSync is one room's sync state in node_info.
type RoomSync struct {
	Room          string `json:"room"`
	Events        uint64 `json:"events"`             // events stored
	Orphans       int    `json:"orphans"`            // events waiting for their parents
	InProgress    bool   `json:"inProgress"`         // a sync session is running
	LastSync      string `json:"lastSync,omitempty"` // RFC 3339, end of the last successful session
	EventsFetched uint64 `json:"eventsFetched"`      // events stored by sync since start
	LastError     string `json:"lastError,omitempty"`
}

// PeerInfo is one element of node_peers' result.
type PeerInfo struct {
	PeerID string   `json:"peerId"`
	Addrs  []string `json:"addrs"`
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
	Leave(ctx context.Context, room string) error
	Rooms(ctx context.Context) ([]chat.Room, error)
	Members(ctx context.Context, room string) ([]chat.Member, error)
	Send(ctx context.Context, room, text string) (chat.Message, error)
	History(ctx context.Context, room string, q chat.HistoryQuery) ([]chat.Message, error)
	Subscribe(ctx context.Context, f chat.Filter) (subscription, error)
	Verify(ctx context.Context, room string) (chat.VerifyReport, error)
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
