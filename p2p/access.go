package p2p

import (
	"slices"
	"sync"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
)

// A topic joined WithAllow admits only the peers its rule accepts. What
// gossipsub (v0.19.0) does by itself falls short of that: its PeerFilter
// keeps refused peers out of the mesh, out of gossip (IHAVE sent and
// heeded) and unanswered on IWANT, but the peer still enters the topic's
// peer map when it announces a subscription, so flood publishing (on in
// Parley) sends it every message we publish, and its own messages on the
// topic are validated and forwarded like anyone's. So the rule is applied
// at three points, all on pubsub's event loop:
//
//   - PeerFilter: mesh (GRAFT ignored), gossip, IWANT;
//   - the subscription filter: a refused peer's subscription to the topic
//     is dropped, so it is never in the topic's peer map: no flood
//     publish, no fanout, no PeerJoin event (hence no sync trigger);
//   - the RPC inspector: its messages on the topic are stripped from its
//     RPC before pubsub looks at them (no validation, no forwarding, no
//     score change for anyone).
//
// What cannot be filtered: pubsub announces our own subscriptions (the
// hello RPC on every new pubsub stream, and each join and leave) to every
// connected peer, so a refused peer learns the topic's name and when we
// join and leave it. Private rooms therefore use topic names derived from
// the epoch secret (unlinkable to the room), rotated with it.

// accessRules holds the admission rule of each topic joined WithAllow.
// pubsub calls it from its event loop; JoinTopic and Close change it.
type accessRules struct {
	mu    sync.RWMutex
	rules map[string]func(peer.ID) bool
}

func newAccessRules() *accessRules {
	return &accessRules{rules: make(map[string]func(peer.ID) bool)}
}

// set installs allow as topic's rule (nil removes it).
func (a *accessRules) set(topic string, allow func(peer.ID) bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if allow == nil {
		delete(a.rules, topic)
		return
	}
	a.rules[topic] = allow
}

// admits reports whether p may take part in topic: yes for topics without
// a rule.
func (a *accessRules) admits(p peer.ID, topic string) bool {
	a.mu.RLock()
	allow := a.rules[topic]
	a.mu.RUnlock()
	return allow == nil || allow(p)
}

// options are the pubsub options that apply the rules.
func (a *accessRules) options() []pubsub.Option {
	return []pubsub.Option{
		pubsub.WithPeerFilter(a.admits),
		pubsub.WithSubscriptionFilter(subscriptionFilter{a}),
		pubsub.WithAppSpecificRpcInspector(a.inspect),
	}
}

// inspect strips from a refused peer's RPC its messages on ruled topics.
// The RPC was decoded for this call alone and pubsub reads it only after
// the inspector, so editing it in place is safe (p2p's access tests pin
// that this keeps working).
func (a *accessRules) inspect(from peer.ID, rpc *pubsub.RPC) error {
	msgs := rpc.GetPublish()
	if !slices.ContainsFunc(msgs, func(m *pb.Message) bool { return !a.admits(from, m.GetTopic()) }) {
		return nil
	}
	rpc.Publish = slices.DeleteFunc(slices.Clone(msgs), func(m *pb.Message) bool { return !a.admits(from, m.GetTopic()) })
	return nil
}

// subscriptionFilter drops refused peers' subscriptions to ruled topics.
type subscriptionFilter struct{ a *accessRules }

// CanSubscribe implements pubsub.SubscriptionFilter: we join what we like.
func (subscriptionFilter) CanSubscribe(string) bool { return true }

// FilterIncomingSubscriptions implements pubsub.SubscriptionFilter. An
// unsubscription always passes (it only removes the peer). Duplicates are
// left to pubsub, which records a peer once per topic.
func (f subscriptionFilter) FilterIncomingSubscriptions(from peer.ID, subs []*pb.RPC_SubOpts) ([]*pb.RPC_SubOpts, error) {
	refused := func(s *pb.RPC_SubOpts) bool { return s.GetSubscribe() && !f.a.admits(from, s.GetTopicid()) }
	if !slices.ContainsFunc(subs, refused) {
		return subs, nil
	}
	return slices.DeleteFunc(slices.Clone(subs), refused), nil
}
