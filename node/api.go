package node

import (
	"context"
	"errors"
	"fmt"
	"github.com/parley-chat/parley/p2p"
	"time"

	"github.com/parley-chat/parley/rpc"
	"github.com/parley-chat/parley/rpc/api"
)

var _ rpc.NodeAPI = (*Node)(nil)

// Info implements rpc.NodeAPI (node_info).
func (n *Node) Info(ctx context.Context) (api.NodeInfo, error) {
	info := api.NodeInfo{
		PeerID:  n.p2p.Self().String(),
		Addrs:   n.p2p.Addrs(),
		Version: Version,
		Peers:   len(n.p2p.Peers()),
	}
	if info.Addrs == nil {
		info.Addrs = []string{}
	}
	info.Reachability = string(n.p2p.Reachability())
	info.RelayAddrs = n.p2p.RelayAddrs()
	if info.RelayAddrs == nil {
		info.RelayAddrs = []string{}
	}
	info.Sync = []api.RoomSync{}
	if n.chat != nil {
		rooms, err := n.chat.Rooms(ctx)
		if err != nil {
			return info, err
		}
		info.Rooms = len(rooms)
		for _, r := range rooms {
			rs := api.RoomSync{Room: r.ID, Orphans: n.chat.Orphans(r.ID)}
			rs.Events, _ = n.chat.Ledger().Count(ctx, r.ID)
			if n.sync != nil {
				st := n.sync.Status(r.ID)
				rs.InProgress = st.InProgress > 0
				rs.EventsFetched = st.EventsFetched
				rs.LastError = st.LastError
				if !st.LastSync.IsZero() {
					rs.LastSync = st.LastSync.UTC().Format(time.RFC3339)
				}
			}
			info.Sync = append(info.Sync, rs)
		}
	}
	return info, nil
}

// Peers implements rpc.NodeAPI (node_peers).
func (n *Node) Peers(ctx context.Context) ([]api.PeerInfo, error) {
	ps := n.p2p.Peers()
	out := make([]api.PeerInfo, 0, len(ps))
	for _, p := range ps {
		addrs := p.Addrs
		if addrs == nil {
			addrs = []string{}
		}
		out = append(out, api.PeerInfo{PeerID: p.ID.String(), Addrs: addrs})
	}
	return out, nil
}

// Connect implements rpc.NodeAPI (node_connect).
func (n *Node) Connect(ctx context.Context, addr string) error {
	if err := n.p2p.Connect(ctx, addr); err != nil {
		kind := rpc.ErrUnreachable
		if errors.Is(err, p2p.ErrBadAddr) || errors.Is(err, p2p.ErrNoPeerID) || errors.Is(err, p2p.ErrSelf) {
			kind = rpc.ErrInvalidArgument
		}
		return fmt.Errorf("%w: %w", kind, err)
	}
	return nil
}
