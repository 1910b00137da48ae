package p2p

import (
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// maxBlocked bounds the block list. Every entry costs an attacker a
// finished handshake and a protocol violation, and a full list forgets the
// block that ends first, so it cannot be grown without bound.
const maxBlocked = 4096

// blockScore is the application-specific gossipsub score (P5) of a
// blocked peer: below peerScoreThresholds' graylist (-2500) even with the
// most a peer can earn in topics (TopicScoreCap 50), so whatever it still
// sends before its connections close is ignored.
const blockScore = -10_000

// blockList is the node's time-bounded block list and its connection
// gater: a blocked peer can neither connect to us nor be dialled until its
// block expires. Other decisions go to the gater of Config.ConnectionGater,
// if any. Safe for concurrent use.
type blockList struct {
	inner connmgr.ConnectionGater // nil: allow

	mu    sync.Mutex
	until map[peer.ID]time.Time
}

var _ connmgr.ConnectionGater = (*blockList)(nil)

func newBlockList(inner connmgr.ConnectionGater) *blockList {
	return &blockList{inner: inner, until: make(map[peer.ID]time.Time)}
}

// block refuses p until now+d (extending, never shortening, a block).
func (b *blockList) block(p peer.ID, d time.Duration) {
	now := time.Now()
	end := now.Add(d)
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.until[p]; ok {
		if old.Before(end) {
			b.until[p] = end
		}
		return
	}
	if len(b.until) >= maxBlocked {
		var first peer.ID
		var firstEnd time.Time
		for q, e := range b.until {
			if !e.After(now) {
				delete(b.until, q)
				continue
			}
			if first == "" || e.Before(firstEnd) {
				first, firstEnd = q, e
			}
		}
		if len(b.until) >= maxBlocked {
			delete(b.until, first)
		}
	}
	b.until[p] = end
}

// blocked reports whether p is blocked now, forgetting an expired block.
func (b *blockList) blocked(p peer.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	end, ok := b.until[p]
	if ok && !time.Now().Before(end) {
		delete(b.until, p)
		return false
	}
	return ok
}

// score is the peer's application-specific gossipsub score.
func (b *blockList) score(p peer.ID) float64 {
	if b.blocked(p) {
		return blockScore
	}
	return 0
}

// scoreParams sets params' application-specific score to the block list's.
func (b *blockList) scoreParams(params *pubsub.PeerScoreParams) *pubsub.PeerScoreParams {
	params.AppSpecificScore = b.score
	return params
}

func (b *blockList) InterceptPeerDial(p peer.ID) bool {
	return !b.blocked(p) && (b.inner == nil || b.inner.InterceptPeerDial(p))
}

func (b *blockList) InterceptAddrDial(p peer.ID, a ma.Multiaddr) bool {
	return b.inner == nil || b.inner.InterceptAddrDial(p, a)
}

func (b *blockList) InterceptAccept(c network.ConnMultiaddrs) bool {
	return b.inner == nil || b.inner.InterceptAccept(c)
}

func (b *blockList) InterceptSecured(d network.Direction, p peer.ID, c network.ConnMultiaddrs) bool {
	return !b.blocked(p) && (b.inner == nil || b.inner.InterceptSecured(d, p, c))
}

func (b *blockList) InterceptUpgraded(c network.Conn) (bool, control.DisconnectReason) {
	if b.inner == nil {
		return true, 0
	}
	return b.inner.InterceptUpgraded(c)
}

// closeBlocked is a network notifiee that closes each new connection of a
// blocked peer: the gater's job on a host built by NewWithHost, which has
// no gater of ours.
func (b *blockList) closeBlocked() network.Notifiee {
	return &network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		if b.blocked(c.RemotePeer()) {
			go c.Close() // not from the notifier's goroutine
		}
	}}
}

// Block refuses peer p for d: its connections are closed, it cannot
// connect again or be dialled until d has passed, and its gossipsub score
// is blockScore meanwhile (below the graylist threshold). A later Block
// may extend a block, never shorten it. On a host built by NewWithHost
// (which has no gater of the node's) new connections of p are closed as
// soon as they open instead of being refused. Blocking the node itself
// does nothing. At most maxBlocked peers are blocked at once; past that
// the block that ends first is forgotten. Safe for concurrent use.
func (n *Node) Block(p peer.ID, d time.Duration) {
	if p == n.host.ID() || d <= 0 {
		return
	}
	n.blocks.block(p, d)
	if err := n.host.Network().ClosePeer(p); err != nil {
		n.log.Debug("close blocked peer", "peer", p, "err", err)
	}
	n.log.Debug("peer blocked", "peer", p, "for", d)
}

// Blocked reports whether p is blocked now (see Block).
func (n *Node) Blocked(p peer.ID) bool { return n.blocks.blocked(p) }
