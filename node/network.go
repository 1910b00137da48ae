package node

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/libp2p/go-libp2p/core/peer"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/p2p"
)

// chatNetwork is chat's Network on a p2p.Node: the one place where chat's
// contract meets the network layer, so neither package imports the other.
// p2p's topic does the delivering (only after an accept, only for
// messages from peers, one validator per topic); this maps the types and
// the verdicts.
type chatNetwork struct{ n *p2p.Node }

var _ chat.PrivateNetwork = chatNetwork{}

// Self implements chat.Network.
func (c chatNetwork) Self() peer.ID { return c.n.Self() }

// JoinTopic implements chat.Network. A second join of a joined topic
// fails with an error wrapping p2p.ErrTopicJoined.
func (c chatNetwork) JoinTopic(topic string, validate chat.ValidateFunc, deliver chat.DeliverFunc) (chat.Topic, error) {
	return c.join(topic, validate, deliver)
}

// JoinPrivate joins a private room's topic: only the peers allow admits
// take part (p2p.WithAllow: a refused peer is never in the mesh, never
// sent the topic's messages or gossip, and its messages on the topic are
// dropped before validation), and members meet in the DHT under
// rendezvous instead of the topic name ("" : no DHT rendezvous). The
// returned topic is a p2p.Topic: its SetRendezvous(string) rotates the
// rendezvous without leaving the topic. allow runs on pubsub's event
// loop and must not block; the set it admits should stay fixed for the
// topic's life (a new epoch means a new topic name, rendezvous and rule).
// It implements chat.PrivateNetwork: chat joins private rooms through it.
func (c chatNetwork) JoinPrivate(topic, rendezvous string, allow func(peer.ID) bool, validate chat.ValidateFunc, deliver chat.DeliverFunc) (chat.Topic, error) {
	if allow == nil {
		return nil, fmt.Errorf("node: join private %q: nil allow func", topic)
	}
	return c.join(topic, validate, deliver, p2p.WithAllow(allow), p2p.WithRendezvous(rendezvous))
}

// join maps chat's validator and deliver onto p2p's and joins.
func (c chatNetwork) join(topic string, validate chat.ValidateFunc, deliver chat.DeliverFunc, opts ...p2p.JoinOption) (chat.Topic, error) {
	if validate == nil || deliver == nil {
		return nil, fmt.Errorf("node: join %q: nil validate or deliver func", topic)
	}
	t, err := c.n.JoinTopic(topic, func(ctx context.Context, from peer.ID, data []byte) (any, p2p.ValidationResult, error) {
		v, verdict, err := validate(ctx, from, data)
		return v, validationResult(verdict), err
	}, p2p.DeliverFunc(deliver), opts...)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Group implements chat.Network: the remote address of p's first open
// connection, as an IPv4 /24 or IPv6 /48 prefix; a relayed peer shares
// its relay's group (the only address we see). Loopback peers are
// "loopback", peers not connected "unknown".
func (c chatNetwork) Group(p peer.ID) string {
	for _, conn := range c.n.Host().Network().ConnsToPeer(p) {
		ip, err := manet.ToIP(conn.RemoteMultiaddr())
		if err != nil {
			continue
		}
		return addrGroup(ip)
	}
	return "unknown"
}

// addrGroup is the group name of an IP address (see Group).
func addrGroup(ip []byte) string {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return "unknown"
	}
	a = a.Unmap()
	switch {
	case a.IsLoopback():
		return "loopback"
	case a.Is4():
		return netip.PrefixFrom(a, 24).Masked().String()
	}
	return netip.PrefixFrom(a, 48).Masked().String()
}

// validationResult maps chat's verdict onto p2p's; anything else rejects.
func validationResult(v chat.Verdict) p2p.ValidationResult {
	switch v {
	case chat.Accept:
		return p2p.ValidationAccept
	case chat.Ignore:
		return p2p.ValidationIgnore
	}
	return p2p.ValidationReject
}
