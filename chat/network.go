package chat

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Network is the transport chat needs: one publish/subscribe topic per
// room. It is declared here, where it is used, with chat's own types; node
// adapts its p2p.Node to it (node/network.go). Implementations must be
// safe for concurrent use.
type Network interface {
	// Self is the local peer ID.
	Self() peer.ID
	// JoinTopic joins topic's mesh with validate as its one validator and
	// deliver as the receiver of what validate accepts.
	//
	// validate runs before a message is forwarded or delivered: once per
	// message ID and seen window for messages from peers, and on each
	// Publish of this node. Its Verdict alone decides the message's fate. The data it is given is never modified or reused afterwards,
	// so it may keep it.
	//
	// deliver is called only after validate returned Accept, only for
	// messages from peers (this node's own publishes are validated, never
	// delivered back: the publisher has them), with the value validate
	// returned, so decoding and signature checks happen once. It runs on
	// the transport's validation workers right after validate:
	// concurrently, in any order, and it must not block.
	//
	// A topic has one validator: joining a topic already joined fails.
	// On error nothing stays registered.
	JoinTopic(topic string, validate ValidateFunc, deliver DeliverFunc) (Topic, error)
	// Group names the address group of a connected peer, for budgets
	// that peers from one network share: its remote IPv4 /24 or IPv6 /48
	// ("ip4:203.0.113.0/24"). Loopback peers form one group, and peers
	// whose address is unknown (not connected) another. It must be cheap:
	// it runs on the validation workers.
	Group(p peer.ID) string
}

// PrivateNetwork is a Network that can admit per topic; chat joins private
// rooms' topics through it when its Network is one (node's is). It is
// separate so that Networks without it stay valid: with those, a private
// room's ciphertext reaches any peer that subscribes to its topic.
type PrivateNetwork interface {
	Network
	// JoinPrivate joins topic as JoinTopic does, but only the peers allow
	// admits take part: a refused peer is kept out of the mesh, sent none
	// of the topic's messages or gossip, and its messages on the topic
	// are dropped before validate. Members meet in the DHT under
	// rendezvous instead of the topic name. allow runs on the transport's
	// event loop: it must be cheap and never block.
	JoinPrivate(topic, rendezvous string, allow func(peer.ID) bool, validate ValidateFunc, deliver DeliverFunc) (Topic, error)
}

// ValidateFunc checks one message from peer from (the forwarding peer, not
// necessarily the author; this node's own ID for its own publishes). It
// returns the value to hand to DeliverFunc (used only with Accept), the
// verdict, and for Reject or Ignore an error saying why, which is only
// logged. It may run concurrently with itself and must not block for long:
// it runs on the transport's validation workers.
type ValidateFunc func(ctx context.Context, from peer.ID, data []byte) (any, Verdict, error)

// DeliverFunc receives a message from a peer that its validator accepted,
// with the value the validator returned.
type DeliverFunc func(from peer.ID, data []byte, validated any)

// Verdict is a validator's decision on one message, as go-libp2p-pubsub's
// ValidationResult.
type Verdict int

const (
	// Accept delivers the message (if it came from a peer) and forwards it.
	Accept Verdict = iota
	// Reject drops the message and penalises the peer that forwarded it:
	// the message is invalid, and an honest peer would not have sent it.
	Reject
	// Ignore drops the message without penalising anyone: it may be
	// valid, but it is unwanted here or cannot be judged yet (a copy of an
	// event we have, over a rate limit, parents we lack), or we could not
	// check it. Anything that depends on this node's state is an Ignore,
	// never a Reject: the penalty would land on honest forwarders.
	Ignore
)

// String returns "accept", "reject" or "ignore".
func (v Verdict) String() string {
	switch v {
	case Accept:
		return "accept"
	case Reject:
		return "reject"
	case Ignore:
		return "ignore"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Topic is a joined topic. Its methods are safe for concurrent use.
type Topic interface {
	// Publish validates data locally and, if accepted, sends it to the
	// topic's mesh. data must not be modified after the call.
	Publish(ctx context.Context, data []byte) error
	// Peers lists the peers we know to be subscribed to the topic.
	Peers() []peer.ID
	// Close stops delivery, waits for running deliver calls and leaves
	// the topic. It is idempotent; afterwards the topic may be joined
	// again. It must not be called from the topic's own DeliverFunc.
	Close() error
}
